// Package install applies rendered manifests to a cluster the way `kubectl apply
// --server-side` does, and waits for CustomResourceDefinitions to be served.
package install

import (
	"context"
	"fmt"
	"slices"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// FieldManager is the field manager the installer applies with, as a person's kubectl would.
const FieldManager = "e2e-install"

// Apply server-side applies every object, Namespaces and CustomResourceDefinitions first, as
// kubectl does, and the rest in the order given. Objects for which skip returns true are left
// out (say, a Deployment where no kubelet runs).
func Apply(ctx context.Context, c client.Client, objs []*unstructured.Unstructured, skip func(*unstructured.Unstructured) bool) ([]*unstructured.Unstructured, error) {
	ordered := slices.Clone(objs)
	slices.SortStableFunc(ordered, func(a, b *unstructured.Unstructured) int { return first(a) - first(b) })
	var applied []*unstructured.Unstructured
	for _, o := range ordered {
		if skip != nil && skip(o) {
			continue
		}
		u := o.DeepCopy()
		if err := c.Apply(ctx, client.ApplyConfigurationFromUnstructured(u), client.FieldOwner(FieldManager), client.ForceOwnership); err != nil {
			return applied, fmt.Errorf("applying %s %s: %w", o.GetKind(), key(o), err)
		}
		applied = append(applied, o)
	}
	return applied, nil
}

// Established returns nil when the CustomResourceDefinition is established, that is, served.
func Established(ctx context.Context, c client.Client, name string) error {
	crd := &unstructured.Unstructured{}
	crd.SetAPIVersion("apiextensions.k8s.io/v1")
	crd.SetKind("CustomResourceDefinition")
	if err := c.Get(ctx, types.NamespacedName{Name: name}, crd); err != nil {
		return err
	}
	conds, _, _ := unstructured.NestedSlice(crd.Object, "status", "conditions")
	for _, raw := range conds {
		cond, _ := raw.(map[string]any)
		if cond["type"] == "Established" && cond["status"] == "True" {
			return nil
		}
	}
	return fmt.Errorf("CustomResourceDefinition %s is not established yet", name)
}

// first ranks the kinds other objects depend on before everything else.
func first(o *unstructured.Unstructured) int {
	switch o.GetKind() {
	case "Namespace":
		return 0
	case "CustomResourceDefinition":
		return 1
	default:
		return 2
	}
}

func key(o *unstructured.Unstructured) string {
	if o.GetNamespace() == "" {
		return o.GetName()
	}
	return o.GetNamespace() + "/" + o.GetName()
}
