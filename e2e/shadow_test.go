package e2e_test

import (
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/meshalias/meshalias/e2e/internal/live"
	"github.com/meshalias/meshalias/e2e/internal/pilot"
	"github.com/meshalias/meshalias/e2e/internal/poll"
)

// The squat: namespace evil has a Service with the same name as prod's, and tries to answer
// for prod's Service under the names Istio gives it.
const (
	victimNS  = "prod"
	squatNS   = "evil"
	payments  = "payments"
	httpPort  = 80
	stagingNS = "staging"
)

// TestShadowedServiceNames proves that no alias can take a Kubernetes Service's own names.
// Istio gives every Service the HTTP domains <svc>.<ns> and <svc>.<ns>.svc besides its FQDN,
// and a ServiceEntry whose host is one of them takes that domain from the Service on every
// sidecar: with the entry an alias in namespace evil would get, `http://payments.prod` from
// any namespace reaches evil's payments. The policy is set up to let evil claim the domain
// prod, so that what stops the squat is the rule that a Service's own names always win, not
// the host policy. Istio's pilot judges the live objects before and after.
func TestShadowedServiceNames(t *testing.T) {
	ctx := context.Background()
	_, cluster, op := runOperator(t)
	c := cluster.Client
	step := steps(t)
	alive := func(check func() error) func() error { return whileAlive(op, check) }

	var prodPayments, evilPayments *corev1.Service

	step("prod and evil each have a Service payments", func(t *testing.T) {
		for _, n := range []string{victimNS, squatNS, elsewhere} {
			must(t, c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: n}}))
		}
		prodPayments = httpService(victimNS, payments)
		evilPayments = httpService(squatNS, payments)
		must(t, c.Create(ctx, prodPayments))
		must(t, c.Create(ctx, evilPayments))
		t.Logf("ClusterIPs: prod/payments %s, evil/payments %s", prodPayments.Spec.ClusterIP, evilPayments.Spec.ClusterIP)
		allowDomains(t, c, op, squatNS, victimNS)
	})

	step("before any alias, prod's Service names reach prod", func(t *testing.T) {
		mesh := liveMesh(t, c)
		expectOwnNames(t, mesh, prodPayments, elsewhere, squatNS)
	})

	// Without this, the checks after the squat would pass just as well if Istio ignored the
	// entries: it shows what an entry for the Service's names, in the shape meshalias writes,
	// would do. The entries are handed to pilot only, never written to the cluster, where the
	// operator would count them as foreign and the squat would fail for another reason.
	step("the oracle sees the hijack an entry for the Service's names would cause", func(t *testing.T) {
		snap, err := live.Read(ctx, c, []string{""}, []string{""})
		must(t, err)
		hosts := []string{payments + "." + victimNS, payments + "." + victimNS + ".svc"}
		docs := []string{snap.Config}
		for _, host := range hosts {
			docs = append(docs, squatEntry(host, evilPayments))
		}
		config := joinYAML(docs...)
		if err := pilot.ValidateConfig(config); err != nil {
			t.Fatalf("Istio rejects the squatting entries: %v", err)
		}
		sc := pilot.New(t, snap.Services, config).Sidecar(elsewhere)
		for _, host := range hosts {
			got := run(t, sc, elsewhere, httpCall(prodPayments.Spec.ClusterIP, httpPort, host))
			if err := reachesService(sc, got, squatNS, payments, httpPort); err != nil {
				t.Errorf("with an entry for %s in evil, http://%s does not reach evil's payments (%v): the checks that follow would prove nothing", host, host, err)
			}
		}
	})

	var serviceSquat, namespaceSquat = "payments-prod", victimNS

	step("aliases for the Service's names are refused", func(t *testing.T) {
		written := watchEntryHosts(t, cluster.Config)
		create(t, c, `
apiVersion: meshalias.io/v1alpha1
kind: ServiceAlias
metadata: {name: `+serviceSquat+`, namespace: `+squatNS+`}
spec:
  service: {name: `+payments+`}
  hosts: [payments.prod]
`)
		// Names ending in .svc are refused by the CRD itself, before any controller sees them.
		for _, doc := range []string{`
apiVersion: meshalias.io/v1alpha1
kind: ServiceAlias
metadata: {name: payments-prod-svc, namespace: ` + squatNS + `}
spec:
  service: {name: ` + payments + `}
  hosts: [payments.prod.svc]
`, `
apiVersion: meshalias.io/v1alpha1
kind: NamespaceAlias
metadata: {name: prod-svc, namespace: ` + squatNS + `}
spec: {domain: prod.svc}
`} {
			if err := refused(t, c, doc); err != nil && (!apierrors.IsInvalid(err) || !strings.Contains(err.Error(), ".svc")) {
				t.Errorf("refused with %v, want the CRD's Invalid about .svc", err)
			}
		}
		create(t, c, `
apiVersion: meshalias.io/v1alpha1
kind: NamespaceAlias
metadata: {name: `+namespaceSquat+`, namespace: `+squatNS+`}
spec:
  domain: `+victimNS+`
  selector: {matchLabels: {app: `+payments+`}}
`)

		for _, tc := range []struct {
			read    func() (*unstructured.Unstructured, error)
			mention string
		}{
			{func() (*unstructured.Unstructured, error) { return serviceAlias(c, squatNS, serviceSquat) }, "Service prod/payments"},
			{func() (*unstructured.Unstructured, error) { return namespaceAlias(c, squatNS, namespaceSquat) }, "namespace prod"},
		} {
			var ready *metav1.Condition
			poll.Until(t, poll.Timeout, "the squat to be Failed with HostConflict", alive(func() error {
				u, err := tc.read()
				if err != nil {
					return err
				}
				ready, err = failedWith(u, "HostConflict")
				return err
			}))
			u, err := tc.read()
			must(t, err)
			t.Logf("%s %s/%s: Ready=False %s: %s", u.GetKind(), u.GetNamespace(), u.GetName(), ready.Reason, ready.Message)
			if !strings.Contains(ready.Message, tc.mention) {
				t.Errorf("%s %s: message %q does not name %s", u.GetKind(), u.GetName(), ready.Message, tc.mention)
			}
			if got := stringsAt(u, "status", "serviceEntries"); len(got) != 0 {
				t.Errorf("%s %s: status.serviceEntries %v, want none", u.GetKind(), u.GetName(), got)
			}
		}
		for _, host := range ownNames(prodPayments) {
			if got, err := entriesWithHost(c, host); err != nil || len(got) != 0 {
				t.Errorf("ServiceEntries for %s: %v (%v), want none", host, got, err)
			}
			if seen := written.Seen(host); len(seen) != 0 {
				t.Errorf("ServiceEntries for %s existed meanwhile: %v, want none ever", host, seen)
			}
		}
	})

	step("after the squat, prod's Service names still reach prod", func(t *testing.T) {
		mesh := liveMesh(t, c)
		expectOwnNames(t, mesh, prodPayments, elsewhere, squatNS)
	})

	// The rule follows the cluster: a name that is free when the alias claims it is the
	// Service's once the Service (or, for a domain, the namespace) appears.
	step("a Service or namespace created later takes its names back", func(t *testing.T) {
		allowDomains(t, c, op, squatNS, stagingNS)
		const ledger = "ledger"
		ledgerHost := ledger + "." + victimNS
		create(t, c, `
apiVersion: meshalias.io/v1alpha1
kind: ServiceAlias
metadata: {name: ledger-prod, namespace: `+squatNS+`}
spec:
  service: {name: `+payments+`}
  hosts: [`+ledgerHost+`]
`)
		create(t, c, `
apiVersion: meshalias.io/v1alpha1
kind: NamespaceAlias
metadata: {name: `+stagingNS+`, namespace: `+squatNS+`}
spec:
  domain: `+stagingNS+`
  selector: {matchLabels: {app: `+payments+`}}
`)
		stagingHost := payments + "." + stagingNS
		read := map[string]func() (*unstructured.Unstructured, error){
			ledgerHost:  func() (*unstructured.Unstructured, error) { return serviceAlias(c, squatNS, "ledger-prod") },
			stagingHost: func() (*unstructured.Unstructured, error) { return namespaceAlias(c, squatNS, stagingNS) },
		}
		for host, r := range read {
			poll.Until(t, poll.Timeout, "the alias for "+host+" Ready while nothing else has the name", alive(func() error {
				u, err := r()
				if err != nil {
					return err
				}
				return readyNow(u)
			}))
		}
		// Until then the names are the alias's, by pilot too: the positive control for the
		// verdicts below.
		mesh := liveMesh(t, c)
		sc := mesh.Sidecar(elsewhere)
		for _, host := range []string{ledgerHost, stagingHost} {
			got := run(t, sc, elsewhere, httpCall(evilPayments.Spec.ClusterIP, httpPort, host))
			if err := reachesService(sc, got, squatNS, payments, httpPort); err != nil {
				t.Errorf("while the alias holds %s: %v", host, err)
			}
		}

		prodLedger := httpService(victimNS, ledger)
		must(t, c.Create(ctx, prodLedger))
		must(t, c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: stagingNS}}))
		stagingPayments := httpService(stagingNS, payments)
		must(t, c.Create(ctx, stagingPayments))
		for host, r := range read {
			poll.Until(t, poll.Timeout, "the alias for "+host+" to give it up with HostConflict", alive(func() error {
				u, err := r()
				if err != nil {
					return err
				}
				ready, err := failedWith(u, "HostConflict")
				if err != nil {
					return err
				}
				if got := stringsAt(u, "status", "serviceEntries"); len(got) != 0 {
					return errString("status.serviceEntries " + join(got))
				}
				got, err := entriesWithHost(c, host)
				if err != nil {
					return err
				}
				if len(got) != 0 {
					return errString("ServiceEntries for " + host + " remain: " + join(got))
				}
				t.Logf("%s %s: Ready=False %s: %s", u.GetKind(), u.GetName(), ready.Reason, ready.Message)
				return nil
			}))
		}
		mesh = liveMesh(t, c)
		expectOwnNames(t, mesh, prodLedger, elsewhere, squatNS)
		expectOwnNames(t, mesh, stagingPayments, elsewhere, squatNS)
		// The first squat is still held off.
		expectOwnNames(t, mesh, prodPayments, elsewhere, squatNS)
	})

	step("the shipped RBAC refused the operator nothing", func(t *testing.T) {
		op.Stop(t)
		op.CheckLogs(t)
	})
}

