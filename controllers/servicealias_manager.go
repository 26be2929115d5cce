package controllers

import (
	"context"

	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	gatewayv1beta1 "sigs.k8s.io/gateway-api/apis/v1beta1"

	meshaliasv1 "github.com/meshalias/meshalias/api/v1alpha1"
	"github.com/meshalias/meshalias/internal/hostpolicy"
	"github.com/meshalias/meshalias/internal/visibility"
)

// SetupWithManager registers the ServiceAlias controller and its watches. Every watch maps
// an event to aliases through a cache index.
func (r *ServiceAliasReconciler) SetupWithManager(mgr ctrl.Manager, opts controller.Options) error {
	b := ctrl.NewControllerManagedBy(mgr)
	if r.gather.grantsOn {
		b = b.Watches(&gatewayv1beta1.ReferenceGrant{}, handler.EnqueueRequestsFromMapFunc(r.aliasesOfGrant))
	}
	return b.
		For(&meshaliasv1.ServiceAlias{}, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Owns(&networkingv1.ServiceEntry{}, builder.WithPredicates(ownEntryChanged)).
		Watches(&corev1.Service{}, withPriority(handler.EnqueueRequestsFromMapFunc(r.aliasesOfService), servicePriority), builder.WithPredicates(serviceChanged)).
		// Another entry that declares one of our hosts: a conflict begins or ends.
		Watches(&networkingv1.ServiceEntry{}, handler.EnqueueRequestsFromMapFunc(r.aliasesOfEntryHosts), builder.WithPredicates(entryChanged)).
		// Rival aliases come and go: the younger one takes over, or steps back.
		Watches(&meshaliasv1.ServiceAlias{}, handler.EnqueueRequestsFromMapFunc(r.rivalsOfServiceAlias), builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Watches(&meshaliasv1.NamespaceAlias{}, handler.EnqueueRequestsFromMapFunc(r.rivalsOfNamespaceAlias), builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		// The host policy: an AliasDomain, or the labels its selectors match, change.
		Watches(&meshaliasv1.AliasDomain{}, handler.EnqueueRequestsFromMapFunc(r.aliasesOfAliasDomain), builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Watches(&corev1.Namespace{}, handler.EnqueueRequestsFromMapFunc(r.aliasesOfNamespace), builder.WithPredicates(namespaceChanged)).
		// Pods enrolled in ambient mode one by one: the cache holds no other pods.
		// Who sees the entries: any Sidecar or the mesh config can hide or show every alias.
		Watches(&networkingv1.Sidecar{}, handler.EnqueueRequestsFromMapFunc(r.allAliases), builder.WithPredicates(predicate.GenerationChangedPredicate{}, notInitial)).
		Watches(&corev1.ConfigMap{}, handler.EnqueueRequestsFromMapFunc(r.allAliases), builder.WithPredicates(notInitial)).
		WatchesMetadata(&corev1.Pod{}, handler.EnqueueRequestsFromMapFunc(r.aliasesOfAmbientPod), builder.WithPredicates(labelsChanged)).
		WithOptions(opts).
		Named("servicealias").
		Complete(r)
}

// aliasesOfService wakes the aliases that name a Service, and those whose hosts are its own
// names: a Service created later takes its names back.
func (r *ServiceAliasReconciler) aliasesOfService(ctx context.Context, o client.Object) []reconcile.Request {
	reqs := r.aliasesNamingService(ctx, o)
	// A lookup by host also wakes the aliases of names under it, which is harmless.
	for _, h := range hostpolicy.ServiceNames(o.GetNamespace(), o.GetName(), r.clusterDomain) {
		reqs = append(reqs, r.serviceAliases(ctx, client.MatchingFields{indexAliasHostSuffix: h})...)
	}
	return reqs
}

// aliasesNamingService finds the aliases that name a Service.
func (r *ServiceAliasReconciler) aliasesNamingService(ctx context.Context, svc client.Object) []reconcile.Request {
	return r.serviceAliases(ctx, client.MatchingFields{indexAliasServices: svc.GetNamespace() + "/" + svc.GetName()})
}

// aliasesOfGrant wakes the aliases that refer to a Service in the grant's namespace.
func (r *ServiceAliasReconciler) aliasesOfGrant(ctx context.Context, o client.Object) []reconcile.Request {
	return r.serviceAliases(ctx, client.MatchingFields{indexAliasTargetNamespace: o.GetNamespace()})
}

// aliasesOfAliasDomain wakes the aliases with a host under the AliasDomain's domain, or all of
// them when the policy as a whole came into force or was lifted.
func (r *ServiceAliasReconciler) aliasesOfAliasDomain(ctx context.Context, o client.Object) []reconcile.Request {
	if policySwitched(ctx, r.client, r.gather.requireAliasDomain) {
		return r.serviceAliases(ctx)
	}
	return r.serviceAliases(ctx, client.MatchingFields{indexAliasHostSuffix: o.(*meshaliasv1.AliasDomain).Spec.Domain})
}

// aliasesOfNamespace wakes, when a namespace's labels change, its own aliases (the
// AliasDomains' selectors match the labels) and those that name a Service in it (it may have
// joined ambient mode).
func (r *ServiceAliasReconciler) aliasesOfNamespace(ctx context.Context, o client.Object) []reconcile.Request {
	if visibility.InMesh(o.GetLabels()) {
		return r.allAliases(ctx, o)
	}
	reqs := r.serviceAliases(ctx, client.InNamespace(o.GetName()))
	return append(reqs, r.serviceAliases(ctx, client.MatchingFields{indexAliasTargetNamespace: o.GetName()})...)
}

// aliasesOfAmbientPod wakes the aliases that name a Service selecting a pod in ambient mode:
// the pod bears on their Service, not on the aliases its names would shadow. Only the
// selectors are read, so the list shares the cache's Services.
func (r *ServiceAliasReconciler) aliasesOfAmbientPod(ctx context.Context, o client.Object) []reconcile.Request {
	var services corev1.ServiceList
	if err := r.client.List(ctx, &services, client.InNamespace(o.GetNamespace()), client.UnsafeDisableDeepCopy); err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "Listing Services for a pod event")
		return nil
	}
	var reqs []reconcile.Request
	for _, svc := range services.Items {
		if len(svc.Spec.Selector) > 0 && labels.SelectorFromValidatedSet(svc.Spec.Selector).Matches(labels.Set(o.GetLabels())) {
			reqs = append(reqs, r.aliasesNamingService(ctx, &svc)...)
		}
	}
	return reqs
}

// aliasesOfEntryHosts wakes the other aliases that want an entry's hosts. The entry's own
// alias hears of it through Owns.
func (r *ServiceAliasReconciler) aliasesOfEntryHosts(ctx context.Context, o client.Object) []reconcile.Request {
	var reqs []reconcile.Request
	se := o.(*networkingv1.ServiceEntry)
	for _, h := range se.Spec.Hosts {
		for _, req := range r.serviceAliases(ctx, client.MatchingFields{indexAliasHostSuffix: h}) {
			if !ownedBy(se, meshaliasv1.KindServiceAlias, req.Namespace, req.Name) {
				reqs = append(reqs, req)
			}
		}
	}
	return reqs
}

func (r *ServiceAliasReconciler) rivalsOfServiceAlias(ctx context.Context, o client.Object) []reconcile.Request {
	var reqs []reconcile.Request
	for _, h := range o.(*meshaliasv1.ServiceAlias).Spec.Hosts {
		for _, req := range r.serviceAliases(ctx, client.MatchingFields{indexAliasHostSuffix: h}) {
			if req.Namespace != o.GetNamespace() || req.Name != o.GetName() {
				reqs = append(reqs, req)
			}
		}
	}
	return reqs
}

func (r *ServiceAliasReconciler) rivalsOfNamespaceAlias(ctx context.Context, o client.Object) []reconcile.Request {
	return r.serviceAliases(ctx, client.MatchingFields{indexAliasHostSuffix: o.(*meshaliasv1.NamespaceAlias).Spec.Domain})
}

func (r *ServiceAliasReconciler) serviceAliases(ctx context.Context, opts ...client.ListOption) []reconcile.Request {
	return requestsFor(ctx, r.client, &meshaliasv1.ServiceAliasList{}, opts...)
}

// allAliases wakes every alias: a Sidecar, the mesh config, or a namespace joining or leaving
// the mesh, can change which namespaces see any alias's entries. They change rarely.
func (r *ServiceAliasReconciler) allAliases(ctx context.Context, _ client.Object) []reconcile.Request {
	return r.serviceAliases(ctx)
}
