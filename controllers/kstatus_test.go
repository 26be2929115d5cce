package controllers_test

import (
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// A new alias must not read as done before meshalias has seen it: kstatus (Flux, Argo CD's
// kstatus-based checks) treat a found status.observedGeneration behind metadata.generation as
// InProgress, and an absent one as Current.
func TestNewAliasReadsAsInProgress(t *testing.T) {
	ns := newNamespace(t)
	stopManager()
	defer func() {
		if err := startManager(); err != nil {
			t.Fatal(err)
		}
	}()
	create(t, serviceAlias(ns, "fresh", "app", "fresh."+ns+".alias"), namespaceAlias(ns, "fresh", ns+".fresh", nil))
	for _, kind := range []string{"ServiceAlias", "NamespaceAlias"} {
		u := &unstructured.Unstructured{}
		u.SetGroupVersionKind(schema.GroupVersionKind{Group: "meshalias.io", Version: "v1alpha1", Kind: kind})
		if err := k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "fresh"}, u); err != nil {
			t.Fatal(err)
		}
		observed, found, _ := unstructured.NestedInt64(u.Object, "status", "observedGeneration")
		if !found || observed == u.GetGeneration() {
			t.Errorf("%s: status.observedGeneration found=%v value=%d, generation %d: kstatus would call it Current", kind, found, observed, u.GetGeneration())
		}
	}
}
