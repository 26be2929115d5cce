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
)

// report.md lays the report out, and says what each figure is, beside the code that measures.
//
//go:embed report.md
var reportLayout string

var reportTemplate = template.Must(template.New("report").Parse(reportLayout))

// report is what one run of the bench measured: BENCHMARKS.md, and results.json for hack/plot.
type report struct {
	Written  time.Time
	Settings settings
	Results  []*result
	// GoBench is the output of `go test -bench` over internal/desired, when given.
	GoBench      string
	path, assets string
}

// The targets the operator is held to, in the report's order.
const (
	targetConverge = "converge ≤ 1.2× floor at 10k"
	targetIdle     = "0 writes over the idle period, every N"
	targetRestart  = "0 writes across a restart, every N"
	targetFollow   = "follow p99 ≤ 100 ms idle, every N (from the create request)"
	targetRSS      = "RSS ≤ 150 MiB at 10k"
)

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

// String is "p50 / p99 (max)" in milliseconds.
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
	if err := os.MkdirAll(rep.assets, 0o755); err != nil {
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
	if err := reportTemplate.Execute(&b, map[string]any{
		"Written": rep.Written, "Settings": rep.Settings, "Results": rep.Results, "Machine": rep.machine(),
		"Targets": targets(rep.Results), "Images": filepath.ToSlash(images), "GoBench": rep.GoBench, "GoBenchRatios": goBenchRatios(rep.GoBench),
		"Samplers": backlogSamplers, "Pause": samplerPause,
	}); err != nil {
		return err
	}
	return os.WriteFile(rep.path, []byte(b.String()), 0o644)
}

// machine describes where the bench ran and how it ran the operator.
func (rep *report) machine() []string {
	cpu, mem := []string{"", "unknown"}, int64(0)
	if raw, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		cpu = regexp.MustCompile(`model name\s*:\s*(.*)`).FindStringSubmatch(string(raw) + "\nmodel name: unknown")
	}
	if raw, err := os.ReadFile("/proc/meminfo"); err == nil {
		_, _ = fmt.Sscanf(string(raw), "MemTotal: %d kB", &mem)
	}
	s, workers, flags := rep.Settings, "?", "its default flags"
	for _, r := range rep.Results {
		if r.Workers > 0 {
			workers = strconv.Itoa(r.Workers)
		}
	}
	if len(s.OperatorArgs) > 0 {
		flags = "`" + strings.Join(s.OperatorArgs, " ") + "`"
	}
	if len(s.OperatorEnv) > 0 {
		flags += ", environment `" + strings.Join(s.OperatorEnv, " ") + "`"
	}
	return []string{
		fmt.Sprintf("CPUs (nproc): %d, %s", runtime.NumCPU(), cpu[1]),
		fmt.Sprintf("Memory: %.1f GiB", float64(mem)/(1<<20)),
		fmt.Sprintf("Go: %s %s/%s", runtime.Version(), runtime.GOOS, runtime.GOARCH),
		fmt.Sprintf("Control plane: etcd and kube-apiserver from %s, Service range %s, no kube-controller-manager (nothing here needs the garbage collector)", filepath.Base(s.ControlPlane), serviceCIDR),
		fmt.Sprintf("Operator: `bin/manager` built from `./cmd/manager`, run as its own process with the admin kubeconfig and %s: %s workers per controller, as its own `controller_runtime_max_concurrent_reconciles` says.", flags, workers),
	}
}

// targets judges the operator against each target on every size that measured it.
func targets(results []*result) [][3]string {
	var rows [][3]string
	for _, target := range []string{targetConverge, targetIdle, targetRestart, targetFollow, targetRSS} {
		var measured []string
		verdict := "met"
		for _, r := range results {
			for _, j := range r.Targets {
				if j.Target != target {
					continue
				}
				if measured = append(measured, fmt.Sprintf("N=%d: %s", r.N, j.Measured)); !j.Met {
					verdict = "**missed**"
				}
			}
		}
		if len(measured) == 0 {
			measured, verdict = []string{"not measured"}, "–"
		}
		rows = append(rows, [3]string{target, strings.Join(measured, "; "), verdict})
	}
	return rows
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
