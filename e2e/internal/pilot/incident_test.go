package pilot_test

import (
	"testing"

	"istio.io/istio/pilot/pkg/simulation"
)

// The incident: an address-less MESH_INTERNAL ServiceEntry with a TCP (or unset) port 443 makes
// every sidecar send all outbound TLS on port 443, to any destination, to the alias's backend.
func TestLegacyEntryHijacksAllTLSOn443(t *testing.T) {
	for _, protocol := range []string{"TCP", ""} {
		name := protocol
		if name == "" {
			name = "unset"
		}
		t.Run("protocol="+name, func(t *testing.T) {
			mesh := newMesh(t, traefikService, legacyEntry(protocol))
			got := mesh.Sidecar("default").Call(simulation.Call{
				Address:  publicIP,
				Port:     443,
				Protocol: simulation.TCP,
				TLS:      simulation.TLS,
				Sni:      publicSNI,
			})
			t.Logf("https://%s (%s:443) from namespace default: listener %q, filter chain %q, cluster %q",
				publicSNI, publicIP, got.ListenerMatched, got.FilterChainMatched, got.ClusterMatched)
			got.Matches(t, simulation.Result{
				ListenerMatched: "0.0.0.0_443",
				ClusterMatched:  "outbound|443||traefik.cutom-name",
			})
		})
	}
}
