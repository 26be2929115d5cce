package controllers

import (
	"maps"
	"slices"

	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
)

// serviceChanged passes Service events that can change an entry: creation, deletion, and
// updates of the ClusterIPs, type, ports or labels (a NamespaceAlias selects by label).
// Status and annotation churn never wakes a reconcile.
var serviceChanged = predicate.Funcs{
	UpdateFunc: func(e event.UpdateEvent) bool {
		o, ok1 := e.ObjectOld.(*corev1.Service)
		n, ok2 := e.ObjectNew.(*corev1.Service)
		if !ok1 || !ok2 {
			return true
		}
		return o.Spec.Type != n.Spec.Type ||
			o.Spec.ClusterIP != n.Spec.ClusterIP ||
			!slices.Equal(o.Spec.ClusterIPs, n.Spec.ClusterIPs) ||
			!equality.Semantic.DeepEqual(o.Spec.Ports, n.Spec.Ports) ||
			!maps.Equal(o.Labels, n.Labels)
	},
}

// ownEntryChanged passes the events of an alias's own entries that may be drift: deletion,
// and updates of the spec (generation), labels or ownerReferences. Their creation is the
// alias's own doing, and waking the alias again for it would double every reconcile.
var ownEntryChanged = predicate.Funcs{
	CreateFunc: func(event.CreateEvent) bool { return false },
	UpdateFunc: entryChanged.UpdateFunc,
}

// entryChanged passes ServiceEntry events that may be drift: creation, deletion, and updates
// of the spec (generation), labels or ownerReferences. istiod writes an entry's status; that
// never wakes a reconcile.
var entryChanged = predicate.Funcs{
	UpdateFunc: func(e event.UpdateEvent) bool {
		o, ok1 := e.ObjectOld.(*networkingv1.ServiceEntry)
		n, ok2 := e.ObjectNew.(*networkingv1.ServiceEntry)
		if !ok1 || !ok2 {
			return true
		}
		return o.Generation != n.Generation ||
			!maps.Equal(o.Labels, n.Labels) ||
			!equality.Semantic.DeepEqual(o.OwnerReferences, n.OwnerReferences)
	},
}

// labelsChanged passes creations, deletions, and updates that change an object's labels.
var labelsChanged = predicate.Funcs{
	UpdateFunc: func(e event.UpdateEvent) bool {
		return !maps.Equal(e.ObjectOld.GetLabels(), e.ObjectNew.GetLabels())
	},
}

// namespaceChanged passes the Namespace events that can change a verdict: creation and
// deletion (a NamespaceAlias's domain may be a namespace's name), and label changes (the
// AliasDomains' selectors match them).
var namespaceChanged = predicate.And(labelsChanged, notInitial)

// notInitial drops the creations the cache replays when it starts: every alias is reconciled
// then anyway, and a map to every alias per namespace or Sidecar would cost N×M at start.
var notInitial = predicate.Funcs{
	CreateFunc: func(e event.CreateEvent) bool { return !e.IsInInitialList },
}
