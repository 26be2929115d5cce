package controllers

import (
	"context"
	"fmt"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/controller"
)

// Config is what the controllers take from the command line.
type Config struct {
	// ClusterDomain is the cluster's DNS domain, for the endpoints' Service names.
	ClusterDomain string
	// MaxConcurrentReconciles is the number of workers per controller.
	MaxConcurrentReconciles int
}

// Setup registers the indexes and both alias controllers with a manager.
func Setup(ctx context.Context, mgr ctrl.Manager, cfg Config) error {
	if err := SetupIndexes(ctx, mgr.GetFieldIndexer()); err != nil {
		return fmt.Errorf("registering cache indexes: %w", err)
	}
	opts := controller.Options{MaxConcurrentReconciles: cfg.MaxConcurrentReconciles}
	c := mgr.GetClient()
	if err := NewServiceAliasReconciler(c, mgr.GetEventRecorder("meshalias"), cfg.ClusterDomain).SetupWithManager(mgr, opts); err != nil {
		return fmt.Errorf("setting up the ServiceAlias controller: %w", err)
	}
	if err := NewNamespaceAliasReconciler(c, mgr.GetEventRecorder("meshalias"), cfg.ClusterDomain).SetupWithManager(mgr, opts); err != nil {
		return fmt.Errorf("setting up the NamespaceAlias controller: %w", err)
	}
	return nil
}
