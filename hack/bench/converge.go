package main

import (
	"context"
	"fmt"
	"time"

	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	meshaliasv1 "github.com/meshalias/meshalias/api/v1alpha1"
)

// converge creates N Services and N one-host ServiceAliases while the operator is down, then
// starts it and times until every alias is Ready at its generation and every entry exists.
func (r *sizeRun) converge(ctx context.Context) error {
	say("N=%d: converge", r.n)
	if err := forEach(ctx, r.n, r.workers, "set-up: created %d/%d Services", func(ctx context.Context, i int) error {
		return r.c.Create(ctx, newService(benchNS, serviceName(i), ""))
	}); err != nil {
		return err
	}
	if err := forEach(ctx, r.n, r.workers, "set-up: created %d/%d ServiceAliases", func(ctx context.Context, i int) error {
		return r.c.Create(ctx, newAlias(benchNS, i))
	}); err != nil {
		return err
	}
	if err := poll(ctx, time.Minute, func() (bool, string) {
		got := r.tr.aliasCounts(benchNS).total
		return got == r.n, fmt.Sprintf("the bench's watch has seen %d/%d ServiceAliases", got, r.n)
	}); err != nil {
		return err
	}

	writesBefore := r.tr.aliasCounts(benchNS).writes
	start := time.Now()
	if err := r.op.start(); err != nil {
		return err
	}
	var firstReady time.Time
	err := poll(ctx, 30*time.Minute, func() (bool, string) {
		c := r.tr.aliasCounts(benchNS)
		entries := r.tr.entryCount(benchNS)
		if c.ready > 0 && firstReady.IsZero() {
			firstReady = time.Now()
		}
		if err := r.op.exited(); err != nil {
			return true, err.Error()
		}
		return c.ready == r.n && entries == r.n, fmt.Sprintf("converge: %d/%d ServiceAliases Ready, %d ServiceEntries", c.ready, r.n, entries)
	})
	if err != nil {
		return err
	}
	r.res.Converge = time.Since(start)
	r.res.FirstReady = firstReady.Sub(start)
	if err := r.op.exited(); err != nil {
		return err
	}
	m, err := r.op.scrape(ctx)
	if err != nil {
		return err
	}
	r.res.ConvergeRequests = m.requestsBy()
	r.res.ReconcileMean = seconds(m.mean("controller_runtime_reconcile_time_seconds", label("controller", "servicealias")))
	r.res.ReconcileBusy = seconds(m.sum("controller_runtime_reconcile_time_seconds_sum", label("controller", "servicealias")))
	r.res.AliasWrites = r.tr.aliasCounts(benchNS).writes - writesBefore
	r.res.QueueWaitMean = seconds(m.mean("workqueue_queue_duration_seconds", label("name", "servicealias")))
	if r.res.ConvergeCPU, err = r.op.cpu(); err != nil {
		return err
	}
	say("N=%d: converged in %s (%.2f× the floor; first alias Ready after %s); operator CPU %s; requests %v",
		r.n, r.res.Converge.Round(time.Millisecond), ratio(r.res.Converge, r.res.Floor()),
		r.res.FirstReady.Round(time.Millisecond), r.res.ConvergeCPU, r.res.ConvergeRequests)
	return nil
}

// idleWrites counts the operator's writes while nothing changes, by its own request counter
// and by the resourceVersions of every alias and entry, then reads its memory.
func (r *sizeRun) idleWrites(ctx context.Context) error {
	say("N=%d: %s idle", r.n, r.idle)
	before, err := r.versions(ctx)
	if err != nil {
		return err
	}
	m0, err := r.op.scrape(ctx)
	if err != nil {
		return err
	}
	if err := sleep(ctx, r.idle); err != nil {
		return err
	}
	m1, err := r.op.scrape(ctx)
	if err != nil {
		return err
	}
	after, err := r.versions(ctx)
	if err != nil {
		return err
	}
	r.res.IdleWrites = m1.writes() - m0.writes()
	r.res.IdleChanged = changed(before, after)
	if r.res.RSS, r.res.PeakRSS, err = r.op.memory(); err != nil {
		return err
	}
	r.res.Heap = int64(m1.sum("go_memstats_heap_alloc_bytes", nil))
	r.res.HeapInuse = int64(m1.sum("go_memstats_heap_inuse_bytes", nil))
	r.res.HeapUnreleased = int64(m1.sum("go_memstats_heap_idle_bytes", nil) - m1.sum("go_memstats_heap_released_bytes", nil))
	r.res.NextGC = int64(m1.sum("go_memstats_next_gc_bytes", nil))
	say("N=%d: idle writes %d (objects changed %d); RSS %s MiB (peak %s), heap %s MiB", r.n,
		r.res.IdleWrites, r.res.IdleChanged, mib(r.res.RSS), mib(r.res.PeakRSS), mib(r.res.Heap))
	return nil
}

