package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/meshalias/meshalias/controllers"
)

// followOnce re-creates Service i with a new explicit ClusterIP, as `kubectl replace --force`
// does, and returns the time from the create request until the bench's watch sees the alias's
// ServiceEntry carry the new address.
func (r *sizeRun) followOnce(ctx context.Context, i int) (time.Duration, error) {
	name := serviceName(i)
	entry := types.NamespacedName{Namespace: benchNS, Name: controllers.EntryName(aliasHost(i))}
	if err := r.c.Delete(ctx, newService(benchNS, name, "")); err != nil {
		return 0, fmt.Errorf("deleting Service %s: %w", name, err)
	}
	for attempt := 0; ; attempt++ {
		ip := r.ips.take()
		seen := r.tr.expect(entry, ip)
		start := time.Now()
		err := r.c.Create(ctx, newService(benchNS, name, ip))
		if err != nil {
			r.tr.forget(entry)
			// Another Service was given this address; take the next one.
			if apierrors.IsInvalid(err) && strings.Contains(err.Error(), "already allocated") && attempt < 10 {
				continue
			}
			return 0, fmt.Errorf("re-creating Service %s with ClusterIP %s: %w", name, ip, err)
		}
		select {
		case at := <-seen:
			return at.Sub(start), nil
		case <-time.After(15 * time.Minute):
			r.tr.forget(entry)
			return 0, fmt.Errorf("ServiceEntry %s never carried %s", entry, ip)
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
}

// followIdle takes the idle samples one after another, on aliases spread over all N.
func (r *sizeRun) followIdle(ctx context.Context) error {
	say("N=%d: follow a re-created Service, idle, %d samples", r.n, r.followSamples)
	every := max(r.followSamples/10, 1)
	for k := range r.followSamples {
		d, err := r.followOnce(ctx, (k*r.n/r.followSamples)%r.n)
		if err != nil {
			return err
		}
		r.res.FollowIdle = append(r.res.FollowIdle, d)
		if (k+1)%every == 0 {
			progress("follow idle: %d/%d samples", k+1, r.followSamples)
		}
	}
	s := summarize(r.res.FollowIdle)
	say("N=%d: follow idle p50 %s p99 %s max %s", r.n, s.p50, s.p99, s.max)
	return nil
}

// backlogSamplers re-create Services side by side during the backlog: a sample may wait
// behind thousands of reconciles, and one sampler would see only a handful.
const backlogSamplers = 16

// followBacklog gives the operator a backlog of min(N, 10000) reconciles that each must
// write: with the operator down, every alias's spec is bumped (ports: [80], which changes no
// entry but does the generation), so that at start-up each alias needs a status write for its
// new observedGeneration. Then the bench re-creates Services while that backlog drains and
// measures how long each takes to reach its entry.
func (r *sizeRun) followBacklog(ctx context.Context) error {
	r.res.Backlog = min(r.n, 10000)
	say("N=%d: follow under a backlog of %d reconciles", r.n, r.res.Backlog)
	if err := r.op.stop(); err != nil {
		return err
	}
	patch := client.RawPatch(types.MergePatchType, []byte(`{"spec":{"ports":[80]}}`))
	if err := forEach(ctx, r.res.Backlog, r.workers, "backlog set-up: bumped %d/%d ServiceAliases", func(ctx context.Context, i int) error {
		return r.c.Patch(ctx, newAlias(benchNS, i), patch)
	}); err != nil {
		return err
	}
	if err := poll(ctx, time.Minute, func() (bool, string) {
		c := r.tr.aliasCounts(benchNS)
		return c.caughtUp == r.n-r.res.Backlog, fmt.Sprintf("the bench's watch has seen %d/%d bumps", r.n-c.caughtUp, r.res.Backlog)
	}); err != nil {
		return err
	}

	start := time.Now()
	if err := r.op.start(); err != nil {
		return err
	}
	drained := func() bool { return r.tr.aliasCounts(benchNS).caughtUp == r.n }
	// Sampling starts with the operator's first status write: before that it is still
	// starting, which the restart step measures.
	behind := r.n - r.res.Backlog
	if err := poll(ctx, 10*time.Minute, func() (bool, string) {
		return r.tr.aliasCounts(benchNS).caughtUp > behind || r.op.exited() != nil, "waiting for the operator's first status write"
	}); err != nil {
		return err
	}
	if err := r.op.exited(); err != nil {
		return err
	}

	// Samples go to aliases in a shuffled order, so that they land all over the queue.
	order := rand.New(rand.NewPCG(1, uint64(r.n))).Perm(r.n)
	var (
		next  atomic.Int64
		mu    sync.Mutex
		first error
		wg    sync.WaitGroup
	)
	for range backlogSamplers {
		wg.Go(func() {
			for !drained() {
				k := int(next.Add(1)) - 1
				if k >= r.n {
					return
				}
				d, err := r.followOnce(ctx, order[k])
				mu.Lock()
				if err != nil {
					if first == nil {
						first = err
					}
					mu.Unlock()
					return
				}
				r.res.FollowBacklog = append(r.res.FollowBacklog, d)
				mu.Unlock()
			}
		})
	}
	// The drain ends when every alias has been handled at its new generation; samples in flight
	// then finish, and count.
	err := poll(ctx, 30*time.Minute, func() (bool, string) {
		c := r.tr.aliasCounts(benchNS)
		mu.Lock()
		taken := len(r.res.FollowBacklog)
		mu.Unlock()
		return c.caughtUp == r.n, fmt.Sprintf("backlog: %d/%d ServiceAliases handled, %d follow samples taken", c.caughtUp-behind, r.res.Backlog, taken)
	})
	r.res.BacklogDrain = time.Since(start)
	wg.Wait()
	if err != nil {
		return err
	}
	if first != nil {
		return first
	}
	s := summarize(r.res.FollowBacklog)
	say("N=%d: backlog drained in %s; follow under backlog p50 %s p99 %s max %s over %d samples", r.n,
		r.res.BacklogDrain.Round(time.Millisecond), s.p50, s.p99, s.max, s.n)
	return nil
}
