package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync/atomic"
	"time"

	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	meshaliasv1 "github.com/meshalias/meshalias/api/v1alpha1"
	"github.com/meshalias/meshalias/internal/desired"
	"github.com/meshalias/meshalias/internal/localcluster"
)

// The namespaces of one size's run. Each scenario has its own, so that one's objects never
// wake the operator in another's.
const (
	floorNS   = "floor"
	benchNS   = "bench"
	nsAliasNS = "nsalias"
	// aliasDomain is the domain of every ServiceAlias host: svc-00042.alias-bench. The
	// NamespaceAlias's differs, so that the two kinds of alias never claim the same host.
	aliasDomain   = "alias-bench"
	nsDomain      = "nsbench"
	clusterDomain = "cluster.local"
	// serviceCIDR holds about a million ClusterIPs: the 20k Services and all the re-created
	// ones fit, and a re-created Service all but never gets its old address back.
	serviceCIDR = "10.96.0.0/12"
)

func newScheme() *runtime.Scheme {
	s, b := runtime.NewScheme(), runtime.NewSchemeBuilder(clientgoscheme.AddToScheme, networkingv1.AddToScheme, meshaliasv1.AddToScheme)
	check(b.AddToScheme(s))
	return s
}

func serviceName(i int) string { return fmt.Sprintf("svc-%05d", i) }

func aliasHost(i int) string { return serviceName(i) + "." + aliasDomain }

// newService is a plain ClusterIP Service with one HTTP port.
func newService(ns, name string) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: map[string]string{"app": name}},
		Spec: corev1.ServiceSpec{
			Selector: map[string]string{"app": name},
			Ports:    []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromInt32(8080)}},
		},
	}
}

// newAlias is the ServiceAlias of Service i: one host.
func newAlias(ns string, i int) *meshaliasv1.ServiceAlias {
	return &meshaliasv1.ServiceAlias{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: serviceName(i)},
		Spec:       meshaliasv1.ServiceAliasSpec{Service: meshaliasv1.ServiceReference{Name: serviceName(i)}, Hosts: []string{aliasHost(i)}},
	}
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

// The steps of a size's run, in order; the report and the targets name them.
const (
	stepFloor          = "floor"
	stepConverge       = "converge"
	stepIdle           = "idle"
	stepRestart        = "restart"
	stepFollow         = "follow"
	stepStartupBacklog = "start-up backlog"
	stepLiveBump       = "live bump"
	stepNamespaceAlias = "NamespaceAlias"
)

// sizeRun is one size's run on its own control plane.
type sizeRun struct {
	settings
	n   int
	c   client.Client
	tr  *tracker
	op  *operator
	res *result
	// portsLimited: the ServiceAliases are bumped to ports [80]; see bump.
	portsLimited bool
}