// httpService is a ClusterIP Service with one HTTP port 80, labelled app=<name>.
func httpService(namespace, name string) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace, Labels: map[string]string{"app": name}},
		Spec: corev1.ServiceSpec{
			Selector: map[string]string{"app": name},
			Ports:    []corev1.ServicePort{{Name: "http", Port: httpPort, TargetPort: intstr.FromInt32(8080)}},
		},
	}
}

// ownNames are the HTTP domains Istio gives a Service on other namespaces' sidecars.
func ownNames(svc *corev1.Service) []string {
	short := svc.Name + "." + svc.Namespace
	return []string{short, short + ".svc", short + ".svc.cluster.local"}
}

// expectOwnNames checks, from a sidecar in each of the namespaces, that a request for each of
// the Service's own names, to its ClusterIP, lands on the Service's own cluster.
func expectOwnNames(t *testing.T, mesh *pilot.Mesh, svc *corev1.Service, from ...string) {
	t.Helper()
	for _, f := range from {
		sc := mesh.Sidecar(f)
		for _, host := range ownNames(svc) {
			got := run(t, sc, f, httpCall(svc.Spec.ClusterIP, httpPort, host))
			got.Matches(t, simulationResult("", serviceCluster(svc.Namespace, svc.Name, httpPort)))
		}
	}
}

