package controllers_test

import (
	"testing"

	"google.golang.org/protobuf/proto"
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	meshaliasv1 "github.com/meshalias/meshalias/api/v1alpha1"
	"github.com/meshalias/meshalias/controllers"
	"github.com/meshalias/meshalias/internal/desired"
)

// Creating an entry without reading it back still writes it whole, under meshalias's field
// manager, and still tells the answers the writer acts on: "already exists", on which it
// applies over the entry instead, and Istio's refusal, which reaches the alias's status.
func TestEntryCreationTellsWhatHappened(t *testing.T) {
	ns := newNamespace(t)
	mgr, err := ctrl.NewManager(operator, ctrl.Options{Scheme: scheme, Metrics: metricsserver.Options{BindAddress: "0"}})
	if err != nil {
		t.Fatal(err)
	}
	host := "traefik." + ns + ".example"
	svc := service(ns, "traefik")
	svc.Spec.ClusterIP = "10.96.0.10"
	want, problem := desired.BuildServiceEntry(desired.EntryRequest{
		Name: desired.EntryName(host), Host: host,
		Owner:       desired.Owner{Kind: meshaliasv1.KindServiceAlias, Namespace: ns, Name: "traefik", UID: "0b6e4c1a-5b1f-4a8e-9d55-2f3f0c8a9e11"},
		ServiceName: "traefik", Service: svc, ClusterDomain: "cluster.local",
	})
	if problem != nil {
		t.Fatal(problem)
	}
	// No alias owns it: with an owner reference to one that does not exist, the garbage
	// collector could delete it between the two creates.
	want.OwnerReferences = nil

	generation, err := controllers.CreateEntry(ctx, mgr, want)
	if err != nil || generation != 1 {
		t.Fatalf("creating %s: generation %d, %v; want 1, no error", want.Name, generation, err)
	}
	var got networkingv1.ServiceEntry
	if err := k8s.Get(ctx, client.ObjectKeyFromObject(want), &got); err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(&got.Spec, &want.Spec) || got.Generation != 1 {
		t.Errorf("the API server holds generation %d with spec %v; want generation 1 with %v", got.Generation, &got.Spec, &want.Spec)
	}
	if len(got.ManagedFields) != 1 || got.ManagedFields[0].Manager != controllers.FieldManager {
		t.Errorf("field managers %v; want only %q", got.ManagedFields, controllers.FieldManager)
	}

	if _, err := controllers.CreateEntry(ctx, mgr, want); !apierrors.IsAlreadyExists(err) {
		t.Errorf("creating %s again: %v; want an AlreadyExists error", want.Name, err)
	}

	refused := want.DeepCopy()
	refused.Name, refused.Spec.Hosts = "no-hosts", nil
	if _, err := controllers.CreateEntry(ctx, mgr, refused); !apierrors.IsInvalid(err) {
		t.Errorf("creating an entry with no hosts: %v; want Istio's schema to refuse it as Invalid", err)
	}
}
