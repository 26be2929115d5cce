package controllers

import (
	"context"

	meshaliasv1 "github.com/meshalias/meshalias/api/v1alpha1"
	"github.com/meshalias/meshalias/internal/desired"
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
	*aliasReconciler[*meshaliasv1.ServiceAlias]
}

// serviceAliasKind is what is particular to ServiceAlias: one Service, maybe in another
// namespace, and every host must be served.
var serviceAliasKind = aliasKind[*meshaliasv1.ServiceAlias]{
	name:      meshaliasv1.KindServiceAlias,
	newObject: func() *meshaliasv1.ServiceAlias { return &meshaliasv1.ServiceAlias{} },
	gather: func(ctx context.Context, g gatherer, a *meshaliasv1.ServiceAlias) (desired.Intent, desired.Facts, error) {
		return g.serviceAlias(ctx, a)
	},
	outcome: desired.ServiceAliasOutcome,
	setStatus: func(a *meshaliasv1.ServiceAlias, plan desired.Plan) {
		a.Status.ObservedGeneration = a.Generation
		a.Status.ServiceEntries = desired.EntryNames(plan.Results)
		a.Status.Adopted = desired.AdoptedNames(plan.Results)
		a.Status.HiddenFrom = desired.HiddenFrom(plan)
		a.Status.Addresses = nil
		if len(plan.Entries) > 0 {
			a.Status.Addresses = plan.Entries[0].Spec.Addresses
		}
	},
}
