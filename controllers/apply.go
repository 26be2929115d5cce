package controllers

import (
	"context"
	"encoding/json"
	"fmt"

	"google.golang.org/protobuf/proto"
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// entryWriter applies and prunes ServiceEntries. It is the only code that writes them.
type entryWriter struct {
	client client.Client
}

// upToDate tells whether an entry already is what we would apply, so that no request is sent
// when nothing changed. Istio specs are protobuf messages: only proto.Equal compares them
// correctly.
func upToDate(existing, desired *networkingv1.ServiceEntry) bool {
	if !proto.Equal(&existing.Spec, &desired.Spec) {
		return false
	}
	for k, v := range desired.Labels {
		if existing.Labels[k] != v {
			return false
		}
	}
	want := desired.OwnerReferences[0]
	ref := metav1.GetControllerOfNoCopy(existing)
	return ref != nil && ref.UID == want.UID && ref.Kind == want.Kind && ref.APIVersion == want.APIVersion
}

// apply makes an entry what it should be, with server-side apply under one field manager.
// It reports whether it wrote.
func (w entryWriter) apply(ctx context.Context, existing, desired *networkingv1.ServiceEntry) (bool, error) {
	if existing != nil && upToDate(existing, desired) {
		return false, nil
	}
	applied, err := w.serverSideApply(ctx, desired)
	switch {
	case err == nil && proto.Equal(&applied.Spec, &desired.Spec):
		return true, nil
	case err == nil:
		// Apply only sets the fields we send. A field another writer added (kubectl edit, or
		// the controller an adopted entry came from) survives it.
		return true, w.replaceSpec(ctx, applied, desired)
	case existing != nil && apierrors.IsInvalid(err):
		// Another writer's items in a list map (ports are keyed by name) merged with ours
		// into an entry Istio's schema refuses, such as two names for one port number. Take
		// the spec back whole first, then apply again for the labels and owner.
		if err := w.replaceSpec(ctx, existing, desired); err != nil {
			return false, err
		}
		_, err = w.serverSideApply(ctx, desired)
		return true, err
	default:
		return false, err
	}
}

func (w entryWriter) serverSideApply(ctx context.Context, desired *networkingv1.ServiceEntry) (*networkingv1.ServiceEntry, error) {
	u, err := applyObject(desired)
	if err != nil {
		return nil, err
	}
	if err := w.client.Apply(ctx, client.ApplyConfigurationFromUnstructured(u), client.FieldOwner(FieldManager), client.ForceOwnership); err != nil {
		return nil, fmt.Errorf("applying ServiceEntry %s/%s: %w", desired.Namespace, desired.Name, err)
	}
	return fromUnstructured(u)
}

// replaceSpec replaces an entry's spec whole with a JSON patch. The test on the UID keeps it
// from writing to an entry that was re-created meanwhile.
func (w entryWriter) replaceSpec(ctx context.Context, current, desired *networkingv1.ServiceEntry) error {
	spec, err := json.Marshal(&desired.Spec)
	if err != nil {
		return err
	}
	patch := fmt.Appendf(nil, `[{"op":"test","path":"/metadata/uid","value":%q},{"op":"replace","path":"/spec","value":%s}]`, current.UID, spec)
	target := &networkingv1.ServiceEntry{ObjectMeta: metav1.ObjectMeta{Namespace: current.Namespace, Name: current.Name}}
	if err := w.client.Patch(ctx, target, client.RawPatch(types.JSONPatchType, patch), client.FieldOwner(FieldManager)); err != nil {
		return fmt.Errorf("replacing the spec of ServiceEntry %s/%s: %w", current.Namespace, current.Name, err)
	}
	return nil
}

// prune deletes an entry this alias owns and no longer wants. The UID precondition keeps it
// from deleting an entry that someone re-created under the same name meanwhile.
func (w entryWriter) prune(ctx context.Context, se *networkingv1.ServiceEntry) error {
	uid := se.UID
	err := w.client.Delete(ctx, se, client.Preconditions{UID: &uid}, client.PropagationPolicy(metav1.DeletePropagationBackground))
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		return fmt.Errorf("deleting ServiceEntry %s/%s: %w", se.Namespace, se.Name, err)
	}
	return nil
}

// applyObject turns a typed entry into the unstructured object we apply: only the fields we
// own. No creationTimestamp, no status, no resourceVersion: sending them would either fail or
// claim fields that are not ours.
func applyObject(se *networkingv1.ServiceEntry) (*unstructured.Unstructured, error) {
	spec, err := json.Marshal(&se.Spec)
	if err != nil {
		return nil, fmt.Errorf("encoding ServiceEntry spec: %w", err)
	}
	var specMap map[string]any
	if err := json.Unmarshal(spec, &specMap); err != nil {
		return nil, err
	}
	owners := make([]any, 0, len(se.OwnerReferences))
	for _, ref := range se.OwnerReferences {
		owners = append(owners, map[string]any{
			"apiVersion":         ref.APIVersion,
			"kind":               ref.Kind,
			"name":               ref.Name,
			"uid":                string(ref.UID),
			"controller":         ref.Controller != nil && *ref.Controller,
			"blockOwnerDeletion": ref.BlockOwnerDeletion != nil && *ref.BlockOwnerDeletion,
		})
	}
	labels := map[string]any{}
	for k, v := range se.Labels {
		labels[k] = v
	}
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": networkingv1.SchemeGroupVersion.String(),
		"kind":       "ServiceEntry",
		"metadata": map[string]any{
			"name":            se.Name,
			"namespace":       se.Namespace,
			"labels":          labels,
			"ownerReferences": owners,
		},
		"spec": specMap,
	}}, nil
}

func fromUnstructured(u *unstructured.Unstructured) (*networkingv1.ServiceEntry, error) {
	raw, err := u.MarshalJSON()
	if err != nil {
		return nil, err
	}
	var se networkingv1.ServiceEntry
	if err := json.Unmarshal(raw, &se); err != nil {
		return nil, fmt.Errorf("decoding ServiceEntry: %w", err)
	}
	return &se, nil
}
