package controllers

import (
	"context"
	"errors"

	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	meshaliasv1 "github.com/meshalias/meshalias/api/v1alpha1"
)

// +kubebuilder:rbac:groups=meshalias.io,resources=servicealiases,verbs=get;list;watch
// +kubebuilder:rbac:groups=meshalias.io,resources=servicealiases/status,verbs=get;patch;update
// +kubebuilder:rbac:groups=meshalias.io,resources=servicealiases/finalizers,verbs=update
// +kubebuilder:rbac:groups="",resources=services,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=namespaces;pods,verbs=get;list;watch
// +kubebuilder:rbac:groups=gateway.networking.k8s.io,resources=referencegrants,verbs=get;list;watch
// +kubebuilder:rbac:groups=meshalias.io,resources=aliasdomains,verbs=get;list;watch
// +kubebuilder:rbac:groups=networking.istio.io,resources=serviceentries,verbs=get;list;watch;create;patch;delete
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// ServiceAliasReconciler keeps one correct ServiceEntry per host of each ServiceAlias.
type ServiceAliasReconciler struct {
	client.Client
	syncer aliasSyncer
}

// NewServiceAliasReconciler returns a reconciler that writes through c and records events
// with recorder.
func NewServiceAliasReconciler(c client.Client, recorder events.EventRecorder, cfg Config) *ServiceAliasReconciler {
	return &ServiceAliasReconciler{Client: c, syncer: newAliasSyncer(c, recorder, cfg)}
}

// Reconcile reads the alias, brings its entries to the desired state and records the outcome
// in its status, which it writes only when it changed.
func (r *ServiceAliasReconciler) Reconcile(ctx context.Context, req ctrl.Request) (result ctrl.Result, retErr error) {
	alias := &meshaliasv1.ServiceAlias{}
	if err := r.Get(ctx, req.NamespacedName, alias); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !alias.DeletionTimestamp.IsZero() {
		// The entries go with the alias, through their ownerReferences.
		return ctrl.Result{}, nil
	}
	before := alias.DeepCopy()
	defer func() {
		changed := !equality.Semantic.DeepEqual(before.Status, alias.Status)
		retErr = errors.Join(retErr, r.syncer.writeStatus(ctx, before, alias, changed))
	}()
	return r.reconcile(ctx, alias)
}

func (r *ServiceAliasReconciler) reconcile(ctx context.Context, alias *meshaliasv1.ServiceAlias) (ctrl.Result, error) {
	in := serviceAliasIntent(alias)
	ref, services, err := r.syncer.gather.referencedService(ctx, alias.Namespace, in.ServiceNamespace, alias.Spec.Service.Name)
	if err != nil {
		return r.syncer.retry(alias, &alias.Status.Conditions, alias.Generation, err)
	}
	plan, err := r.syncer.sync(ctx, alias, in, Facts{Reference: ref, Services: services})
	if err != nil {
		return r.syncer.retry(alias, &alias.Status.Conditions, alias.Generation, err)
	}

	outcome := ServiceAliasOutcome(plan)
	alias.Status.ObservedGeneration = alias.Generation
	alias.Status.ServiceEntries = EntryNames(plan.Results)
	alias.Status.Adopted = AdoptedNames(plan.Results)
	alias.Status.Addresses = nil
	if len(plan.Entries) > 0 {
		alias.Status.Addresses = plan.Entries[0].Spec.Addresses
	}
	r.syncer.report(alias, &alias.Status.Conditions, alias.Generation, outcome)
	if outcome.Reason == meshaliasv1.ReasonInvalidSpec {
		// No retry mends a spec; a change to the alias or its Service triggers a new pass.
		return ctrl.Result{}, reconcile.TerminalError(errors.New(outcome.Message))
	}
	return ctrl.Result{}, nil
}

// serviceAliasIntent reduces a ServiceAlias to the Intent both kinds share.
func serviceAliasIntent(alias *meshaliasv1.ServiceAlias) Intent {
	in := Intent{
		Owner:            Owner{Kind: meshaliasv1.KindServiceAlias, Namespace: alias.Namespace, Name: alias.Name, UID: alias.UID},
		Claim:            claimOf(meshaliasv1.KindServiceAlias, &alias.ObjectMeta),
		ServiceNamespace: serviceNamespace(alias),
		Ports:            alias.Spec.Ports,
		ExportTo:         alias.Spec.ExportTo,
		TLSMode:          alias.Spec.TLSMode,
	}
	for _, h := range alias.Spec.Hosts {
		in.Targets = append(in.Targets, Target{Host: h, ServiceName: alias.Spec.Service.Name})
	}
	return in
}

// serviceNamespace is the namespace of the Service an alias names: its own unless it says.
func serviceNamespace(alias *meshaliasv1.ServiceAlias) string {
	if alias.Spec.Service.Namespace != "" {
		return alias.Spec.Service.Namespace
	}
	return alias.Namespace
}
