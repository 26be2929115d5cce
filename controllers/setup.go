package controllers

import (
	"context"
	"fmt"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	gatewayv1beta1 "sigs.k8s.io/gateway-api/apis/v1beta1"
)

// Config is what the controllers take from the command line.
type Config struct {
	// ClusterDomain is the cluster's DNS domain, for the endpoints' Service names.
	ClusterDomain string
	// MaxConcurrentReconciles is the number of workers per controller.
	MaxConcurrentReconciles int
	// AdoptSelector selects the unmanaged ServiceEntries that an alias may take over in place
	// when it claims one of their hosts. Nil adopts nothing.
	AdoptSelector labels.Selector
	// RequireAliasDomain refuses every host that no AliasDomain allows, even while there is
	// no AliasDomain at all.
	RequireAliasDomain bool
	// AmbientMesh says the whole mesh runs in Istio's ambient mode, so that no alias gets an
	// entry, whatever its namespace's labels say.
	AmbientMesh bool
	// IstioNamespace holds Istio's mesh config (the ConfigMap "istio"), and is the root
	// namespace for Sidecars unless the mesh config says otherwise.
	IstioNamespace string
	// AllNamespacesInMesh counts every namespace as having sidecars, whatever its labels.
	AllNamespacesInMesh bool
	// ReferenceGrants is whether the Gateway API ReferenceGrant CRD is installed, which
	// references across namespaces need. Setup finds out.
	ReferenceGrants bool
}

// Setup registers the indexes, both alias controllers and the ServiceEntry audit with a manager.
func Setup(ctx context.Context, mgr ctrl.Manager, cfg Config) error {
	if err := SetupIndexes(ctx, mgr.GetFieldIndexer()); err != nil {
		return fmt.Errorf("registering cache indexes: %w", err)
	}
	// Warm-up: a replica that is not the leader starts its watches all the same, so that a new
	// leader reconciles from a synced cache instead of listing everything first.
	opts := controller.Options{MaxConcurrentReconciles: cfg.MaxConcurrentReconciles, EnableWarmup: ptr.To(true)}
	c := mgr.GetClient()
	entries, err := serviceEntriesInstalled(mgr.GetRESTMapper())
	if err != nil {
		return err
	}
	grants, err := referenceGrantsInstalled(mgr.GetRESTMapper())
	if err != nil {
		return err
	}
	cfg.ReferenceGrants = grants
	if !grants {
		ctrl.Log.WithName("setup").Info("The Gateway API ReferenceGrant CRD is not installed: ServiceAliases may not refer to Services in other namespaces until it is, and meshalias restarts")
	}
	creator, err := newEntryCreator(mgr, entries)
	if err != nil {
		return err
	}
	recorder := mgr.GetEventRecorder("meshalias")
	status := newStatusWriter(c, recorder)
	sa := &ServiceAliasReconciler{newAliasReconciler(c, mgr.GetAPIReader(), creator, recorder, status, cfg, serviceAliasKind)}
	if err := sa.SetupWithManager(mgr, opts); err != nil {
		return fmt.Errorf("setting up the ServiceAlias controller: %w", err)
	}
	na := &NamespaceAliasReconciler{newAliasReconciler(c, mgr.GetAPIReader(), creator, recorder, status, cfg, namespaceAliasKind)}
	if err := na.SetupWithManager(mgr, opts); err != nil {
		return fmt.Errorf("setting up the NamespaceAlias controller: %w", err)
	}
	if err := NewAliasDomainReconciler(c).SetupWithManager(mgr); err != nil {
		return fmt.Errorf("setting up the AliasDomain controller: %w", err)
	}
	if err := NewAuditReconciler(c, mgr.GetEventRecorder("meshalias-audit"), cfg.ClusterDomain).SetupWithManager(mgr, opts); err != nil {
		return fmt.Errorf("setting up the ServiceEntry audit: %w", err)
	}
	return nil
}

// serviceEntriesInstalled says, in words a person can act on, that Istio's ServiceEntry CRD
// is missing, rather than letting the manager fail on its first watch with "no matches for
// kind".
// It returns the resource's mapping, for the entry creator.
func serviceEntriesInstalled(mapper meta.RESTMapper) (*meta.RESTMapping, error) {
	mapping, err := mapper.RESTMapping(serviceEntryKind.GroupKind(), serviceEntryKind.Version)
	switch {
	case err == nil:
		return mapping, nil
	case meta.IsNoMatchError(err):
		return nil, fmt.Errorf("Istio's ServiceEntry CRD (%s) is not installed: install Istio, or at least its CRDs, before meshalias", serviceEntryKind.GroupVersion())
	default:
		return nil, fmt.Errorf("finding out whether ServiceEntries are served: %w", err)
	}
}

// referenceGrantsInstalled asks the API server whether it serves ReferenceGrants. Without
// them the operator still starts: references across namespaces are refused, and say why.
func referenceGrantsInstalled(mapper meta.RESTMapper) (bool, error) {
	gvk := gatewayv1beta1.SchemeGroupVersion.WithKind("ReferenceGrant")
	_, err := mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	switch {
	case err == nil:
		return true, nil
	case meta.IsNoMatchError(err):
		return false, nil
	default:
		return false, fmt.Errorf("finding out whether ReferenceGrants are served: %w", err)
	}
}

// istioNamespace is the Istio namespace, istio-system unless set.
func (c Config) istioNamespace() string {
	if c.IstioNamespace == "" {
		return "istio-system"
	}
	return c.IstioNamespace
}
