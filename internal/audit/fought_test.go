package audit

import (
	"slices"
	"testing"
	"time"
)

func TestRepairNoteReadsBack(t *testing.T) {
	since := time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		writers []string
		repairs int
	}{
		{[]string{"dns-controller"}, 1},
		{[]string{"dns-controller", "kubectl-edit"}, 240},
	} {
		note := RepairNote("traefik-custom-name-1a2b3c4d", tc.writers, tc.repairs, since)
		r, ok := ParseRepair("abc", note, since)
		if !ok || r.Entry != "traefik-custom-name-1a2b3c4d" || r.Repairs != tc.repairs || !slices.Equal(r.Writers, tc.writers) {
			t.Errorf("%q read back as %+v, %v", note, r, ok)
		}
	}
	unnamed, ok := ParseRepair("abc", RepairNote("x", nil, 3, since), since)
	if !ok || !slices.Equal(unnamed.Writers, []string{UnnamedWriter}) || unnamed.Repairs != 3 {
		t.Errorf("a repair with no named writer read back as %+v, %v", unnamed, ok)
	}
	if _, ok := ParseRepair("abc", "Took over ServiceEntry x in place for host y", since); ok {
		t.Error("a note of another kind of event was read as a repair")
	}
}

func TestFoughtOver(t *testing.T) {
	now := time.Date(2026, 11, 28, 11, 0, 0, 0, time.UTC)
	hour := now.Add(-time.Hour)
	repair := func(entry string, repairs int, ago time.Duration, writers ...string) Repair {
		return Repair{Namespace: "abc", Entry: entry, Writers: writers, Repairs: repairs, At: now.Add(-ago)}
	}
	hosts := func(key string) []string { return map[string][]string{"abc/fought": {"traefik.custom-name"}}[key] }
	findings := FoughtOver([]Repair{
		// 1 + 6 + 5 within the hour, by two writers: more than 10.
		repair("fought", 1, 50*time.Minute, "dns-controller"),
		repair("fought", 6, 49*time.Minute, "dns-controller"),
		repair("fought", 5, 10*time.Minute, "kubectl-edit"),
		// Exactly the threshold: not over it.
		repair("edited", 10, 5*time.Minute, "kubectl-edit"),
		// Many, but before the window.
		repair("old", 500, 2*time.Hour, "dns-controller"),
	}, hour, 10, hosts)
	if len(findings) != 1 {
		t.Fatalf("findings %+v, want one, for abc/fought", findings)
	}
	f := findings[0]
	if f.Namespace != "abc" || f.Name != "fought" || f.Rule != RuleFoughtOver || f.Severity != SeverityWarning || !slices.Equal(f.Hosts, []string{"traefik.custom-name"}) {
		t.Errorf("finding %+v", f)
	}
	want := "meshalias put this entry back 12 times since 2026-11-28T10:00:00Z, after changes by dns-controller, kubectl-edit: stop that writer, or make it leave the entry alone"
	if f.Message != want {
		t.Errorf("message %q, want %q", f.Message, want)
	}
}
