package main

import (
	"bufio"
	"fmt"
	"maps"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"
)

// Targets the operator is held to.
const (
	targetConvergeRatio = 1.2
	targetFollowP99     = 100 * time.Millisecond
	targetRSS           = 150 << 20
	targetSize          = 10000
)

// summary is the distribution of a set of latencies.
type summary struct {
	n             int
	p50, p99, max time.Duration
}

func summarize(ds []time.Duration) summary {
	if len(ds) == 0 {
		return summary{}
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return summary{n: len(s), p50: percentile(s, 0.50), p99: percentile(s, 0.99), max: s[len(s)-1]}
}

// percentile is the nearest-rank percentile of sorted durations.
func percentile(sorted []time.Duration, q float64) time.Duration {
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	return sorted[max(i, 0)].Round(100 * time.Microsecond)
}

func ratio(a, b time.Duration) float64 {
	if b == 0 {
		return math.NaN()
	}
	return float64(a) / float64(b)
}

func mib(b int64) string { return fmt.Sprintf("%.1f", float64(b)/(1<<20)) }

func secs(d time.Duration) string { return fmt.Sprintf("%.2f s", d.Seconds()) }

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond)) }

// machine describes where the bench ran.
func machine() []string {
	cpu := "unknown"
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				cpu = strings.TrimSpace(v)
				break
			}
		}
		f.Close()
	}
	mem := "unknown"
	if raw, err := os.ReadFile("/proc/meminfo"); err == nil {
		for line := range strings.SplitSeq(string(raw), "\n") {
			var kb int64
			if _, err := fmt.Sscanf(line, "MemTotal: %d kB", &kb); err == nil {
				mem = fmt.Sprintf("%.1f GiB", float64(kb)/(1<<20))
			}
		}
	}
	return []string{
		fmt.Sprintf("CPUs (nproc): %d, %s", runtime.NumCPU(), cpu),
		"Memory: " + mem,
		fmt.Sprintf("Go: %s %s/%s", runtime.Version(), runtime.GOOS, runtime.GOARCH),
		"Control plane: etcd and kube-apiserver from " + filepath.Base(os.Getenv("KUBEBUILDER_ASSETS")) +
			", Service range " + serviceCIDR + ", no kube-controller-manager (nothing here needs the garbage collector)",
	}
}