// restartWrites stops the operator and starts it again: a new process must find everything in
// order and write nothing, through its start-up backlog and the idle time after it.
func (r *sizeRun) restartWrites(ctx context.Context) error {
	say("N=%d: restart", r.n)
	before, err := r.versions(ctx)
	if err != nil {
		return err
	}
	if err := r.op.stop(); err != nil {
		return err
	}
	start := time.Now()
	if err := r.op.start(); err != nil {
		return err
	}
	if err := r.waitBacklogDone(ctx); err != nil {
		return err
	}
	r.res.RestartSync = time.Since(start)
	if err := sleep(ctx, r.idle); err != nil {
		return err
	}
	m, err := r.op.scrape(ctx)
	if err != nil {
		return err
	}
	after, err := r.versions(ctx)
	if err != nil {
		return err
	}
	r.res.RestartWrites = m.writes()
	r.res.RestartChanged = changed(before, after)
	say("N=%d: restart: start-up backlog done in %s; writes %d (objects changed %d)", r.n,
		r.res.RestartSync.Round(time.Millisecond), r.res.RestartWrites, r.res.RestartChanged)
	return nil
}

// waitBacklogDone waits until a freshly started operator has reconciled every ServiceAlias
// once and its queue is empty: its caches have synced and the start-up backlog is worked off.
func (r *sizeRun) waitBacklogDone(ctx context.Context) error {
	deadline := time.Now().Add(20 * time.Minute)
	last := time.Now()
	for {
		m, err := r.op.scrape(ctx)
		if err != nil {
			return err
		}
		done := int(m.sum("controller_runtime_reconcile_total", label("controller", "servicealias")))
		depth := int(m.sum("workqueue_depth", label("name", "servicealias")))
		if done >= r.n && depth == 0 {
			return nil
		}
		if time.Since(last) > 5*time.Second {
			say("  start-up backlog: %d reconciles done, %d queued", done, depth)
			last = time.Now()
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("start-up backlog not done after 20m: %d reconciles, %d queued", done, depth)
		}
		if err := sleep(ctx, 100*time.Millisecond); err != nil {
			return err
		}
	}
}

// versions maps every alias and ServiceEntry in the cluster, by kind and key, to its
// resourceVersion, read from the API server itself. Any write changes one.
func (r *sizeRun) versions(ctx context.Context) (map[string]string, error) {
	out := map[string]string{}
	lists := []client.ObjectList{&meshaliasv1.ServiceAliasList{}, &meshaliasv1.NamespaceAliasList{}, &networkingv1.ServiceEntryList{}}
	for _, l := range lists {
		if err := r.c.List(ctx, l); err != nil {
			return nil, err
		}
		var items []client.Object
		switch l := l.(type) {
		case *meshaliasv1.ServiceAliasList:
			for i := range l.Items {
				items = append(items, &l.Items[i])
			}
		case *meshaliasv1.NamespaceAliasList:
			for i := range l.Items {
				items = append(items, &l.Items[i])
			}
		case *networkingv1.ServiceEntryList:
			items = append(items, toObjects(l.Items)...)
		}
		for _, o := range items {
			key := fmt.Sprintf("%T %s", o, types.NamespacedName{Namespace: o.GetNamespace(), Name: o.GetName()})
			out[key] = o.GetResourceVersion()
		}
	}
	return out, nil
}

func toObjects(entries []*networkingv1.ServiceEntry) []client.Object {
	out := make([]client.Object, len(entries))
	for i, e := range entries {
		out[i] = e
	}
	return out
}

// changed counts the objects created, deleted or modified between two snapshots.
func changed(before, after map[string]string) int {
	n := 0
	for k, v := range after {
		if before[k] != v {
			n++
		}
	}
	for k := range before {
		if _, ok := after[k]; !ok {
			n++
		}
	}
	return n
}

func sleep(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}

func seconds(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }
