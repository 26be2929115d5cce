package controllers

import (
	"context"
	"errors"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	meshaliasv1 "github.com/meshalias/meshalias/api/v1alpha1"
	"github.com/meshalias/meshalias/internal/desired"
)

// aliasesByReason counts the aliases of each kind by the reason of their Ready condition, so
// that an alert can fire on aliases that stay unready.
var aliasesByReason = prometheus.NewGaugeVec(prometheus.GaugeOpts{
	Name: "meshalias_aliases",
	Help: "Aliases by kind and by the reason of their Ready condition (Synced when Ready).",
}, []string{"kind", "reason"})

func init() {
	metrics.Registry.MustRegister(aliasesByReason)
}

// statusWriter is where both kinds of alias get their status: the conditions, the Warning
// events that go with them, the terminal error for a spec no retry mends, the patch, and the
// gauge by reason.
type statusWriter struct {
	client   client.Client
	recorder events.EventRecorder

	mu sync.Mutex
	// reasons holds each alias's last Ready reason, for the gauge.
	reasons map[string]string
}

func newStatusWriter(c client.Client, recorder events.EventRecorder) *statusWriter {
	return &statusWriter{client: c, recorder: recorder, reasons: map[string]string{}}
}

// report writes an outcome into an alias's conditions and marks its generation as handled.
// It raises a Warning event, with the condition's reason, when the alias turns unready or
// the reason for it changes: repeating it on every pass would only bury the first one. An
// invalid spec is a terminal error: no retry mends it, and a change to the alias or to
// what it names starts a new pass.
func (s *statusWriter) report(kind string, alias aliasObject, o desired.Outcome) (ctrl.Result, error) {
	s.setConditions(alias, o)
	s.count(kind, alias, o.Reason)
	if o.Reason == meshaliasv1.ReasonInvalidSpec {
		return ctrl.Result{}, reconcile.TerminalError(errors.New(o.Message))
	}
	return ctrl.Result{}, nil
}

// retry records a failed call to the API server and hands the error to the workqueue's
// backoff. The generation is not marked as handled.
func (s *statusWriter) retry(kind string, alias aliasObject, err error) (ctrl.Result, error) {
	o := desired.RetryOutcome(err)
	s.setConditions(alias, o)
	s.count(kind, alias, o.Reason)
	return ctrl.Result{}, err
}

func (s *statusWriter) setConditions(alias aliasObject, o desired.Outcome) {
	conditions := alias.GetConditions()
	prev := meta.FindStatusCondition(conditions, meshaliasv1.ConditionReady)
	changed := prev == nil || prev.Reason != o.Reason || prev.Message != o.Message
	desired.SetConditions(&conditions, alias.GetGeneration(), o)
	alias.SetConditions(conditions)
	if !o.Ready && changed {
		s.recorder.Eventf(alias, nil, corev1.EventTypeWarning, o.Reason, "Reconcile", "%s", o.Message)
	}
}

// patch writes an alias's status subresource when the pass changed it: an unchanged status
// costs no request. An alias deleted meanwhile has no status left to write.
//
// Nothing reads the patched alias back, so the answer is asked for as metadata only
// (PartialObjectMetadata), which the API server sends as protobuf. Encoding the whole alias
// as JSON on the server, and decoding it on the operator's side, cost both for nothing.
func (s *statusWriter) patch(ctx context.Context, kind string, before, alias aliasObject) error {
	if equality.Semantic.DeepEqual(before, alias) {
		return nil
	}
	target := &metav1.PartialObjectMetadata{ObjectMeta: metav1.ObjectMeta{Namespace: alias.GetNamespace(), Name: alias.GetName()}}
	target.SetGroupVersionKind(meshaliasv1.GroupVersion.WithKind(kind))
	err := s.client.Status().Patch(ctx, target, client.MergeFrom(before), &client.SubResourcePatchOptions{SubResourceBody: alias})
	if err != nil && !apierrors.IsNotFound(err) {
		return err
	}
	return nil
}

// count moves an alias to its reason in the gauge.
func (s *statusWriter) count(kind string, alias aliasObject, reason string) {
	k := key(kind, types.NamespacedName{Namespace: alias.GetNamespace(), Name: alias.GetName()})
	s.mu.Lock()
	defer s.mu.Unlock()
	if prev, ok := s.reasons[k]; ok {
		if prev == reason {
			return
		}
		aliasesByReason.WithLabelValues(kind, prev).Dec()
	}
	s.reasons[k] = reason
	aliasesByReason.WithLabelValues(kind, reason).Inc()
}

// forget takes an alias that is gone out of the gauge.
func (s *statusWriter) forget(kind string, name types.NamespacedName) {
	k := key(kind, name)
	s.mu.Lock()
	defer s.mu.Unlock()
	if prev, ok := s.reasons[k]; ok {
		aliasesByReason.WithLabelValues(kind, prev).Dec()
		delete(s.reasons, k)
	}
}

// key names an alias for the gauge's bookkeeping.
func key(kind string, name types.NamespacedName) string { return kind + "/" + name.String() }
