package controllers

import (
	"context"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	meshaliasv1 "github.com/meshalias/meshalias/api/v1alpha1"
)

// requestsFor lists objects from the cache, through an index or a namespace, and turns them
// into reconcile requests: every watch of both alias controllers maps its events this way.
func requestsFor(ctx context.Context, reader client.Reader, list client.ObjectList, opts ...client.ListOption) []reconcile.Request {
	if err := reader.List(ctx, list, opts...); err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "Listing aliases for a watch event")
		return nil
	}
	var reqs []reconcile.Request
	_ = meta.EachListItem(list, func(o runtime.Object) error {
		obj := o.(client.Object)
		reqs = append(reqs, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: obj.GetNamespace(), Name: obj.GetName()}})
		return nil
	})
	return reqs
}

// policySwitched tells whether an AliasDomain event may have switched the host policy on or
// off for every alias: without --require-alias-domain, the first AliasDomain puts the policy
// in force, and the deletion of the last one lifts it. Any other AliasDomain event bears only
// on the hosts under its domain, which the suffix indexes find.
func policySwitched(ctx context.Context, reader client.Reader, required bool) bool {
	if required {
		return false
	}
	var domains meshaliasv1.AliasDomainList
	if err := reader.List(ctx, &domains); err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "Listing AliasDomains for a watch event")
		return true
	}
	return len(domains.Items) <= 1
}
