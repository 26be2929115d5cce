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
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	meshaliasv1 "github.com/meshalias/meshalias/api/v1alpha1"
	"github.com/meshalias/meshalias/internal/desired"
	"github.com/meshalias/meshalias/internal/localcluster"
)

// The namespaces of one size's run: the floor's objects never wake the operator. The
// NamespaceAlias covers the bench namespace's own N Services: creating N more would cost the
// apiserver, whose ClusterIP allocator counts every allocated address at each allocation, time
// that grows as N² (an hour of set-up at 20k), and tell nothing more about the operator.
const (
	floorNS = "floor"
	benchNS = "bench"
	// aliasDomain is the domain of every ServiceAlias host: svc-00042.alias-bench. The
	// NamespaceAlias's differs, so that the two kinds of alias never claim the same host.
	aliasDomain   = "alias-bench"
	nsDomain      = "nsbench"
	clusterDomain = "cluster.local"
	// serviceCIDR holds about a million ClusterIPs: the 20k Services and all the re-created
	// ones fit, and a re-created Service all but never gets its old address back.
	serviceCIDR = "10.96.0.0/12"
)

func serviceName(i int) string { return fmt.Sprintf("svc-%05d", i) }

func aliasHost(i int) string { return serviceName(i) + "." + aliasDomain }

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
		Spec: meshaliasv1.ServiceAliasSpec{
			Service: meshaliasv1.ServiceReference{Name: serviceName(i)},
			Hosts:   []string{aliasHost(i)},
		},
	}
}

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

// steps are a size's run, in order; the report and the targets name them.
var steps = []struct {
	name string
	run  func(*sizeRun, context.Context)
}{
	{"set-up", (*sizeRun).setUp},
	{"floor", (*sizeRun).floor},
	{"converge", (*sizeRun).converge},
	{"idle", (*sizeRun).idleWrites},
	{"restart", (*sizeRun).restartWrites},
	{"follow", (*sizeRun).followIdle},
	{"start-up backlog", (*sizeRun).followStartupBacklog},
	{"live bump", (*sizeRun).followLiveBump},
	{"NamespaceAlias", (*sizeRun).namespaceAlias},
}

// runSize measures everything at size n on a fresh control plane, which is simplest and
// fairest: no size inherits another's etcd history or watch caches.
func runSize(ctx context.Context, s settings, n int) (res *result) {
	res = &result{N: n, Brief: n > s.BriefAbove, Profiled: slices.Contains(s.ProfileN, n)}
	step := "start"
	defer func() {
		if err := recovered(recover()); err != nil {
			res.Err = fmt.Sprintf("%s: %v", step, err)
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
	r := &sizeRun{settings: s, n: n, res: res,
		c:  must(client.New(cfg, client.Options{Scheme: localcluster.NewScheme()})),
		op: &operator{bin: s.operatorBin, kubeconfig: cluster.Kubeconfig, args: s.OperatorArgs, env: s.OperatorEnv, log: opLog}}
	for _, ns := range []string{floorNS, benchNS} {
		check(r.c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}))
	}
	trackerCtx, stopTracker := context.WithCancel(ctx)
	defer stopTracker()
	r.tr = must(startTracker(trackerCtx, cfg))
	defer func() {
		if err := r.op.stop(); err != nil {
			say("stopping the operator: %v", err)
		}
		res.Throttling = r.op.logMentions("throttling")
	}()
	for _, st := range steps {
		if step = st.name; res.Brief && step == "start-up backlog" {
			continue
		}
		start := time.Now()
		say("N=%d: %s", n, step)
		st.run(r, ctx)
		res.Done = append(res.Done, step)
		say("N=%d: %s took %s", n, step, secs(time.Since(start)))
	}
	return res
}

// await polls the tracker's counts, which cost nothing, until done says so or the operator
// dies.
func (r *sizeRun) await(ctx context.Context, timeout time.Duration, done func(p progress) (bool, string)) {
	check(poll(ctx, 10*time.Millisecond, timeout, func() (bool, string, error) {
		ok, status := done(r.tr.counts())
		return ok, status, r.op.exited()
	}))
}

