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
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/meshalias/meshalias/e2e/internal/aliasdomain"
	"github.com/meshalias/meshalias/e2e/internal/operator"
	"github.com/meshalias/meshalias/e2e/internal/pilot"
	"github.com/meshalias/meshalias/e2e/internal/poll"
)

// The host policy's cluster: namespace squat wants example.org, which the cluster admin gives
// to namespace shop.
const (
	squatterNS = "squat"
	ownerNS    = "shop"
	web        = "web"
	contested  = "example.org"
	// examplePublicIP is where example.org resolves outside the mesh: a request for it that no
	// entry claims leaves through PassthroughCluster.
	examplePublicIP = "93.184.215.14"
)

// TestHostPolicy proves that an alias whose host no AliasDomain allows leaves nothing that
// Istio would route by: no ServiceEntry with the host anywhere in the cluster, and, by Istio's
// pilot, `http://example.org` from another namespace goes where it goes with no alias at all.
// The admission policy refuses such aliases when they are created; the operator's verdict
// (HostNotAllowed) is what holds for an alias that was allowed when it was created and is no
// longer: a longer AliasDomain given to another namespace, or no AliasDomain left under
// --require-alias-domain. Its entries must go, and it must not keep the host from the
// namespace the policy now gives it to.
func TestHostPolicy(t *testing.T) {
	ctx := context.Background()
	_, cluster, op := runOperator(t)
	c := cluster.Client
	step := steps(t)
	alive := func(check func() error) func() error { return whileAlive(op, check) }

	squatWeb, shopWeb := httpService(squatterNS, web), httpService(ownerNS, web)
	// The squatter's two claims: example.org for its Service web, and every Service of squat
	// under example.org, which gives web.example.org.
	squatHosts := []string{contested, web + "." + contested}
	squatAliases := map[string]func() (*unstructured.Unstructured, error){
		contested:             func() (*unstructured.Unstructured, error) { return serviceAlias(c, squatterNS, web) },
		web + "." + contested: func() (*unstructured.Unstructured, error) { return namespaceAlias(c, squatterNS, "example-org") },
	}
	var outside map[string]string // host -> cluster, with no alias at all

	step("with no alias, http://example.org leaves the mesh", func(t *testing.T) {
		for _, n := range []string{squatterNS, ownerNS, elsewhere} {
			must(t, c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: n}}))
		}
		must(t, c.Create(ctx, squatWeb))
		must(t, c.Create(ctx, shopWeb))
		outside = map[string]string{}
		sc := liveMesh(t, c).Sidecar(elsewhere)
		for _, host := range squatHosts {
			got := run(t, sc, elsewhere, httpCall(examplePublicIP, httpPort, host))
			got.Matches(t, simulationResult("", "PassthroughCluster"))
			outside[host] = got.ClusterMatched
		}
	})

	step("an AliasDomain for org lets squat claim example.org", func(t *testing.T) {
		allowDomains(t, c, op, squatterNS, "org")
		create(t, c, `
apiVersion: meshalias.io/v1alpha1
kind: ServiceAlias
metadata: {name: `+web+`, namespace: `+squatterNS+`}
spec:
  service: {name: `+web+`}
  hosts: [`+contested+`]
`)
		create(t, c, `
apiVersion: meshalias.io/v1alpha1
kind: NamespaceAlias
metadata: {name: example-org, namespace: `+squatterNS+`}
spec: {domain: `+contested+`}
`)
		for host, read := range squatAliases {
			poll.Until(t, poll.Timeout, "the alias for "+host+" Ready", alive(func() error {
				u, err := read()
				if err != nil {
					return err
				}
				return readyNow(u)
			}))
		}
		// The positive control: while allowed, the squatter does get the hosts.
		sc := liveMesh(t, c).Sidecar(elsewhere)
		for _, host := range squatHosts {
			got := run(t, sc, elsewhere, httpCall(examplePublicIP, httpPort, host))
			if err := reachesService(sc, got, squatterNS, web, httpPort); err != nil {
				t.Errorf("while squat may claim %s: %v", host, err)
			}
		}
	})

	step("the longest AliasDomain decides: example.org given to shop denies squat", func(t *testing.T) {
		allowDomains(t, c, op, ownerNS, contested)
		for host, read := range squatAliases {
			waitDenied(t, c, op, host, read)
		}
		expectOutside(t, liveMesh(t, c), outside, squatterNS, elsewhere, squatterNS)
	})

	step("admission refuses claims no AliasDomain allows", func(t *testing.T) {
		for _, tc := range []struct{ doc, mention string }{
			{`
apiVersion: meshalias.io/v1alpha1
kind: ServiceAlias
metadata: {name: www, namespace: ` + squatterNS + `}
spec: {service: {name: ` + web + `}, hosts: [www.` + contested + `]}
`, `AliasDomain "` + contested + `"`},
			{`
apiVersion: meshalias.io/v1alpha1
kind: NamespaceAlias
metadata: {name: example-org-again, namespace: ` + squatterNS + `}
spec: {domain: ` + contested + `}
`, `AliasDomain "` + contested + `"`},
			{`
apiVersion: meshalias.io/v1alpha1
kind: ServiceAlias
metadata: {name: net, namespace: ` + squatterNS + `}
spec: {service: {name: ` + web + `}, hosts: [example.net]}
`, "no AliasDomain covers"},
		} {
			err := refused(t, c, tc.doc)
			if err != nil && (!apierrors.IsForbidden(err) || !strings.Contains(err.Error(), tc.mention)) {
				t.Errorf("refused with %v, want Forbidden, mentioning %s", err, tc.mention)
			}
		}
	})

	// Not a step: the next one does not depend on how this ends, and should run regardless.
	t.Run("shop gets the host squat was denied", func(t *testing.T) {
		// Claims are ordered by creationTimestamp, in whole seconds, and ties go by name, which
		// shop would win anyway: shop's alias must be younger for its win to prove that a denied
		// alias holds no claim.
		squat, err := serviceAlias(c, squatterNS, web)
		must(t, err)
		waitForNextSecond(squat.GetCreationTimestamp().Time)
		create(t, c, `
apiVersion: meshalias.io/v1alpha1
kind: ServiceAlias
metadata: {name: `+web+`, namespace: `+ownerNS+`}
spec:
  service: {name: `+web+`}
  hosts: [`+contested+`]
`)
		poll.Until(t, poll.Timeout, "shop's alias Ready", alive(func() error {
			u, err := serviceAlias(c, ownerNS, web)
			if err != nil {
				return err
			}
			return readyNow(u)
		}))
		entries, err := entriesWithHost(c, contested)
		must(t, err)
		if len(entries) != 1 || !strings.HasPrefix(entries[0], ownerNS+"/") {
			t.Errorf("ServiceEntries for %s: %v, want shop's alone", contested, entries)
		}
		mesh := liveMesh(t, c)
		for _, from := range []string{elsewhere, squatterNS} {
			sc := mesh.Sidecar(from)
			got := run(t, sc, from, httpCall(examplePublicIP, httpPort, contested))
			if err := reachesService(sc, got, ownerNS, web, httpPort); err != nil {
				t.Errorf("from %s, http://%s: %v", from, contested, err)
			}
		}
	})

	// The shipped Deployment runs with --require-alias-domain: with no AliasDomain left, no host
	// is allowed, where without the flag every host would be.
	step("with no AliasDomain at all, nothing is allowed", func(t *testing.T) {
		for _, d := range []string{contested, "org"} {
			must(t, aliasdomain.Delete(ctx, c, d))
		}
		waitPublished(t, c, op)
		waitDenied(t, c, op, contested, func() (*unstructured.Unstructured, error) { return serviceAlias(c, ownerNS, web) })
		mesh := liveMesh(t, c)
		expectOutside(t, mesh, outside, ownerNS, elsewhere, ownerNS)
		expectOutside(t, mesh, outside, squatterNS, elsewhere, squatterNS)
	})

	step("the shipped RBAC refused the operator nothing", func(t *testing.T) {
		op.Stop(t)
		op.CheckLogs(t)
	})
}

