package main

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"text/template"
	"time"

	"github.com/meshalias/meshalias/internal/desired"
)

// report.md lays the report out, and says what each figure is, beside the code that measures.
//
//go:embed report.md
var reportLayout string

var reportTemplate = template.Must(template.New("report").Funcs(template.FuncMap{
	"secs": secs, "ms": ms, "mib": mib, "div": ratio,
	"per":         func(a, n int) float64 { return float64(a) / float64(n) },
	"pct":         func(a, b time.Duration) float64 { return 100 * ratio(a, b) },
	"cpuPerAlias": cpuPerAlias,
	// follow is a follow figure's three rows, for the template "follow".
	"follow": func(title string, fs []Follow, note string) map[string]any {
		return map[string]any{"Title": title, "Samples": len(fs), "Note": note, "S": followSummaries(fs)}
	},
}).Parse(reportLayout))

// report is what one run of the bench measured: BENCHMARKS.md, and results.json for hack/plot.
type report struct {
	Written  time.Time
	Settings settings
	Results  []*result
	// GoBench is the output of `go test -bench` over internal/desired, when given.
	GoBench      string
	path, assets string
}

// settings are the bench's flags, and where it found what it runs.
type settings struct {
	OperatorArgs, OperatorEnv          []string
	Workers, FollowSamples, BriefAbove int
	Idle                               time.Duration
	ProfileN                           []int
	ControlPlane                       string
	root, operatorBin, assets          string
}

// result is what was measured at one size, for the report (report.md says what each figure
// is), the targets and hack/plot. Durations are nanoseconds in the JSON, sizes bytes.
type result struct {
	N int
	// Err is the step that failed, if one did; the figures of the steps Done stand. LogDir
	// keeps the control plane's and the operator's logs. Brief: see -brief-above.
	Err, LogDir     string
	Brief, Profiled bool
	Done            []string
	Idle            time.Duration
	// The floor; the operator's convergence: its first Ready alias, its mean reconcile and
	// wait in the queue, its time reconciling and its CPU time, its requests and writes, and
	// the changes to the aliases that the bench's watch saw.
	FloorCreates, FloorStatus, FloorRequest, Converge, FirstReady, Reconcile, QueueWait, Reconciling, CPU time.Duration
	// CPU time over the floor's writes and until converged: the machine's, all cores summed,
	// and that of kube-apiserver, etcd and the bench.
	FloorCPU, ConvergeCPU cpuUse

	Requests                      string
	Workers, Writes, AliasChanges int
	// Writes and changed objects over the idle period, and across a restart.
	IdleWrites, IdleChanged, RestartWrites, RestartChanged int
	RestartBacklog                                         time.Duration
	// Memory after the idle period: live heap after a forced GC, "End" after the NamespaceAlias.
	RSS, PeakRSS, Heap, LiveHeap, HeapInuse, HeapFree, NextGC, EndRSS, EndHeap int64

	FollowIdle, FollowStartup, FollowLive []Follow
	StartupDrain, LiveDrain               time.Duration
	StartupDepth, LiveDepth               int
	// The NamespaceAlias: Ready after, and its status: names listed, whether sorted, count.
	NamespaceAlias              time.Duration
	StatusNames, StatusServices int
	StatusSorted                bool
	Throttling                  int // mentions in the operator's log
}

func (r *result) Floor() time.Duration { return r.FloorCreates + r.FloorStatus }

// Did says whether step completed; the report shows only the figures of those that did.
func (r *result) Did(step string) bool { return slices.Contains(r.Done, step) }

// target is one of the operator's performance goals. judge says what a size measured and
// whether that meets the goal, from the size's figures and, for a goal across sizes, the
// others'; an empty measure means the size cannot say. at is the one size judged, if not
// every one; step is the one that measures it.
type target struct {
	name  string
	at    int
	step  string
	judge func(r *result, all []*result) (string, bool)
}