// runSize measures everything at size n on a fresh control plane, which is simplest and
// fairest: no size inherits another's etcd history or watch caches.
func runSize(ctx context.Context, s settings, n int) (res *result) {
	res, step := &result{N: n, Brief: n > s.BriefAbove, Profiled: slices.Contains(s.ProfileN, n)}, "set-up"
	defer func() {
		if p := recover(); p != nil {
			f, ok := p.(failure)
			if !ok {
				panic(p)
			}
			res.Err = fmt.Sprintf("%s: %v", step, f.err)
			say("N=%d failed: %s", n, res.Err)
		}
	}()
	if res.Brief {
		s.Idle, s.FollowSamples = s.Idle/3, max(s.FollowSamples/4, 1)
	}
	res.Idle = s.Idle
	res.LogDir = must(os.MkdirTemp("", fmt.Sprintf("meshalias-bench-%d-", n)))
	cpLog := must(os.Create(filepath.Join(res.LogDir, "control-plane.log")))
	defer cpLog.Close()
	opLog := must(os.Create(filepath.Join(res.LogDir, "operator.log")))
	defer opLog.Close()
	say("N=%d: starting etcd and kube-apiserver (Service range %s); logs in %s", n, serviceCIDR, res.LogDir)
	cluster := must(localcluster.Start(localcluster.Options{RepoRoot: s.root, ServiceCIDR: serviceCIDR, Log: cpLog}))
	defer func() {
		if err := cluster.Stop(); err != nil {
			say("stopping the control plane: %v", err)
		}
	}()
	// The bench's client is never the bottleneck: high limits, the same for every step. The
	// operator keeps controller-runtime's defaults, which leave flow control to the API server.
	cfg := rest.CopyConfig(cluster.Config)
	cfg.QPS, cfg.Burst = 1000, 2000
	r := &sizeRun{settings: s, n: n, res: res, c: must(client.New(cfg, client.Options{Scheme: newScheme()})),
		op: &operator{bin: s.operatorBin, kubeconfig: cluster.Kubeconfig, args: s.OperatorArgs, env: s.OperatorEnv, log: opLog}}
	for _, ns := range []string{floorNS, benchNS, nsAliasNS} {
		check(r.c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}))
	}
	trCtx, stopTracker := context.WithCancel(ctx)
	defer stopTracker()
	r.tr = must(startTracker(trCtx, cfg))
	defer func() {
		if err := r.op.stop(); err != nil {
			say("stopping the operator: %v", err)
		}
		res.Throttling = r.op.logMentions("throttling")
	}()
	for _, st := range []struct {
		name string
		run  func(context.Context)
	}{
		{stepFloor, r.floor}, {stepConverge, r.converge}, {stepIdle, r.idleWrites}, {stepRestart, r.restartWrites},
		{stepFollow, r.followIdle}, {stepStartupBacklog, func(ctx context.Context) { r.followBacklog(ctx, false) }},
		{stepLiveBump, func(ctx context.Context) { r.followBacklog(ctx, true) }},
		{stepNamespaceAlias, r.namespaceAlias},
	} {
		if step = st.name; res.Brief && step == stepStartupBacklog {
			continue
		}
		start := time.Now()
		say("N=%d: %s", n, step)
		st.run(ctx)
		res.Done = append(res.Done, step)
		say("N=%d: %s took %s", n, step, secs(time.Since(start)))
	}
	return res
}

// floor times the writes no implementation can avoid for N one-host aliases, by a plain
// client: the operator's convergence is judged against it.
func (r *sizeRun) floor(ctx context.Context) {
	aliases := make([]*meshaliasv1.ServiceAlias, r.n)
	entries := make([]*networkingv1.ServiceEntry, r.n)
	// Not timed: the aliases whose status the floor writes, and the very entries the operator
	// would write for them, from its own builder, so that the requests are of the same size.
	check(forEach(ctx, r.n, r.Workers, "floor set-up: created %d/%d ServiceAliases", func(ctx context.Context, i int) error {
		a, svc := newAlias(floorNS, i), newService(floorNS, serviceName(i))
		if err := r.c.Create(ctx, a); err != nil {
			return err
		}
		svc.Spec.ClusterIP = fmt.Sprintf("10.100.%d.%d", i/250, i%250+1)
		se, problem := desired.BuildServiceEntry(desired.EntryRequest{Name: desired.EntryName(a.Spec.Hosts[0]), Host: a.Spec.Hosts[0],
			Owner:       desired.Owner{Kind: meshaliasv1.KindServiceAlias, Namespace: a.Namespace, Name: a.Name, UID: a.UID},
			ServiceName: svc.Name, Service: svc, ClusterDomain: clusterDomain})
		if problem != nil {
			return problem
		}
		aliases[i], entries[i] = a, se
		return nil
	}))
	var busy atomic.Int64
	timed := func(start time.Time, err error) error {
		busy.Add(int64(time.Since(start)))
		return err
	}
	start := time.Now()
	check(forEach(ctx, r.n, r.Workers, "floor: created %d/%d ServiceEntries", func(ctx context.Context, i int) error {
		return timed(time.Now(), r.c.Create(ctx, entries[i]))
	}))
	r.res.FloorCreates, start = time.Since(start), time.Now()
	check(forEach(ctx, r.n, r.Workers, "floor: patched %d/%d ServiceAlias statuses", func(ctx context.Context, i int) error {
		a := aliases[i]
		before := a.DeepCopy()
		// The status the operator writes for a served alias, patched the way it patches.
		a.Status.ObservedGeneration, a.Status.Addresses, a.Status.ServiceEntries = a.Generation, entries[i].Spec.Addresses, []string{entries[i].Name}
		desired.SetConditions(&a.Status.Conditions, a.Generation, desired.Outcome{Ready: true, Reason: meshaliasv1.ReasonSynced, Message: "1 ServiceEntry in place."})
		return timed(time.Now(), r.c.Status().Patch(ctx, a, client.MergeFrom(before)))
	}))
	r.res.FloorStatus, r.res.FloorRequest = time.Since(start), time.Duration(busy.Load()/int64(2*r.n))
	// The floor's objects go before the operator starts, so that it never sees them. Without
	// a garbage collector the entries need their own delete.
	check(r.c.DeleteAllOf(ctx, &networkingv1.ServiceEntry{}, client.InNamespace(floorNS)))
	check(r.c.DeleteAllOf(ctx, &meshaliasv1.ServiceAlias{}, client.InNamespace(floorNS)))
}

