package e2e_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/meshalias/meshalias/e2e/internal/controlplane"
	"github.com/meshalias/meshalias/e2e/internal/kstatus"
	"github.com/meshalias/meshalias/e2e/internal/live"
	"github.com/meshalias/meshalias/e2e/internal/pilot"
	"github.com/meshalias/meshalias/e2e/internal/plugin"
	"github.com/meshalias/meshalias/e2e/internal/poll"
)

// The incident's cluster.
const (
	ns          = "abc"
	legacyName  = "traefik-cutom-name"
	legacyHost  = "traefik.cutom-name"
	aliasHost   = "traefik.custom-name"
	helloDomain = "hello"
)

// storyDomains are the domains under which the story's aliases in abc name hosts: traefik's
// alias and its rival (custom-name), the adopted legacy host (cutom-name), the NamespaceAlias,
// and the hosts of the failing and the edited aliases.
var storyDomains = []string{"custom-name", "cutom-name", helloDomain, "bad-port", "extra-name"}

// TestOperator installs meshalias from config/default, runs the built operator under its own
// ServiceAccount and RBAC, and plays the incident's story against it: the legacy controller's
// address-less entry hijacks every sidecar's HTTPS, the operator adopts it in place and the
// hijack is gone, by the plugin's audit and by Istio's own pilot. It then drifts the cluster
// and checks the operator, kstatus and the garbage collector put it right.
func TestOperator(t *testing.T) {
	ctx := context.Background()
	bins := buildBinaries(t)
	cluster := controlplane.Run(t)
	c := cluster.Client
	installDefault(t, cluster)
	cluster.StartControllerManager(t)
	op := newOperator(t, bins.Manager, cluster)
	op.Start(t)

	step := steps(t)
	alive := func(check func() error) func() error { return whileAlive(op, check) }

	var traefik, serviceAPI *corev1.Service
	var legacyUID types.UID

	step("leader election under the shipped RBAC", func(t *testing.T) {
		poll.Until(t, poll.Timeout, "the operator to hold the Lease", alive(func() error {
			lease, err := get(c, "coordination.k8s.io/v1", "Lease", operatorNamespace, leaseName)
			if err != nil {
				return err
			}
			holder := str(lease.Object, "spec", "holderIdentity")
			if holder == "" {
				return errString("Lease " + leaseName + " has no holder")
			}
			if len(op.Grep("Successfully acquired lease")) == 0 {
				return errString("the operator has not logged acquiring the lease")
			}
			t.Logf("Lease %s/%s held by %s", operatorNamespace, leaseName, holder)
			return nil
		}))
	})

	// The operator runs, as shipped, with --require-alias-domain, and the admission policy
	// refuses an alias whose hosts no AliasDomain allows: abc is granted every domain the
	// story's aliases use before the first of them is created.
	step("AliasDomains let abc claim the story's hosts", func(t *testing.T) {
		allowDomains(t, c, op, ns, storyDomains...)
	})

	step("the incident: a legacy entry hijacks all TLS on 443", func(t *testing.T) {
		must(t, c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}))
		traefik = &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Name: "traefik", Namespace: ns},
			Spec: corev1.ServiceSpec{
				Selector: map[string]string{"app": "traefik"},
				Ports:    []corev1.ServicePort{{Name: "https", Port: 443, TargetPort: intstr.FromInt32(8443)}},
			},
		}
		serviceAPI = &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Name: "service-api", Namespace: ns},
			Spec: corev1.ServiceSpec{
				Selector: map[string]string{"app": "service-api"},
				Ports:    []corev1.ServicePort{{Name: "http", Port: 8080, TargetPort: intstr.FromInt32(8080)}},
			},
		}
		must(t, c.Create(ctx, traefik))
		must(t, c.Create(ctx, serviceAPI))
		t.Logf("ClusterIPs: traefik %s, service-api %s", traefik.Spec.ClusterIP, serviceAPI.Spec.ClusterIP)
		legacy := create(t, c, `
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata:
  name: `+legacyName+`
  namespace: `+ns+`
  labels: {app.kubernetes.io/managed-by: dns-controller}
spec:
  hosts: [`+legacyHost+`]
  location: MESH_INTERNAL
  resolution: DNS
  ports: [{name: https-443, number: 443, protocol: TCP}]
`)
		legacyUID = legacy.GetUID()

		res, err := plugin.Audit(bins.Plugin, cluster.AdminKubeconfig, "-A")
		must(t, err)
		if res.ExitCode != plugin.ExitFindings {
			t.Errorf("audit -A exited %d, want %d (critical findings)\n%s", res.ExitCode, plugin.ExitFindings, res.Stdout)
		}
		f, ok := res.Find(ns, legacyName)
		if !ok {
			t.Fatalf("audit -A has no finding for %s/%s: %+v", ns, legacyName, res.Findings)
		}
		t.Logf("audit: %s %s/%s ports %v reaches %v: %s", f.Severity, f.Namespace, f.Name, f.Ports, f.AffectedNamespaces, f.Message)
		if f.Severity != "critical" || !slices.Equal(f.Ports, []string{"443/TCP"}) || !slices.Equal(f.AffectedNamespaces, []string{"*"}) {
			t.Errorf("finding %+v, want critical on 443/TCP reaching every namespace", f)
		}

		snap, err := live.Read(ctx, c, []string{ns}, []string{""})
		must(t, err)
		mesh := snap.Mesh(t)
		for _, from := range []string{"default", ns} {
			got := run(t, mesh.Sidecar(from), from, tlsCall(publicIP, 443, publicSNI))
			got.Matches(t, simulationResult("0.0.0.0_443", entryCluster(legacyHost, 443)))
		}

		poll.Until(t, poll.Timeout, "the operator's audit to flag the legacy entry", alive(func() error {
			e, err := findEvent(c, ns, "UnsafeServiceEntry", "ServiceEntry", legacyName)
			if err == nil {
				t.Logf("event %s %s on ServiceEntry %s: %s", e.Type, e.Reason, legacyName, e.Note)
			}
			return err
		}))
	})

	deletions := watchDeletions(t, cluster.Config, ns)
	var sa, na = "traefik", helloDomain

	step("aliases become Ready and the legacy entry is adopted in place", func(t *testing.T) {
		create(t, c, `
apiVersion: meshalias.io/v1alpha1
kind: ServiceAlias
metadata: {name: `+sa+`, namespace: `+ns+`}
spec:
  service: {name: traefik}
  hosts: [`+aliasHost+`, `+legacyHost+`]
`)
		create(t, c, `
apiVersion: meshalias.io/v1alpha1
kind: NamespaceAlias
metadata: {name: `+na+`, namespace: `+ns+`}
spec: {domain: `+helloDomain+`}
`)
		waitAliasesReady(t, c, op,
			func() (*unstructured.Unstructured, error) { return serviceAlias(c, ns, sa) },
			func() (*unstructured.Unstructured, error) { return namespaceAlias(c, ns, na) })

		alias, err := serviceAlias(c, ns, sa)
		must(t, err)
		ip := traefik.Spec.ClusterIP
		wantEntries := sortedStrings(legacyName, entryName(aliasHost))
		if got := stringsAt(alias, "status", "serviceEntries"); !slices.Equal(got, wantEntries) {
			t.Errorf("ServiceAlias status.serviceEntries %v, want %v", got, wantEntries)
		}
		if got := stringsAt(alias, "status", "adopted"); !slices.Equal(got, []string{legacyName}) {
			t.Errorf("ServiceAlias status.adopted %v, want [%s]", got, legacyName)
		}
		if got := stringsAt(alias, "status", "addresses"); !slices.Equal(got, []string{ip}) {
			t.Errorf("ServiceAlias status.addresses %v, want [%s]", got, ip)
		}

		// In place: the same object, never deleted, now meshalias's.
		legacy, err := serviceEntry(c, ns, legacyName)
		must(t, err)
		if legacy.GetUID() != legacyUID {
			t.Errorf("ServiceEntry %s has UID %s, was %s: it was re-created, not adopted", legacyName, legacy.GetUID(), legacyUID)
		}
		for _, d := range deletions.Deleted() {
			t.Errorf("ServiceEntry deleted during adoption: %s", d)
		}
		checkEntry(t, legacy, legacyHost, "ServiceAlias", alias, ip, "traefik", 443, "HTTPS")
		if legacy.GetLabels()[labelAdopted] != "true" {
			t.Errorf("adopted entry labels %v lack %s=true", legacy.GetLabels(), labelAdopted)
		}
		fresh, err := serviceEntry(c, ns, entryName(aliasHost))
		must(t, err)
		checkEntry(t, fresh, aliasHost, "ServiceAlias", alias, ip, "traefik", 443, "HTTPS")
		if _, ok := fresh.GetLabels()[labelAdopted]; ok {
			t.Errorf("entry %s was created, not adopted, yet is labelled %s", fresh.GetName(), labelAdopted)
		}

		hello, err := namespaceAlias(c, ns, na)
		must(t, err)
		wantHello := sortedStrings(entryName("traefik."+helloDomain), entryName("service-api."+helloDomain))
		if got := stringsAt(hello, "status", "serviceEntries"); !slices.Equal(got, wantHello) {
			t.Errorf("NamespaceAlias status.serviceEntries %v, want %v", got, wantHello)
		}
		for _, s := range []struct {
			svc      *corev1.Service
			port     int
			protocol string
		}{{traefik, 443, "HTTPS"}, {serviceAPI, 8080, "HTTP"}} {
			host := s.svc.Name + "." + helloDomain
			se, err := serviceEntry(c, ns, entryName(host))
			if err != nil {
				t.Errorf("entry for %s: %v", host, err)
				continue
			}
			checkEntry(t, se, host, "NamespaceAlias", hello, s.svc.Spec.ClusterIP, s.svc.Name, s.port, s.protocol)
		}

		poll.Until(t, poll.Timeout, "an Adopted event", alive(func() error {
			e, err := findEvent(c, ns, "Adopted", "ServiceAlias", sa)
			if err != nil {
				return err
			}
			t.Logf("event %s %s on ServiceAlias %s (related %s %s): %s", e.Type, e.Reason, sa, e.RelatedKind, e.RelatedName, e.Note)
			if e.Type != corev1.EventTypeNormal || e.RelatedKind != "ServiceEntry" || e.RelatedName != legacyName {
				t.Errorf("Adopted event %+v, want Normal, related ServiceEntry %s", e, legacyName)
			}
			return nil
		}))
	})

	step("the audit is clean", func(t *testing.T) {
		res, err := plugin.Audit(bins.Plugin, cluster.AdminKubeconfig, "-A")
		must(t, err)
		if res.ExitCode != plugin.ExitClean || len(res.Findings) != 0 {
			t.Errorf("audit -A exited %d with findings %+v, want 0 and none", res.ExitCode, res.Findings)
		}
	})

	step("Istio's pilot routes the live objects right", func(t *testing.T) {
		create(t, c, `
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: default, namespace: `+ns+`}
spec: {mtls: {mode: STRICT}}
`)
		managed, err := live.List(ctx, c, "networking.istio.io/v1", "ServiceEntryList", "", client.MatchingLabels{labelManagedBy: "meshalias"})
		must(t, err)
		if len(managed) != 4 {
			t.Errorf("%d meshalias-managed ServiceEntries, want 4", len(managed))
		}
		docs, err := pilot.Documents(asObjects(managed)...)
		must(t, err)
		if err := pilot.ValidateConfig(docs); err != nil {
			t.Errorf("Istio's validation rejects meshalias's entries: %v", err)
		}

		snap, err := live.Read(ctx, c, []string{ns}, []string{""})
		must(t, err)
		mesh := snap.Mesh(t)
		ip, apiIP := traefik.Spec.ClusterIP, serviceAPI.Spec.ClusterIP
		for _, from := range []string{"default", ns} {
			sc := mesh.Sidecar(from)
			run(t, sc, from, tlsCall(publicIP, 443, publicSNI)).Matches(t, simulationResult("", "PassthroughCluster"))
			for _, host := range []string{aliasHost, legacyHost, "traefik." + helloDomain} {
				got := run(t, sc, from, tlsCall(ip, 443, host))
				got.Matches(t, simulationResult(ip+"_443", serviceCluster(ns, "traefik", 443)))
			}
			got := run(t, sc, from, httpCall(apiIP, 8080, "service-api."+helloDomain))
			if err := reachesService(sc, got, ns, "service-api", 8080); err != nil {
				t.Errorf("from %s, service-api.%s: %v", from, helloDomain, err)
			}
		}

		// Under STRICT mTLS in abc: the alias host rides the Service's cluster, whose in-mesh
		// endpoints get Istio mutual TLS; the entries' own clusters originate it too, towards the
		// Service's DNS name.
		sc := mesh.Sidecar("default")
		u, err := sc.UpstreamFor(serviceCluster(ns, "traefik", 443), "istio")
		must(t, err)
		t.Logf("%s, in-mesh endpoint: transport socket %q, Istio mTLS %v", serviceCluster(ns, "traefik", 443), u.TransportSocket, u.IstioMutualTLS)
		if !u.IstioMutualTLS {
			t.Errorf("the Service's cluster does not use Istio mutual TLS towards an in-mesh pod")
		}
		for _, host := range []string{aliasHost, legacyHost, "traefik." + helloDomain} {
			cl := entryCluster(host, 443)
			ups, err := sc.Upstreams(cl)
			if err != nil {
				t.Errorf("%s: %v", cl, err)
				continue
			}
			for _, u := range ups {
				t.Logf("%s -> %s: transport socket %q, Istio mTLS %v", cl, u.Endpoint, u.TransportSocket, u.IstioMutualTLS)
				if u.Endpoint != "traefik.abc.svc.cluster.local:443" || !u.IstioMutualTLS || u.TransportSocket != "tlsMode-istio" {
					t.Errorf("%s -> %s over %q (Istio mTLS %v), want traefik.abc.svc.cluster.local:443 over tlsMode-istio with Istio mTLS", cl, u.Endpoint, u.TransportSocket, u.IstioMutualTLS)
				}
			}
		}
	})

	step("drift is repaired", func(t *testing.T) {
		name := entryName(aliasHost)
		before, err := serviceEntry(c, ns, name)
		must(t, err)
		must(t, c.Delete(ctx, before))
		poll.Until(t, poll.Timeout, "the deleted entry to come back", alive(func() error {
			se, err := serviceEntry(c, ns, name)
			if err != nil {
				return err
			}
			if se.GetUID() == before.GetUID() {
				return errString("still the old object")
			}
			return nil
		}))
		after, err := serviceEntry(c, ns, name)
		must(t, err)
		alias, err := serviceAlias(c, ns, sa)
		must(t, err)
		checkEntry(t, after, aliasHost, "ServiceAlias", alias, traefik.Spec.ClusterIP, "traefik", 443, "HTTPS")

		// An edit that drops the addresses, the incident's very shape, is undone.
		edited := entryName("service-api." + helloDomain)
		se, err := serviceEntry(c, ns, edited)
		must(t, err)
		must(t, c.Patch(ctx, se, client.RawPatch(types.JSONPatchType, []byte(`[{"op":"remove","path":"/spec/addresses"}]`))))
		poll.Until(t, poll.Timeout, "the edited entry's addresses to be restored", alive(func() error {
			se, err := serviceEntry(c, ns, edited)
			if err != nil {
				return err
			}
			if got := stringsAt(se, "spec", "addresses"); !slices.Equal(got, []string{serviceAPI.Spec.ClusterIP}) {
				return errString("addresses " + join(got))
			}
			return nil
		}))

		for _, read := range []func() (*unstructured.Unstructured, error){
			func() (*unstructured.Unstructured, error) { return serviceAlias(c, ns, sa) },
			func() (*unstructured.Unstructured, error) { return namespaceAlias(c, ns, na) },
		} {
			poll.Until(t, poll.Timeout, "kstatus Current", alive(func() error {
				u, err := read()
				if err != nil {
					return err
				}
				return kstatus.Want(u, status.CurrentStatus)
			}))
		}
	})

	step("aliases that cannot be served are Failed, with the reason", func(t *testing.T) {
		cases := []struct {
			name, doc, reason, host string
		}{
			{"ghost", `
apiVersion: meshalias.io/v1alpha1
kind: ServiceAlias
metadata: {name: ghost, namespace: ` + ns + `}
spec: {service: {name: no-such-service}, hosts: [ghost.custom-name]}
`, "ServiceNotFound", "ghost.custom-name"},
			{"rival", `
apiVersion: meshalias.io/v1alpha1
kind: ServiceAlias
metadata: {name: rival, namespace: ` + ns + `}
spec: {service: {name: service-api}, hosts: [` + aliasHost + `]}
`, "HostConflict", ""},
			{"bad-port", `
apiVersion: meshalias.io/v1alpha1
kind: ServiceAlias
metadata: {name: bad-port, namespace: ` + ns + `}
spec: {service: {name: traefik}, hosts: [traefik.bad-port], ports: [9999]}
`, "InvalidSpec", "traefik.bad-port"},
		}
		// Claims are ordered by creationTimestamp, which has one-second resolution, then by
		// name: the rival must be created in a later second than the alias it challenges.
		traefikAlias, err := serviceAlias(c, ns, sa)
		must(t, err)
		waitForNextSecond(traefikAlias.GetCreationTimestamp().Time)
		for _, tc := range cases {
			create(t, c, tc.doc)
		}
		for _, tc := range cases {
			poll.Until(t, poll.Timeout, tc.name+" Failed with "+tc.reason, alive(func() error {
				u, err := serviceAlias(c, ns, tc.name)
				if err != nil {
					return err
				}
				if err := kstatus.Want(u, status.FailedStatus); err != nil {
					return err
				}
				ready, stalled := condition(u, "Ready"), condition(u, "Stalled")
				if ready == nil || ready.Status != metav1.ConditionFalse || ready.Reason != tc.reason ||
					stalled == nil || stalled.Status != metav1.ConditionTrue || stalled.Reason != tc.reason {
					return errString("Ready " + describe(ready) + ", Stalled " + describe(stalled) + ", want both " + tc.reason)
				}
				t.Logf("ServiceAlias %s: Failed, Ready=False %s: %s", tc.name, ready.Reason, ready.Message)
				return nil
			}))
			if tc.host != "" {
				if _, err := serviceEntry(c, ns, entryName(tc.host)); !apierrors.IsNotFound(err) {
					t.Errorf("ServiceAlias %s: entry for %s exists or unreadable (%v), want none", tc.name, tc.host, err)
				}
			}
		}
		// The rival lost; the older alias keeps the host.
		se, err := serviceEntry(c, ns, entryName(aliasHost))
		must(t, err)
		if ref := controllerRef(se); ref == nil || ref.Kind != "ServiceAlias" || ref.Name != sa {
			t.Errorf("entry for %s is controlled by %+v, want ServiceAlias %s", aliasHost, ref, sa)
		}
	})

	step("a spec change while the operator is down is InProgress until it returns", func(t *testing.T) {
		op.Stop(t)
		alias, err := serviceAlias(c, ns, sa)
		must(t, err)
		gen := alias.GetGeneration()
		must(t, c.Patch(ctx, alias, client.RawPatch(types.JSONPatchType, []byte(`[{"op":"add","path":"/spec/hosts/-","value":"traefik.extra-name"}]`))))
		alias, err = serviceAlias(c, ns, sa)
		must(t, err)
		if alias.GetGeneration() != gen+1 {
			t.Fatalf("generation %d after a spec change, want %d", alias.GetGeneration(), gen+1)
		}
		res, err := kstatus.Compute(alias)
		must(t, err)
		t.Logf("operator down, generation %d: kstatus %s (%s)", alias.GetGeneration(), res.Status, res.Message)
		if res.Status != status.InProgressStatus {
			t.Errorf("kstatus %s, want InProgress", res.Status)
		}

		op.Start(t)
		poll.Until(t, poll.Timeout, "the restarted operator to catch up", alive(func() error {
			u, err := serviceAlias(c, ns, sa)
			if err != nil {
				return err
			}
			if err := readyNow(u); err != nil {
				return err
			}
			return kstatus.Want(u, status.CurrentStatus)
		}))
		se, err := serviceEntry(c, ns, entryName("traefik.extra-name"))
		must(t, err)
		alias, err = serviceAlias(c, ns, sa)
		must(t, err)
		checkEntry(t, se, "traefik.extra-name", "ServiceAlias", alias, traefik.Spec.ClusterIP, "traefik", 443, "HTTPS")
	})

	step("deleting the NamespaceAlias removes its entries through the garbage collector", func(t *testing.T) {
		hello, err := namespaceAlias(c, ns, na)
		must(t, err)
		must(t, c.Delete(ctx, hello))
		for _, host := range []string{"traefik." + helloDomain, "service-api." + helloDomain} {
			poll.Until(t, poll.Timeout, "the entry for "+host+" to be collected", alive(func() error {
				_, err := serviceEntry(c, ns, entryName(host))
				if apierrors.IsNotFound(err) {
					return nil
				}
				if err != nil {
					return err
				}
				return errString("still there")
			}))
		}
		// The operator itself deletes nothing here: collection is the garbage collector's.
		for _, line := range op.Grep("Deleted ServiceEntry") {
			for _, host := range []string{"traefik." + helloDomain, "service-api." + helloDomain} {
				if strings.Contains(line, entryName(host)) {
					t.Errorf("the operator, not the garbage collector, deleted the entry for %s: %s", host, line)
				}
			}
		}
		for _, name := range []string{legacyName, entryName(aliasHost)} {
			if _, err := serviceEntry(c, ns, name); err != nil {
				t.Errorf("ServiceAlias %s's entry %s: %v", sa, name, err)
			}
		}
	})

	step("graceful shutdown", func(t *testing.T) {
		op.Stop(t)
	})

	step("the shipped RBAC refused the operator nothing", func(t *testing.T) {
		op.CheckLogs(t)
	})
}
