package main

import (
	"context"
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	meshaliasv1 "github.com/meshalias/meshalias/api/v1alpha1"
)

// namespaceAlias puts N Services in a namespace of their own, then one NamespaceAlias over
// all of them, and times until it is Ready with status.services == N.
func (r *sizeRun) namespaceAlias(ctx context.Context) error {
	say("N=%d: one NamespaceAlias over %d Services", r.n, r.n)
	if err := forEach(ctx, r.n, r.workers, "set-up: created %d/%d Services", func(ctx context.Context, i int) error {
		return r.c.Create(ctx, newService(nsAliasNS, serviceName(i), ""))
	}); err != nil {
		return err
	}
	// The operator watches every Service; let it finish with these events, which concern no
	// alias, before the clock starts.
	if err := sleep(ctx, 2*time.Second); err != nil {
		return err
	}
	key := types.NamespacedName{Namespace: nsAliasNS, Name: "all"}
	na := &meshaliasv1.NamespaceAlias{
		ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name},
		Spec:       meshaliasv1.NamespaceAliasSpec{Domain: nsDomain},
	}
	start := time.Now()
	if err := r.c.Create(ctx, na); err != nil {
		return err
	}
	if err := poll(ctx, 30*time.Minute, func() (bool, string) {
		st, _ := r.tr.namespaceAlias(key)
		if err := r.op.exited(); err != nil {
			return true, err.Error()
		}
		return st.ready && int(st.services) == r.n, fmt.Sprintf("NamespaceAlias: %d/%d ServiceEntries, status.services %d", r.tr.entryCount(nsAliasNS), r.n, st.services)
	}); err != nil {
		return err
	}
	r.res.NamespaceAlias = time.Since(start)
	if err := r.op.exited(); err != nil {
		return err
	}
	m, err := r.op.scrape(ctx)
	if err != nil {
		return err
	}
	if r.res.FinalRSS, _, err = r.op.memory(); err != nil {
		return err
	}
	r.res.FinalHeap = int64(m.sum("go_memstats_heap_alloc_bytes", nil))
	say("N=%d: NamespaceAlias Ready in %s (%.2f× the floor, %.2f× its creates alone)", r.n,
		r.res.NamespaceAlias.Round(time.Millisecond), ratio(r.res.NamespaceAlias, r.res.Floor()), ratio(r.res.NamespaceAlias, r.res.FloorCreates))
	return nil
}