// waitDenied waits until the alias that claims host is Failed with HostNotAllowed and owns no
// entry, and no ServiceEntry in the cluster declares the host.
func waitDenied(t *testing.T, c client.Client, op *operator.Operator, host string, read func() (*unstructured.Unstructured, error)) {
	t.Helper()
	var last *unstructured.Unstructured
	var ready *metav1.Condition
	poll.Until(t, poll.Timeout, "the alias for "+host+" denied, with no entry", whileAlive(op, func() error {
		u, err := read()
		if err != nil {
			return err
		}
		if ready, err = failedWith(u, "HostNotAllowed"); err != nil {
			return err
		}
		if got := stringsAt(u, "status", "serviceEntries"); len(got) != 0 {
			return errString("status.serviceEntries " + join(got))
		}
		entries, err := entriesWithHost(c, host)
		if err != nil {
			return err
		}
		if len(entries) != 0 {
			return errString("ServiceEntries for " + host + " remain: " + join(entries))
		}
		last = u
		return nil
	}))
	t.Logf("%s %s/%s: Ready=False %s: %s", last.GetKind(), last.GetNamespace(), last.GetName(), ready.Reason, ready.Message)
}

// expectOutside checks, from a sidecar in each of the namespaces, that requests for the hosts
// go where they went with no alias at all, and not to Service web of namespace denied.
func expectOutside(t *testing.T, mesh *pilot.Mesh, outside map[string]string, denied string, from ...string) {
	t.Helper()
	hosts := make([]string, 0, len(outside))
	for h := range outside {
		hosts = append(hosts, h)
	}
	slices.Sort(hosts)
	for _, f := range from {
		sc := mesh.Sidecar(f)
		for _, host := range hosts {
			got := run(t, sc, f, httpCall(examplePublicIP, httpPort, host))
			got.Matches(t, simulationResult("", outside[host]))
			if reachesService(sc, got, denied, web, httpPort) == nil {
				t.Errorf("from %s, http://%s still reaches %s/%s", f, host, denied, web)
			}
		}
	}
}
