package main

import (
	"cmp"
	"context"
	"fmt"
	"sync"
	"time"

	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	meshaliasv1 "github.com/meshalias/meshalias/api/v1alpha1"
	"github.com/meshalias/meshalias/internal/localcluster"
)

// tracker watches the bench namespace's ServiceAliases, Services and ServiceEntries and the
// NamespaceAlias (and the floor's aliases and entries, which it ignores), and keeps running
// counts, so that the bench learns of progress from
// watch events, as a user's tooling would, instead of listing 10k objects in a loop and
// loading the API server it measures.
type tracker struct {
	mu sync.Mutex
	progress
	// changed holds the aliases and entries created, changed or deleted since the last mark.
	changed map[string]bool
	// addressSeen says when the watch first saw a Service or an entry carry each address.
	addressSeen map[string]map[string]time.Time
}

// progress is what the tracker has counted: the bench namespace's ServiceAliases, all of
// them, those handled at their generation (status.observedGeneration == generation), those
// also Ready=True at it, and the updates to them; its ServiceEntries, the NamespaceAlias's
// too once it exists; and the
// NamespaceAlias's state and status.services.
type progress struct {
	total, caughtUp, ready, changes, entries int
	nsAliasReady                             bool
	nsAliasServices                          int
}

func startTracker(ctx context.Context, cfg *rest.Config) (*tracker, error) {
	bench := cache.ByObject{Namespaces: map[string]cache.Config{benchNS: {}}}
	// The floor's writes reach this watch too, and are ignored: the bench's own watch costs
	// the shared cores the same during the floor as while the operator converges.
	andFloor := cache.ByObject{Namespaces: map[string]cache.Config{benchNS: {}, floorNS: {}}}
	objects := map[client.Object]cache.ByObject{
		&meshaliasv1.ServiceAlias{}: andFloor, &corev1.Service{}: bench, &networkingv1.ServiceEntry{}: andFloor,
		&meshaliasv1.NamespaceAlias{}: bench,
	}
	c, err := cache.New(cfg, cache.Options{
		Scheme: localcluster.NewScheme(), DefaultTransform: cache.TransformStripManagedFields(), ByObject: objects,
	})
	if err != nil {
		return nil, err
	}
	t := &tracker{changed: map[string]bool{}, addressSeen: map[string]map[string]time.Time{}}
	handler := toolscache.ResourceEventHandlerFuncs{
		AddFunc:    func(o any) { t.handle(nil, o.(client.Object)) },
		UpdateFunc: func(old, o any) { t.handle(old.(client.Object), o.(client.Object)) },
		DeleteFunc: func(o any) {
			if tomb, ok := o.(toolscache.DeletedFinalStateUnknown); ok {
				o = tomb.Obj
			}
			t.handle(o.(client.Object), nil)
		},
	}
	for obj := range objects {
		inf, err := c.GetInformer(ctx, obj)
		if err != nil {
			return nil, err
		}
		if _, err := inf.AddEventHandler(handler); err != nil {
			return nil, err
		}
	}
	go func() { _ = c.Start(ctx) }()
	if !c.WaitForCacheSync(ctx) {
		return nil, fmt.Errorf("the bench's informers did not sync")
	}
	return t, nil
}

// key tells apart a Service and an entry that share a name.
func key(o client.Object) string { return fmt.Sprintf("%T/%s/%s", o, o.GetNamespace(), o.GetName()) }

// handle counts one watch event: old is nil for a create, cur for a delete. A resync, which
// repeats a resourceVersion, changes nothing.
func (t *tracker) handle(old, cur client.Object) {
	now, o := time.Now(), cmp.Or(cur, old)
	if o.GetNamespace() == floorNS || old != nil && cur != nil && old.GetResourceVersion() == cur.GetResourceVersion() {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	k := key(o)
	if _, svc := o.(*corev1.Service); !svc {
		t.changed[k] = true
	}
	var addresses []string
	added := b2i(cur != nil) - b2i(old != nil)
	switch o := o.(type) {
	case *meshaliasv1.ServiceAlias:
		t.changes += b2i(old != nil && cur != nil)
		t.total += added
		t.caughtUp += b2i(handled(cur, false)) - b2i(handled(old, false))
		t.ready += b2i(handled(cur, true)) - b2i(handled(old, true))
	case *meshaliasv1.NamespaceAlias:
		t.nsAliasReady, t.nsAliasServices = handled(cur, true), int(o.Status.Services)
	case *networkingv1.ServiceEntry:
		t.entries += added
		addresses = o.Spec.Addresses
	case *corev1.Service:
		addresses = o.Spec.ClusterIPs
	}
	if cur == nil {
		delete(t.addressSeen, k)
		return
	}
	for _, a := range addresses {
		if t.addressSeen[k] == nil {
			t.addressSeen[k] = map[string]time.Time{}
		}
		if _, seen := t.addressSeen[k][a]; !seen {
			t.addressSeen[k][a] = now
		}
	}
}

// handled says whether an alias (nil for none) is handled at its generation and, if ready is
// asked, also Ready=True for it.
func handled(o client.Object, ready bool) bool {
	var observed int64
	var conds []metav1.Condition
	switch o := o.(type) {
	case *meshaliasv1.ServiceAlias:
		observed, conds = o.Status.ObservedGeneration, o.Status.Conditions
	case *meshaliasv1.NamespaceAlias:
		observed, conds = o.Status.ObservedGeneration, o.Status.Conditions
	default:
		return false
	}
	c := meta.FindStatusCondition(conds, meshaliasv1.ConditionReady)
	return observed == o.GetGeneration() && (!ready || c != nil && c.Status == metav1.ConditionTrue && c.ObservedGeneration == o.GetGeneration())
}

func (t *tracker) counts() progress {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.progress
}

// changedSince returns how many aliases and entries were created, changed or deleted since
// the last call, and starts counting anew.
func (t *tracker) changedSince() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := len(t.changed)
	t.changed = map[string]bool{}
	return n
}

// addressSeenAt is when the watch first saw the object carry address; zero if it has not.
func (t *tracker) addressSeenAt(o client.Object, address string) time.Time {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.addressSeen[key(o)][address]
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}
