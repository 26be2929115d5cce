package main

import (
	"cmp"
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"
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

// followStartupBacklog samples follow latency while the operator works off a start-up
// backlog: every alias is bumped while it is down, each then needing a status write, which
// the priority queue files low. Sampling starts with its first status write, since before
// that it is still starting, which the restart step measures; the drain runs from its exec.
func (r *sizeRun) followStartupBacklog(ctx context.Context) {
	check(r.op.stop())
	check(r.bump(ctx))
	r.await(ctx, time.Minute, func(p progress) (bool, string) {
		return p.caughtUp == 0, fmt.Sprintf("the bench's watch has seen %d/%d bumps", r.n-p.caughtUp, r.n)
	})
	r.op.peaks(true)
	start := time.Now()
	check(r.op.start())
	r.await(ctx, 10*time.Minute, func(p progress) (bool, string) {
		return p.caughtUp > 0, "waiting for the operator's first status write"
	})
	r.res.FollowStartup = r.sampleWhile(ctx, 1, nil)
	r.res.StartupDrain = time.Since(start)
	_, r.res.StartupDepth = r.op.peaks(false)
}

// followLiveBump samples follow latency while every alias is bumped with the operator
// running, as a GitOps sync of every alias would: those updates queue at normal priority,
// alongside the samples'.
func (r *sizeRun) followLiveBump(ctx context.Context) {
	r.op.peaks(true)
	start := time.Now()
	r.res.FollowLive = r.sampleWhile(ctx, 2, r.bump)
	r.res.LiveDrain = time.Since(start)
	_, r.res.LiveDepth = r.op.peaks(false)
}

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

// Samplers during a backlog: few and paced, so that the follow samples measure the backlog
// rather than add one of their own. Each re-create costs the operator a prune, an apply, two
// status writes and Events; 16 unpaced samplers doubled the drain time at 1k.
const (
	backlogSamplers = 2
	samplerPause    = 250 * time.Millisecond
)

// sampleWhile re-creates Services of randomly picked aliases, on a few paced samplers, while
// load (if any) runs and until every alias is handled at its generation; samples in flight
// then finish, and count.
func (r *sizeRun) sampleWhile(ctx context.Context, seed uint64, load func(context.Context) error) []Follow {
	order := rand.New(rand.NewPCG(seed, uint64(r.n))).Perm(r.n)
	var (
		next, taken atomic.Int64
		stop        atomic.Bool
		mu          sync.Mutex
		samples     []Follow
	)
	samplers, samplersCtx := errgroup.WithContext(ctx)
	for range backlogSamplers {
		samplers.Go(func() error {
			for !stop.Load() {
				f, err := r.followOnce(samplersCtx, order[int(next.Add(1)-1)%r.n])
				if err != nil {
					return err
				}
				mu.Lock()
				samples = append(samples, f)
				mu.Unlock()
				taken.Add(1)
				if err := sleep(samplersCtx, samplerPause); err != nil {
					return err
				}
			}
			return nil
		})
	}
	var err error
	if load != nil {
		err = load(samplersCtx)
	}
	if err == nil {
		err = poll(samplersCtx, 10*time.Millisecond, 30*time.Minute, func() (bool, string, error) {
			_, depth := r.op.peaks(false)
			left := r.n - r.tr.counts().caughtUp
			return left == 0, fmt.Sprintf("%d ServiceAliases still to handle, queue depth up to %d; %d follow samples taken",
				left, depth, taken.Load()), r.op.exited()
		})
	}
	stop.Store(true)
	check(cmp.Or(samplers.Wait(), err))
	return samples
}
