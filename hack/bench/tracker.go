package main

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	meshaliasv1 "github.com/meshalias/meshalias/api/v1alpha1"
)

// tracker watches aliases and ServiceEntries and keeps running counts per namespace, so that
// the bench learns of progress from watch events, as a user's tooling would, instead of
// listing 10k objects in a loop and loading the API server it measures.
type tracker struct {
	mu        sync.Mutex
	aliases   map[types.NamespacedName]aliasState
	counts    map[string]*aliasCounts
	nsAliases map[types.NamespacedName]nsAliasState
	entries   map[types.NamespacedName][]string
	perNS     map[string]int
	waits     map[types.NamespacedName]waiter
}

type aliasState struct {
	resourceVersion string
	// caughtUp: status.observedGeneration equals metadata.generation.
	caughtUp bool
	// ready: caught up, and Ready=True for this generation.
	ready bool
}

type aliasCounts struct {
	total, caughtUp, ready int
	// writes counts the changes seen to existing aliases: each is a write that changed one.
	writes int
}

type nsAliasState struct {
	ready    bool
	services int32
}

// waiter wants to know when an entry first carries ip.
type waiter struct {
	ip string
	at chan time.Time
}

// startTracker starts informers for both kinds of alias and for ServiceEntries, in every
// namespace, and returns once they have synced.
func startTracker(ctx context.Context, cfg *rest.Config) (*tracker, error) {
	c, err := cache.New(cfg, cache.Options{Scheme: newScheme(), DefaultTransform: cache.TransformStripManagedFields()})
	if err != nil {
		return nil, err
	}
	t := &tracker{
		aliases:   map[types.NamespacedName]aliasState{},
		counts:    map[string]*aliasCounts{},
		nsAliases: map[types.NamespacedName]nsAliasState{},
		entries:   map[types.NamespacedName][]string{},
		perNS:     map[string]int{},
		waits:     map[types.NamespacedName]waiter{},
	}
	handlers := []struct {
		obj client.Object
		set func(o client.Object, present bool)
	}{
		{&meshaliasv1.ServiceAlias{}, t.setAlias},
		{&meshaliasv1.NamespaceAlias{}, t.setNamespaceAlias},
		{&networkingv1.ServiceEntry{}, t.setEntry},
	}
	for _, h := range handlers {
		inf, err := c.GetInformer(ctx, h.obj)
		if err != nil {
			return nil, err
		}
		set := h.set
		if _, err := inf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
			AddFunc:    func(o any) { set(o.(client.Object), true) },
			UpdateFunc: func(_, o any) { set(o.(client.Object), true) },
			DeleteFunc: func(o any) {
				if tomb, ok := o.(toolscache.DeletedFinalStateUnknown); ok {
					o = tomb.Obj
				}
				if obj, ok := o.(client.Object); ok {
					set(obj, false)
				}
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

func (t *tracker) setAlias(o client.Object, present bool) {
	a := o.(*meshaliasv1.ServiceAlias)
	key := client.ObjectKeyFromObject(a)
	caughtUp := a.Status.ObservedGeneration == a.Generation
	st := aliasState{
		resourceVersion: a.ResourceVersion,
		caughtUp:        caughtUp,
		ready:           caughtUp && meta.IsStatusConditionPresentAndEqual(a.Status.Conditions, meshaliasv1.ConditionReady, "True") && readyGeneration(a.Status.Conditions) == a.Generation,
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	c := t.counts[key.Namespace]
	if c == nil {
		c = &aliasCounts{}
		t.counts[key.Namespace] = c
	}
	old, had := t.aliases[key]
	if had && present && old.resourceVersion != st.resourceVersion {
		c.writes++
	}
	if had {
		c.total--
		c.caughtUp -= b2i(old.caughtUp)
		c.ready -= b2i(old.ready)
		delete(t.aliases, key)
	}
	if present {
		t.aliases[key] = st
		c.total++
		c.caughtUp += b2i(st.caughtUp)
		c.ready += b2i(st.ready)
	}
}

func readyGeneration(conds []metav1.Condition) int64 {
	if c := meta.FindStatusCondition(conds, meshaliasv1.ConditionReady); c != nil {
		return c.ObservedGeneration
	}
	return 0
}

func (t *tracker) setNamespaceAlias(o client.Object, present bool) {
	a := o.(*meshaliasv1.NamespaceAlias)
	key := client.ObjectKeyFromObject(a)
	t.mu.Lock()
	defer t.mu.Unlock()
	if !present {
		delete(t.nsAliases, key)
		return
	}
	t.nsAliases[key] = nsAliasState{
		ready: a.Status.ObservedGeneration == a.Generation &&
			meta.IsStatusConditionPresentAndEqual(a.Status.Conditions, meshaliasv1.ConditionReady, "True") &&
			readyGeneration(a.Status.Conditions) == a.Generation,
		services: a.Status.Services,
	}
}

func (t *tracker) setEntry(o client.Object, present bool) {
	se := o.(*networkingv1.ServiceEntry)
	key := client.ObjectKeyFromObject(se)
	now := time.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, had := t.entries[key]; had {
		t.perNS[key.Namespace]--
		delete(t.entries, key)
	}
	if !present {
		return
	}
	t.entries[key] = slices.Clone(se.Spec.Addresses)
	t.perNS[key.Namespace]++
	if w, ok := t.waits[key]; ok && slices.Contains(se.Spec.Addresses, w.ip) {
		w.at <- now
		delete(t.waits, key)
	}
}

// aliasCounts returns how many ServiceAliases a namespace holds, how many have been handled
// at their generation, and how many of those are Ready.
func (t *tracker) aliasCounts(ns string) aliasCounts {
	t.mu.Lock()
	defer t.mu.Unlock()
	if c := t.counts[ns]; c != nil {
		return *c
	}
	return aliasCounts{}
}

// entryCount is the number of ServiceEntries in a namespace.
func (t *tracker) entryCount(ns string) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.perNS[ns]
}

func (t *tracker) namespaceAlias(key types.NamespacedName) (nsAliasState, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	st, ok := t.nsAliases[key]
	return st, ok
}

// expect returns a channel that receives the time at which the entry is first seen with ip
// among its addresses. Call it before the change that should lead there.
func (t *tracker) expect(key types.NamespacedName, ip string) <-chan time.Time {
	t.mu.Lock()
	defer t.mu.Unlock()
	w := waiter{ip: ip, at: make(chan time.Time, 1)}
	t.waits[key] = w
	return w.at
}

func (t *tracker) forget(key types.NamespacedName) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.waits, key)
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}
