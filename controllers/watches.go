package controllers

import (
	"context"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/workqueue"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/priorityqueue"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	meshaliasv1 "github.com/meshalias/meshalias/api/v1alpha1"
)

// requestsFor lists objects from the cache, through an index or a namespace, and turns them
// into reconcile requests: every watch of both alias controllers maps its events this way.
// Only names are read, so the list shares the cache's objects rather than deep-copying each.
func requestsFor(ctx context.Context, reader client.Reader, list client.ObjectList, opts ...client.ListOption) []reconcile.Request {
	if err := reader.List(ctx, list, append(opts, client.UnsafeDisableDeepCopy)...); err != nil {
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

// servicePriority puts Service events ahead of any backlog of alias changes: a re-created
// Service's new ClusterIP must reach its entries before the next thousand alias specs do.
const servicePriority = 10

// withPriority enqueues what h maps an event to at a priority of its own, through
// controller-runtime's priority queue. Events of the initial list stay low, as
// controller-runtime's own handlers have them.
func withPriority(h handler.EventHandler, priority int) handler.EventHandler {
	return prioritized{EventHandler: h, priority: priority}
}

type prioritized struct {
	handler.EventHandler
	priority int
}

func (p prioritized) Create(ctx context.Context, e event.CreateEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
	p.EventHandler.Create(ctx, e, p.at(q))
}

func (p prioritized) Update(ctx context.Context, e event.UpdateEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
	p.EventHandler.Update(ctx, e, p.at(q))
}

func (p prioritized) Delete(ctx context.Context, e event.DeleteEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
	p.EventHandler.Delete(ctx, e, p.at(q))
}

func (p prioritized) Generic(ctx context.Context, e event.GenericEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
	p.EventHandler.Generic(ctx, e, p.at(q))
}

// at is q with Add raised to the handler's priority; a queue without priorities is left as
// it is.
func (p prioritized) at(q workqueue.TypedRateLimitingInterface[reconcile.Request]) workqueue.TypedRateLimitingInterface[reconcile.Request] {
	if pq, ok := q.(priorityqueue.PriorityQueue[reconcile.Request]); ok {
		return queueAt{PriorityQueue: pq, priority: p.priority}
	}
	return q
}

type queueAt struct {
	priorityqueue.PriorityQueue[reconcile.Request]
	priority int
}

func (q queueAt) Add(r reconcile.Request) {
	q.AddWithOpts(priorityqueue.AddOpts{Priority: &q.priority}, r)
}
