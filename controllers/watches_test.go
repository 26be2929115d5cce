package controllers

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/priorityqueue"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
)

// A Service event overtakes the alias changes already queued.
func TestServiceEventsOvertakeTheBacklog(t *testing.T) {
	q := priorityqueue.New[reconcile.Request]("test")
	defer q.ShutDown()
	for _, name := range []string{"a", "b", "c"} {
		q.Add(reconcile.Request{NamespacedName: client.ObjectKey{Namespace: "abc", Name: name}})
	}
	toAlias := handler.EnqueueRequestsFromMapFunc(func(context.Context, client.Object) []reconcile.Request {
		return []reconcile.Request{{NamespacedName: client.ObjectKey{Namespace: "abc", Name: "traefik"}}}
	})
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "abc", Name: "traefik", ResourceVersion: "2"}}
	old := svc.DeepCopy()
	old.ResourceVersion = "1"
	withPriority(toAlias, servicePriority).Update(context.Background(), event.UpdateEvent{ObjectOld: old, ObjectNew: svc}, q)

	item, priority, _ := q.GetWithPriority()
	if item.Name != "traefik" || priority != servicePriority {
		t.Errorf("first out: %s at priority %d, want traefik at %d", item.Name, priority, servicePriority)
	}
}