// setUp creates the N Services and N one-host ServiceAliases the operator converges on, while
// it is down, and before the floor: the floor's writes then meet the cluster the operator's
// meet, with the same objects in etcd and in the API server's caches. A floor on an empty
// cluster, and a converge on a full one, compared two different API servers.
func (r *sizeRun) setUp(ctx context.Context) {
	check(forEach(ctx, r.n, r.Workers, "set-up: created %d/%d Services and ServiceAliases", func(ctx context.Context, i int) error {
		if err := r.c.Create(ctx, newService(benchNS, serviceName(i))); err != nil {
			return err
		}
		return r.c.Create(ctx, newAlias(benchNS, i))
	}))
	r.await(ctx, time.Minute, func(p progress) (bool, string) {
		return p.total == r.n, fmt.Sprintf("the bench's watch has seen %d/%d ServiceAliases", p.total, r.n)
	})
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
		se, problem := desired.BuildServiceEntry(desired.EntryRequest{
			Name: desired.EntryName(a.Spec.Hosts[0]), Host: a.Spec.Hosts[0],
			Owner:       desired.Owner{Kind: meshaliasv1.KindServiceAlias, Namespace: a.Namespace, Name: a.Name, UID: a.UID},
			ServiceName: svc.Name, Service: svc, ClusterDomain: clusterDomain,
		})
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
	start, cpu0 := time.Now(), readCPU()
	check(forEach(ctx, r.n, r.Workers, "floor: created %d/%d ServiceEntries", func(ctx context.Context, i int) error {
		return timed(time.Now(), r.c.Create(ctx, entries[i]))
	}))
	r.res.FloorCreates, start = time.Since(start), time.Now()
	check(forEach(ctx, r.n, r.Workers, "floor: patched %d/%d ServiceAlias statuses", func(ctx context.Context, i int) error {
		a := aliases[i]
		before := a.DeepCopy()
		// The status the operator writes for a served alias, patched the way it patches.
		a.Status.ObservedGeneration = a.Generation
		a.Status.Addresses, a.Status.ServiceEntries = entries[i].Spec.Addresses, []string{entries[i].Name}
		desired.SetConditions(&a.Status.Conditions, a.Generation,
			desired.Outcome{Ready: true, Reason: meshaliasv1.ReasonSynced, Message: "1 ServiceEntry in place."})
		return timed(time.Now(), r.c.Status().Patch(ctx, a, client.MergeFrom(before)))
	}))
	r.res.FloorStatus, r.res.FloorRequest = time.Since(start), time.Duration(busy.Load()/int64(2*r.n))
	r.res.FloorCPU = readCPU().since(cpu0)
	// The floor's objects go before the operator starts, so that it never sees them. Without
	// a garbage collector the entries need their own delete.
	check(r.c.DeleteAllOf(ctx, &networkingv1.ServiceEntry{}, client.InNamespace(floorNS)))
	check(r.c.DeleteAllOf(ctx, &meshaliasv1.ServiceAlias{}, client.InNamespace(floorNS)))
}

// converge starts the operator on the Services and ServiceAliases of setUp, and times until every alias is Ready at its generation and every entry exists.
func (r *sizeRun) converge(ctx context.Context) {
	changesBefore := r.tr.counts().changes
	start, cpu0 := time.Now(), readCPU()
	check(r.op.start())
	finishProfile := func() error { return nil }
	if r.res.Profiled {
		finishProfile = r.op.profileCPU(ctx, r.profileFile("cpu", "pprof"))
	}
	r.await(ctx, 30*time.Minute, func(p progress) (bool, string) {
		if p.ready > 0 && r.res.FirstReady == 0 {
			r.res.FirstReady = time.Since(start)
		}
		return p.ready == r.n && p.entries == r.n, fmt.Sprintf("%d/%d ServiceAliases Ready, %d ServiceEntries", p.ready, r.n, p.entries)
	})
	r.res.Converge, r.res.AliasChanges = time.Since(start), r.tr.counts().changes-changesBefore
	r.res.ConvergeCPU = readCPU().since(cpu0)
	m := must(r.op.scrape())
	check(finishProfile())
	r.res.Workers = int(m.sum("controller_runtime_max_concurrent_reconciles", aliasController))
	r.res.Requests, r.res.Writes = m.requests(), m.writes()
	r.res.CPU = seconds(m.sum("process_cpu_seconds_total", nil))
	r.res.Reconciling = seconds(m.sum("controller_runtime_reconcile_time_seconds_sum", aliasController))
	r.res.Reconcile = r.res.Reconciling / time.Duration(m.sum("controller_runtime_reconcile_time_seconds_count", aliasController))
	r.res.QueueWait = seconds(m.sum("workqueue_queue_duration_seconds_sum", aliasQueue) /
		m.sum("workqueue_queue_duration_seconds_count", aliasQueue))
}

