package controllers_test

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	networkingapi "istio.io/api/networking/v1alpha3"
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	meshaliasv1 "github.com/meshalias/meshalias/api/v1alpha1"
	"github.com/meshalias/meshalias/internal/audit"
)

// The incident's story: traefik in a namespace also answers as traefik.<something>, through
// an entry that carries traefik's ClusterIP and an explicit endpoint.
func TestServiceAliasGeneratesEntry(t *testing.T) {
	ns := newNamespace(t)
	host := "traefik." + ns + ".custom-name"
	svc := service(ns, "traefik", corev1.ServicePort{Name: "https", Port: 443}, corev1.ServicePort{Name: "web", Port: 80, AppProtocol: ptr.To("http")}, corev1.ServicePort{Port: 9000, Name: "admin"})
	create(t, svc, serviceAlias(ns, "traefik", "traefik", host))

	alias := waitServiceAlias(t, ns, "traefik", metav1.ConditionTrue, meshaliasv1.ReasonSynced)
	se, err := entryFor(ns, host)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(se.Spec.Addresses, []string{svc.Spec.ClusterIP}) {
		t.Errorf("addresses = %v, want the ClusterIP %s", se.Spec.Addresses, svc.Spec.ClusterIP)
	}
	if len(se.Spec.Endpoints) != 1 || se.Spec.Endpoints[0].Address != "traefik."+ns+".svc.cluster.local" {
		t.Errorf("endpoints = %v, want one at traefik.%s.svc.cluster.local", se.Spec.Endpoints, ns)
	}
	if se.Spec.Resolution != networkingapi.ServiceEntry_DNS || se.Spec.Location != networkingapi.ServiceEntry_MESH_INTERNAL {
		t.Errorf("resolution %v location %v, want DNS and MESH_INTERNAL", se.Spec.Resolution, se.Spec.Location)
	}
	gotPorts := map[uint32]string{}
	for _, p := range se.Spec.Ports {
		gotPorts[p.Number] = p.Protocol
	}
	wantPorts := map[uint32]string{443: "HTTPS", 80: "HTTP", 9000: "TCP"}
	if fmt.Sprint(gotPorts) != fmt.Sprint(wantPorts) {
		t.Errorf("ports = %v, want %v", gotPorts, wantPorts)
	}
	if se.Labels[meshaliasv1.LabelManagedBy] != "meshalias" || se.Labels[meshaliasv1.LabelOwnerKind] != "ServiceAlias" || se.Labels[meshaliasv1.LabelOwnerName] != "traefik" {
		t.Errorf("labels = %v", se.Labels)
	}
	if ref := metav1.GetControllerOf(se); ref == nil || ref.UID != alias.UID || ref.Kind != "ServiceAlias" {
		t.Errorf("controller reference = %v, want the alias", ref)
	}
	if !slices.Equal(alias.Status.Addresses, []string{svc.Spec.ClusterIP}) || !slices.Equal(alias.Status.ServiceEntries, []string{se.Name}) {
		t.Errorf("status addresses %v entries %v", alias.Status.Addresses, alias.Status.ServiceEntries)
	}
	if meta.FindStatusCondition(alias.Status.Conditions, meshaliasv1.ConditionStalled) != nil ||
		meta.FindStatusCondition(alias.Status.Conditions, meshaliasv1.ConditionReconciling) != nil {
		t.Errorf("a Synced alias carries Stalled or Reconciling: %v", alias.Status.Conditions)
	}

	// A change of hosts prunes the entry of the host that left.
	other := "traefik2." + ns + ".custom-name"
	patchAlias(t, alias, func(a *meshaliasv1.ServiceAlias) { a.Spec.Hosts = []string{other} })
	eventually(t, "old host pruned, new one served", func() error {
		if _, err := entryFor(ns, host); !apierrors.IsNotFound(err) {
			return fmt.Errorf("entry of the old host: %v", err)
		}
		_, err := entryFor(ns, other)
		return err
	})
}

