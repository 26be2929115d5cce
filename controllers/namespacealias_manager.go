package controllers

import (
	"context"

	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	corev1 "k8s.io/api/core/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	meshaliasv1 "github.com/meshalias/meshalias/api/v1alpha1"
	"github.com/meshalias/meshalias/internal/visibility"
)

// SetupWithManager registers the NamespaceAlias controller and its watches.
func (r *NamespaceAliasReconciler) SetupWithManager(mgr ctrl.Manager, opts controller.Options) error {
	return ctrl.NewControllerManagedBy(mgr).
		For(&meshaliasv1.NamespaceAlias{}, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Owns(&networkingv1.ServiceEntry{}, builder.WithPredicates(ownEntryChanged)).
		Watches(&corev1.Service{}, withPriority(handler.EnqueueRequestsFromMapFunc(r.aliasesOfService), servicePriority), builder.WithPredicates(serviceChanged)).
		Watches(&networkingv1.ServiceEntry{}, handler.EnqueueRequestsFromMapFunc(r.aliasesOfEntryHosts), builder.WithPredicates(entryChanged)).
		Watches(&meshaliasv1.NamespaceAlias{}, handler.EnqueueRequestsFromMapFunc(r.rivalsOfNamespaceAlias), builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Watches(&meshaliasv1.ServiceAlias{}, handler.EnqueueRequestsFromMapFunc(r.rivalsOfServiceAlias), builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		// The host policy, and namespaces whose names a domain may be.
		Watches(&meshaliasv1.AliasDomain{}, handler.EnqueueRequestsFromMapFunc(r.aliasesOfAliasDomain), builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Watches(&corev1.Namespace{}, handler.EnqueueRequestsFromMapFunc(r.aliasesOfNamespace), builder.WithPredicates(namespaceChanged)).
		// A pod of the namespace joins or leaves ambient mode.
		// Who sees the entries: any Sidecar or the mesh config can hide or show every alias.
		Watches(&networkingv1.Sidecar{}, handler.EnqueueRequestsFromMapFunc(r.allAliases), builder.WithPredicates(predicate.GenerationChangedPredicate{}, notInitial)).
		Watches(&corev1.ConfigMap{}, handler.EnqueueRequestsFromMapFunc(r.allAliases), builder.WithPredicates(notInitial)).
		WatchesMetadata(&corev1.Pod{}, handler.EnqueueRequestsFromMapFunc(r.aliasesOfPodNamespace), builder.WithPredicates(labelsChanged)).
		WithOptions(opts).
		Named("namespacealias").
		Complete(r)
}

// aliasesOfService wakes the NamespaceAliases of a Service's namespace. A namespace holds a
// handful of them, so reading them all is cheap; which Services each selects is its own
// reconcile's business, since a relabelled Service may have just left a selector.
func (r *NamespaceAliasReconciler) aliasesOfService(ctx context.Context, o client.Object) []reconcile.Request {
	return r.namespaceAliases(ctx, client.InNamespace(o.GetNamespace()))
}

// aliasesOfEntryHosts wakes the other NamespaceAliases whose domain covers an entry's hosts.
// The entry's own alias hears of it through Owns.
func (r *NamespaceAliasReconciler) aliasesOfEntryHosts(ctx context.Context, o client.Object) []reconcile.Request {
	var reqs []reconcile.Request
	se := o.(*networkingv1.ServiceEntry)
	for _, h := range se.Spec.Hosts {
		if _, domain, ok := parentDomain(h); ok {
			for _, req := range r.namespaceAliases(ctx, client.MatchingFields{indexNamespaceAliasDomain: domain}) {
				if !ownedBy(se, meshaliasv1.KindNamespaceAlias, req.Namespace, req.Name) {
					reqs = append(reqs, req)
				}
			}
		}
	}
	return reqs
}

// aliasesOfAliasDomain wakes the NamespaceAliases that an AliasDomain bears on: those whose
// domain is under it, and those one of whose hosts x.<domain> it is. All of them when the
// policy as a whole came into force or was lifted.
func (r *NamespaceAliasReconciler) aliasesOfAliasDomain(ctx context.Context, o client.Object) []reconcile.Request {
	if policySwitched(ctx, r.client, r.gather.requireAliasDomain) {
		return r.namespaceAliases(ctx)
	}
	domain := o.(*meshaliasv1.AliasDomain).Spec.Domain
	reqs := r.namespaceAliases(ctx, client.MatchingFields{indexNamespaceAliasDomainSuffix: domain})
	if _, parent, ok := parentDomain(domain); ok {
		reqs = append(reqs, r.namespaceAliases(ctx, client.MatchingFields{indexNamespaceAliasDomain: parent})...)
	}
	return reqs
}

// aliasesOfPodNamespace wakes the NamespaceAliases of a pod's namespace.
func (r *NamespaceAliasReconciler) aliasesOfPodNamespace(ctx context.Context, o client.Object) []reconcile.Request {
	return r.namespaceAliases(ctx, client.InNamespace(o.GetNamespace()))
}

// aliasesOfNamespace wakes a namespace's NamespaceAliases, whose policy its labels decide, and
// the NamespaceAliases whose domain is the namespace's name.
func (r *NamespaceAliasReconciler) aliasesOfNamespace(ctx context.Context, o client.Object) []reconcile.Request {
	if visibility.InMesh(o.GetLabels()) {
		return r.allAliases(ctx, o)
	}
	reqs := r.namespaceAliases(ctx, client.InNamespace(o.GetName()))
	return append(reqs, r.namespaceAliases(ctx, client.MatchingFields{indexNamespaceAliasDomain: o.GetName()})...)
}

func (r *NamespaceAliasReconciler) rivalsOfNamespaceAlias(ctx context.Context, o client.Object) []reconcile.Request {
	var reqs []reconcile.Request
	for _, req := range r.namespaceAliases(ctx, client.MatchingFields{indexNamespaceAliasDomain: o.(*meshaliasv1.NamespaceAlias).Spec.Domain}) {
		if req.Namespace != o.GetNamespace() || req.Name != o.GetName() {
			reqs = append(reqs, req)
		}
	}
	return reqs
}

func (r *NamespaceAliasReconciler) rivalsOfServiceAlias(ctx context.Context, o client.Object) []reconcile.Request {
	var reqs []reconcile.Request
	for _, h := range o.(*meshaliasv1.ServiceAlias).Spec.Hosts {
		if _, domain, ok := parentDomain(h); ok {
			reqs = append(reqs, r.namespaceAliases(ctx, client.MatchingFields{indexNamespaceAliasDomain: domain})...)
		}
	}
	return reqs
}

func (r *NamespaceAliasReconciler) namespaceAliases(ctx context.Context, opts ...client.ListOption) []reconcile.Request {
	return requestsFor(ctx, r.client, &meshaliasv1.NamespaceAliasList{}, opts...)
}

// allAliases wakes every alias: a Sidecar, the mesh config, or a namespace joining or leaving
// the mesh, can change which namespaces see any alias's entries. They change rarely.
func (r *NamespaceAliasReconciler) allAliases(ctx context.Context, _ client.Object) []reconcile.Request {
	return r.namespaceAliases(ctx)
}
