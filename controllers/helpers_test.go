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
func entriesOf(ns, kind, name string) []*networkingv1.ServiceEntry {
	var list networkingv1.ServiceEntryList
	_ = k8s.List(ctx, &list, client.InNamespace(ns), client.MatchingLabels{
		meshaliasv1.LabelManagedBy: meshaliasv1.ManagedByValue, meshaliasv1.LabelOwnerKind: kind, meshaliasv1.LabelOwnerName: name,
	})
	return list.Items
}

func waitServiceAlias(t *testing.T, ns, name string, status metav1.ConditionStatus, reason string) *meshaliasv1.ServiceAlias {
	t.Helper()
	alias := &meshaliasv1.ServiceAlias{}
	eventually(t, fmt.Sprintf("ServiceAlias %s/%s Ready=%s/%s", ns, name, status, reason), func() error {
		if err := k8s.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, alias); err != nil {
			return err
		}
		return conditionIs(alias.Status.Conditions, alias.Generation, alias.Status.ObservedGeneration, status, reason)
	})
	return alias
}

func waitNamespaceAlias(t *testing.T, ns, name string, status metav1.ConditionStatus, reason string) *meshaliasv1.NamespaceAlias {
	t.Helper()
	alias := &meshaliasv1.NamespaceAlias{}
	eventually(t, fmt.Sprintf("NamespaceAlias %s/%s Ready=%s/%s", ns, name, status, reason), func() error {
		if err := k8s.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, alias); err != nil {
			return err
		}
		return conditionIs(alias.Status.Conditions, alias.Generation, alias.Status.ObservedGeneration, status, reason)
	})
	return alias
}

func conditionIs(conds []metav1.Condition, generation, observed int64, status metav1.ConditionStatus, reason string) error {
	c := meta.FindStatusCondition(conds, meshaliasv1.ConditionReady)
	switch {
	case observed != generation:
		return fmt.Errorf("observedGeneration %d, generation %d", observed, generation)
	case c == nil:
		return fmt.Errorf("no Ready condition")
	case c.Status != status || c.Reason != reason:
		return fmt.Errorf("Ready=%s/%s: %s", c.Status, c.Reason, c.Message)
	}
	return nil
}

func clientInNamespace(ns string) client.ListOption { return client.InNamespace(ns) }

func clientKey(ns, name string) client.ObjectKey { return client.ObjectKey{Namespace: ns, Name: name} }
