package controllers_test

import (
	"context"
	"fmt"
	"testing"

	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	meshaliasv1 "github.com/meshalias/meshalias/api/v1alpha1"
	"github.com/meshalias/meshalias/internal/desired"
)

var ctx = context.Background()

func service(ns, name string, ports ...corev1.ServicePort) *corev1.Service {
	if len(ports) == 0 {
		ports = []corev1.ServicePort{{Name: "https", Port: 443}}
	}
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: map[string]string{"app": name}},
		Spec:       corev1.ServiceSpec{Ports: ports, Selector: map[string]string{"app": name}},
	}
}

func serviceAlias(ns, name, svc string, hosts ...string) *meshaliasv1.ServiceAlias {
	return &meshaliasv1.ServiceAlias{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec:       meshaliasv1.ServiceAliasSpec{Service: meshaliasv1.ServiceReference{Name: svc}, Hosts: hosts},
	}
}

func create(t *testing.T, objs ...client.Object) {
	t.Helper()
	for _, o := range objs {
		if err := k8s.Create(ctx, o); err != nil {
			t.Fatalf("creating %T %s: %v", o, o.GetName(), err)
		}
	}
}

// entryFor reads the ServiceEntry that serves a host in a namespace.
func entryFor(ns, host string) (*networkingv1.ServiceEntry, error) {
	se := &networkingv1.ServiceEntry{}
	err := k8s.Get(ctx, types.NamespacedName{Namespace: ns, Name: desired.EntryName(host)}, se)
	return se, err
}

// entriesOf lists the entries an alias owns, by the contract's labels.
func entriesOf(t *testing.T, ns, kind, name string) []*networkingv1.ServiceEntry {
	t.Helper()
	var list networkingv1.ServiceEntryList
	if err := k8s.List(ctx, &list, client.InNamespace(ns), client.MatchingLabels{
		meshaliasv1.LabelManagedBy: meshaliasv1.ManagedByValue, meshaliasv1.LabelOwnerKind: kind, meshaliasv1.LabelOwnerName: name,
	}); err != nil {
		t.Fatalf("listing the entries of %s %s/%s: %v", kind, ns, name, err)
	}
	return list.Items
}

// mustEntryFor reads the entry of a host, or fails the test.
func mustEntryFor(t *testing.T, ns, host string) *networkingv1.ServiceEntry {
	t.Helper()
	se, err := entryFor(ns, host)
	if err != nil {
		t.Fatalf("the entry for %s in %s: %v", host, ns, err)
	}
	return se
}

// alias is either kind, as the tests read it.
type alias interface {
	client.Object
	GetConditions() []metav1.Condition
}

// waitAlias waits until an alias's Ready condition has the status and reason, for the
// alias's current generation, and returns the alias as read then.
func waitAlias[A alias](t *testing.T, obj A, ns, name string, status metav1.ConditionStatus, reason string) A {
	t.Helper()
	eventually(t, fmt.Sprintf("%T %s/%s Ready=%s/%s", obj, ns, name, status, reason), func() error {
		if err := k8s.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, obj); err != nil {
			return err
		}
		c := meta.FindStatusCondition(obj.GetConditions(), meshaliasv1.ConditionReady)
		switch {
		case c == nil:
			return fmt.Errorf("no Ready condition")
		case c.ObservedGeneration != obj.GetGeneration():
			return fmt.Errorf("Ready is for generation %d, the alias is at %d", c.ObservedGeneration, obj.GetGeneration())
		case !meta.IsStatusConditionPresentAndEqual(obj.GetConditions(), meshaliasv1.ConditionReady, status) || c.Reason != reason:
			return fmt.Errorf("Ready=%s/%s: %s", c.Status, c.Reason, c.Message)
		}
		return nil
	})
	return obj
}

func waitServiceAlias(t *testing.T, ns, name string, status metav1.ConditionStatus, reason string) *meshaliasv1.ServiceAlias {
	t.Helper()
	return waitAlias(t, &meshaliasv1.ServiceAlias{}, ns, name, status, reason)
}

func waitNamespaceAlias(t *testing.T, ns, name string, status metav1.ConditionStatus, reason string) *meshaliasv1.NamespaceAlias {
	t.Helper()
	return waitAlias(t, &meshaliasv1.NamespaceAlias{}, ns, name, status, reason)
}

func clientInNamespace(ns string) client.ListOption { return client.InNamespace(ns) }

func clientKey(ns, name string) client.ObjectKey { return client.ObjectKey{Namespace: ns, Name: name} }
