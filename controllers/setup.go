package controllers

import (
	"context"
	"fmt"

	"k8s.io/apimachinery/pkg/labels"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/controller"
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
}

// Setup registers the indexes, both alias controllers and the ServiceEntry audit with a manager.
func Setup(ctx context.Context, mgr ctrl.Manager, cfg Config) error {
	if err := SetupIndexes(ctx, mgr.GetFieldIndexer()); err != nil {
		return fmt.Errorf("registering cache indexes: %w", err)
	}
	opts := controller.Options{MaxConcurrentReconciles: cfg.MaxConcurrentReconciles}
	c := mgr.GetClient()
	if err := NewServiceAliasReconciler(c, mgr.GetEventRecorder("meshalias"), cfg).SetupWithManager(mgr, opts); err != nil {
		return fmt.Errorf("setting up the ServiceAlias controller: %w", err)
	}
	if err := NewNamespaceAliasReconciler(c, mgr.GetEventRecorder("meshalias"), cfg).SetupWithManager(mgr, opts); err != nil {
		return fmt.Errorf("setting up the NamespaceAlias controller: %w", err)
	}
	if err := NewAuditReconciler(c, mgr.GetEventRecorder("meshalias-audit")).SetupWithManager(mgr, opts); err != nil {
		return fmt.Errorf("setting up the ServiceEntry audit: %w", err)
	}
	return nil
}
