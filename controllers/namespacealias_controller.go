package controllers

import (
	"context"

	meshaliasv1 "github.com/meshalias/meshalias/api/v1alpha1"
	"github.com/meshalias/meshalias/internal/desired"
)

// +kubebuilder:rbac:groups=meshalias.io,resources=namespacealiases,verbs=get;list;watch
// +kubebuilder:rbac:groups=meshalias.io,resources=namespacealiases/status,verbs=get;patch;update
// +kubebuilder:rbac:groups=meshalias.io,resources=namespacealiases/finalizers,verbs=update

// NamespaceAliasReconciler keeps, for each NamespaceAlias, one correct ServiceEntry per
// selected Service x of its namespace, for the host x.<domain>.
type NamespaceAliasReconciler struct {
	*aliasReconciler[*meshaliasv1.NamespaceAlias]
}

// namespaceAliasKind is what is particular to NamespaceAlias: the Services of its namespace
// that it selects, and Services that can never be aliased are skipped, not failed.
var namespaceAliasKind = aliasKind[*meshaliasv1.NamespaceAlias]{
	name:      meshaliasv1.KindNamespaceAlias,
	newObject: func() *meshaliasv1.NamespaceAlias { return &meshaliasv1.NamespaceAlias{} },
	gather: func(ctx context.Context, g gatherer, a *meshaliasv1.NamespaceAlias) (desired.Intent, desired.Facts, error) {
		return g.namespaceAlias(ctx, a)
	},
	outcome: desired.NamespaceAliasOutcome,
	setStatus: func(a *meshaliasv1.NamespaceAlias, plan desired.Plan) {
		a.Status.ObservedGeneration = a.Generation
		names := desired.EntryNames(plan.Results)
		a.Status.Services = int32(len(names))
		a.Status.ServiceEntries = desired.Listed(names)
		a.Status.Adopted = desired.Listed(desired.AdoptedNames(plan.Results))
		a.Status.HiddenFrom = desired.HiddenFrom(plan)
	},
}