// writeReport writes BENCHMARKS.md from the results so far.
func writeReport(path string, s settings, results []*result) error {
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }

	p("# Benchmarks")
	p("")
	p("Written by `make bench` (`go run ./hack/bench`) on %s. A quick run: `go run ./hack/bench -n=1000`.", time.Now().UTC().Format("2006-01-02 15:04 UTC"))
	p("")
	p("## Machine")
	p("")
	for _, l := range machine() {
		p("- %s", l)
	}
	p("- Operator: `bin/manager` built from `./cmd/manager`, run as its own process with the admin kubeconfig and its default flags%s", operatorFlagsNote(s))
	p("")
	p("Absolute times on a shared 2-core machine are noise: etcd, kube-apiserver, the operator and the")
	p("bench share the cores. Ratios between figures of the same run are what count.")
	p("")

	p("## Targets")
	p("")
	p("| Target | Measured | Verdict |")
	p("|---|---|---|")
	for _, t := range targets(results) {
		p("| %s | %s | %s |", t[0], t[1], t[2])
	}
	p("")

	for _, r := range results {
		writeSize(p, s, r)
	}

	p("## What each figure is")
	p("")
	p("Each size runs on a fresh control plane, in three namespaces, one per scenario.")
	p("")
	p("- **Floor**: the writes no implementation avoids for N one-host ServiceAliases: N ServiceEntry")
	p("  creates (the operator's own builder makes them), then N status-subresource merge patches")
	p("  (Ready=True Synced, observedGeneration, addresses, serviceEntries), by a plain client on %d", s.workers)
	p("  workers with QPS 1000 / burst 2000. Its objects are deleted before the operator starts.")
	p("- **Converge**: N Services and N one-host ServiceAliases are created while the operator is down")
	p("  (not timed); the clock runs from the operator's exec until the bench's watch has seen every")
	p("  alias Ready=True at its generation (observedGeneration == generation) and every entry exist.")
	p("  It includes the operator's start-up and cache sync.")
	p("- **Idle writes**: the operator's write requests (`rest_client_requests_total` with method POST,")
	p("  PUT, PATCH or DELETE: entries, statuses and Events alike) over %s after convergence, and the", s.idle)
	p("  number of aliases and entries whose resourceVersion changed meanwhile.")
	p("- **Restart writes**: the same, across a SIGTERM and a new process, from its exec until its")
	p("  start-up backlog is done (every alias reconciled, queue empty) and %s more.", s.idle)
	p("- **Follow**: a Service is deleted and created again with a new explicit ClusterIP; the time")
	p("  runs from the create request until the bench's watch sees the alias's ServiceEntry carry the")
	p("  new address. Idle: %d samples one after another over aliases spread across all N. The", s.followSamples)
	p("  create request's own time is also shown: it is the API server's work (ClusterIP")
	p("  allocation), not the operator's.")
	p("- **Follow under a start-up backlog**: with the operator down, the spec of min(N, 10000)")
	p("  aliases is bumped (`ports: [80]`: the entries stay the same, the generation does not), so")
	p("  that at start-up each needs a reconcile and a status write; controller-runtime's priority")
	p("  queue (on by default) files these start-up items at low priority. From the operator's first")
	p("  status write until every alias is handled, %d samplers re-create Services of aliases picked", backlogSamplers)
	p("  at random, pausing %s between samples so as not to make a backlog of their own.", samplerPause)
	p("- **Follow under a live bump**: the same aliases are bumped back (`ports` removed) by %d", s.workers)
	p("  workers while the operator runs, as a GitOps sync of every alias would; these updates queue")
	p("  at normal priority, like the samples'. Sampling runs until the bump is done and every alias")
	p("  handled.")
	p("- **Memory**: the operator's VmRSS (from /proc) and `go_memstats_heap_alloc_bytes` after")
	p("  convergence and the idle period, holding N aliases, N Services and N entries; \"at the end\"")
	p("  adds the NamespaceAlias's N Services and N entries.")
	p("- **NamespaceAlias**: N Services in a namespace of their own (created with the operator")
	p("  running, not timed), then one NamespaceAlias over all of them; the clock runs from its")
	p("  create until it is Ready with status.services == N. It needs N entry writes and one")
	p("  status write, so the floor's creates alone are its own floor; both ratios are shown.")
	p("")
	p("To reproduce: `make bench` (sizes 1000, 5000, 10000), or `go run ./hack/bench -n=1000` with")
	p("`KUBEBUILDER_ASSETS` set. `-operator-args` passes flags to the operator, e.g.")
	p("`-operator-args=--max-concurrent-reconciles=8`, and `-operator-env` sets its environment, e.g.")
	p("`-operator-env=GOMEMLIMIT=100MiB`.")
	return os.WriteFile(path, []byte(b.String()), 0o644)
}

func operatorFlagsNote(s settings) string {
	note := " (8 workers per controller, the --max-concurrent-reconciles default)."
	if len(s.operatorArgs) > 0 {
		note = ", plus `" + strings.Join(s.operatorArgs, " ") + "`."
	}
	if len(s.operatorEnv) > 0 {
		note += " Environment: `" + strings.Join(s.operatorEnv, " ") + "`."
	}
	return note
}

