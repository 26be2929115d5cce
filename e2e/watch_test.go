package e2e_test

import (
	"context"
	"slices"
	"sync"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// watchServiceEntries watches ServiceEntries, as the admin, until the test ends.
func watchServiceEntries(t *testing.T, cfg *rest.Config, opts ...client.ListOption) watch.Interface {
	t.Helper()
	wc, err := client.NewWithWatch(cfg, client.Options{})
	must(t, err)
	l := &unstructured.UnstructuredList{}
	l.SetAPIVersion("networking.istio.io/v1")
	l.SetKind("ServiceEntryList")
	ctx, cancel := context.WithCancel(context.Background())
	w, err := wc.Watch(ctx, l, opts...)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		w.Stop()
		cancel()
	})
	return w
}

// deletionWatch records every ServiceEntry deletion in a namespace while it runs, so that a
// test can tell "updated in place" from "deleted and re-created under the same name" even if
// the gap between the two was too short to poll.
type deletionWatch struct {
	mu      sync.Mutex
	deleted []string // namespace/name@uid
}

func watchDeletions(t *testing.T, cfg *rest.Config, namespace string) *deletionWatch {
	t.Helper()
	w := watchServiceEntries(t, cfg, client.InNamespace(namespace))
	d := &deletionWatch{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ev := range w.ResultChan() {
			if ev.Type != watch.Deleted {
				continue
			}
			if u, ok := ev.Object.(*unstructured.Unstructured); ok {
				d.mu.Lock()
				d.deleted = append(d.deleted, u.GetNamespace()+"/"+u.GetName()+"@"+string(u.GetUID()))
				d.mu.Unlock()
			}
		}
	}()
	t.Cleanup(func() {
		w.Stop()
		<-done
	})
	return d
}

// Deleted lists the deletions seen so far, as namespace/name@uid.
func (d *deletionWatch) Deleted() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]string(nil), d.deleted...)
}

// hostWatch records, across all namespaces, every ServiceEntry that declared a host at any
// moment while it runs. istiod acts on an entry as soon as it exists, so an entry that the
// operator writes and removes again a moment later still takes traffic meanwhile: polling the
// final state cannot tell that from never having written it.
type hostWatch struct {
	mu   sync.Mutex
	seen map[string][]string // host -> namespace/name@uid
}

func watchEntryHosts(t *testing.T, cfg *rest.Config) *hostWatch {
	t.Helper()
	w := watchServiceEntries(t, cfg)
	h := &hostWatch{seen: map[string][]string{}}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ev := range w.ResultChan() {
			u, ok := ev.Object.(*unstructured.Unstructured)
			if !ok || (ev.Type != watch.Added && ev.Type != watch.Modified) {
				continue
			}
			hosts, _, _ := unstructured.NestedStringSlice(u.Object, "spec", "hosts")
			id := u.GetNamespace() + "/" + u.GetName() + "@" + string(u.GetUID())
			h.mu.Lock()
			for _, host := range hosts {
				if !slices.Contains(h.seen[host], id) {
					h.seen[host] = append(h.seen[host], id)
				}
			}
			h.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		w.Stop()
		<-done
	})
	return h
}

// Seen lists the ServiceEntries, as namespace/name@uid, that have declared host so far.
func (h *hostWatch) Seen(host string) []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.seen[host])
}
