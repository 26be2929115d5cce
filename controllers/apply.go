package controllers

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"
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

	"github.com/meshalias/meshalias/internal/audit"
	"github.com/meshalias/meshalias/internal/desired"
)

// FieldManager is the one server-side apply field manager meshalias writes with.
const FieldManager = "meshalias"

// entryWriter applies and prunes ServiceEntries. It is the only code that writes them.
type entryWriter struct {
	client   client.Client
	creator  entryCreator
	recorder events.EventRecorder
	// workers bounds the writes of one alias that run at once: --max-concurrent-reconciles.
	workers int
	drift   *driftWatch
}

// sync brings an alias's entries to its plan: it writes the entries the plan wants, over the
// ones the alias owns or may adopt, and deletes the ones it no longer wants. The writes run
// in parallel, at most workers at a time, and stop at the first error: a NamespaceAlias over
// thousands of Services would otherwise take one round trip per Service in a row.
//
// Normal events are for what a person needs to read: a repair or an update of an existing
// entry, an adoption, a deletion. Creating the entries of a new alias raises none, so that a
// clean start costs the API server no write beyond the entries and the status. They come
// one per pass, not per entry, so as not to flood the namespace's events.
func (w entryWriter) sync(ctx context.Context, alias client.Object, facts desired.Facts, plan desired.Plan) error {
	log := ctrl.LoggerFrom(ctx)
	current := map[string]*networkingv1.ServiceEntry{}
	for _, se := range facts.Owned {
		current[se.Name] = se
	}
	for _, se := range facts.Adoptable {
		current[se.Name] = se
	}
	var mu sync.Mutex
	var updated, pruned []string
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(max(w.workers, 1))
	for _, se := range plan.Entries {
		existing := current[se.Name]
		g.Go(func() error {
			if existing != nil && upToDate(existing, se) {
				// Nothing to write: no request is sent when nothing changed.
				w.drift.saw(existing)
				return nil
			}
			// Before a write over a managed entry, find out whether another writer changed it:
			// once written, its fields are ours again and the trace is gone.
			var writers []string
			drifted := false
			if existing != nil && isManaged(existing) {
				drifted, writers = w.drift.check(gctx, existing, se)
			}
			generation, err := w.apply(gctx, existing, se)
			if err != nil {
				return err
			}
			w.drift.wrote(se, generation)
			switch {
			case existing == nil:
				log.Info("Created ServiceEntry", "ServiceEntry", klog.KObj(se), "host", se.Spec.Hosts[0], "addresses", se.Spec.Addresses)
			case !isManaged(existing):
				log.Info("Adopted ServiceEntry", "ServiceEntry", klog.KObj(se), "host", se.Spec.Hosts[0], "addresses", se.Spec.Addresses)
				w.recorder.Eventf(alias, existing, corev1.EventTypeNormal, "Adopted", "Adopt", "Took over ServiceEntry %s in place for host %s, and gave it addresses %v", se.Name, se.Spec.Hosts[0], se.Spec.Addresses)
			case drifted:
				log.Info("Repaired ServiceEntry", "ServiceEntry", klog.KObj(se), "changedBy", writers)
				driftRepairs.WithLabelValues(se.Namespace).Inc()
				w.drift.repaired(client.ObjectKeyFromObject(se), func(repairs int, since time.Time) {
					w.recorder.Eventf(alias, existing, corev1.EventTypeWarning, audit.EventReasonDriftRepaired, "Repair", "%s", audit.RepairNote(se.Name, writers, repairs, since))
				})
			default:
				log.Info("Applied ServiceEntry", "ServiceEntry", klog.KObj(se), "host", se.Spec.Hosts[0], "addresses", se.Spec.Addresses)
				mu.Lock()
				updated = append(updated, se.Name)
				mu.Unlock()
			}
			return nil
		})
	}
	for _, se := range plan.Prune {
		g.Go(func() error {
			if err := w.prune(gctx, se); err != nil {
				return err
			}
			w.drift.forget(se)
			log.Info("Deleted ServiceEntry", "ServiceEntry", klog.KObj(se), "hosts", se.Spec.Hosts)
			mu.Lock()
			pruned = append(pruned, se.Name)
			mu.Unlock()
			return nil
		})
	}
	err := g.Wait()
	slices.Sort(updated)
	slices.Sort(pruned)
	if len(updated) > 0 {
		w.recorder.Eventf(alias, nil, corev1.EventTypeNormal, "Applied", "Apply", "Applied %s", desired.CountedNames(updated, "ServiceEntry", "ServiceEntries"))
	}
	if len(pruned) > 0 {
		w.recorder.Eventf(alias, nil, corev1.EventTypeNormal, "Pruned", "Delete", "Deleted %s the alias no longer serves", desired.CountedNames(pruned, "ServiceEntry", "ServiceEntries"))
	}
	return err
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

// apply makes an entry that differs from want, or does not exist, what it should be, with
// server-side apply under one field manager. It returns the entry's generation after its write.
func (w entryWriter) apply(ctx context.Context, existing, want *networkingv1.ServiceEntry) (int64, error) {
	if existing == nil {
		// A plain create under the same field manager costs the API server less than an
		// apply, which must compute managed fields. Later updates are applies; the spec
		// replacement below takes back any field the create's ownership leaves behind.
		generation, err := w.creator.create(ctx, want)
		if !apierrors.IsAlreadyExists(err) {
			if err != nil {
				return 0, fmt.Errorf("creating ServiceEntry %s/%s: %w", want.Namespace, want.Name, err)
			}
			return generation, nil
		}
		// Someone created it meanwhile, which the cache has not seen yet: apply over it.
	}
	applied, err := w.serverSideApply(ctx, want)
	switch {
	case err == nil && proto.Equal(&applied.Spec, &want.Spec):
		return applied.Generation, nil
	case err == nil:
		// Apply only sets the fields we send. A field another writer added (kubectl edit, or
		// the controller an adopted entry came from) survives it.
		return w.replaceSpec(ctx, applied, want)
	case existing != nil && apierrors.IsInvalid(err):
		// Another writer's items in a list map (ports are keyed by name) merged with ours
		// into an entry Istio's schema refuses, such as two names for one port number. Take
		// the spec back whole first, then apply again for the labels and owner.
		if _, err := w.replaceSpec(ctx, existing, want); err != nil {
			return 0, err
		}
		applied, err := w.serverSideApply(ctx, want)
		if err != nil {
			return 0, err
		}
		return applied.Generation, nil
	default:
		return 0, err
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
// writing to an entry that was re-created meanwhile. It returns the entry's new generation.
func (w entryWriter) replaceSpec(ctx context.Context, current, want *networkingv1.ServiceEntry) (int64, error) {
	spec, err := json.Marshal(&want.Spec)
	if err != nil {
		return 0, err
	}
	patch := fmt.Appendf(nil, `[{"op":"test","path":"/metadata/uid","value":%q},{"op":"replace","path":"/spec","value":%s}]`, current.UID, spec)
	// Only the new generation is read back: the answer is asked for as metadata.
	target := &metav1.PartialObjectMetadata{ObjectMeta: metav1.ObjectMeta{Namespace: current.Namespace, Name: current.Name}}
	target.SetGroupVersionKind(serviceEntryKind)
	if err := w.client.Patch(ctx, target, client.RawPatch(types.JSONPatchType, patch), client.FieldOwner(FieldManager)); err != nil {
		return 0, fmt.Errorf("replacing the spec of ServiceEntry %s/%s: %w", current.Namespace, current.Name, err)
	}
	return target.Generation, nil
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
