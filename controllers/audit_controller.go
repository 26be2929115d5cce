package controllers

import (
	"context"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"k8s.io/klog/v2"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/meshalias/meshalias/internal/audit"
)

// unsafeEntries counts, per namespace, the ServiceEntries that take every connection on a
// port: the incident's signature, whoever wrote them.
var unsafeEntries = prometheus.NewGaugeVec(prometheus.GaugeOpts{
	Name: "meshalias_unsafe_serviceentries",
	Help: "ServiceEntries on which Istio builds a 0.0.0.0 listener that takes connections for any destination, by namespace.",
}, []string{"namespace"})

func init() {
	metrics.Registry.MustRegister(unsafeEntries)
}

// AuditReconciler audits every ServiceEntry in the cluster, continuously, with the rules of
// `kubectl meshalias audit`. It only reads entries and writes events and a gauge.
type AuditReconciler struct {
	client.Client
	recorder events.EventRecorder
	// names carries the shadowing rule: an entry that takes a Service's own name takes its
	// HTTP traffic, as surely as a catch-all takes a port.
	names audit.Names

	mu sync.Mutex
	// unsafe maps, per namespace, each unsafe entry's name to its finding's message: the
	// gauge is a map's length, and an event is raised once per change of message.
	unsafe map[string]map[string]string
}

// NewAuditReconciler returns an audit that reads through c.
func NewAuditReconciler(c client.Client, recorder events.EventRecorder, clusterDomain string) *AuditReconciler {
	r := &AuditReconciler{Client: c, recorder: recorder, unsafe: map[string]map[string]string{}}
	r.names = audit.Names{ClusterDomain: clusterDomain, ServiceExists: r.serviceExists}
	return r
}

// serviceExists asks the cache. An error reads as "exists": the next event audits again, and
// a false alarm is better than a missed hijack.
func (r *AuditReconciler) serviceExists(namespace, name string) bool {
	err := r.Get(context.Background(), types.NamespacedName{Namespace: namespace, Name: name}, &corev1.Service{})
	return !apierrors.IsNotFound(err)
}

// Reconcile audits one entry and updates the gauge of its namespace.
func (r *AuditReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	se := &networkingv1.ServiceEntry{}
	err := r.Get(ctx, req.NamespacedName, se)
	if err != nil && !apierrors.IsNotFound(err) {
		return ctrl.Result{}, err
	}
	var finding audit.Finding
	unsafe := false
	if err == nil {
		finding, unsafe = audit.Entry(se)
		unsafe = unsafe && finding.Severity == audit.SeverityCritical
		if shadow, ok := r.names.Shadowing(se); ok {
			if unsafe {
				shadow.Message = finding.Message + "; " + shadow.Message
			}
			finding, unsafe = shadow, true
		}
	}

	r.mu.Lock()
	inNamespace := r.unsafe[req.Namespace]
	if inNamespace == nil {
		inNamespace = map[string]string{}
		r.unsafe[req.Namespace] = inNamespace
	}
	previous, wasUnsafe := inNamespace[req.Name]
	if unsafe {
		inNamespace[req.Name] = finding.Message
	} else {
		delete(inNamespace, req.Name)
	}
	count := len(inNamespace)
	r.mu.Unlock()
	unsafeEntries.WithLabelValues(req.Namespace).Set(float64(count))

	if unsafe && (!wasUnsafe || previous != finding.Message) {
		ctrl.LoggerFrom(ctx).Info("Unsafe ServiceEntry", "ServiceEntry", klog.KObj(se), "rule", finding.Rule, "ports", finding.Ports, "reaches", finding.AffectedNamespaces)
		r.recorder.Eventf(se, nil, corev1.EventTypeWarning, "UnsafeServiceEntry", "Audit", "%s", finding.Message)
	}
	return ctrl.Result{}, nil
}

// SetupWithManager watches every ServiceEntry; the cache already holds them for the aliases'
// conflict checks. A Service that comes or goes changes the verdict on the entries that
// declare its own names.
func (r *AuditReconciler) SetupWithManager(mgr ctrl.Manager, opts controller.Options) error {
	return ctrl.NewControllerManagedBy(mgr).
		For(&networkingv1.ServiceEntry{}, builder.WithPredicates(entryChanged)).
		Watches(&corev1.Service{}, handler.EnqueueRequestsFromMapFunc(r.entriesNamingService), builder.WithPredicates(predicate.Funcs{
			UpdateFunc: func(event.UpdateEvent) bool { return false },
		})).
		WithOptions(opts).
		Named("audit").
		Complete(r)
}

// entriesNamingService finds the entries that declare a Service's own short names.
func (r *AuditReconciler) entriesNamingService(ctx context.Context, o client.Object) []reconcile.Request {
	var reqs []reconcile.Request
	short := o.GetName() + "." + o.GetNamespace()
	for _, host := range []string{short, short + ".svc"} {
		var list networkingv1.ServiceEntryList
		if err := r.List(ctx, &list, client.MatchingFields{indexEntryHost: host}); err != nil {
			ctrl.LoggerFrom(ctx).Error(err, "Listing ServiceEntries for a Service event")
			continue
		}
		for _, se := range list.Items {
			reqs = append(reqs, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: se.Namespace, Name: se.Name}})
		}
	}
	return reqs
}