// idleWrites counts the operator's writes while nothing changes, then reads its memory: as
// it is, and the live heap after a GC forced through pprof, whose heap profile the profiled
// sizes keep.
func (r *sizeRun) idleWrites(ctx context.Context) {
	r.tr.changedSince()
	before := must(r.op.scrape())
	check(sleep(ctx, r.Idle))
	m := must(r.op.scrape())
	r.res.IdleWrites, r.res.IdleChanged = m.writes()-before.writes(), r.tr.changedSince()
	// Every size keeps its heap profile with its logs; the profiled ones, beside results.json.
	heapFile := filepath.Join(r.res.LogDir, "heap.pprof")
	if r.res.Profiled {
		heapFile = r.profileFile("heap", "pprof")
	}
	check(r.op.save(ctx, "heap?gc=1", heapFile))
	r.res.LiveHeap = must(r.op.scrape()).bytes("go_memstats_heap_alloc_bytes")
	r.res.RSS, r.res.Heap = m.bytes("process_resident_memory_bytes"), m.bytes("go_memstats_heap_alloc_bytes")
	r.res.HeapInuse, r.res.NextGC = m.bytes("go_memstats_heap_inuse_bytes"), m.bytes("go_memstats_next_gc_bytes")
	r.res.HeapFree = m.bytes("go_memstats_heap_idle_bytes") - m.bytes("go_memstats_heap_released_bytes")
	peak, _ := r.op.peaks(false)
	r.res.PeakRSS = max(peak, r.res.RSS)
	if r.res.Profiled {
		check(profileSummary(r.profileFile("profile", "txt"), r.profileFile("cpu", "pprof"), heapFile))
		say("N=%d: profiles in %s", r.n, r.assets)
	}
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
		done := int(m.sum("controller_runtime_reconcile_total", aliasController))
		depth := int(m.sum("workqueue_depth", aliasQueue))
		return err == nil && done >= r.n && depth == 0, fmt.Sprintf("start-up backlog: %d reconciles done, %d queued", done, depth), r.op.exited()
	}))
	r.res.RestartBacklog = time.Since(start)
	check(sleep(ctx, r.Idle))
	r.res.RestartWrites, r.res.RestartChanged = must(r.op.scrape()).writes(), r.tr.changedSince()
}

// namespaceAlias times one NamespaceAlias over the bench namespace's N Services, whose
// ServiceAliases' hosts are under another domain, and reads its status, which must stay
// bounded however many Services it covers.
func (r *sizeRun) namespaceAlias(ctx context.Context) {
	start := time.Now()
	na := &meshaliasv1.NamespaceAlias{
		ObjectMeta: metav1.ObjectMeta{Namespace: benchNS, Name: "all"},
		Spec:       meshaliasv1.NamespaceAliasSpec{Domain: nsDomain},
	}
	check(r.c.Create(ctx, na))
	r.await(ctx, 30*time.Minute, func(p progress) (bool, string) {
		return p.nsAliasReady && p.nsAliasServices == r.n,
			fmt.Sprintf("NamespaceAlias: Ready %t, status.services %d/%d", p.nsAliasReady, p.nsAliasServices, r.n)
	})
	r.res.NamespaceAlias = time.Since(start)
	m := must(r.op.scrape())
	r.res.EndRSS, r.res.EndHeap = m.bytes("process_resident_memory_bytes"), m.bytes("go_memstats_heap_alloc_bytes")
	check(r.c.Get(ctx, client.ObjectKeyFromObject(na), na))
	r.res.StatusNames, r.res.StatusServices = len(na.Status.ServiceEntries), int(na.Status.Services)
	r.res.StatusSorted = slices.IsSorted(na.Status.ServiceEntries)
}

func seconds(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }
