package controllers_test

import (
	"fmt"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	meshaliasv1 "github.com/meshalias/meshalias/api/v1alpha1"
)

// A host that is a Service's own name, <svc>.<ns>, is refused whatever the ages: Istio routes
// that name to the Service, and an entry for it would take the Service's HTTP traffic.
func TestAliasNeverShadowsAServiceName(t *testing.T) {
	prod, evil := newNamespace(t), newNamespace(t)
	host := "payments." + prod
	create(t, service(prod, "payments"), service(evil, "payments"), serviceAlias(evil, "squat", "payments", host))

	alias := waitServiceAlias(t, evil, "squat", metav1.ConditionFalse, meshaliasv1.ReasonHostConflict)
	msg := meta.FindStatusCondition(alias.Status.Conditions, meshaliasv1.ConditionReady).Message
	if !strings.Contains(msg, "Service "+prod+"/payments") {
		t.Errorf("message %q should name the Service whose name the host is", msg)
	}
	if got := entriesOf(t, evil, "ServiceAlias", "squat"); len(got) != 0 {
		t.Errorf("the squatting alias has %d entries, want none", len(got))
	}
}

// A Service created after the alias takes its names back within one event, and gives them
// up again when it goes.
func TestServiceTakesItsNameBack(t *testing.T) {
	prod, evil := newNamespace(t), newNamespace(t)
	host := "payments." + prod
	create(t, service(evil, "payments"), serviceAlias(evil, "early", "payments", host))
	waitServiceAlias(t, evil, "early", metav1.ConditionTrue, meshaliasv1.ReasonSynced)
	if _, err := entryFor(evil, host); err != nil {
		t.Fatalf("before the Service exists the host is an ordinary alias: %v", err)
	}

	create(t, service(prod, "payments"))
	waitServiceAlias(t, evil, "early", metav1.ConditionFalse, meshaliasv1.ReasonHostConflict)
	eventually(t, "the entry that shadowed the new Service is gone", func() error {
		if _, err := entryFor(evil, host); !apierrors.IsNotFound(err) {
			return fmt.Errorf("entry for %s: %v", host, err)
		}
		return nil
	})

	if err := k8s.Delete(ctx, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: prod, Name: "payments"}}); err != nil {
		t.Fatal(err)
	}
	waitServiceAlias(t, evil, "early", metav1.ConditionTrue, meshaliasv1.ReasonSynced)
}

// A NamespaceAlias whose domain is a namespace's name would make every x.<ns> an alias of
// its own namespace's x: refused as a whole, and again when such a namespace appears later.
func TestNamespaceAliasDomainMayNotBeANamespace(t *testing.T) {
	prod, evil := newNamespace(t), newNamespace(t)
	create(t, service(prod, "payments"), service(evil, "payments"), namespaceAlias(evil, "squat", prod, nil))
	alias := waitNamespaceAlias(t, evil, "squat", metav1.ConditionFalse, meshaliasv1.ReasonHostConflict)
	if msg := meta.FindStatusCondition(alias.Status.Conditions, meshaliasv1.ConditionReady).Message; !strings.Contains(msg, "namespace "+prod) {
		t.Errorf("message %q should name the namespace", msg)
	}
	if got := entriesOf(t, evil, "NamespaceAlias", "squat"); len(got) != 0 {
		t.Errorf("the squatting NamespaceAlias has %d entries, want none", len(got))
	}

	// A domain that is no namespace yet is served, until the namespace is created.
	later := "later-" + evil
	create(t, namespaceAlias(evil, "early", later, nil))
	waitNamespaceAlias(t, evil, "early", metav1.ConditionTrue, meshaliasv1.ReasonSynced)
	if _, err := entryFor(evil, "payments."+later); err != nil {
		t.Fatalf("entry for payments.%s: %v", later, err)
	}
	create(t, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: later}})
	t.Cleanup(func() { _ = k8s.Delete(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: later}}) })
	waitNamespaceAlias(t, evil, "early", metav1.ConditionFalse, meshaliasv1.ReasonHostConflict)
	eventually(t, "the entries under the new namespace's name are gone", func() error {
		if _, err := entryFor(evil, "payments."+later); !apierrors.IsNotFound(err) {
			return fmt.Errorf("entry for payments.%s: %v", later, err)
		}
		return nil
	})
}