// converge starts the operator on N Services and N one-host ServiceAliases made while it was
// down, and times until every alias is Ready at its generation and every entry exists.
func (r *sizeRun) converge(ctx context.Context) {
	check(forEach(ctx, r.n, r.Workers, "set-up: created %d/%d Services and ServiceAliases", func(ctx context.Context, i int) error {
		if err := r.c.Create(ctx, newService(benchNS, serviceName(i))); err != nil {
			return err
		}
		return r.c.Create(ctx, newAlias(benchNS, i))
	}))
	check(poll(ctx, 10*time.Millisecond, time.Minute, func() (bool, string, error) {
		total := r.tr.counts().total
		return total == r.n, fmt.Sprintf("the bench's watch has seen %d/%d ServiceAliases", total, r.n), nil
	}))
	writesBefore := r.tr.counts().writes
	start := time.Now()
	check(r.op.start())
	finishProfile := func() error { return nil }
	if r.res.Profiled {
		finishProfile = r.op.profileCPU(ctx, r.profileFile("cpu", "pprof"))
	}
	check(poll(ctx, 10*time.Millisecond, 30*time.Minute, func() (bool, string, error) {
		p := r.tr.counts()
		if p.ready > 0 && r.res.FirstReady == 0 {
			r.res.FirstReady = time.Since(start)
		}
		return p.ready == r.n && p.entries == r.n, fmt.Sprintf("%d/%d ServiceAliases Ready, %d ServiceEntries", p.ready, r.n, p.entries), r.op.exited()
	}))
	r.res.Converge, r.res.AliasChanges = time.Since(start), r.tr.counts().writes-writesBefore
	m := must(r.op.scrape())
	check(finishProfile())
	sa, saQueue := label("controller", "servicealias"), label("name", "servicealias")
	r.res.Workers, r.res.Requests, r.res.Writes = int(m.sum("controller_runtime_max_concurrent_reconciles", sa)), m.requests(), m.writes()
	r.res.Reconciling, r.res.CPU = seconds(m.sum("controller_runtime_reconcile_time_seconds_sum", sa)), seconds(m.sum("process_cpu_seconds_total", nil))
	r.res.Reconcile = r.res.Reconciling / time.Duration(m.sum("controller_runtime_reconcile_time_seconds_count", sa))
	r.res.QueueWait = seconds(m.sum("workqueue_queue_duration_seconds_sum", saQueue) / m.sum("workqueue_queue_duration_seconds_count", saQueue))
}