// targets judges each target on the results that bear on it.
func targets(results []*result) [][3]string {
	verdict := func(ok bool) string {
		if ok {
			return "met"
		}
		return "**missed**"
	}
	at := func(n int) *result {
		for _, r := range results {
			if r.N == n {
				return r
			}
		}
		return nil
	}
	var rows [][3]string
	if r := at(targetSize); r != nil && r.Converge > 0 {
		q := ratio(r.Converge, r.Floor())
		rows = append(rows, [3]string{"converge ≤ 1.2× floor at 10k", fmt.Sprintf("%.2f×", q), verdict(q <= targetConvergeRatio)})
	} else {
		rows = append(rows, [3]string{"converge ≤ 1.2× floor at 10k", "not measured", "–"})
	}
	var idle, restart, follow []string
	idleOK, restartOK, followOK := true, true, true
	for _, r := range results {
		if r.Converge == 0 {
			continue
		}
		if r.RSS > 0 { // the idle step ran
			idle = append(idle, fmt.Sprintf("%d: %d (%d changed)", r.N, r.IdleWrites, r.IdleChanged))
			idleOK = idleOK && r.IdleWrites == 0 && r.IdleChanged == 0
		}
		if r.RestartSync > 0 {
			restart = append(restart, fmt.Sprintf("%d: %d (%d changed)", r.N, r.RestartWrites, r.RestartChanged))
			restartOK = restartOK && r.RestartWrites == 0 && r.RestartChanged == 0
		}
		if s := summarize(r.FollowIdle); s.n > 0 {
			follow = append(follow, fmt.Sprintf("%d: %s", r.N, ms(s.p99)))
			followOK = followOK && s.p99 <= targetFollowP99
		}
	}
	row := func(name string, measured []string, ok bool) {
		if len(measured) == 0 {
			rows = append(rows, [3]string{name, "not measured", "–"})
			return
		}
		rows = append(rows, [3]string{name, "N=" + strings.Join(measured, "; N="), verdict(ok)})
	}
	row("0 writes over the idle period, every N", idle, idleOK)
	row("0 writes across a restart, every N", restart, restartOK)
	row("follow p99 ≤ 100 ms idle, every N", follow, followOK)
	if r := at(targetSize); r != nil && r.RSS > 0 {
		rows = append(rows, [3]string{"RSS ≤ 150 MiB at 10k", mib(r.RSS) + " MiB", verdict(r.RSS <= targetRSS)})
	} else {
		rows = append(rows, [3]string{"RSS ≤ 150 MiB at 10k", "not measured", "–"})
	}
	return rows
}