var targets = []target{
	{"ServiceAlias converge ≤ 1.2× floor, every N", 0, "converge", func(r *result, _ []*result) (string, bool) {
		return fmt.Sprintf("%.2f×", ratio(r.Converge, r.Floor())), ratio(r.Converge, r.Floor()) <= 1.2
	}},
	{"NamespaceAlias Ready ≤ 1.3× floor, every N", 0, "NamespaceAlias", func(r *result, _ []*result) (string, bool) {
		return fmt.Sprintf("%.2f×", ratio(r.NamespaceAlias, r.Floor())), ratio(r.NamespaceAlias, r.Floor()) <= 1.3
	}},
	{"follow p99 ≤ 500 ms under a live bump of every alias, every N (the operator's share; from the create request beside it)", 0, "live bump", followP99(func(r *result) []Follow { return r.FollowLive }, 500*time.Millisecond)},
	{"RSS ≤ 128 MiB at 10k (after the idle period)", 10000, "idle", func(r *result, _ []*result) (string, bool) {
		return mib(r.RSS) + " MiB", r.RSS <= 128<<20
	}},
	{"live Go heap ≤ 64 MiB at 10k (after a forced GC)", 10000, "idle", func(r *result, _ []*result) (string, bool) {
		return mib(r.LiveHeap) + " MiB", r.LiveHeap <= 64<<20
	}},
	{"0 writes while idle, every N", 0, "idle", func(r *result, _ []*result) (string, bool) {
		return fmt.Sprintf("%d (%d changed)", r.IdleWrites, r.IdleChanged), r.IdleWrites+r.IdleChanged == 0
	}},
	{"0 writes across a restart, every N", 0, "restart", func(r *result, _ []*result) (string, bool) {
		return fmt.Sprintf("%d (%d changed)", r.RestartWrites, r.RestartChanged), r.RestartWrites+r.RestartChanged == 0
	}},
	{"converge per alias at 20k ≤ 1.15× that at 1k", 20000, "converge", func(r *result, all []*result) (string, bool) {
		i := slices.IndexFunc(all, func(b *result) bool { return b.N == 1000 && slices.Contains(b.Done, "converge") })
		if i < 0 {
			return "", false
		}
		per, base := r.Converge/time.Duration(r.N), all[i].Converge/time.Duration(all[i].N)
		return fmt.Sprintf("%.2f× (%s per alias; %s at 1k)", ratio(per, base), ms(per), ms(base)), ratio(per, base) <= 1.15
	}},
	{fmt.Sprintf("NamespaceAlias status.serviceEntries ≤ %d names, sorted, at 20k; status.services the full count", desired.MaxStatusNames), 20000, "NamespaceAlias", func(r *result, _ []*result) (string, bool) {
		return fmt.Sprintf("%d names, sorted: %t; services: %d", r.StatusNames, r.StatusSorted, r.StatusServices),
			r.StatusNames <= desired.MaxStatusNames && r.StatusSorted && r.StatusServices == r.N
	}},
	{"follow p99 ≤ 100 ms idle, every N (the operator's share; from the create request beside it)", 0, "follow", followP99(func(r *result) []Follow { return r.FollowIdle }, 100*time.Millisecond)},
}

// followP99 judges the operator's share of the follow latency, from the bench's watch seeing
// the Service to its seeing the entry: the Service create's own request time is the
// apiserver's, not the operator's. The figure from the create request stays beside it.
func followP99(of func(*result) []Follow, limit time.Duration) func(*result, []*result) (string, bool) {
	return func(r *result, _ []*result) (string, bool) {
		s := followSummaries(of(r))
		return fmt.Sprintf("%s (from the create request: %s)", ms(s.Share.P99), ms(s.Total.P99)), s.Share.P99 <= limit
	}
}

// verdicts judges the operator against each target on every size that measured it.
func verdicts(results []*result) [][3]string {
	var rows [][3]string
	for _, t := range targets {
		var measured []string
		verdict := "met"
		for _, r := range results {
			if (t.at != 0 && r.N != t.at) || !slices.Contains(r.Done, t.step) {
				continue
			}
			if m, met := t.judge(r, results); m != "" {
				if measured = append(measured, fmt.Sprintf("N=%d: %s", r.N, m)); !met {
					verdict = "**missed**"
				}
			}
		}
		if len(measured) == 0 {
			measured, verdict = []string{"not measured"}, "–"
		}
		rows = append(rows, [3]string{t.name, strings.Join(measured, "; "), verdict})
	}
	return rows
}

// summary is the distribution of a set of latencies, by nearest rank.
type summary struct{ P50, P99, Max time.Duration }

