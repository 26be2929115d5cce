package pilot_test

import (
	"testing"

	"istio.io/istio/pilot/pkg/simulation"
)

// With the ServiceEntry meshalias writes, unrelated TLS keeps going out untouched, and the alias
// host reaches its own cluster. Both TLS-aware protocols are checked because the Service's port
// name or appProtocol decides which one meshalias writes.
func TestAliasEntryLeavesOtherTrafficAlone(t *testing.T) {
	for _, protocol := range []string{"HTTPS", "TLS"} {
		t.Run("protocol="+protocol, func(t *testing.T) {
			sidecar := newMesh(t, traefikService, aliasEntry(protocol, "istio")).Sidecar("default")
			cases := []struct {
				name string
				call simulation.Call
				want simulation.Result
			}{
				{
					name: "https to a public host passes through",
					call: simulation.Call{Address: publicIP, Port: 443, Protocol: simulation.TCP, TLS: simulation.TLS, Sni: publicSNI},
					want: simulation.Result{ClusterMatched: "PassthroughCluster"},
				},
				{
					name: "https to the alias host reaches its cluster",
					call: simulation.Call{Address: traefikIP, Port: 443, Protocol: simulation.TCP, TLS: simulation.TLS, Sni: "traefik.custom-name"},
					want: simulation.Result{ListenerMatched: traefikIP + "_443", ClusterMatched: "outbound|443||traefik.custom-name"},
				},
			}
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					got := sidecar.Call(tc.call)
					t.Logf("%s:%d sni %q: listener %q, filter chain %q, cluster %q",
						tc.call.Address, tc.call.Port, tc.call.Sni, got.ListenerMatched, got.FilterChainMatched, got.ClusterMatched)
					got.Matches(t, tc.want)
				})
			}
		})
	}
}
