package controllers_test

import (
	"fmt"
	"slices"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	meshaliasv1 "github.com/meshalias/meshalias/api/v1alpha1"
)

// One namespace with 2,000 selected Services converges, and stays correct when one of them
// changes. (How fast is measured by `make bench`, not asserted here.)
func TestNamespaceAliasOverTwoThousandServices(t *testing.T) {
	const n = 2000
	ns := newNamespace(t)
	create(t, namespaceAlias(ns, "hello", ns+".scale", nil))
	var wg sync.WaitGroup
	errs := make(chan error, n)
	work := make(chan int)
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				if err := k8s.Create(ctx, service(ns, fmt.Sprintf("svc-%04d", i))); err != nil {
					errs <- err
				}
			}
		}()
	}
	for i := 0; i < n; i++ {
		work <- i
	}
	close(work)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}

	eventually(t, "all Services aliased", func() error {
		alias := waitNamespaceAlias(t, ns, "hello", metav1.ConditionTrue, meshaliasv1.ReasonSynced)
		if alias.Status.Services != n {
			return fmt.Errorf("%d Services aliased", alias.Status.Services)
		}
		// The status lists a bounded, sorted few of the names; the count says how many.
		if names := alias.Status.ServiceEntries; len(names) != 100 || !slices.IsSorted(names) {
			t.Fatalf("status.serviceEntries holds %d names (sorted: %v), want the first 100", len(names), slices.IsSorted(names))
		}
		return nil
	})
	if got := len(entriesOf(t, ns, "NamespaceAlias", "hello")); got != n {
		t.Fatalf("%d entries, want %d", got, n)
	}

	// One Service is re-created with a new ClusterIP: its entry follows, and only its entry.
	old := &corev1.Service{}
	if err := k8s.Get(ctx, clientKey(ns, "svc-0042"), old); err != nil {
		t.Fatal(err)
	}
	neighbour := mustEntryFor(t, ns, "svc-0043."+ns+".scale")
	if err := k8s.Delete(ctx, old); err != nil {
		t.Fatal(err)
	}
	again := service(ns, "svc-0042")
	create(t, again)
	eventually(t, "the entry follows the new ClusterIP", func() error {
		se, err := entryFor(ns, "svc-0042."+ns+".scale")
		if err != nil {
			return err
		}
		if len(se.Spec.Addresses) != 1 || se.Spec.Addresses[0] != again.Spec.ClusterIP {
			return fmt.Errorf("addresses %v, want %s", se.Spec.Addresses, again.Spec.ClusterIP)
		}
		return nil
	})
	if after := mustEntryFor(t, ns, "svc-0043."+ns+".scale"); after.ResourceVersion != neighbour.ResourceVersion {
		t.Errorf("a neighbour's entry was rewritten")
	}
}