// idleWrites counts the operator's writes while nothing changes, then reads its memory: as
// it is, and the live heap after a GC forced through pprof, whose heap profile the profiled
// sizes keep.
func (r *sizeRun) idleWrites(ctx context.Context) {
	r.tr.changedSince()
	m0 := must(r.op.scrape())
	check(sleep(ctx, r.Idle))
	m1 := must(r.op.scrape())
	r.res.IdleWrites, r.res.IdleChanged = m1.writes()-m0.writes(), r.tr.changedSince()
	// Every size keeps its heap profile with its logs; the profiled ones, beside results.json.
	heapFile := filepath.Join(r.res.LogDir, "heap.pprof")
	if r.res.Profiled {
		heapFile = r.profileFile("heap", "pprof")
	}
	check(r.op.save(ctx, "heap?gc=1", heapFile))
	r.res.LiveHeap = int64(must(r.op.scrape()).sum("go_memstats_heap_alloc_bytes", nil))
	r.res.RSS, r.res.Heap = int64(m1.sum("process_resident_memory_bytes", nil)), int64(m1.sum("go_memstats_heap_alloc_bytes", nil))
	r.res.HeapInuse, r.res.NextGC = int64(m1.sum("go_memstats_heap_inuse_bytes", nil)), int64(m1.sum("go_memstats_next_gc_bytes", nil))
	r.res.HeapFree = int64(m1.sum("go_memstats_heap_idle_bytes", nil) - m1.sum("go_memstats_heap_released_bytes", nil))
	peak, _ := r.op.peaks(false)
	r.res.PeakRSS = max(peak, r.res.RSS)
	if r.res.Profiled {
		check(profileSummary(r.profileFile("profile", "txt"), r.profileFile("cpu", "pprof"), heapFile))
		say("N=%d: profiles in %s", r.n, r.assets)
	}
}

// profileFile is where a profile of this size goes, beside results.json.
func (r *sizeRun) profileFile(kind, ext string) string {
	return filepath.Join(r.assets, fmt.Sprintf("%s-%d.%s", kind, r.n, ext))
}

// restartWrites restarts the operator: a new process must find everything in order and write
// nothing.
func (r *sizeRun) restartWrites(ctx context.Context) {
	r.tr.changedSince()
	check(r.op.stop())
	start := time.Now()
	check(r.op.start())
	// The start-up backlog is done when every ServiceAlias was reconciled once and the queue
	// is empty: the caches have synced and the backlog is worked off.
	check(poll(ctx, 100*time.Millisecond, 20*time.Minute, func() (bool, string, error) {
		m, err := r.op.scrape()
		done := int(m.sum("controller_runtime_reconcile_total", label("controller", "servicealias")))
		depth := int(m.sum("workqueue_depth", label("name", "servicealias")))
		return err == nil && done >= r.n && depth == 0, fmt.Sprintf("start-up backlog: %d reconciles done, %d queued", done, depth), r.op.exited()
	}))
	r.res.RestartBacklog = time.Since(start)
	check(sleep(ctx, r.Idle))
	r.res.RestartWrites, r.res.RestartChanged = must(r.op.scrape()).writes(), r.tr.changedSince()
}

// namespaceAlias times one NamespaceAlias over N Services of a namespace of their own, and
// reads its status, which must stay bounded however many Services it covers.
func (r *sizeRun) namespaceAlias(ctx context.Context) {
	check(forEach(ctx, r.n, r.Workers, "set-up: created %d/%d Services", func(ctx context.Context, i int) error {
		return r.c.Create(ctx, newService(nsAliasNS, serviceName(i)))
	}))
	// The operator watches every Service; let it finish with these events, which concern no
	// alias, before the clock starts.
	check(sleep(ctx, 2*time.Second))
	start := time.Now()
	na := &meshaliasv1.NamespaceAlias{ObjectMeta: metav1.ObjectMeta{Namespace: nsAliasNS, Name: "all"}, Spec: meshaliasv1.NamespaceAliasSpec{Domain: nsDomain}}
	check(r.c.Create(ctx, na))
	check(poll(ctx, 10*time.Millisecond, 30*time.Minute, func() (bool, string, error) {
		p := r.tr.counts()
		return p.nsAliasReady && p.nsAliasServices == r.n, fmt.Sprintf("NamespaceAlias: %d/%d ServiceEntries, status.services %d",
			p.nsEntries, r.n, p.nsAliasServices), r.op.exited()
	}))
	r.res.NamespaceAlias = time.Since(start)
	m := must(r.op.scrape())
	r.res.EndRSS, r.res.EndHeap = int64(m.sum("process_resident_memory_bytes", nil)), int64(m.sum("go_memstats_heap_alloc_bytes", nil))
	check(r.c.Get(ctx, client.ObjectKeyFromObject(na), na))
	r.res.StatusNames, r.res.StatusServices, r.res.StatusSorted = len(na.Status.ServiceEntries), int(na.Status.Services), slices.IsSorted(na.Status.ServiceEntries)
}

func seconds(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }
