package main

import (
	"context"
	"sync/atomic"
	"time"

	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	meshaliasv1 "github.com/meshalias/meshalias/api/v1alpha1"
	"github.com/meshalias/meshalias/internal/desired"
)

// floor times the writes no implementation can avoid for N one-host aliases: N ServiceEntry
// creates and N status patches, sent by a plain client on the bench's workers. The operator's
// convergence is judged against it.
func (r *sizeRun) floor(ctx context.Context) error {
	say("N=%d: floor", r.n)
	aliases := make([]*meshaliasv1.ServiceAlias, r.n)
	// Not timed: the aliases whose status the floor writes.
	if err := forEach(ctx, r.n, r.workers, "floor set-up: created %d/%d ServiceAliases", func(ctx context.Context, i int) error {
		a := newAlias(floorNS, i)
		aliases[i] = a
		return r.c.Create(ctx, a)
	}); err != nil {
		return err
	}
	entries := make([]*networkingv1.ServiceEntry, r.n)
	for i, a := range aliases {
		se, err := floorEntry(a, i)
		if err != nil {
			return err
		}
		entries[i] = se
	}

	var busy atomic.Int64
	timed := func(fn func() error) error {
		start := time.Now()
		err := fn()
		busy.Add(int64(time.Since(start)))
		return err
	}
	start := time.Now()
	if err := forEach(ctx, r.n, r.workers, "floor: created %d/%d ServiceEntries", func(ctx context.Context, i int) error {
		return timed(func() error { return r.c.Create(ctx, entries[i]) })
	}); err != nil {
		return err
	}
	r.res.FloorCreates = time.Since(start)

	start = time.Now()
	if err := forEach(ctx, r.n, r.workers, "floor: patched %d/%d ServiceAlias statuses", func(ctx context.Context, i int) error {
		a := aliases[i]
		before := a.DeepCopy()
		// The status the operator writes for a served alias, patched the way it patches.
		a.Status.ObservedGeneration = a.Generation
		a.Status.Addresses = entries[i].Spec.Addresses
		a.Status.ServiceEntries = []string{entries[i].Name}
		desired.SetConditions(&a.Status.Conditions, a.Generation, desired.Outcome{
			Ready: true, Reason: meshaliasv1.ReasonSynced, Message: "1 ServiceEntry in place.",
		})
		return timed(func() error { return r.c.Status().Patch(ctx, a, client.MergeFrom(before)) })
	}); err != nil {
		return err
	}
	r.res.FloorStatus = time.Since(start)
	r.res.FloorLatency = time.Duration(busy.Load() / int64(2*r.n))
	say("N=%d: floor %s (creates %s, status patches %s, %s per request)", r.n,
		r.res.Floor().Round(time.Millisecond), r.res.FloorCreates.Round(time.Millisecond),
		r.res.FloorStatus.Round(time.Millisecond), r.res.FloorLatency.Round(10*time.Microsecond))

	// The floor's objects go before the operator starts, so that it never sees them. Without
	// a garbage collector the entries need their own delete.
	if err := r.c.DeleteAllOf(ctx, &networkingv1.ServiceEntry{}, client.InNamespace(floorNS)); err != nil {
		return err
	}
	return r.c.DeleteAllOf(ctx, &meshaliasv1.ServiceAlias{}, client.InNamespace(floorNS))
}
