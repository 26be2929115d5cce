package main

import (
	"cmp"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
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
		Spec: meshaliasv1.ServiceAliasSpec{
			Service: meshaliasv1.ServiceReference{Name: serviceName(i)},
			Hosts:   []string{aliasHost(i)},
		},
	}
}

// settings are the bench's flags, and where it found what it runs.
type settings struct {
	OperatorArgs, OperatorEnv []string
	Workers, FollowSamples    int
	Idle                      time.Duration
	ControlPlane              string
	root, operatorBin         string
}

// result is what was measured at one size: the report's table, the targets, and in numbers
// what hack/plot draws. Durations are nanoseconds in the JSON.
type result struct {
	N int
	// Err is the step that failed, if one did; the figures before it stand. LogDir keeps the
	// control plane's and the operator's logs.
	Err, LogDir                                         string
	Rows                                                [][2]string
	Targets                                             []judgement
	FloorCreates, FloorStatus, Converge, NamespaceAlias time.Duration
	Workers                                             int // the operator's own count
	FollowIdle, FollowStartup, FollowLive               []Follow
}

// judgement is how the operator did against a target at one size.
type judgement struct {
	Target, Measured string
	Met              bool
}

func (r *result) Floor() time.Duration { return r.FloorCreates + r.FloorStatus }

// sizeRun is one size's run on its own control plane.
type sizeRun struct {
	settings
	n   int
	c   client.Client
	tr  *tracker
	op  *operator
	res *result
}

// row records a figure of the size's table in the report, and prints it.
func (r *sizeRun) row(figure, format string, args ...any) {
	r.res.Rows = append(r.res.Rows, [2]string{figure, fmt.Sprintf(format, args...)})
	say("N=%d: %s: %s", r.n, strings.ReplaceAll(figure, "**", ""), strings.ReplaceAll(fmt.Sprintf(format, args...), "**", ""))
}

// judge records how the operator did against a target at this size.
func (r *sizeRun) judge(target string, met bool, format string, args ...any) {
	r.res.Targets = append(r.res.Targets, judgement{target, fmt.Sprintf(format, args...), met})
}

// runSize measures everything at size n on a fresh control plane, which is simplest and
// fairest: no size inherits another's etcd history or watch caches.
func runSize(ctx context.Context, s settings, n int) (res *result) {
	res, step := &result{N: n}, "set-up"
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
		r.row("Client-side throttling mentions in the operator's log", "%d", r.op.logMentions("throttling"))
	}()
	for _, st := range []struct {
		name string
		run  func(context.Context)
	}{
		{"floor", r.floor}, {"converge", r.converge}, {"idle", r.idleWrites}, {"restart", r.restartWrites},
		{"follow", r.followIdle}, {"follow under a start-up backlog", r.followStartupBacklog},
		{"follow under a live backlog", r.followLiveBacklog}, {"NamespaceAlias", r.namespaceAlias},
	} {
		step = st.name
		say("N=%d: %s", n, st.name)
		st.run(ctx)
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
		a.Status.ObservedGeneration = a.Generation
		a.Status.Addresses = entries[i].Spec.Addresses
		a.Status.ServiceEntries = []string{entries[i].Name}
		desired.SetConditions(&a.Status.Conditions, a.Generation, desired.Outcome{
			Ready: true, Reason: meshaliasv1.ReasonSynced, Message: "1 ServiceEntry in place.",
		})
		return timed(time.Now(), r.c.Status().Patch(ctx, a, client.MergeFrom(before)))
	}))
	r.res.FloorStatus = time.Since(start)
	r.row(fmt.Sprintf("Floor (N entry creates + N status patches, %d workers)", r.Workers), "%s (creates %s, status patches %s; %s per request)",
		secs(r.res.Floor()), secs(r.res.FloorCreates), secs(r.res.FloorStatus), ms(time.Duration(busy.Load()/int64(2*r.n))))
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
	var firstReady time.Time
	check(poll(ctx, 10*time.Millisecond, 30*time.Minute, func() (bool, string, error) {
		p := r.tr.counts()
		if p.ready > 0 && firstReady.IsZero() {
			firstReady = time.Now()
		}
		return p.ready == r.n && p.entries[benchNS] == r.n, fmt.Sprintf("%d/%d ServiceAliases Ready, %d ServiceEntries", p.ready, r.n, p.entries[benchNS]), r.op.exited()
	}))
	r.res.Converge = time.Since(start)
	m, aliasWrites := must(r.op.scrape(ctx)), r.tr.counts().writes-writesBefore
	sa, saQueue := label("controller", "servicealias"), label("name", "servicealias")
	r.res.Workers = int(m.sum("controller_runtime_max_concurrent_reconciles", sa))
	busy, cpu := seconds(m.sum("controller_runtime_reconcile_time_seconds_sum", sa)), seconds(m.sum("process_cpu_seconds_total", nil))
	q := ratio(r.res.Converge, r.res.Floor())
	r.row("Converge", "%s (first alias Ready after %s)", secs(r.res.Converge), secs(firstReady.Sub(start)))
	r.row("**Converge / floor**", "**%.2f×**", q)
	if r.n == 10000 {
		r.judge(targetConverge, q <= 1.2, "%.2f×", q)
	}
	r.row("Operator requests until converged (method code)", "%s", m.requests())
	r.row("Operator writes per alias until converged", "%.2f (the floor: 2)", float64(m.writes())/float64(r.n))
	r.row("Changes to the ServiceAliases seen by the bench's watch until converged", "%d, %.2f per alias (one status write each would be 1.00)", aliasWrites, float64(aliasWrites)/float64(r.n))
	r.row("Operator means until converged: reconcile / wait in the queue", "%s / %s",
		ms(busy/time.Duration(m.sum("controller_runtime_reconcile_time_seconds_count", sa))),
		ms(seconds(m.sum("workqueue_queue_duration_seconds_sum", saQueue)/m.sum("workqueue_queue_duration_seconds_count", saQueue))))
	r.row("ServiceAlias reconciles in flight on average (time reconciling / converge)", "%.1f (workers: %d)", ratio(busy, r.res.Converge), r.res.Workers)
	r.row("Operator CPU until converged", "%s of %s wall (%.0f%% of one core)", secs(cpu), secs(r.res.Converge), 100*ratio(cpu, r.res.Converge))
}

// idleWrites counts the operator's writes while nothing changes, then reads its memory.
func (r *sizeRun) idleWrites(ctx context.Context) {
	r.tr.changedSince()
	m0 := must(r.op.scrape(ctx))
	check(sleep(ctx, r.Idle))
	m1, objects := must(r.op.scrape(ctx)), r.tr.changedSince()
	writes := m1.writes() - m0.writes()
	rss, heap := int64(m1.sum("process_resident_memory_bytes", nil)), int64(m1.sum("go_memstats_heap_alloc_bytes", nil))
	peak, _ := r.op.peaks(false)
	r.row(fmt.Sprintf("Idle writes (%s)", r.Idle), "%d requests, %d objects changed", writes, objects)
	r.judge(targetIdle, writes+objects == 0, "%d (%d changed)", writes, objects)
	r.row("Operator RSS / Go heap", "%s MiB / %s MiB (peak RSS so far %s MiB)", mib(rss), mib(heap), mib(max(peak, rss)))
	if r.n == 10000 {
		r.judge(targetRSS, rss <= 150<<20, "%s MiB", mib(rss))
	}
	r.row("Go heap spans in use / free but not returned to the OS / next GC at", "%s MiB / %s MiB / %s MiB", mib(int64(m1.sum("go_memstats_heap_inuse_bytes", nil))),
		mib(int64(m1.sum("go_memstats_heap_idle_bytes", nil)-m1.sum("go_memstats_heap_released_bytes", nil))), mib(int64(m1.sum("go_memstats_next_gc_bytes", nil))))
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
		m, err := r.op.scrape(ctx)
		done := int(m.sum("controller_runtime_reconcile_total", label("controller", "servicealias")))
		depth := int(m.sum("workqueue_depth", label("name", "servicealias")))
		return err == nil && done >= r.n && depth == 0, fmt.Sprintf("start-up backlog: %d reconciles done, %d queued", done, depth), err
	}))
	synced := time.Since(start)
	check(sleep(ctx, r.Idle))
	writes, objects := must(r.op.scrape(ctx)).writes(), r.tr.changedSince()
	r.row(fmt.Sprintf("Restart writes (start-up + %s)", r.Idle), "%d requests, %d objects changed; start-up backlog done after %s", writes, objects, secs(synced))
	r.judge(targetRestart, writes+objects == 0, "%d (%d changed)", writes, objects)
}

// namespaceAlias times one NamespaceAlias over N Services of a namespace of their own.
func (r *sizeRun) namespaceAlias(ctx context.Context) {
	check(forEach(ctx, r.n, r.Workers, "set-up: created %d/%d Services", func(ctx context.Context, i int) error {
		return r.c.Create(ctx, newService(nsAliasNS, serviceName(i)))
	}))
	// The operator watches every Service; let it finish with these events, which concern no
	// alias, before the clock starts.
	check(sleep(ctx, 2*time.Second))
	start := time.Now()
	check(r.c.Create(ctx, &meshaliasv1.NamespaceAlias{
		ObjectMeta: metav1.ObjectMeta{Namespace: nsAliasNS, Name: "all"},
		Spec:       meshaliasv1.NamespaceAliasSpec{Domain: nsDomain},
	}))
	check(poll(ctx, 10*time.Millisecond, 30*time.Minute, func() (bool, string, error) {
		p := r.tr.counts()
		return p.nsAlias.ready && int(p.nsAlias.services) == r.n, fmt.Sprintf("NamespaceAlias: %d/%d ServiceEntries, status.services %d",
			p.entries[nsAliasNS], r.n, p.nsAlias.services), r.op.exited()
	}))
	r.res.NamespaceAlias = time.Since(start)
	m := must(r.op.scrape(ctx))
	r.row("NamespaceAlias over N Services: Ready", "%s", secs(r.res.NamespaceAlias))
	r.row("**NamespaceAlias / floor**", "**%.2f×** (%.2f× the floor's creates alone)", ratio(r.res.NamespaceAlias, r.res.Floor()), ratio(r.res.NamespaceAlias, r.res.FloorCreates))
	r.row("Operator RSS / Go heap at the end (2N Services, 2N entries)", "%s MiB / %s MiB", mib(int64(m.sum("process_resident_memory_bytes", nil))), mib(int64(m.sum("go_memstats_heap_alloc_bytes", nil))))
}

