package controllers

import (
	"context"

	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	ctrl "sigs.k8s.io/controller-runtime"
)

// CreateEntry creates an entry as the alias controllers do, for the envtest suite.
func CreateEntry(ctx context.Context, mgr ctrl.Manager, se *networkingv1.ServiceEntry) (int64, error) {
	mapping, err := serviceEntriesInstalled(mgr.GetRESTMapper())
	if err != nil {
		return 0, err
	}
	creator, err := newEntryCreator(mgr, mapping)
	if err != nil {
		return 0, err
	}
	return creator.create(ctx, se)
}