// GitOps tools mark what they apply; none of that may reach the entries, or Argo CD would
// count them as its own and prune them.
func TestTrackingMetadataStaysOnTheAlias(t *testing.T) {
	ns := newNamespace(t)
	host := "app." + ns + ".alias"
	alias := serviceAlias(ns, "app", "app", host)
	alias.Labels = map[string]string{"app.kubernetes.io/instance": "platform", "kustomize.toolkit.fluxcd.io/name": "aliases"}
	alias.Annotations = map[string]string{"argocd.argoproj.io/tracking-id": "platform:meshalias.io/ServiceAlias:" + ns + "/app"}
	create(t, service(ns, "app"), alias)
	waitServiceAlias(t, ns, "app", metav1.ConditionTrue, meshaliasv1.ReasonSynced)
	se, err := entryFor(ns, host)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{meshaliasv1.LabelManagedBy: "meshalias", meshaliasv1.LabelOwnerKind: "ServiceAlias", meshaliasv1.LabelOwnerName: "app"}
	if fmt.Sprint(se.Labels) != fmt.Sprint(want) || len(se.Annotations) != 0 {
		t.Errorf("entry labels %v annotations %v, want only %v", se.Labels, se.Annotations, want)
	}
}

func TestServiceAliasRestoresEditedEntry(t *testing.T) {
	ns, host, svc := readyAlias(t)

	se, _ := entryFor(ns, host)
	// Someone clears the addresses, the very field that prevents the hijack, renames the port
	// as the legacy controller did, and adds a field meshalias never sets.
	edited := se.DeepCopy()
	edited.Spec.Addresses = nil
	edited.Spec.Ports[0].Name, edited.Spec.Ports[0].Protocol = "https-443", "TCP"
	edited.Spec.SubjectAltNames = []string{"spiffe://example/ns/x/sa/y"}
	if err := k8s.Update(ctx, edited, client.FieldOwner("kubectl-edit")); err != nil {
		t.Fatal(err)
	}
	// The repair says who changed it, which is the first thing a person asks.
	eventually(t, "a DriftRepaired event naming the other writer", func() error {
		return eventMentioning(ns, "ServiceAlias", "app", "DriftRepaired", "kubectl-edit")
	})
	eventually(t, "entry restored", func() error {
		got, err := entryFor(ns, host)
		if err != nil {
			return err
		}
		if !slices.Equal(got.Spec.Addresses, []string{svc.Spec.ClusterIP}) || len(got.Spec.SubjectAltNames) != 0 ||
			len(got.Spec.Ports) != 1 || got.Spec.Ports[0].Name != "https" || got.Spec.Ports[0].Protocol != "HTTPS" {
			return fmt.Errorf("addresses %v subjectAltNames %v ports %v", got.Spec.Addresses, got.Spec.SubjectAltNames, got.Spec.Ports)
		}
		return nil
	})
}

// TestServiceAliasReportsARemoval: a writer that only removes the addresses owns no field
// afterwards, so managedFields cannot name it. The repair is still reported, as drift, and
// counted.
func TestServiceAliasReportsARemoval(t *testing.T) {
	ns, host, svc := readyAlias(t)
	se, err := entryFor(ns, host)
	if err != nil {
		t.Fatal(err)
	}
	before := driftRepairs(t, ns)
	remove := client.RawPatch(types.JSONPatchType, []byte(`[{"op":"remove","path":"/spec/addresses"}]`))
	if err := k8s.Patch(ctx, se, remove, client.FieldOwner("dns-controller")); err != nil {
		t.Fatal(err)
	}
	eventually(t, "a DriftRepaired event for a writer managedFields do not name", func() error {
		return eventMentioning(ns, "ServiceAlias", "app", "DriftRepaired", audit.UnnamedWriter)
	})
	eventually(t, "entry restored", func() error {
		got, err := entryFor(ns, host)
		if err != nil {
			return err
		}
		if !slices.Equal(got.Spec.Addresses, []string{svc.Spec.ClusterIP}) {
			return fmt.Errorf("addresses %v", got.Spec.Addresses)
		}
		return nil
	})
	if after := driftRepairs(t, ns); after != before+1 {
		t.Errorf("meshalias_drift_repairs_total{namespace=%q} went from %v to %v, want one repair more", ns, before, after)
	}
}

// driftRepairs reads meshalias_drift_repairs_total for a namespace: 0 before its first repair.
func driftRepairs(t *testing.T, ns string) float64 {
	t.Helper()
	m, err := namespaceSample("meshalias_drift_repairs_total", ns)
	if err != nil {
		return 0
	}
	return m.GetCounter().GetValue()
}

func TestServiceAliasRecreatesDeletedEntry(t *testing.T) {
	ns, host, _ := readyAlias(t)
	se, _ := entryFor(ns, host)
	if err := k8s.Delete(ctx, se); err != nil {
		t.Fatal(err)
	}
	eventually(t, "entry re-created under the same name", func() error {
		got, err := entryFor(ns, host)
		if err != nil {
			return err
		}
		if got.UID == se.UID {
			return errors.New("still the deleted one")
		}
		return nil
	})
}

func TestServiceAliasFollowsRecreatedService(t *testing.T) {
	ns, host, svc := readyAlias(t)
	oldIP := svc.Spec.ClusterIP

	if err := k8s.Delete(ctx, svc); err != nil {
		t.Fatal(err)
	}
	alias := waitServiceAlias(t, ns, "app", metav1.ConditionFalse, meshaliasv1.ReasonServiceNotFound)
	if _, err := entryFor(ns, host); !apierrors.IsNotFound(err) {
		t.Errorf("the entry of a missing Service must go, so that a reused ClusterIP is never hijacked: %v", err)
	}
	if !meta.IsStatusConditionTrue(alias.Status.Conditions, meshaliasv1.ConditionStalled) {
		t.Errorf("a missing Service should read as Stalled: %v", alias.Status.Conditions)
	}

	again := recreateWithNewIP(t, ns, "app", oldIP)
	waitServiceAlias(t, ns, "app", metav1.ConditionTrue, meshaliasv1.ReasonSynced)
	eventually(t, "entry follows the new ClusterIP", func() error {
		se, err := entryFor(ns, host)
		if err != nil {
			return err
		}
		if !slices.Equal(se.Spec.Addresses, []string{again.Spec.ClusterIP}) || again.Spec.ClusterIP == oldIP {
			return fmt.Errorf("addresses %v, new ClusterIP %s, old %s", se.Spec.Addresses, again.Spec.ClusterIP, oldIP)
		}
		return nil
	})
}

func TestServiceAliasWithoutClusterIP(t *testing.T) {
	ns := newNamespace(t)
	headless := service(ns, "headless")
	headless.Spec.ClusterIP = corev1.ClusterIPNone
	external := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "external"},
		Spec:       corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "example.org"},
	}
	create(t, headless, external,
		serviceAlias(ns, "headless", "headless", "headless."+ns+".alias"),
		serviceAlias(ns, "external", "external", "external."+ns+".alias"),
		serviceAlias(ns, "missing", "missing", "missing."+ns+".alias"))

	for name, reason := range map[string]string{"headless": meshaliasv1.ReasonNoClusterIP, "external": meshaliasv1.ReasonNoClusterIP, "missing": meshaliasv1.ReasonServiceNotFound} {
		alias := waitServiceAlias(t, ns, name, metav1.ConditionFalse, reason)
		msg := meta.FindStatusCondition(alias.Status.Conditions, meshaliasv1.ConditionReady).Message
		if !strings.Contains(msg, ns+"/"+name) {
			t.Errorf("%s: message %q does not name the Service", name, msg)
		}
		if got := entriesOf(t, ns, "ServiceAlias", name); len(got) != 0 {
			t.Errorf("%s: an alias whose Service has no ClusterIP must have no entry, has %d", name, len(got))
		}
	}

	// A headless Service that gains a ClusterIP (re-created) is served.
	if err := k8s.Delete(ctx, headless); err != nil {
		t.Fatal(err)
	}
	create(t, service(ns, "headless"))
	waitServiceAlias(t, ns, "headless", metav1.ConditionTrue, meshaliasv1.ReasonSynced)
}

func TestServiceAliasHostConflictAndTakeOver(t *testing.T) {
	nsA, nsB := newNamespace(t), newNamespace(t)
	host := "shared." + nsA + ".alias"
	create(t, service(nsA, "app"), serviceAlias(nsA, "first", "app", host))
	waitServiceAlias(t, nsA, "first", metav1.ConditionTrue, meshaliasv1.ReasonSynced)
	time.Sleep(1100 * time.Millisecond) // creationTimestamp has a one-second resolution
	create(t, service(nsB, "app"), serviceAlias(nsB, "second", "app", host))

	loser := waitServiceAlias(t, nsB, "second", metav1.ConditionFalse, meshaliasv1.ReasonHostConflict)
	msg := meta.FindStatusCondition(loser.Status.Conditions, meshaliasv1.ConditionReady).Message
	if !strings.Contains(msg, "ServiceAlias "+nsA+"/first") {
		t.Errorf("the conflict message %q should name the winner", msg)
	}
	if got := entriesOf(t, nsB, "ServiceAlias", "second"); len(got) != 0 {
		t.Errorf("the younger alias must not serve the host; it has %d entries", len(got))
	}

	// The winner goes away: the other takes over with no manual step.
	if err := k8s.Delete(ctx, &meshaliasv1.ServiceAlias{ObjectMeta: metav1.ObjectMeta{Namespace: nsA, Name: "first"}}); err != nil {
		t.Fatal(err)
	}
	waitServiceAlias(t, nsB, "second", metav1.ConditionTrue, meshaliasv1.ReasonSynced)
	eventually(t, "the entry moved to the new winner, and the old one was collected", func() error {
		if _, err := entryFor(nsB, host); err != nil {
			return err
		}
		if _, err := entryFor(nsA, host); !apierrors.IsNotFound(err) {
			return fmt.Errorf("the deleted alias's entry is still there: %v", err)
		}
		return nil
	})
}

func TestServiceAliasLeavesUnmanagedEntryAlone(t *testing.T) {
	ns := newNamespace(t)
	host := "legacy." + ns + ".alias"
	// The old dns-controller's entry: no addresses.
	legacy := &networkingv1.ServiceEntry{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "legacy-alias"},
		Spec: networkingapi.ServiceEntry{
			Hosts:      []string{host},
			Location:   networkingapi.ServiceEntry_MESH_INTERNAL,
			Resolution: networkingapi.ServiceEntry_DNS,
			Ports:      []*networkingapi.ServicePort{{Name: "https-443", Number: 443, Protocol: "TCP"}},
		},
	}
	create(t, legacy, service(ns, "app"), serviceAlias(ns, "app", "app", host))
	alias := waitServiceAlias(t, ns, "app", metav1.ConditionFalse, meshaliasv1.ReasonHostConflict)
	msg := meta.FindStatusCondition(alias.Status.Conditions, meshaliasv1.ConditionReady).Message
	if !strings.Contains(msg, ns+"/legacy-alias") {
		t.Errorf("the message %q should name the unmanaged entry", msg)
	}
	got := &networkingv1.ServiceEntry{}
	if err := k8s.Get(ctx, client.ObjectKeyFromObject(legacy), got); err != nil {
		t.Fatal(err)
	}
	if got.ResourceVersion != legacy.ResourceVersion || len(got.OwnerReferences) != 0 {
		t.Errorf("the unmanaged entry was touched: resourceVersion %s -> %s, owners %v", legacy.ResourceVersion, got.ResourceVersion, got.OwnerReferences)
	}

	// Once the legacy entry is gone, the alias serves the host.
	if err := k8s.Delete(ctx, legacy); err != nil {
		t.Fatal(err)
	}
	waitServiceAlias(t, ns, "app", metav1.ConditionTrue, meshaliasv1.ReasonSynced)
}

func TestServiceAliasPortsSubset(t *testing.T) {
	ns := newNamespace(t)
	host := "app." + ns + ".alias"
	create(t, service(ns, "app", corev1.ServicePort{Name: "http", Port: 80}, corev1.ServicePort{Name: "grpc-api", Port: 9090}))
	alias := serviceAlias(ns, "app", "app", host)
	alias.Spec.Ports = []int32{9090}
	create(t, alias)
	waitServiceAlias(t, ns, "app", metav1.ConditionTrue, meshaliasv1.ReasonSynced)
	se, _ := entryFor(ns, host)
	if len(se.Spec.Ports) != 1 || se.Spec.Ports[0].Number != 9090 || se.Spec.Ports[0].Protocol != "GRPC" {
		t.Errorf("ports = %v, want only 9090/GRPC", se.Spec.Ports)
	}

	// A port the Service does not have is a spec a person must fix.
	patchAlias(t, alias, func(a *meshaliasv1.ServiceAlias) { a.Spec.Ports = []int32{8443} })
	got := waitServiceAlias(t, ns, "app", metav1.ConditionFalse, meshaliasv1.ReasonInvalidSpec)
	if msg := meta.FindStatusCondition(got.Status.Conditions, meshaliasv1.ConditionReady).Message; !strings.Contains(msg, "8443") {
		t.Errorf("message %q should name the port", msg)
	}
}

func TestServiceAliasRefusedAtAdmission(t *testing.T) {
	ns := newNamespace(t)
	cases := map[string]func(*meshaliasv1.ServiceAlias){
		"upper case":            func(a *meshaliasv1.ServiceAlias) { a.Spec.Hosts = []string{"Traefik.custom-name"} },
		"wildcard":              func(a *meshaliasv1.ServiceAlias) { a.Spec.Hosts = []string{"*.custom-name"} },
		"IP address":            func(a *meshaliasv1.ServiceAlias) { a.Spec.Hosts = []string{"10.0.0.1"} },
		"under svc domain":      func(a *meshaliasv1.ServiceAlias) { a.Spec.Hosts = []string{"traefik.abc.svc.cluster.local"} },
		"single label":          func(a *meshaliasv1.ServiceAlias) { a.Spec.Hosts = []string{"traefik"} },
		"a Service's .svc name": func(a *meshaliasv1.ServiceAlias) { a.Spec.Hosts = []string{"payments.prod.svc"} },
		"bad service namespace": func(a *meshaliasv1.ServiceAlias) { a.Spec.Service.Namespace = "Prod_1" },
		"duplicate hosts":       func(a *meshaliasv1.ServiceAlias) { a.Spec.Hosts = []string{"a.b", "a.b"} },
		"no hosts":              func(a *meshaliasv1.ServiceAlias) { a.Spec.Hosts = nil },
		"too many hosts":        func(a *meshaliasv1.ServiceAlias) { a.Spec.Hosts = manyHosts(65) },
		"duplicate ports":       func(a *meshaliasv1.ServiceAlias) { a.Spec.Ports = []int32{443, 443} },
		"port out of range":     func(a *meshaliasv1.ServiceAlias) { a.Spec.Ports = []int32{70000} },
		"no service name":       func(a *meshaliasv1.ServiceAlias) { a.Spec.Service.Name = "" },
		"unknown tls mode":      func(a *meshaliasv1.ServiceAlias) { a.Spec.TLSMode = "permissive" },
		"label over 63 chars":   func(a *meshaliasv1.ServiceAlias) { a.Spec.Hosts = []string{strings.Repeat("a", 64) + ".b"} },
		"exportTo * and more":   func(a *meshaliasv1.ServiceAlias) { a.Spec.ExportTo = []string{"*", "."} },
		"exportTo ~ and more":   func(a *meshaliasv1.ServiceAlias) { a.Spec.ExportTo = []string{"~", "web"} },
		"exportTo twice":        func(a *meshaliasv1.ServiceAlias) { a.Spec.ExportTo = []string{"web", "web"} },
		"exportTo bad name":     func(a *meshaliasv1.ServiceAlias) { a.Spec.ExportTo = []string{"Web_1"} },
	}
	for name, mutate := range cases {
		t.Run(name, func(t *testing.T) {
			alias := serviceAlias(ns, "bad", "app", "app.alias")
			mutate(alias)
			err := k8s.Create(ctx, alias)
			if !apierrors.IsInvalid(err) {
				t.Fatalf("want the API server to refuse it as invalid, got %v", err)
			}
		})
	}
	// And a good one passes, so the cases above fail for their own reason.
	if err := k8s.Create(ctx, serviceAlias(ns, "good", "app", "app."+ns+".alias")); err != nil {
		t.Fatalf("a valid alias was refused: %v", err)
	}
}

func manyHosts(n int) []string {
	hosts := make([]string, n)
	for i := range hosts {
		hosts[i] = fmt.Sprintf("h%d.alias", i)
	}
	return hosts
}

func patchAlias(t *testing.T, alias *meshaliasv1.ServiceAlias, mutate func(*meshaliasv1.ServiceAlias)) {
	t.Helper()
	eventually(t, "patching the alias", func() error {
		current := &meshaliasv1.ServiceAlias{}
		if err := k8s.Get(ctx, types.NamespacedName{Namespace: alias.Namespace, Name: alias.Name}, current); err != nil {
			return err
		}
		mutate(current)
		return k8s.Update(ctx, current)
	})
}

// recreateWithNewIP creates the Service again, until the allocator gives it a ClusterIP
// other than its old one.
func recreateWithNewIP(t *testing.T, ns, name, oldIP string) *corev1.Service {
	t.Helper()
	for {
		svc := service(ns, name)
		create(t, svc)
		if svc.Spec.ClusterIP != oldIP {
			return svc
		}
		if err := k8s.Delete(ctx, svc); err != nil {
			t.Fatal(err)
		}
		eventually(t, "the Service is gone", func() error {
			if err := k8s.Get(ctx, clientKey(ns, name), &corev1.Service{}); !apierrors.IsNotFound(err) {
				return fmt.Errorf("still there: %v", err)
			}
			return nil
		})
	}
}

// readyAlias creates, in a new namespace, Service app and a ServiceAlias of it for the host
// app.<ns>.alias, and waits until the alias is Ready.
func readyAlias(t *testing.T) (ns, host string, svc *corev1.Service) {
	t.Helper()
	ns = newNamespace(t)
	host = "app." + ns + ".alias"
	svc = service(ns, "app")
	create(t, svc, serviceAlias(ns, "app", "app", host))
	waitServiceAlias(t, ns, "app", metav1.ConditionTrue, meshaliasv1.ReasonSynced)
	return ns, host, svc
}
