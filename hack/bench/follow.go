package main

import (
	"cmp"
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/meshalias/meshalias/internal/desired"
)

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

// followIdle takes the idle samples one after another, on aliases spread over all N.
func (r *sizeRun) followIdle(ctx context.Context) {
	for k := range r.FollowSamples {
		r.res.FollowIdle = append(r.res.FollowIdle, must(r.followOnce(ctx, (k*r.n/r.FollowSamples)%r.n)))
		if (k+1)%max(r.FollowSamples/10, 1) == 0 {
			say("  follow idle: %d/%d samples", k+1, r.FollowSamples)
		}
	}
}

// Samplers during a backlog: few and paced, so that the follow samples measure the backlog
// rather than add one of their own. Each re-create costs the operator a prune, an apply, two
// status writes and Events; 16 unpaced samplers doubled the drain time at 1k.
const (
	backlogSamplers = 2
	samplerPause    = 250 * time.Millisecond
)

// bump changes the spec of every ServiceAlias and nothing they serve: their Services have the
// one port 80, so limiting the entry to port 80 leaves it as it is, and so does removing the
// limit again, the next bump.
func (r *sizeRun) bump(ctx context.Context) error {
	r.portsLimited = !r.portsLimited
	patch := client.RawPatch(types.MergePatchType, []byte(`{"spec":{"ports":null}}`))
	if r.portsLimited {
		patch = client.RawPatch(types.MergePatchType, []byte(`{"spec":{"ports":[80]}}`))
	}
	return forEach(ctx, r.n, r.Workers, "bumped %d/%d ServiceAliases", func(ctx context.Context, i int) error {
		return r.c.Patch(ctx, newAlias(benchNS, i), patch)
	})
}

// followBacklog samples follow latency while the operator works off a backlog of every
// alias bumped. At start-up (live false) they are bumped while it is down, each then needing
// a status write, which the priority queue files low; sampling starts with its first status
// write, since before that it is still starting, which the restart step measures. Live, they
// are bumped while it runs, as a GitOps sync of every alias would: those updates queue at
// normal priority, alongside the samples'. Either way sampling runs until the bump is done and
// every alias is handled at its generation.
func (r *sizeRun) followBacklog(ctx context.Context, live bool) {
	bumped := make(chan error, 1)
	if !live {
		check(r.op.stop())
		check(r.bump(ctx))
		check(poll(ctx, 10*time.Millisecond, time.Minute, func() (bool, string, error) {
			caughtUp := r.tr.counts().caughtUp
			return caughtUp == 0, fmt.Sprintf("the bench's watch has seen %d/%d bumps", r.n-caughtUp, r.n), nil
		}))
		bumped <- nil
	}
	r.op.peaks(true)
	start, bumpDone := time.Now(), false
	if live {
		go func() { bumped <- r.bump(ctx) }()
	} else {
		check(r.op.start())
		check(poll(ctx, 10*time.Millisecond, 10*time.Minute, func() (bool, string, error) {
			return r.tr.counts().caughtUp > 0, "waiting for the operator's first status write", r.op.exited()
		}))
	}
	samples, err := r.sampleDuring(ctx, uint64(1+b2i(live)), func() (bool, string, error) {
		var err error
		select {
		case err = <-bumped:
			bumpDone = true
		default:
		}
		_, depth := r.op.peaks(false)
		caughtUp := r.tr.counts().caughtUp
		return bumpDone && caughtUp == r.n, fmt.Sprintf("%d ServiceAliases still to handle, queue depth up to %d", r.n-caughtUp, depth), err
	})
	check(err)
	_, depth := r.op.peaks(false)
	if live {
		r.res.FollowLive, r.res.LiveDrain, r.res.LiveDepth = samples, time.Since(start), depth
	} else {
		r.res.FollowStartup, r.res.StartupDrain, r.res.StartupDepth = samples, time.Since(start), depth
	}
}

// sampleDuring re-creates Services of randomly picked aliases, on a few paced samplers, until
// drained reports true; samples in flight then finish, and count.
func (r *sizeRun) sampleDuring(ctx context.Context, seed uint64, drained func() (bool, string, error)) ([]Follow, error) {
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
		done, status, err := drained()
		return done && err == nil, fmt.Sprintf("%s; %d follow samples taken", status, taken), cmp.Or(err, failed, r.op.exited())
	})
	stop.Store(true)
	wg.Wait()
	return samples, cmp.Or(err, first)
}
