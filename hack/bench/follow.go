package main

import (
	"cmp"
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

	"github.com/meshalias/meshalias/internal/desired"
)

// followOnce re-creates Service i with a new explicit ClusterIP, as `kubectl replace --force`
// does, and returns the time from the create request until the bench's watch sees the alias's
// ServiceEntry carry the new address. It also returns how long the create request itself took:
// the API server's Service create (ClusterIP allocation) is part of the time, not the
// operator's doing.
func (r *sizeRun) followOnce(ctx context.Context, i int) (total, create time.Duration, err error) {
	name := serviceName(i)
	entry := types.NamespacedName{Namespace: benchNS, Name: desired.EntryName(aliasHost(i))}
	if err := r.c.Delete(ctx, newService(benchNS, name, "")); err != nil {
		return 0, 0, fmt.Errorf("deleting Service %s: %w", name, err)
	}
	for attempt := 0; ; attempt++ {
		ip := r.ips.take()
		seen := r.tr.expect(entry, ip)
		start := time.Now()
		err := r.c.Create(ctx, newService(benchNS, name, ip))
		create = time.Since(start)
		if err != nil {
			r.tr.forget(entry)
			// Another Service was given this address; take the next one.
			if apierrors.IsInvalid(err) && strings.Contains(err.Error(), "already allocated") && attempt < 10 {
				continue
			}
			return 0, 0, fmt.Errorf("re-creating Service %s with ClusterIP %s: %w", name, ip, err)
		}
		select {
		case at := <-seen:
			return at.Sub(start), create, nil
		case <-time.After(15 * time.Minute):
			r.tr.forget(entry)
			return 0, 0, fmt.Errorf("ServiceEntry %s never carried %s", entry, ip)
		case <-ctx.Done():
			return 0, 0, ctx.Err()
		}
	}
}

// followIdle takes the idle samples one after another, on aliases spread over all N.
func (r *sizeRun) followIdle(ctx context.Context) error {
	say("N=%d: follow a re-created Service, idle, %d samples", r.n, r.followSamples)
	every := max(r.followSamples/10, 1)
	for k := range r.followSamples {
		d, create, err := r.followOnce(ctx, (k*r.n/r.followSamples)%r.n)
		if err != nil {
			return err
		}
		r.res.FollowIdle = append(r.res.FollowIdle, d)
		r.res.FollowIdleCreate = append(r.res.FollowIdleCreate, create)
		if (k+1)%every == 0 {
			progress("follow idle: %d/%d samples", k+1, r.followSamples)
		}
	}
	s := summarize(r.res.FollowIdle)
	say("N=%d: follow idle p50 %s p99 %s max %s", r.n, s.p50, s.p99, s.max)
	return nil
}

// Samplers during a backlog: few and paced, so that the follow samples measure the backlog
// rather than add one of their own. Each re-create costs the operator a prune, an apply, two
// status writes and Events; 16 unpaced samplers doubled the drain time at 1k.
const (
	backlogSamplers = 2
	samplerPause    = 250 * time.Millisecond
)

// bumpPatch changes a ServiceAlias's generation and nothing it serves: its Service has the one
// port 80, so limiting the entry to port 80 leaves the entry as it is. Setting it and removing
// it again are two bumps.
func bumpPatch(on bool) client.Patch {
	if on {
		return client.RawPatch(types.MergePatchType, []byte(`{"spec":{"ports":[80]}}`))
	}
	return client.RawPatch(types.MergePatchType, []byte(`{"spec":{"ports":null}}`))
}

// followStartupBacklog gives the operator a start-up backlog of min(N, 10000) reconciles that
// each must write: with the operator down, those aliases' specs are bumped, so that at start-up
// each needs a status write for its new observedGeneration. controller-runtime's priority
// queue files start-up items at low priority, so that live events pass them.
func (r *sizeRun) followStartupBacklog(ctx context.Context) error {
	r.res.Backlog = min(r.n, 10000)
	say("N=%d: follow under a start-up backlog of %d reconciles", r.n, r.res.Backlog)
	if err := r.op.stop(); err != nil {
		return err
	}
	if err := r.bump(ctx, true); err != nil {
		return err
	}
	behind := r.n - r.res.Backlog
	if err := poll(ctx, time.Minute, func() (bool, string) {
		c := r.tr.aliasCounts(benchNS)
		return c.caughtUp == behind, fmt.Sprintf("the bench's watch has seen %d/%d bumps", r.n-c.caughtUp, r.res.Backlog)
	}); err != nil {
		return err
	}

	start := time.Now()
	if err := r.op.start(); err != nil {
		return err
	}
	// Sampling starts with the operator's first status write: before that it is still
	// starting, which the restart step measures.
	if err := poll(ctx, 10*time.Minute, func() (bool, string) {
		return r.tr.aliasCounts(benchNS).caughtUp > behind || r.op.exited() != nil, "waiting for the operator's first status write"
	}); err != nil {
		return err
	}
	if err := r.op.exited(); err != nil {
		return err
	}
	samples, err := r.sampleDuring(ctx, 1, func() bool { return r.tr.aliasCounts(benchNS).caughtUp == r.n }, func() string {
		return fmt.Sprintf("start-up backlog: %d/%d ServiceAliases handled", r.tr.aliasCounts(benchNS).caughtUp-behind, r.res.Backlog)
	})
	r.res.StartupDrain = time.Since(start)
	r.res.FollowStartup = samples
	if err != nil {
		return err
	}
	s := summarize(samples)
	say("N=%d: start-up backlog drained in %s; follow p50 %s p99 %s max %s over %d samples", r.n,
		r.res.StartupDrain.Round(time.Millisecond), s.p50, s.p99, s.max, s.n)
	return nil
}

