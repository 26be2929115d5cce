package controllers

import (
	"context"
	"slices"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	meshaliasv1 "github.com/meshalias/meshalias/api/v1alpha1"
)

// +kubebuilder:rbac:groups=meshalias.io,resources=aliasdomains,verbs=get;list;watch
// +kubebuilder:rbac:groups=meshalias.io,resources=aliasdomains/status,verbs=get;patch

// AliasDomainReconciler keeps status.domains of every AliasDomain equal to the list of all
// AliasDomains' domains. The ValidatingAdmissionPolicy evaluates one AliasDomain at a time and
// needs that list to find the longest domain that covers a host, as the operator does.
type AliasDomainReconciler struct {
	client.Client
}

// NewAliasDomainReconciler returns a reconciler that reads and writes through c.
func NewAliasDomainReconciler(c client.Client) *AliasDomainReconciler {
	return &AliasDomainReconciler{Client: c}
}

// Reconcile writes one AliasDomain's status.domains when it differs from the current list.
func (r *AliasDomainReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	var all meshaliasv1.AliasDomainList
	if err := r.List(ctx, &all); err != nil {
		return ctrl.Result{}, err
	}
	domains := make([]string, 0, len(all.Items))
	var this *meshaliasv1.AliasDomain
	for i := range all.Items {
		domains = append(domains, all.Items[i].Spec.Domain)
		if all.Items[i].Name == req.Name {
			this = &all.Items[i]
		}
	}
	if this == nil || !this.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, nil
	}
	slices.Sort(domains)
	domains = slices.Compact(domains)
	if slices.Equal(this.Status.Domains, domains) {
		return ctrl.Result{}, nil
	}
	before := this.DeepCopy()
	this.Status.Domains = domains
	return ctrl.Result{}, client.IgnoreNotFound(r.Status().Patch(ctx, this, client.MergeFrom(before)))
}

// SetupWithManager registers the controller. Any AliasDomain that comes or goes changes every
// other one's list, so each such event wakes them all; AliasDomains are few, one per team.
func (r *AliasDomainReconciler) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).
		// Every event, status ones included: a list edited by hand is put right at once.
		For(&meshaliasv1.AliasDomain{}).
		Watches(&meshaliasv1.AliasDomain{}, handler.EnqueueRequestsFromMapFunc(r.all), builder.WithPredicates(predicate.Funcs{
			UpdateFunc: func(event.UpdateEvent) bool { return false },
		})).
		Named("aliasdomain").
		Complete(r)
}

func (r *AliasDomainReconciler) all(ctx context.Context, _ client.Object) []reconcile.Request {
	var all meshaliasv1.AliasDomainList
	if err := r.List(ctx, &all); err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "Listing AliasDomains for a watch event")
		return nil
	}
	reqs := make([]reconcile.Request, 0, len(all.Items))
	for _, d := range all.Items {
		reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKey{Name: d.Name}})
	}
	return reqs
}
