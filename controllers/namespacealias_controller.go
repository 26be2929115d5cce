package controllers

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	meshaliasv1 "github.com/meshalias/meshalias/api/v1alpha1"
)

// +kubebuilder:rbac:groups=meshalias.io,resources=namespacealiases,verbs=get;list;watch
// +kubebuilder:rbac:groups=meshalias.io,resources=namespacealiases/status,verbs=get;patch;update
// +kubebuilder:rbac:groups=meshalias.io,resources=namespacealiases/finalizers,verbs=update

// NamespaceAliasReconciler keeps, for each NamespaceAlias, one correct ServiceEntry per
// selected Service x of its namespace, for the host x.<domain>.
type NamespaceAliasReconciler struct {
	client.Client
	syncer aliasSyncer
}

// NewNamespaceAliasReconciler returns a reconciler that writes through c and records events
// with recorder.
func NewNamespaceAliasReconciler(c client.Client, recorder events.EventRecorder, cfg Config) *NamespaceAliasReconciler {
	return &NamespaceAliasReconciler{Client: c, syncer: newAliasSyncer(c, recorder, cfg)}
}

// Reconcile reads the alias and its Services, brings the entries to the desired state and
// records the outcome in its status, which it writes only when it changed.
func (r *NamespaceAliasReconciler) Reconcile(ctx context.Context, req ctrl.Request) (result ctrl.Result, retErr error) {
	alias := &meshaliasv1.NamespaceAlias{}
	if err := r.Get(ctx, req.NamespacedName, alias); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !alias.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, nil
	}
	before := alias.DeepCopy()
	defer func() {
		changed := !equality.Semantic.DeepEqual(before.Status, alias.Status)
		retErr = errors.Join(retErr, r.syncer.writeStatus(ctx, before, alias, changed))
	}()
	return r.reconcile(ctx, alias)
}

func (r *NamespaceAliasReconciler) reconcile(ctx context.Context, alias *meshaliasv1.NamespaceAlias) (ctrl.Result, error) {
	selector, err := serviceSelector(alias)
	if err != nil {
		outcome := Outcome{Reason: meshaliasv1.ReasonInvalidSpec, Message: fmt.Sprintf("spec.selector is not a valid label selector: %v", err), Stalled: true}
		alias.Status.ObservedGeneration = alias.Generation
		r.syncer.report(alias, &alias.Status.Conditions, alias.Generation, outcome)
		return ctrl.Result{}, reconcile.TerminalError(err)
	}
	var list corev1.ServiceList
	if err := r.List(ctx, &list, client.InNamespace(alias.Namespace), client.MatchingLabelsSelector{Selector: selector}); err != nil {
		return r.syncer.retry(alias, &alias.Status.Conditions, alias.Generation, err)
	}
	services := make(map[string]*corev1.Service, len(list.Items))
	for i := range list.Items {
		services[list.Items[i].Name] = &list.Items[i]
	}

	plan, err := r.syncer.sync(ctx, alias, namespaceAliasIntent(alias, services), Facts{Services: services})
	if err != nil {
		return r.syncer.retry(alias, &alias.Status.Conditions, alias.Generation, err)
	}

	outcome := NamespaceAliasOutcome(plan)
	alias.Status.ObservedGeneration = alias.Generation
	alias.Status.ServiceEntries = EntryNames(plan.Results)
	alias.Status.Adopted = AdoptedNames(plan.Results)
	alias.Status.Services = int32(len(alias.Status.ServiceEntries))
	r.syncer.report(alias, &alias.Status.Conditions, alias.Generation, outcome)
	return ctrl.Result{}, nil
}

// namespaceAliasIntent reduces a NamespaceAlias and its selected Services to the Intent both
// kinds share: one target x.<domain> per Service x.
func namespaceAliasIntent(alias *meshaliasv1.NamespaceAlias, services map[string]*corev1.Service) Intent {
	in := Intent{
		Owner:            Owner{Kind: meshaliasv1.KindNamespaceAlias, Namespace: alias.Namespace, Name: alias.Name, UID: alias.UID},
		Claim:            claimOf(meshaliasv1.KindNamespaceAlias, &alias.ObjectMeta),
		ServiceNamespace: alias.Namespace,
		Domain:           alias.Spec.Domain,
		ExportTo:         alias.Spec.ExportTo,
		TLSMode:          alias.Spec.TLSMode,
	}
	for _, name := range slices.Sorted(maps.Keys(services)) {
		in.Targets = append(in.Targets, Target{Host: name + "." + alias.Spec.Domain, ServiceName: name})
	}
	return in
}
