package e2e_test

import (
	"context"
	"slices"
	"strconv"
	"testing"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/meshalias/meshalias/e2e/internal/controlplane"
	"github.com/meshalias/meshalias/e2e/internal/live"
	"github.com/meshalias/meshalias/e2e/internal/pilot"
	"github.com/meshalias/meshalias/e2e/internal/plugin"
)

// elsewhere is a namespace with no config of its own, whose sidecars see only what is
// exported to every namespace.
const elsewhere = "elsewhere"

// verdict is what happens to an unrelated TLS connection on the entry's port from one
// namespace's sidecars.
type verdict string

const (
	// hijacked: the connection goes to the entry's cluster, that is, to the entry's endpoints.
	hijacked verdict = "hijacked"
	// claimed: the entry's cluster takes it, but that cluster is ORIGINAL_DST, so the connection
	// still reaches where it was going (resolution NONE).
	claimed verdict = "claimed, passed through"
	// untouched: the entry plays no part.
	untouched verdict = "untouched"
)

// TestAuditAgreesWithPilot creates unsafe and safe ServiceEntries live, each alone in its own
// namespace, and checks that `kubectl meshalias audit` says of each what Istio's own pilot does
// with it: a TLS connection to 220.181.38.148 on the entry's port, from a sidecar in the
// entry's namespace and from one elsewhere, lands on the entry's cluster exactly when the audit
// reports the entry as critical for that namespace; resolution NONE is info, and pilot passes
// the connection to its original destination.
func TestAuditAgreesWithPilot(t *testing.T) {
	ctx := context.Background()
	bins := buildBinaries(t)
	cluster := controlplane.Run(t)
	c := cluster.Client

	cases := []struct {
		name string
		// spec of a ServiceEntry for host <name>.legacy, in YAML flow style.
		spec     string
		port     int
		severity string // "" for no finding
		// want is pilot's verdict from the entry's namespace and from elsewhere.
		want, wantElsewhere verdict
		affected            []string // "" stands for the entry's namespace
	}{
		{"tcp-dns", `{location: MESH_INTERNAL, resolution: DNS, ports: [{name: tcp-443, number: 443, protocol: TCP}]}`,
			443, "critical", hijacked, hijacked, []string{"*"}},
		{"unset-protocol", `{location: MESH_INTERNAL, resolution: DNS, ports: [{name: https-443, number: 443}]}`,
			443, "critical", hijacked, hijacked, []string{"*"}},
		{"mongo", `{location: MESH_INTERNAL, resolution: DNS, ports: [{name: mongo, number: 27017, protocol: MONGO}]}`,
			27017, "critical", hijacked, hijacked, []string{"*"}},
		{"static-endpoint", `{location: MESH_INTERNAL, resolution: STATIC, endpoints: [{address: 10.1.2.3}], ports: [{name: tcp-9443, number: 9443, protocol: TCP}]}`,
			9443, "critical", hijacked, hijacked, []string{"*"}},
		{"https", `{location: MESH_INTERNAL, resolution: DNS, ports: [{name: https-443, number: 443, protocol: HTTPS}]}`,
			443, "", untouched, untouched, nil},
		{"tls", `{location: MESH_INTERNAL, resolution: DNS, ports: [{name: tls-443, number: 443, protocol: TLS}]}`,
			443, "", untouched, untouched, nil},
		{"with-addresses", `{location: MESH_INTERNAL, resolution: DNS, addresses: [10.1.2.4], ports: [{name: tcp-443, number: 443, protocol: TCP}]}`,
			443, "", untouched, untouched, nil},
		{"resolution-none", `{location: MESH_INTERNAL, resolution: NONE, ports: [{name: tcp-443, number: 443, protocol: TCP}]}`,
			443, "info", claimed, claimed, []string{"*"}},
		{"export-to-own-namespace", `{location: MESH_INTERNAL, resolution: DNS, exportTo: ["."], ports: [{name: tcp-443, number: 443, protocol: TCP}]}`,
			443, "critical", hijacked, untouched, []string{""}},
	}

	must(t, c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: elsewhere}}))
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			namespace := "case-" + tc.name
			host := tc.name + ".legacy"
			must(t, c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}}))
			create(t, c, `
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: legacy, namespace: `+namespace+`, labels: {app.kubernetes.io/managed-by: dns-controller}}
spec:
  hosts: [`+host+`]
  `+flowToBlock(tc.spec))

			// What the audit says.
			res, err := plugin.Audit(bins.Plugin, cluster.AdminKubeconfig, "-n", namespace)
			must(t, err)
			f, found := res.Find(namespace, "legacy")
			t.Logf("audit -n %s: exit %d, finding %+v", namespace, res.ExitCode, f)
			wantExit := plugin.ExitClean
			if tc.severity == "critical" {
				wantExit = plugin.ExitFindings
			}
			if res.ExitCode != wantExit {
				t.Errorf("audit exit %d, want %d", res.ExitCode, wantExit)
			}
			if got := f.Severity; got != tc.severity || found != (tc.severity != "") {
				t.Errorf("audit severity %q (found %v), want %q", got, found, tc.severity)
			}
			wantAffected := slices.Clone(tc.affected)
			for i, a := range wantAffected {
				if a == "" {
					wantAffected[i] = namespace
				}
			}
			if found && !slices.Equal(f.AffectedNamespaces, wantAffected) {
				t.Errorf("audit affectedNamespaces %v, want %v", f.AffectedNamespaces, wantAffected)
			}
			if found && !slices.Equal(f.Ports, []string{strconv.Itoa(tc.port) + "/" + portProtocol(tc.spec)}) {
				t.Errorf("audit ports %v, want [%d/%s]", f.Ports, tc.port, portProtocol(tc.spec))
			}

			// What Istio's pilot does, from the entry's namespace and from elsewhere.
			snap, err := live.Read(ctx, c, nil, []string{namespace})
			must(t, err)
			mesh := snap.Mesh(t)
			for _, side := range []struct {
				from string
				want verdict
			}{{namespace, tc.want}, {elsewhere, tc.wantElsewhere}} {
				got := pilotVerdict(t, mesh.Sidecar(side.from), side.from, host, tc.port)
				if got != side.want {
					t.Errorf("pilot, from %s: %s, want %s", side.from, got, side.want)
				}
				// And the two agree: critical for a namespace iff its sidecars are hijacked, info
				// iff they claim the port and pass the connection on.
				reaches := found && (slices.Contains(f.AffectedNamespaces, "*") || slices.Contains(f.AffectedNamespaces, side.from))
				auditSays := untouched
				switch {
				case reaches && f.Severity == "critical":
					auditSays = hijacked
				case reaches && f.Severity == "info":
					auditSays = claimed
				}
				if auditSays != got {
					t.Errorf("from %s: the audit implies %q, Istio's pilot does %q", side.from, auditSays, got)
				}
			}
		})
	}
}

// pilotVerdict simulates `curl https://baidu.com:<port>` (a TLS connection to 220.181.38.148
// with SNI baidu.com) from a sidecar in namespace from.
func pilotVerdict(t *testing.T, sc *pilot.Sidecar, from, host string, port int) verdict {
	t.Helper()
	got := run(t, sc, from, tlsCall(publicIP, port, publicSNI))
	if got.ClusterMatched != entryCluster(host, port) {
		return untouched
	}
	if cl := sc.Cluster(got.ClusterMatched); cl != nil && cl.GetType() == clusterv3.Cluster_ORIGINAL_DST {
		return claimed
	}
	return hijacked
}