func writeSize(p func(string, ...any), s settings, r *result) {
	p("## N = %d", r.N)
	p("")
	if r.Err != nil {
		p("**The run stopped early:** %s", strings.ReplaceAll(r.Err.Error(), "\n", " "))
		p("")
	}
	p("| Figure | Value |")
	p("|---|---|")
	row := func(name, format string, args ...any) { p("| %s | %s |", name, fmt.Sprintf(format, args...)) }
	if r.FloorCreates > 0 {
		row(fmt.Sprintf("Floor (N entry creates + N status patches, %d workers)", s.workers), "%s (creates %s, status patches %s; %s per request)",
			secs(r.Floor()), secs(r.FloorCreates), secs(r.FloorStatus), ms(r.FloorLatency))
	}
	if r.Converge > 0 {
		row("Converge", "%s (first alias Ready after %s)", secs(r.Converge), secs(r.FirstReady))
		row("**Converge / floor**", "**%.2f×**", ratio(r.Converge, r.Floor()))
	}
	if r.RSS > 0 {
		row(fmt.Sprintf("Idle writes (%s)", s.idle), "%d requests, %d objects changed", r.IdleWrites, r.IdleChanged)
	}
	if r.RestartSync > 0 {
		row(fmt.Sprintf("Restart writes (start-up + %s)", s.idle), "%d requests, %d objects changed; start-up backlog done after %s", r.RestartWrites, r.RestartChanged, secs(r.RestartSync))
	}
	if f := summarize(r.FollowIdle); f.n > 0 {
		row("Follow, idle: p50 / p99 (max)", "%s / %s (%s), %d samples", ms(f.p50), ms(f.p99), ms(f.max), f.n)
	}
	if c := summarize(r.FollowIdleCreate); c.n > 0 {
		row("… of which the Service create request: p50 / p99 (max)", "%s / %s (%s)", ms(c.p50), ms(c.p99), ms(c.max))
	}
	if f := summarize(r.FollowStartup); f.n > 0 {
		row(fmt.Sprintf("Follow under a start-up backlog of %d: p50 / p99 (max)", r.Backlog), "%s / %s (%s), %d samples; the backlog drained in %s", ms(f.p50), ms(f.p99), ms(f.max), f.n, secs(r.StartupDrain))
	}
	if f := summarize(r.FollowLive); f.n > 0 {
		row(fmt.Sprintf("Follow under a live bump of %d: p50 / p99 (max)", r.Backlog), "%s / %s (%s), %d samples; the bump and its backlog took %s, queue depth up to %d", ms(f.p50), ms(f.p99), ms(f.max), f.n, secs(r.LiveDrain), r.LiveMaxDepth)
	}
	if r.RSS > 0 {
		row("Operator RSS / Go heap", "%s MiB / %s MiB (peak RSS so far %s MiB)", mib(r.RSS), mib(r.Heap), mib(r.PeakRSS))
		row("Go heap spans in use / free but not returned to the OS / next GC at", "%s MiB / %s MiB / %s MiB", mib(r.HeapInuse), mib(r.HeapUnreleased), mib(r.NextGC))
	}
	if r.NamespaceAlias > 0 {
		row("NamespaceAlias over N Services: Ready", "%s", secs(r.NamespaceAlias))
		row("**NamespaceAlias / floor**", "**%.2f×** (%.2f× the floor's creates alone)", ratio(r.NamespaceAlias, r.Floor()), ratio(r.NamespaceAlias, r.FloorCreates))
		row("Operator RSS / Go heap at the end (2N Services, 2N entries)", "%s MiB / %s MiB", mib(r.FinalRSS), mib(r.FinalHeap))
	}
	if r.Converge > 0 {
		writes := 0
		var parts []string
		for _, k := range slices.Sorted(maps.Keys(r.ConvergeRequests)) {
			parts = append(parts, fmt.Sprintf("%s: %d", k, r.ConvergeRequests[k]))
			if isWrite(strings.Fields(k)[0]) {
				writes += r.ConvergeRequests[k]
			}
		}
		row("Operator requests until converged (method code)", "%s", strings.Join(parts, ", "))
		row("Operator writes per alias until converged", "%.2f (the floor: 2)", float64(writes)/float64(r.N))
		row("Changes to the ServiceAliases seen by the bench's watch until converged", "%d, %.2f per alias (one status write each would be 1.00)", r.AliasWrites, float64(r.AliasWrites)/float64(r.N))
		row("Operator means until converged: reconcile / wait in the queue", "%s / %s", ms(r.ReconcileMean), ms(r.QueueWaitMean))
		row("ServiceAlias reconciles in flight on average (time reconciling / converge)", "%.1f (workers: %s)", ratio(r.ReconcileBusy, r.Converge), workersOf(s))
		row("Operator CPU until converged", "%s of %s wall (%.0f%% of one core)", secs(r.ConvergeCPU), secs(r.Converge), 100*ratio(r.ConvergeCPU, r.Converge))
	}
	row("Client-side throttling mentions in the operator's log", "%d", r.ThrottleMentions)
	p("")
}

// workersOf is the operator's --max-concurrent-reconciles, as the bench ran it.
func workersOf(s settings) string {
	for _, a := range s.operatorArgs {
		if v, ok := strings.CutPrefix(a, "--max-concurrent-reconciles="); ok {
			return v
		}
	}
	return "4"
}
