package pilot_test

import (
	"testing"
)

// Under STRICT PeerAuthentication the backend only accepts Istio mutual TLS, so the alias's
// cluster must originate it towards the endpoint; the endpoint's tlsMode label is what Istio's
// auto mTLS keys on. With tlsMode disabled (a backend outside the mesh) it must send the
// application's bytes as they are. The alias's own cluster is what carries the alias host
// wherever it wins the route (HTTP Host matching, or no Kubernetes Service on the same IP:port).
func TestAliasEntryMutualTLS(t *testing.T) {
	const cluster = "outbound|443||traefik.custom-name"
	cases := []struct {
		name      string
		peerAuthn string
		tlsMode   string
		wantMTLS  bool
		wantMatch string
	}{
		{"strict in abc, backend in mesh", strictInAbc, "istio", true, "tlsMode-istio"},
		{"strict mesh-wide, backend in mesh", strictMeshWide, "istio", true, "tlsMode-istio"},
		{"strict in abc, backend outside mesh", strictInAbc, "disabled", false, "tlsMode-disabled"},
		{"strict mesh-wide, backend outside mesh", strictMeshWide, "disabled", false, "tlsMode-disabled"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			sidecar := newMesh(t, traefikService, joinDocs(aliasEntry("HTTPS", tc.tlsMode), tc.peerAuthn)).Sidecar("default")
			ups, err := sidecar.Upstreams(cluster)
			if err != nil {
				t.Fatal(err)
			}
			if len(ups) != 1 {
				t.Fatalf("want one endpoint, got %+v", ups)
			}
			u := ups[0]
			t.Logf("%s -> %s: transport socket %q, Istio mTLS %v", cluster, u.Endpoint, u.TransportSocket, u.IstioMutualTLS)
			if u.Endpoint != "traefik.abc.svc.cluster.local:443" {
				t.Errorf("endpoint %q, want traefik.abc.svc.cluster.local:443", u.Endpoint)
			}
			if u.IstioMutualTLS != tc.wantMTLS || u.TransportSocket != tc.wantMatch {
				t.Errorf("transport socket %q (Istio mTLS %v), want %q (Istio mTLS %v)",
					u.TransportSocket, u.IstioMutualTLS, tc.wantMatch, tc.wantMTLS)
			}
		})
	}
}