// liveMesh starts Istio's pilot on every Service and every Istio config object the cluster
// holds now.
func liveMesh(t *testing.T, c client.Client) *pilot.Mesh {
	t.Helper()
	snap, err := live.Read(context.Background(), c, []string{""}, []string{""})
	must(t, err)
	if err := pilot.ValidateConfig(snap.Config); err != nil {
		t.Errorf("Istio rejects config in the cluster: %v", err)
	}
	return snap.Mesh(t)
}

// squatEntry is the ServiceEntry meshalias would write in the Service's namespace for an alias
// of svc with the given host.
func squatEntry(host string, svc *corev1.Service) string {
	return `
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata:
  name: ` + entryName(host) + `
  namespace: ` + svc.Namespace + `
  labels: {app.kubernetes.io/managed-by: meshalias, meshalias.io/owner-kind: ServiceAlias, meshalias.io/owner-name: squat}
spec:
  hosts: [` + host + `]
  addresses: [` + svc.Spec.ClusterIP + `]
  location: MESH_INTERNAL
  resolution: DNS
  ports: [{name: http, number: 80, protocol: HTTP}]
  endpoints: [{address: ` + svc.Name + `.` + svc.Namespace + `.svc.cluster.local, labels: {security.istio.io/tlsMode: istio}}]
`
}

// joinYAML joins YAML streams, leaving out empty ones.
func joinYAML(docs ...string) string {
	var out []string
	for _, d := range docs {
		if strings.TrimSpace(d) != "" {
			out = append(out, strings.TrimSpace(d))
		}
	}
	return strings.Join(out, "\n---\n")
}
