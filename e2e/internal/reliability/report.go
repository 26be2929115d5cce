// Package reliability writes RELIABILITY.md: what each fault cost the operator, measured
// against the least it could have cost, and whether anything was lost or doubled.
package reliability

import (
	"fmt"
	"os"
	"strings"
	"time"
)

// Row is one fault's outcome.
type Row struct {
	Fault string
	// Recovery is the time from the fault until the cluster was right again; RecoveryNote says
	// what more was measured (a catch-up after the network returned, p50/p99).
	Recovery     time.Duration
	RecoveryNote string
	// Floor is the least the recovery could take, and FloorWhat says what it is.
	Floor     time.Duration
	FloorWhat string
	// Lost counts expected entries missing, Doubled hosts with more than one entry.
	Lost, Doubled int
	// Verdict says whether the cluster recovered, or met a target, or what went wrong; Failed
	// marks the last kind, printed in bold.
	Verdict string
	Failed  bool
}

// Ratio is Recovery/Floor, or 0 without a floor.
func (r Row) Ratio() float64 {
	if r.Floor <= 0 {
		return 0
	}
	return float64(r.Recovery) / float64(r.Floor)
}

// Report is the whole file.
type Report struct {
	Wall    time.Duration
	Machine Machine
	Rows    []Row
	// Notes are paragraphs after the table: how each fault is played, what its floor means.
	Notes []string
}

// Write writes the report as Markdown to path.
func (r Report) Write(path string) error {
	var b strings.Builder
	fmt.Fprintf(&b, "# Reliability\n\n")
	fmt.Fprintf(&b, "Written by `make faults` (TestFaults in e2e/faults_test.go) on %s. The whole suite took %s.\n\n",
		time.Now().UTC().Format("2006-01-02 15:04 UTC"), r.Wall.Round(time.Second))
	fmt.Fprintf(&b, "## Machine\n\n%s\n", r.Machine.Markdown())
	fmt.Fprintf(&b, "Absolute times on a shared machine are noise; the ratio of each recovery to its floor, measured in the same run, is what counts.\n\n")
	fmt.Fprintf(&b, "## Faults\n\n")
	fmt.Fprintf(&b, "| Fault | Recovery | Floor | Recovery / floor | Lost | Doubled | Verdict |\n")
	fmt.Fprintf(&b, "|---|---|---|---|---|---|---|\n")
	for _, row := range r.Rows {
		recovery := Duration(row.Recovery)
		if row.Recovery == 0 {
			recovery = "nothing to recover"
		}
		if row.RecoveryNote != "" {
			recovery += " (" + row.RecoveryNote + ")"
		}
		floor, ratio := "none", "-"
		if row.Floor > 0 {
			floor = Duration(row.Floor) + ": " + row.FloorWhat
			ratio = fmt.Sprintf("%.2f×", row.Ratio())
		}
		verdict := row.Verdict
		if row.Failed {
			verdict = "**" + verdict + "**"
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %d | %d | %s |\n", row.Fault, recovery, floor, ratio, row.Lost, row.Doubled, verdict)
	}
	if len(r.Notes) > 0 {
		fmt.Fprintf(&b, "\n## How each fault is played\n\n")
		for _, n := range r.Notes {
			fmt.Fprintf(&b, "- %s\n", n)
		}
	}
	return os.WriteFile(path, []byte(b.String()), 0o644)
}

// Duration prints a duration the way the table does: milliseconds below a second.
func Duration(d time.Duration) string {
	if d < time.Second {
		return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond))
	}
	return fmt.Sprintf("%.2f s", d.Seconds())
}