// followLiveBacklog bumps the same aliases back while the operator runs, as a GitOps sync of
// every alias would: those updates queue at normal priority, alongside the follow samples'.
func (r *sizeRun) followLiveBacklog(ctx context.Context) error {
	say("N=%d: follow while %d ServiceAliases are bumped live", r.n, r.res.Backlog)
	start := time.Now()
	bumped := make(chan error, 1)
	go func() { bumped <- r.bump(ctx, false) }()
	var bumpErr error
	bumpDone := false
	maxDepth := 0
	lastScrape := time.Time{}
	samples, err := r.sampleDuring(ctx, 2, func() bool {
		if !bumpDone {
			select {
			case bumpErr = <-bumped:
				bumpDone = true
			default:
			}
		}
		if time.Since(lastScrape) > time.Second {
			if m, err := r.op.scrapeOnce(ctx); err == nil {
				maxDepth = max(maxDepth, int(m.sum("workqueue_depth", label("name", "servicealias"))))
			}
			lastScrape = time.Now()
		}
		return bumpDone && r.tr.aliasCounts(benchNS).caughtUp == r.n
	}, func() string {
		return fmt.Sprintf("live backlog: %d ServiceAliases still to handle, queue depth up to %d", r.n-r.tr.aliasCounts(benchNS).caughtUp, maxDepth)
	})
	r.res.LiveDrain = time.Since(start)
	r.res.FollowLive = samples
	r.res.LiveMaxDepth = maxDepth
	if err != nil {
		return err
	}
	if bumpErr != nil {
		return bumpErr
	}
	s := summarize(samples)
	say("N=%d: live backlog drained in %s (queue depth up to %d); follow p50 %s p99 %s max %s over %d samples", r.n,
		r.res.LiveDrain.Round(time.Millisecond), maxDepth, s.p50, s.p99, s.max, s.n)
	return nil
}

// bump patches the spec of the first Backlog aliases.
func (r *sizeRun) bump(ctx context.Context, on bool) error {
	return forEach(ctx, r.res.Backlog, r.workers, "bumped %d/%d ServiceAliases", func(ctx context.Context, i int) error {
		return r.c.Patch(ctx, newAlias(benchNS, i), bumpPatch(on))
	})
}

// sampleDuring re-creates Services of randomly picked aliases, on a few paced samplers, until
// drained reports true; samples in flight then finish, and count. status describes progress.
func (r *sizeRun) sampleDuring(ctx context.Context, seed uint64, drained func() bool, status func() string) ([]time.Duration, error) {
	order := rand.New(rand.NewPCG(seed, uint64(r.n))).Perm(r.n)
	var (
		next    atomic.Int64
		mu      sync.Mutex
		samples []time.Duration
		first   error
		wg      sync.WaitGroup
		stop    atomic.Bool
	)
	for range backlogSamplers {
		wg.Go(func() {
			for !stop.Load() {
				k := int(next.Add(1)) - 1
				d, _, err := r.followOnce(ctx, order[k%r.n])
				mu.Lock()
				if err != nil {
					first = cmp.Or(first, err)
					mu.Unlock()
					return
				}
				samples = append(samples, d)
				mu.Unlock()
				if sleep(ctx, samplerPause) != nil {
					return
				}
			}
		})
	}
	err := poll(ctx, 30*time.Minute, func() (bool, string) {
		mu.Lock()
		taken := len(samples)
		mu.Unlock()
		return drained(), fmt.Sprintf("%s; %d follow samples taken", status(), taken)
	})
	stop.Store(true)
	wg.Wait()
	return samples, cmp.Or(err, first)
}
