package controllers_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	meshaliasv1 "github.com/meshalias/meshalias/api/v1alpha1"
)

func namespaceAlias(ns, name, domain string, selector *metav1.LabelSelector) *meshaliasv1.NamespaceAlias {
	return &meshaliasv1.NamespaceAlias{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec:       meshaliasv1.NamespaceAliasSpec{Domain: domain, Selector: selector},
	}
}

// hostsServed lists the hosts of the entries a NamespaceAlias owns, checking on the way
// that each carries its own Service's ClusterIP.
func hostsServed(t *testing.T, ns, name string) ([]string, error) {
	t.Helper()
	var hosts []string
	for _, se := range entriesOf(t, ns, "NamespaceAlias", name) {
		svcName, _, _ := strings.Cut(se.Spec.Hosts[0], ".")
		svc := &corev1.Service{}
		if err := k8s.Get(ctx, types.NamespacedName{Namespace: ns, Name: svcName}, svc); err != nil {
			return nil, fmt.Errorf("entry %s serves %s, whose Service is gone", se.Name, se.Spec.Hosts[0])
		}
		if !slices.Equal(se.Spec.Addresses, svc.Spec.ClusterIPs) {
			return nil, fmt.Errorf("entry %s has addresses %v, Service %s has %v", se.Name, se.Spec.Addresses, svcName, svc.Spec.ClusterIPs)
		}
		hosts = append(hosts, se.Spec.Hosts[0])
	}
	slices.Sort(hosts)
	return hosts, nil
}

func waitHosts(t *testing.T, ns, name string, want ...string) {
	t.Helper()
	slices.Sort(want)
	eventually(t, fmt.Sprintf("NamespaceAlias %s/%s serves %v", ns, name, want), func() error {
		got, err := hostsServed(t, ns, name)
		if err != nil {
			return err
		}
		if !slices.Equal(got, want) {
			return fmt.Errorf("serves %v", got)
		}
		return nil
	})
}

func TestNamespaceAliasFollowsServices(t *testing.T) {
	ns := newNamespace(t)
	domain := ns + ".hello"
	api, web := service(ns, "service-api"), service(ns, "web")
	web.Labels["alias"] = "yes"
	api.Labels["alias"] = "yes"
	headless := service(ns, "db")
	headless.Labels["alias"] = "yes"
	headless.Spec.ClusterIP = corev1.ClusterIPNone
	other := service(ns, "internal") // not selected
	create(t, api, web, headless, other,
		namespaceAlias(ns, "hello", domain, &metav1.LabelSelector{MatchLabels: map[string]string{"alias": "yes"}}))

	waitHosts(t, ns, "hello", "service-api."+domain, "web."+domain)
	alias := waitNamespaceAlias(t, ns, "hello", metav1.ConditionTrue, meshaliasv1.ReasonSynced)
	if alias.Status.Services != 2 || len(alias.Status.ServiceEntries) != 2 {
		t.Errorf("status services %d entries %v, want 2", alias.Status.Services, alias.Status.ServiceEntries)
	}
	if msg := meta.FindStatusCondition(alias.Status.Conditions, meshaliasv1.ConditionReady).Message; !strings.Contains(msg, "db (NoClusterIP)") {
		t.Errorf("the status should say the headless Service was skipped: %q", msg)
	}

	// A Service appears.
	newcomer := service(ns, "newcomer")
	newcomer.Labels["alias"] = "yes"
	create(t, newcomer)
	waitHosts(t, ns, "hello", "service-api."+domain, "web."+domain, "newcomer."+domain)

	// One is relabelled out of the selector, one into it.
	relabel(t, ns, "web", map[string]string{"app": "web"})
	relabel(t, ns, "internal", map[string]string{"app": "internal", "alias": "yes"})
	waitHosts(t, ns, "hello", "service-api."+domain, "internal."+domain, "newcomer."+domain)
	untouched := mustEntryFor(t, ns, "internal."+domain)

	// One disappears, and one is re-created with a new ClusterIP.
	if err := k8s.Delete(ctx, newcomer); err != nil {
		t.Fatal(err)
	}
	if err := k8s.Delete(ctx, api); err != nil {
		t.Fatal(err)
	}
	recreateWithNewIP(t, ns, "service-api", api.Spec.ClusterIP)
	relabel(t, ns, "service-api", map[string]string{"app": "service-api", "alias": "yes"})
	waitHosts(t, ns, "hello", "service-api."+domain, "internal."+domain) // hostsServed checks the new IP

	if se, err := entryFor(ns, "web."+domain); !apierrors.IsNotFound(err) {
		t.Errorf("the entry of a Service that left the selector is still there: %v %v", se.Name, err)
	}
	// The entry of a Service that did not change meanwhile was never rewritten.
	if after := mustEntryFor(t, ns, "internal."+domain); after.ResourceVersion != untouched.ResourceVersion {
		t.Errorf("the entry of internal, which did not change, was rewritten: resourceVersion %s -> %s", untouched.ResourceVersion, after.ResourceVersion)
	}

	// A change of domain moves every host.
	patchNamespaceAlias(t, ns, "hello", func(a *meshaliasv1.NamespaceAlias) { a.Spec.Domain = "other." + domain })
	waitHosts(t, ns, "hello", "service-api.other."+domain, "internal.other."+domain)
}

