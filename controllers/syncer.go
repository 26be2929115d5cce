package controllers

import (
	"context"
	"errors"
	"fmt"
	"strings"

	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/events"
	"k8s.io/klog/v2"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	meshaliasv1 "github.com/meshalias/meshalias/api/v1alpha1"
)

// aliasSyncer is the one path both kinds of alias take: gather facts, plan, apply, prune.
type aliasSyncer struct {
	client        client.Client
	recorder      events.EventRecorder
	clusterDomain string
	gather        gatherer
}

func newAliasSyncer(c client.Client, recorder events.EventRecorder, cfg Config) aliasSyncer {
	return aliasSyncer{client: c, recorder: recorder, clusterDomain: cfg.ClusterDomain, gather: gatherer{
		reader:             c,
		adopt:              cfg.AdoptSelector,
		clusterDomain:      cfg.ClusterDomain,
		requireAliasDomain: cfg.RequireAliasDomain,
		grantsOn:           cfg.ReferenceGrants,
		ambientMesh:        cfg.AmbientMesh,
	}}
}

// sync brings the entries of one alias to its plan, and returns the plan. read holds what the
// alias's kind read itself: the Services, and whether it may use them.
func (s aliasSyncer) sync(ctx context.Context, alias runtime.Object, in Intent, read Facts) (Plan, error) {
	log := ctrl.LoggerFrom(ctx)
	facts, err := s.gather.facts(ctx, in, read)
	if err != nil {
		return Plan{}, err
	}
	plan := MakePlan(in, facts, s.clusterDomain)

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
		wrote, err := entryWriter{client: s.client}.apply(ctx, existing, se)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		switch {
		case wrote && existing != nil && !isManaged(existing):
			log.Info("Adopted ServiceEntry", "ServiceEntry", klog.KObj(se), "host", se.Spec.Hosts[0], "addresses", se.Spec.Addresses)
			s.recorder.Eventf(alias, existing, corev1.EventTypeNormal, "Adopted", "Adopt", "Took over ServiceEntry %s in place for host %s, and gave it addresses %v", se.Name, se.Spec.Hosts[0], se.Spec.Addresses)
		case wrote:
			log.Info("Applied ServiceEntry", "ServiceEntry", klog.KObj(se), "host", se.Spec.Hosts[0], "addresses", se.Spec.Addresses)
			applied = append(applied, se.Name)
		}
	}
	for _, se := range plan.Prune {
		if err := (entryWriter{client: s.client}).prune(ctx, se); err != nil {
			errs = append(errs, err)
			continue
		}
		log.Info("Deleted ServiceEntry", "ServiceEntry", klog.KObj(se), "hosts", se.Spec.Hosts)
		pruned = append(pruned, se.Name)
	}
	// One event per pass, not per entry: a NamespaceAlias over thousands of Services would
	// otherwise flood the namespace's events.
	if len(applied) > 0 {
		s.recorder.Eventf(alias, nil, corev1.EventTypeNormal, "Applied", "Apply", "Applied %s", countedNames(applied, "ServiceEntry", "ServiceEntries"))
	}
	if len(pruned) > 0 {
		s.recorder.Eventf(alias, nil, corev1.EventTypeNormal, "Pruned", "Delete", "Deleted %s the alias no longer serves", countedNames(pruned, "ServiceEntry", "ServiceEntries"))
	}
	return plan, errors.Join(errs...)
}

// writeStatus patches an alias's status subresource when the pass changed it: an unchanged
// status costs no request. An alias deleted meanwhile has no status left to write.
func (s aliasSyncer) writeStatus(ctx context.Context, before, alias client.Object, changed bool) error {
	if !changed {
		return nil
	}
	if err := s.client.Status().Patch(ctx, alias, client.MergeFrom(before)); err != nil && !apierrors.IsNotFound(err) {
		return err
	}
	return nil
}

// retry records a failed call to the API server and hands the error to the workqueue's backoff.
func (s aliasSyncer) retry(alias runtime.Object, conditions *[]metav1.Condition, generation int64, err error) (ctrl.Result, error) {
	s.report(alias, conditions, generation, RetryOutcome(err))
	return ctrl.Result{}, err
}

// report writes an outcome into an alias's conditions, and raises a Warning event, with the
// condition's reason, when the alias turns unready or the reason for it changes. Repeating the
// event on every pass would only bury the first one.
func (s aliasSyncer) report(alias runtime.Object, conditions *[]metav1.Condition, generation int64, o Outcome) {
	prev := meta.FindStatusCondition(*conditions, meshaliasv1.ConditionReady)
	changed := prev == nil || prev.Reason != o.Reason || prev.Message != o.Message
	SetConditions(conditions, generation, o)
	if !o.Ready && changed {
		s.recorder.Eventf(alias, nil, corev1.EventTypeWarning, o.Reason, "Reconcile", "%s", o.Message)
	}
}

// countedNames reads "ServiceEntry a" or "3 ServiceEntries: a, b, c", at most maxListed names.
func countedNames(names []string, one, many string) string {
	if len(names) == 1 {
		return one + " " + names[0]
	}
	return fmt.Sprintf("%d %s: %s", len(names), many, strings.Join(capped(names), ", "))
}