func seconds(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

// Follow is one follow sample: from the Service create request to the watch's sight of the
// entry with the new address, the create request alone, and the operator's share: from the
// watch's sight of the new Service to its sight of the entry.
type Follow struct{ Total, Create, Operator time.Duration }

// followOnce re-creates Service i, as `kubectl replace --force` does, so that it gets a new
// ClusterIP, and times until its alias's ServiceEntry carries the new address.
func (r *sizeRun) followOnce(ctx context.Context, i int) (Follow, error) {
	svc := newService(benchNS, serviceName(i))
	entry := &networkingv1.ServiceEntry{ObjectMeta: metav1.ObjectMeta{Namespace: benchNS, Name: desired.EntryName(aliasHost(i))}}
	if err := r.c.Delete(ctx, svc.DeepCopy()); err != nil {
		return Follow{}, fmt.Errorf("deleting Service %s: %w", svc.Name, err)
	}
	start := time.Now()
	if err := r.c.Create(ctx, svc); err != nil {
		return Follow{}, fmt.Errorf("re-creating Service %s: %w", svc.Name, err)
	}
	create := time.Since(start)
	// The watch's handlers take the times; the poll's period does not enter them.
	var svcAt, entryAt time.Time
	err := poll(ctx, 5*time.Millisecond, 15*time.Minute, func() (bool, string, error) {
		svcAt, entryAt = r.tr.addressSeenAt(svc, svc.Spec.ClusterIP), r.tr.addressSeenAt(entry, svc.Spec.ClusterIP)
		return !svcAt.IsZero() && !entryAt.IsZero(), fmt.Sprintf("ServiceEntry %s to carry %s", entry.Name, svc.Spec.ClusterIP), nil
	})
	return Follow{Total: entryAt.Sub(start), Create: create, Operator: entryAt.Sub(svcAt)}, err
}

// followRows records a follow figure, its create requests and the operator's share, and
// returns the p99 of the whole and of the share.
func (r *sizeRun) followRows(figure string, fs []Follow, note string) (p99, shareP99 time.Duration) {
	var total, create, share []time.Duration
	for _, f := range fs {
		total, create, share = append(total, f.Total), append(create, f.Create), append(share, f.Operator)
	}
	r.row(figure+", from the create request: p50 / p99 (max)", "%s, %d samples%s", summarize(total), len(fs), note)
	r.row("… of which the Service create request: p50 / p99 (max)", "%s", summarize(create))
	r.row("**… the operator's share** (watch sees the Service → watch sees the entry): p50 / p99 (max)", "**%s**", summarize(share))
	return summarize(total).P99, summarize(share).P99
}

// followIdle takes the idle samples one after another, on aliases spread over all N.
func (r *sizeRun) followIdle(ctx context.Context) {
	for k := range r.FollowSamples {
		r.res.FollowIdle = append(r.res.FollowIdle, must(r.followOnce(ctx, (k*r.n/r.FollowSamples)%r.n)))
		if (k+1)%max(r.FollowSamples/10, 1) == 0 {
			say("  follow idle: %d/%d samples", k+1, r.FollowSamples)
		}
	}
	p99, share := r.followRows("Follow, idle", r.res.FollowIdle, "")
	r.judge(targetFollow, p99 <= 100*time.Millisecond, "%s (the operator's share: %s)", ms(p99), ms(share))
}

// Samplers during a backlog: few and paced, so that the follow samples measure the backlog
// rather than add one of their own. Each re-create costs the operator a prune, an apply, two
// status writes and Events; 16 unpaced samplers doubled the drain time at 1k.
const (
	backlogSamplers = 2
	samplerPause    = 250 * time.Millisecond
)

// bump changes the spec of the first n ServiceAliases and nothing they serve: their Services
// have the one port 80, so limiting the entry to port 80 (on) leaves it as it is; removing
// the limit again is the second bump.
func (r *sizeRun) bump(ctx context.Context, n int, on bool) error {
	patch := client.RawPatch(types.MergePatchType, []byte(`{"spec":{"ports":null}}`))
	if on {
		patch = client.RawPatch(types.MergePatchType, []byte(`{"spec":{"ports":[80]}}`))
	}
	return forEach(ctx, n, r.Workers, "bumped %d/%d ServiceAliases", func(ctx context.Context, i int) error {
		return r.c.Patch(ctx, newAlias(benchNS, i), patch)
	})
}

// followStartupBacklog samples while the operator works off a start-up backlog: aliases bumped
// while it was down, each needing a status write, which the priority queue files low.
func (r *sizeRun) followStartupBacklog(ctx context.Context) {
	backlog := min(r.n, 10000)
	behind := r.n - backlog
	check(r.op.stop())
	check(r.bump(ctx, backlog, true))
	check(poll(ctx, 10*time.Millisecond, time.Minute, func() (bool, string, error) {
		caughtUp := r.tr.counts().caughtUp
		return caughtUp == behind, fmt.Sprintf("the bench's watch has seen %d/%d bumps", r.n-caughtUp, backlog), nil
	}))
	start := time.Now()
	check(r.op.start())
	// Sampling starts with the operator's first status write: before that it is still
	// starting, which the restart step measures.
	check(poll(ctx, 10*time.Millisecond, 10*time.Minute, func() (bool, string, error) {
		return r.tr.counts().caughtUp > behind, "waiting for the operator's first status write", r.op.exited()
	}))
	samples, err := r.sampleDuring(ctx, 1, func() (bool, string) {
		caughtUp := r.tr.counts().caughtUp
		return caughtUp == r.n, fmt.Sprintf("start-up backlog: %d/%d ServiceAliases handled", caughtUp-behind, backlog)
	})
	r.res.FollowStartup = samples
	check(err)
	r.followRows(fmt.Sprintf("Follow under a start-up backlog of %d", backlog), samples, "; the backlog drained in "+secs(time.Since(start)))
}

// followLiveBacklog samples while the same aliases are bumped back live, as a GitOps sync of
// every alias would: those updates queue at normal priority, alongside the samples'.
func (r *sizeRun) followLiveBacklog(ctx context.Context) {
	backlog := min(r.n, 10000)
	r.op.peaks(true)
	start := time.Now()
	var bumped atomic.Pointer[error]
	go func() {
		err := r.bump(ctx, backlog, false)
		bumped.Store(&err)
	}()
	samples, err := r.sampleDuring(ctx, 2, func() (bool, string) {
		_, depth := r.op.peaks(false)
		caughtUp := r.tr.counts().caughtUp
		return bumped.Load() != nil && caughtUp == r.n, fmt.Sprintf("live backlog: %d ServiceAliases still to handle, queue depth up to %d", r.n-caughtUp, depth)
	})
	drained := time.Since(start)
	r.res.FollowLive = samples
	check(err)
	check(*bumped.Load()) // set: drained waits for it
	_, depth := r.op.peaks(false)
	r.followRows(fmt.Sprintf("Follow under a live bump of %d", backlog), samples,
		fmt.Sprintf("; the bump and its backlog took %s, queue depth up to %d", secs(drained), depth))
}

// sampleDuring re-creates Services of randomly picked aliases, on a few paced samplers, until
// drained reports true; samples in flight then finish, and count.
func (r *sizeRun) sampleDuring(ctx context.Context, seed uint64, drained func() (bool, string)) ([]Follow, error) {
	order := rand.New(rand.NewPCG(seed, uint64(r.n))).Perm(r.n)
	var (
		next    atomic.Int64
		stop    atomic.Bool
		mu      sync.Mutex
		samples []Follow
		first   error
		wg      sync.WaitGroup
	)
	for range backlogSamplers {
		wg.Go(func() {
			for !stop.Load() {
				f, err := r.followOnce(ctx, order[int(next.Add(1)-1)%r.n])
				mu.Lock()
				if first = cmp.Or(first, err); err == nil {
					samples = append(samples, f)
				}
				mu.Unlock()
				if err != nil || sleep(ctx, samplerPause) != nil {
					return
				}
			}
		})
	}
	err := poll(ctx, 10*time.Millisecond, 30*time.Minute, func() (bool, string, error) {
		mu.Lock()
		taken, failed := len(samples), first
		mu.Unlock()
		done, status := drained()
		return done, fmt.Sprintf("%s; %d follow samples taken", status, taken), cmp.Or(failed, r.op.exited())
	})
	stop.Store(true)
	wg.Wait()
	return samples, cmp.Or(err, first)
}
