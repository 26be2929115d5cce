package e2e_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/meshalias/meshalias/e2e/internal/kstatus"
	"github.com/meshalias/meshalias/e2e/internal/live"
)

// The contract's labels on the ServiceEntries meshalias owns.
const (
	labelManagedBy = "app.kubernetes.io/managed-by"
	labelOwnerKind = "meshalias.io/owner-kind"
	labelOwnerName = "meshalias.io/owner-name"
	labelAdopted   = "meshalias.io/adopted"
)

// entryName is the contract's deterministic ServiceEntry name for a host: the host with dots
// turned into dashes, a dash, and the first 8 hex digits of the host's SHA-256.
func entryName(host string) string {
	sum := sha256.Sum256([]byte(host))
	return strings.ReplaceAll(host, ".", "-") + "-" + hex.EncodeToString(sum[:4])
}

// object parses one YAML document into an unstructured object.
func object(t *testing.T, doc string) *unstructured.Unstructured {
	t.Helper()
	u := &unstructured.Unstructured{}
	must(t, u.UnmarshalJSON(yamlToJSON(t, doc)))
	return u
}

// create creates the object described by doc and returns it as stored.
func create(t *testing.T, c client.Client, doc string) *unstructured.Unstructured {
	t.Helper()
	u := object(t, doc)
	if err := c.Create(context.Background(), u); err != nil {
		t.Fatalf("creating %s %s/%s: %v", u.GetKind(), u.GetNamespace(), u.GetName(), err)
	}
	return u
}

// get reads an object of the given apiVersion and kind.
func get(c client.Client, apiVersion, kind, namespace, name string) (*unstructured.Unstructured, error) {
	u := &unstructured.Unstructured{}
	u.SetAPIVersion(apiVersion)
	u.SetKind(kind)
	err := c.Get(context.Background(), types.NamespacedName{Namespace: namespace, Name: name}, u)
	return u, err
}

func serviceEntry(c client.Client, namespace, name string) (*unstructured.Unstructured, error) {
	return get(c, "networking.istio.io/v1", "ServiceEntry", namespace, name)
}

func serviceAlias(c client.Client, namespace, name string) (*unstructured.Unstructured, error) {
	return get(c, "meshalias.io/v1alpha1", "ServiceAlias", namespace, name)
}

func namespaceAlias(c client.Client, namespace, name string) (*unstructured.Unstructured, error) {
	return get(c, "meshalias.io/v1alpha1", "NamespaceAlias", namespace, name)
}

// condition returns the status condition of the given type, or nil.
func condition(u *unstructured.Unstructured, condType string) *metav1.Condition {
	conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	for _, raw := range conds {
		m, _ := raw.(map[string]any)
		if m["type"] != condType {
			continue
		}
		c := &metav1.Condition{Type: condType}
		c.Status = metav1.ConditionStatus(fmt.Sprint(m["status"]))
		c.Reason, _ = m["reason"].(string)
		c.Message, _ = m["message"].(string)
		c.ObservedGeneration, _ = m["observedGeneration"].(int64)
		return c
	}
	return nil
}

// readyNow returns nil once the alias's Ready condition is True for its current generation,
// and status.observedGeneration has caught up with it.
func readyNow(u *unstructured.Unstructured) error {
	ready := condition(u, "Ready")
	observed, _, _ := unstructured.NestedInt64(u.Object, "status", "observedGeneration")
	switch {
	case ready == nil:
		return fmt.Errorf("%s %s/%s has no Ready condition", u.GetKind(), u.GetNamespace(), u.GetName())
	case ready.Status != metav1.ConditionTrue:
		return fmt.Errorf("%s %s/%s: Ready=%s %s: %s", u.GetKind(), u.GetNamespace(), u.GetName(), ready.Status, ready.Reason, ready.Message)
	case ready.ObservedGeneration != u.GetGeneration() || observed != u.GetGeneration():
		return fmt.Errorf("%s %s/%s: generation %d, observed %d (Ready's %d)", u.GetKind(), u.GetNamespace(), u.GetName(), u.GetGeneration(), observed, ready.ObservedGeneration)
	}
	return nil
}

// stringsAt reads a string list field.
func stringsAt(u *unstructured.Unstructured, fields ...string) []string {
	s, _, _ := unstructured.NestedStringSlice(u.Object, fields...)
	return s
}

// controllerRef returns the object's controller ownerReference, or nil.
func controllerRef(u *unstructured.Unstructured) *metav1.OwnerReference {
	for _, ref := range u.GetOwnerReferences() {
		if ref.Controller != nil && *ref.Controller {
			return &ref
		}
	}
	return nil
}

// entriesWithHost lists, across all namespaces, the ServiceEntries that declare host, as
// namespace/name: whoever wrote them, istiod would route the host by them.
func entriesWithHost(c client.Client, host string) ([]string, error) {
	all, err := live.List(context.Background(), c, "networking.istio.io/v1", "ServiceEntryList", "")
	if err != nil {
		return nil, err
	}
	var out []string
	for _, se := range all {
		if slices.Contains(stringsAt(se, "spec", "hosts"), host) {
			out = append(out, se.GetNamespace()+"/"+se.GetName())
		}
	}
	return out, nil
}

// refused tries to create the object described by doc and returns the apiserver's refusal. It
// fails the test, and deletes the object again, when the apiserver admits it.
func refused(t *testing.T, c client.Client, doc string) error {
	t.Helper()
	u := object(t, doc)
	err := c.Create(context.Background(), u)
	if err == nil {
		_ = c.Delete(context.Background(), u)
		t.Errorf("the apiserver admitted %s %s/%s, want it refused", u.GetKind(), u.GetNamespace(), u.GetName())
		return nil
	}
	t.Logf("the apiserver refuses %s %s/%s: %v", u.GetKind(), u.GetNamespace(), u.GetName(), err)
	return err
}

// failedWith returns nil once the alias is Failed for its current generation with Ready=False
// and the given reason (and Stalled=True with it, which is what kstatus reads), and returns
// the Ready condition.
func failedWith(u *unstructured.Unstructured, reason string) (*metav1.Condition, error) {
	ready, stalled := condition(u, "Ready"), condition(u, "Stalled")
	switch {
	case ready == nil || ready.Status != metav1.ConditionFalse || ready.Reason != reason:
		return nil, fmt.Errorf("%s %s/%s: Ready %s, want False/%s", u.GetKind(), u.GetNamespace(), u.GetName(), describe(ready), reason)
	case ready.ObservedGeneration != u.GetGeneration():
		return nil, fmt.Errorf("%s %s/%s: Ready is for generation %d, the spec is at %d", u.GetKind(), u.GetNamespace(), u.GetName(), ready.ObservedGeneration, u.GetGeneration())
	case stalled == nil || stalled.Status != metav1.ConditionTrue || stalled.Reason != reason:
		return nil, fmt.Errorf("%s %s/%s: Stalled %s, want True/%s", u.GetKind(), u.GetNamespace(), u.GetName(), describe(stalled), reason)
	}
	if err := kstatus.Want(u, status.FailedStatus); err != nil {
		return nil, err
	}
	return ready, nil
}
