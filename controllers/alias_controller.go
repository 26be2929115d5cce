package controllers

import (
	"context"
	"errors"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/meshalias/meshalias/internal/desired"
)

// aliasObject is either kind of alias: an object with conditions.
type aliasObject interface {
	client.Object
	GetConditions() []metav1.Condition
	SetConditions([]metav1.Condition)
}

// aliasKind is what differs between ServiceAlias and NamespaceAlias. Everything else, from
// Reconcile to the status patch, is one path for both.
type aliasKind[A aliasObject] struct {
	// name is the kind, as in the API.
	name string
	// newObject returns an empty alias of the kind, to read into.
	newObject func() A
	// gather reduces the alias to its Intent and reads the Facts that bear on it.
	gather func(context.Context, gatherer, A) (desired.Intent, desired.Facts, error)
	// outcome judges the plan: what Ready says.
	outcome func(desired.Plan) desired.Outcome
	// setStatus writes the kind's own status fields from the plan.
	setStatus func(A, desired.Plan)
}

// aliasReconciler keeps one correct ServiceEntry per host of each alias of one kind.
type aliasReconciler[A aliasObject] struct {
	client        client.Client
	kind          aliasKind[A]
	gather        gatherer
	writer        entryWriter
	status        *statusWriter
	clusterDomain string
}

// Reconcile walks one alias through the one path: gather the facts from the cache, plan the
// entries (a pure function), apply the plan, and record the outcome in the status, which is
// patched only when it changed.
func (r *aliasReconciler[A]) Reconcile(ctx context.Context, req ctrl.Request) (result ctrl.Result, retErr error) {
	alias := r.kind.newObject()
	if err := r.client.Get(ctx, req.NamespacedName, alias); err != nil {
		if apierrors.IsNotFound(err) {
			r.status.forget(r.kind.name, req.NamespacedName)
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !alias.GetDeletionTimestamp().IsZero() {
		// The entries go with the alias, through their ownerReferences.
		return ctrl.Result{}, nil
	}
	before := alias.DeepCopyObject().(A)
	defer func() { retErr = errors.Join(retErr, r.status.patch(ctx, r.kind.name, before, alias)) }()

	in, facts, err := r.kind.gather(ctx, r.gather, alias)
	if err != nil {
		return r.status.retry(r.kind.name, alias, err)
	}
	plan := desired.MakePlan(in, facts, r.clusterDomain)
	if err := r.writer.sync(ctx, alias, facts, plan); err != nil {
		return r.status.retry(r.kind.name, alias, err)
	}
	r.kind.setStatus(alias, plan)
	return r.status.report(r.kind.name, alias, r.kind.outcome(plan))
}

// newAliasReconciler wires one kind of alias to the gatherer, the writer and the status
// writer that both kinds share.
func newAliasReconciler[A aliasObject](c client.Client, live client.Reader, creator entryCreator, recorder events.EventRecorder, status *statusWriter, cfg Config, kind aliasKind[A]) *aliasReconciler[A] {
	return &aliasReconciler[A]{
		client: c,
		kind:   kind,
		gather: gatherer{
			reader:              c,
			adopt:               cfg.AdoptSelector,
			clusterDomain:       cfg.ClusterDomain,
			requireAliasDomain:  cfg.RequireAliasDomain,
			grantsOn:            cfg.ReferenceGrants,
			ambientMesh:         cfg.AmbientMesh,
			istioNamespace:      cfg.istioNamespace(),
			allNamespacesInMesh: cfg.AllNamespacesInMesh,
		},
		writer:        entryWriter{client: c, creator: creator, recorder: recorder, workers: cfg.MaxConcurrentReconciles, drift: &driftWatch{reader: live, every: driftEventEvery}},
		status:        status,
		clusterDomain: cfg.ClusterDomain,
	}
}