func summarize(ds []time.Duration) summary {
	if len(ds) == 0 {
		return summary{}
	}
	s := slices.Sorted(slices.Values(ds))
	at := func(q float64) time.Duration { return s[max(int(math.Ceil(q*float64(len(s))))-1, 0)] }
	return summary{at(0.50), at(0.99), s[len(s)-1]}
}

// followSummary summarizes follow samples: whole, create request, the operator's share.
type followSummary struct{ Total, Create, Share summary }

func followSummaries(fs []Follow) followSummary {
	var t, c, s []time.Duration
	for _, f := range fs {
		t, c, s = append(t, f.Total), append(c, f.Create), append(s, f.Operator)
	}
	return followSummary{summarize(t), summarize(c), summarize(s)}
}

func (s summary) String() string { return fmt.Sprintf("%s / %s (%s)", ms(s.P50), ms(s.P99), ms(s.Max)) }

func ratio(a, b time.Duration) float64 { return float64(a) / float64(b) }
func mib(b int64) string               { return fmt.Sprintf("%.1f", float64(b)/(1<<20)) }
func secs(d time.Duration) string      { return fmt.Sprintf("%.2f s", d.Seconds()) }
func ms(d time.Duration) string        { return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond)) }

// write writes results.json and the report from the results so far; the report's images are
// the SVGs that hack/plot draws from results.json, beside it.
func (rep *report) write() error {
	raw, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(rep.assets, "results.json"), raw, 0o644); err != nil {
		return err
	}
	images, err := filepath.Rel(filepath.Dir(rep.path), rep.assets)
	if err != nil {
		return err
	}
	var b strings.Builder
	var profiled []int
	for _, r := range rep.Results {
		if r.Profiled && r.Did("idle") {
			profiled = append(profiled, r.N)
		}
	}
	if err := reportTemplate.Execute(&b, map[string]any{
		"Written": rep.Written, "Settings": rep.Settings, "Results": rep.Results, "Machine": rep.machine(), "Targets": verdicts(rep.Results),
		"Images": filepath.ToSlash(images), "GoBench": rep.GoBench, "GoBenchRatios": goBenchRatios(rep.GoBench), "Profiled": profiled,
		"Samplers": backlogSamplers, "Pause": samplerPause, "CPUChunk": cpuChunk, "MaxStatusNames": desired.MaxStatusNames,
	}); err != nil {
		return err
	}
	return os.WriteFile(rep.path, []byte(b.String()), 0o644)
}

func (rep *report) machine() map[string]any {
	cpu, mem, workers := []string{"", "unknown"}, int64(0), "?"
	if raw, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		cpu = regexp.MustCompile(`model name\s*:\s*(.*)`).FindStringSubmatch(string(raw) + "\nmodel name: unknown")
	}
	if raw, err := os.ReadFile("/proc/meminfo"); err == nil {
		_, _ = fmt.Sscanf(string(raw), "MemTotal: %d kB", &mem)
	}
	for _, r := range rep.Results {
		if r.Workers > 0 {
			workers = strconv.Itoa(r.Workers)
		}
	}
	return map[string]any{"CPUs": runtime.NumCPU(), "CPU": cpu[1], "MemGiB": float64(mem) / (1 << 20), "Go": runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH,
		"ControlPlane": filepath.Base(rep.Settings.ControlPlane), "ServiceCIDR": serviceCIDR, "Workers": workers}
}

// goBenchRatios sets each benchmark of `go test -bench` output against the builder alone,
// which works over the same 10,000 hosts: "BenchmarkMakePlan/owned: 1.43×". Of repeated runs
// (-count) the fastest counts, as the one least disturbed on a shared machine.
func goBenchRatios(out string) []string {
	var names []string
	fastest := map[string]float64{}
	for _, m := range regexp.MustCompile(`(?m)^(Benchmark\S+?)(?:-\d+)?\s+\d+\s+([\d.]+) ns/op`).FindAllStringSubmatch(out, -1) {
		v, _ := strconv.ParseFloat(m[2], 64)
		if old, seen := fastest[m[1]]; !seen || v < old {
			fastest[m[1]] = v
		}
		if !slices.Contains(names, m[1]) {
			names = append(names, m[1])
		}
	}
	for i, name := range names {
		names[i] = fmt.Sprintf("%s: %.2f×", name, fastest[name]/fastest["BenchmarkBuildServiceEntry"])
	}
	return names
}
