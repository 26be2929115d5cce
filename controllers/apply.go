package controllers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"google.golang.org/protobuf/proto"
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"k8s.io/klog/v2"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/meshalias/meshalias/internal/desired"
)

// FieldManager is the one server-side apply field manager meshalias writes with.
const FieldManager = "meshalias"

// entryWriter applies and prunes ServiceEntries. It is the only code that writes them.
type entryWriter struct {
	client   client.Client
	recorder events.EventRecorder
}

// sync brings an alias's entries to its plan: it applies the entries the plan wants, over
// the ones the alias owns or may adopt, and deletes the ones it no longer wants. Normal
// events tell what changed, one per pass and not per entry: a NamespaceAlias over thousands
// of Services would otherwise flood its namespace's events.
func (w entryWriter) sync(ctx context.Context, alias client.Object, facts desired.Facts, plan desired.Plan) error {
	log := ctrl.LoggerFrom(ctx)
	current := map[string]*networkingv1.ServiceEntry{}
	for _, se := range facts.Owned {
		current[se.Name] = se
	}
	for _, se := range facts.Adoptable {
		current[se.Name] = se
	}
	var errs []error
	var applied, pruned []string
	for _, se := range plan.Entries {
		existing := current[se.Name]
		wrote, err := w.apply(ctx, existing, se)
		switch {
		case err != nil:
			errs = append(errs, err)
		case wrote && existing != nil && !isManaged(existing):
			log.Info("Adopted ServiceEntry", "ServiceEntry", klog.KObj(se), "host", se.Spec.Hosts[0], "addresses", se.Spec.Addresses)
			w.recorder.Eventf(alias, existing, corev1.EventTypeNormal, "Adopted", "Adopt", "Took over ServiceEntry %s in place for host %s, and gave it addresses %v", se.Name, se.Spec.Hosts[0], se.Spec.Addresses)
		case wrote:
			log.Info("Applied ServiceEntry", "ServiceEntry", klog.KObj(se), "host", se.Spec.Hosts[0], "addresses", se.Spec.Addresses)
			applied = append(applied, se.Name)
		}
	}
	for _, se := range plan.Prune {
		if err := w.prune(ctx, se); err != nil {
			errs = append(errs, err)
			continue
		}
		log.Info("Deleted ServiceEntry", "ServiceEntry", klog.KObj(se), "hosts", se.Spec.Hosts)
		pruned = append(pruned, se.Name)
	}
	if len(applied) > 0 {
		w.recorder.Eventf(alias, nil, corev1.EventTypeNormal, "Applied", "Apply", "Applied %s", desired.CountedNames(applied, "ServiceEntry", "ServiceEntries"))
	}
	if len(pruned) > 0 {
		w.recorder.Eventf(alias, nil, corev1.EventTypeNormal, "Pruned", "Delete", "Deleted %s the alias no longer serves", desired.CountedNames(pruned, "ServiceEntry", "ServiceEntries"))
	}
	return errors.Join(errs...)
}

// upToDate tells whether an entry already is what we would apply, so that no request is sent
// when nothing changed. Istio specs are protobuf messages: only proto.Equal compares them
// correctly.
func upToDate(existing, want *networkingv1.ServiceEntry) bool {
	if !proto.Equal(&existing.Spec, &want.Spec) {
		return false
	}
	for k, v := range want.Labels {
		if existing.Labels[k] != v {
			return false
		}
	}
	owner := want.OwnerReferences[0]
	ref := metav1.GetControllerOfNoCopy(existing)
	return ref != nil && ref.UID == owner.UID && ref.Kind == owner.Kind && ref.APIVersion == owner.APIVersion
}

// apply makes an entry what it should be, with server-side apply under one field manager.
// It reports whether it wrote.
func (w entryWriter) apply(ctx context.Context, existing, want *networkingv1.ServiceEntry) (bool, error) {
	if existing != nil && upToDate(existing, want) {
		return false, nil
	}
	applied, err := w.serverSideApply(ctx, want)
	switch {
	case err == nil && proto.Equal(&applied.Spec, &want.Spec):
		return true, nil
	case err == nil:
		// Apply only sets the fields we send. A field another writer added (kubectl edit, or
		// the controller an adopted entry came from) survives it.
		return true, w.replaceSpec(ctx, applied, want)
	case existing != nil && apierrors.IsInvalid(err):
		// Another writer's items in a list map (ports are keyed by name) merged with ours
		// into an entry Istio's schema refuses, such as two names for one port number. Take
		// the spec back whole first, then apply again for the labels and owner.
		if err := w.replaceSpec(ctx, existing, want); err != nil {
			return false, err
		}
		_, err = w.serverSideApply(ctx, want)
		return true, err
	default:
		return false, err
	}
}

func (w entryWriter) serverSideApply(ctx context.Context, want *networkingv1.ServiceEntry) (*networkingv1.ServiceEntry, error) {
	u, err := applyObject(want)
	if err != nil {
		return nil, err
	}
	if err := w.client.Apply(ctx, client.ApplyConfigurationFromUnstructured(u), client.FieldOwner(FieldManager), client.ForceOwnership); err != nil {
		return nil, fmt.Errorf("applying ServiceEntry %s/%s: %w", want.Namespace, want.Name, err)
	}
	return fromUnstructured(u)
}

// replaceSpec replaces an entry's spec whole with a JSON patch. Server-side apply cannot do
// this: it removes only the fields our field manager set before, and it cannot know which
// those are from the cache, which strips managedFields. The test on the UID keeps it from
// writing to an entry that was re-created meanwhile.
func (w entryWriter) replaceSpec(ctx context.Context, current, want *networkingv1.ServiceEntry) error {
	spec, err := json.Marshal(&want.Spec)
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

// applyObject turns a typed object into what server-side apply takes, generically, as
// cluster-api's ssa helpers do: only the fields we own, which are the name, namespace,
// labels, ownerReferences and spec. No creationTimestamp, no status, no resourceVersion:
// sending them would either fail or claim fields that are not ours.
func applyObject(obj client.Object) (*unstructured.Unstructured, error) {
	raw, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		return nil, fmt.Errorf("converting %T for apply: %w", obj, err)
	}
	u := &unstructured.Unstructured{Object: raw}
	delete(u.Object, "status")
	kept := map[string]any{}
	for _, field := range []string{"name", "namespace", "labels", "ownerReferences"} {
		if v, ok := u.Object["metadata"].(map[string]any)[field]; ok {
			kept[field] = v
		}
	}
	u.Object["metadata"] = kept
	return u, nil
}

func fromUnstructured(u *unstructured.Unstructured) (*networkingv1.ServiceEntry, error) {
	var se networkingv1.ServiceEntry
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, &se); err != nil {
		return nil, fmt.Errorf("decoding ServiceEntry: %w", err)
	}
	return &se, nil
}