func TestNamespaceAliasEntriesOfUnchangedServicesStayUntouched(t *testing.T) {
	ns := newNamespace(t)
	domain := ns + ".hello"
	create(t, service(ns, "a"), service(ns, "b"), namespaceAlias(ns, "hello", domain, nil))
	waitHosts(t, ns, "hello", "a."+domain, "b."+domain)
	before := mustEntryFor(t, ns, "a."+domain)
	create(t, service(ns, "c"))
	waitHosts(t, ns, "hello", "a."+domain, "b."+domain, "c."+domain)
	after := mustEntryFor(t, ns, "a."+domain)
	if before.ResourceVersion != after.ResourceVersion {
		t.Errorf("a new Service rewrote the entry of another: resourceVersion %s -> %s", before.ResourceVersion, after.ResourceVersion)
	}
}

func TestConflictsAcrossKinds(t *testing.T) {
	nsA, nsB := newNamespace(t), newNamespace(t)
	domain := nsA + ".hello"
	// The NamespaceAlias is older: it wins x.<domain> over a younger ServiceAlias.
	create(t, service(nsA, "x"), namespaceAlias(nsA, "hello", domain, nil))
	waitHosts(t, nsA, "hello", "x."+domain)
	time.Sleep(1100 * time.Millisecond)
	create(t, service(nsB, "y"), serviceAlias(nsB, "y", "y", "x."+domain))
	loser := waitServiceAlias(t, nsB, "y", metav1.ConditionFalse, meshaliasv1.ReasonHostConflict)
	if msg := meta.FindStatusCondition(loser.Status.Conditions, meshaliasv1.ConditionReady).Message; !strings.Contains(msg, "NamespaceAlias "+nsA+"/hello") {
		t.Errorf("message %q should name the NamespaceAlias that won", msg)
	}

	// A younger NamespaceAlias loses to an older ServiceAlias, for that host only.
	nsC := newNamespace(t)
	time.Sleep(1100 * time.Millisecond)
	create(t, service(nsC, "x"), service(nsC, "z"), namespaceAlias(nsC, "late", domain, nil))
	late := waitNamespaceAlias(t, nsC, "late", metav1.ConditionFalse, meshaliasv1.ReasonHostConflict)
	waitHosts(t, nsC, "late", "z."+domain)
	if late.Status.Services != 1 {
		t.Errorf("status services %d, want 1", late.Status.Services)
	}

	// The winner's Service goes away: its claim ends, and the oldest remaining alias takes over.
	if err := k8s.Delete(ctx, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: nsA, Name: "x"}}); err != nil {
		t.Fatal(err)
	}
	waitServiceAlias(t, nsB, "y", metav1.ConditionTrue, meshaliasv1.ReasonSynced)
	waitNamespaceAlias(t, nsC, "late", metav1.ConditionFalse, meshaliasv1.ReasonHostConflict)
}

// Deleting an alias removes its entries through the real garbage collector.
func TestNamespaceAliasDeletionCollectsEntries(t *testing.T) {
	ns := newNamespace(t)
	domain := ns + ".hello"
	create(t, service(ns, "a"), service(ns, "b"), namespaceAlias(ns, "hello", domain, nil))
	waitHosts(t, ns, "hello", "a."+domain, "b."+domain)
	if err := k8s.Delete(ctx, &meshaliasv1.NamespaceAlias{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "hello"}}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "entries collected", func() error {
		var list networkingv1.ServiceEntryList
		if err := k8s.List(ctx, &list, clientInNamespace(ns)); err != nil {
			return err
		}
		if len(list.Items) != 0 {
			return fmt.Errorf("%d entries left", len(list.Items))
		}
		return nil
	})
}

func TestNamespaceAliasRefusedAtAdmission(t *testing.T) {
	ns := newNamespace(t)
	for name, domain := range map[string]string{
		"upper case":       "Hello",
		"svc domain":       "abc.svc.cluster.local",
		"ends in .svc":     "prod.svc",
		"svc":              "svc",
		"IP":               "10.0.0.1",
		"wildcard":         "*.hello",
		"empty":            "",
		"too long a label": strings.Repeat("a", 64),
	} {
		t.Run(name, func(t *testing.T) {
			if err := k8s.Create(ctx, namespaceAlias(ns, "bad", domain, nil)); !apierrors.IsInvalid(err) {
				t.Fatalf("want the API server to refuse domain %q as invalid, got %v", domain, err)
			}
		})
	}
}

func relabel(t *testing.T, ns, name string, labels map[string]string) {
	t.Helper()
	eventually(t, "relabelling "+name, func() error {
		svc := &corev1.Service{}
		if err := k8s.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, svc); err != nil {
			return err
		}
		svc.Labels = labels
		return k8s.Update(ctx, svc)
	})
}

func patchNamespaceAlias(t *testing.T, ns, name string, mutate func(*meshaliasv1.NamespaceAlias)) {
	t.Helper()
	eventually(t, "patching the alias", func() error {
		a := &meshaliasv1.NamespaceAlias{}
		if err := k8s.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, a); err != nil {
			return err
		}
		mutate(a)
		return k8s.Update(ctx, a)
	})
}
