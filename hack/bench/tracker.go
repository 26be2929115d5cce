package main

import (
	"context"
	"fmt"
	"maps"
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
)

// tracker watches the bench namespace's ServiceAliases and Services, the NamespaceAlias and
// the ServiceEntries, and keeps running counts, so that the bench learns of progress from
// watch events, as a user's tooling would, instead of listing 10k objects in a loop and
// loading the API server it measures.
type tracker struct {
	mu sync.Mutex
	progress
	// versions holds the resourceVersion of every object watched, by "Kind/namespace/name";
	// changed, the aliases and entries created, changed or deleted since the last mark.
	versions, changed map[string]string
	aliases           map[string]aliasState
	// addressSeen says when the watch first saw a Service or an entry carry each address.
	addressSeen map[string]map[string]time.Time
}

// progress is what the tracker has counted: the bench namespace's ServiceAliases, all of
// them, those handled at their generation, those Ready, and the changes to them; the
// NamespaceAlias; and the ServiceEntries per namespace.
type progress struct {
	total, caughtUp, ready, writes int
	nsAlias                        aliasState
	entries                        map[string]int
}

type aliasState struct {
	// caughtUp: status.observedGeneration equals metadata.generation; ready: caught up, and
	// Ready=True for this generation.
	caughtUp, ready bool
	services        int32
}

// startTracker starts the informers and returns once they have synced.
func startTracker(ctx context.Context, cfg *rest.Config) (*tracker, error) {
	in := func(ns ...string) cache.ByObject {
		b := cache.ByObject{Namespaces: map[string]cache.Config{}}
		for _, n := range ns {
			b.Namespaces[n] = cache.Config{}
		}
		return b
	}
	objects := map[client.Object]cache.ByObject{
		&meshaliasv1.ServiceAlias{}: in(benchNS), &corev1.Service{}: in(benchNS),
		&meshaliasv1.NamespaceAlias{}: in(nsAliasNS), &networkingv1.ServiceEntry{}: in(benchNS, nsAliasNS),
	}
	c, err := cache.New(cfg, cache.Options{Scheme: newScheme(), DefaultTransform: cache.TransformStripManagedFields(), ByObject: objects})
	if err != nil {
		return nil, err
	}
	t := &tracker{versions: map[string]string{}, changed: map[string]string{}, aliases: map[string]aliasState{},
		progress: progress{entries: map[string]int{}}, addressSeen: map[string]map[string]time.Time{}}
	for obj := range objects {
		inf, err := c.GetInformer(ctx, obj)
		if err != nil {
			return nil, err
		}
		if _, err := inf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
			AddFunc:    func(o any) { t.handle(o.(client.Object), true) },
			UpdateFunc: func(_, o any) { t.handle(o.(client.Object), true) },
			DeleteFunc: func(o any) {
				if tomb, ok := o.(toolscache.DeletedFinalStateUnknown); ok {
					o = tomb.Obj
				}
				t.handle(o.(client.Object), false)
			},
		}); err != nil {
			return nil, err
		}
	}
	go func() { _ = c.Start(ctx) }()
	if !c.WaitForCacheSync(ctx) {
		return nil, fmt.Errorf("the bench's informers did not sync")
	}
	return t, nil
}

// handle counts one watch event; a resync, which repeats a resourceVersion, changes nothing.
func (t *tracker) handle(o client.Object, present bool) {
	now := time.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	key := fmt.Sprintf("%T/%s/%s", o, o.GetNamespace(), o.GetName())
	if old, had := t.versions[key]; !present || old != o.GetResourceVersion() {
		if _, svc := o.(*corev1.Service); !svc {
			t.changed[key] = o.GetResourceVersion()
		}
		if t.versions[key] = o.GetResourceVersion(); !present {
			delete(t.versions, key)
			delete(t.addressSeen, key)
		}
		switch o := o.(type) {
		case *meshaliasv1.ServiceAlias:
			st := stateOf(o, o.Status.ObservedGeneration, o.Status.Conditions)
			old := t.aliases[o.Name]
			t.writes += b2i(had && present)
			t.total += b2i(present) - b2i(had)
			t.caughtUp += b2i(present && st.caughtUp) - b2i(old.caughtUp)
			t.ready += b2i(present && st.ready) - b2i(old.ready)
			if t.aliases[o.Name] = st; !present {
				delete(t.aliases, o.Name)
			}
		case *meshaliasv1.NamespaceAlias:
			t.nsAlias = stateOf(o, o.Status.ObservedGeneration, o.Status.Conditions)
			t.nsAlias.services = o.Status.Services
		case *networkingv1.ServiceEntry:
			t.entries[o.Namespace] += b2i(present) - b2i(had)
			t.sawAddresses(key, o.Spec.Addresses, present, now)
		case *corev1.Service:
			t.sawAddresses(key, o.Spec.ClusterIPs, present, now)
		}
	}
}

func (t *tracker) sawAddresses(key string, addresses []string, present bool, now time.Time) {
	if !present {
		return
	}
	if t.addressSeen[key] == nil {
		t.addressSeen[key] = map[string]time.Time{}
	}
	for _, a := range addresses {
		if _, ok := t.addressSeen[key][a]; !ok {
			t.addressSeen[key][a] = now
		}
	}
}

// stateOf says whether an alias is handled at its generation and Ready for it.
func stateOf(o client.Object, observed int64, conds []metav1.Condition) aliasState {
	ready := meta.FindStatusCondition(conds, meshaliasv1.ConditionReady)
	return aliasState{
		caughtUp: observed == o.GetGeneration(),
		ready: observed == o.GetGeneration() && ready != nil && ready.Status == metav1.ConditionTrue &&
			ready.ObservedGeneration == o.GetGeneration(),
	}
}

// counts returns a copy of the progress so far.
func (t *tracker) counts() progress {
	t.mu.Lock()
	defer t.mu.Unlock()
	p := t.progress
	p.entries = maps.Clone(t.entries)
	return p
}

// changedSince returns how many aliases and entries were created, changed or deleted since
// the last call, and starts counting anew.
func (t *tracker) changedSince() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := len(t.changed)
	t.changed = map[string]string{}
	return n
}

// addressSeenAt is when the watch first saw the object carry address; zero if it has not.
func (t *tracker) addressSeenAt(obj client.Object, address string) time.Time {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.addressSeen[fmt.Sprintf("%T/%s/%s", obj, obj.GetNamespace(), obj.GetName())][address]
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}
