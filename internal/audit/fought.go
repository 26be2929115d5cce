package audit

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// RuleFoughtOver: another writer keeps changing a managed entry, and meshalias keeps putting
// it back. Each repair restores the entry, but two controllers writing the same object forever
// cost writes, and between a change and its repair the other writer's version is what sidecars
// get.
const RuleFoughtOver = "fought-over"

// EventReasonDriftRepaired is the reason of the Warning event the operator raises when it puts
// back a managed entry that another field manager changed.
const EventReasonDriftRepaired = "DriftRepaired"

// UnnamedWriter stands for a writer that managedFields do not name: one that only removed
// fields owns none afterwards.
const UnnamedWriter = "a writer that only removed fields (managedFields keep no name for it)"

// RepairNote is the note of a DriftRepaired event. The operator raises at most one a minute per
// entry, so the note carries how many repairs it stands for: the audit adds them up.
func RepairNote(entry string, writers []string, repairs int, since time.Time) string {
	noun := "repairs"
	if repairs == 1 {
		noun = "repair"
	}
	who := strings.Join(writers, ", ")
	if who == "" {
		who = UnnamedWriter
	}
	return fmt.Sprintf("ServiceEntry %s was changed by %s; meshalias put it back (%d %s since %s)",
		entry, who, repairs, noun, since.UTC().Format(time.RFC3339))
}

var repairNote = regexp.MustCompile(`^ServiceEntry (\S+) was changed by (.+); meshalias put it back \((\d+) repairs? since \S+\)$`)

// Repair is what one DriftRepaired event says.
type Repair struct {
	Namespace string
	Entry     string
	Writers   []string
	Repairs   int
	At        time.Time
}

// ParseRepair reads a DriftRepaired event's note back; false for a note RepairNote did not
// write.
func ParseRepair(namespace, note string, at time.Time) (Repair, bool) {
	m := repairNote.FindStringSubmatch(note)
	if m == nil {
		return Repair{}, false
	}
	n, err := strconv.Atoi(m[3])
	if err != nil {
		return Repair{}, false
	}
	return Repair{Namespace: namespace, Entry: m[1], Writers: strings.Split(m[2], ", "), Repairs: n, At: at}, true
}

// FoughtOver finds the entries repaired more than threshold times since the given time, from
// the DriftRepaired events. hosts gives an entry's hosts by "namespace/name", when known. The
// findings come unsorted: the caller sorts them with the rest (Sort).
func FoughtOver(repairs []Repair, since time.Time, threshold int, hosts func(key string) []string) []Finding {
	type tally struct {
		repairs int
		writers []string
	}
	byEntry := map[string]*tally{}
	for _, r := range repairs {
		if r.At.Before(since) {
			continue
		}
		key := r.Namespace + "/" + r.Entry
		t := byEntry[key]
		if t == nil {
			t = &tally{}
			byEntry[key] = t
		}
		t.repairs += r.Repairs
		t.writers = append(t.writers, r.Writers...)
	}
	var findings []Finding
	for key, t := range byEntry {
		if t.repairs <= threshold {
			continue
		}
		slices.Sort(t.writers)
		writers := slices.Compact(t.writers)
		namespace, name, _ := strings.Cut(key, "/")
		findings = append(findings, Finding{
			Namespace: namespace,
			Name:      name,
			Rule:      RuleFoughtOver,
			Hosts:     hosts(key),
			Severity:  SeverityWarning,
			Message: fmt.Sprintf("meshalias put this entry back %d times since %s, after changes by %s: stop that writer, or make it leave the entry alone",
				t.repairs, since.UTC().Format(time.RFC3339), strings.Join(writers, ", ")),
		})
	}
	return findings
}
