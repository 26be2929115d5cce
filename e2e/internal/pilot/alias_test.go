package pilot_test

import (
	"testing"

	"istio.io/istio/pilot/pkg/simulation"
)

// With the ServiceEntry meshalias writes, unrelated TLS keeps going out untouched, and a
// connection for the alias host reaches traefik. Both TLS-aware protocols are checked because
// the Service's port name or appProtocol decides which one meshalias writes.
//
// Which cluster carries the alias host depends on whether istiod also sees the Kubernetes
// Service: the entry shares the Service's ClusterIP and port, a TLS/TCP listener on a specific
// IP has a single filter chain without SNI matching, and Istio gives that listener to the
// Kubernetes Service (whatever the ages). So in a real cluster the alias host rides on the
// Service's own cluster, which has the same backends; the alias's own cluster only carries it
// when the Service is not in the registry.
func TestAliasEntryLeavesOtherTrafficAlone(t *testing.T) {
	aliasCall := simulation.Call{Address: traefikIP, Port: 443, Protocol: simulation.TCP, TLS: simulation.TLS, Sni: "traefik.custom-name"}
	publicCall := simulation.Call{Address: publicIP, Port: 443, Protocol: simulation.TCP, TLS: simulation.TLS, Sni: publicSNI}
	for _, protocol := range []string{"HTTPS", "TLS"} {
		cases := []struct {
			name     string
			services string
			call     simulation.Call
			want     simulation.Result
		}{
			{
				name:     "https to a public host passes through",
				services: traefikService,
				call:     publicCall,
				want:     simulation.Result{ListenerMatched: "virtualOutbound", ClusterMatched: "PassthroughCluster"},
			},
			{
				name:     "https to the alias host reaches the Service's cluster",
				services: traefikService,
				call:     aliasCall,
				want:     simulation.Result{ListenerMatched: traefikIP + "_443", ClusterMatched: "outbound|443||traefik.abc.svc.cluster.local"},
			},
			{
				name:     "without the Service in the registry, the alias host reaches its own cluster",
				services: "",
				call:     aliasCall,
				want:     simulation.Result{ListenerMatched: traefikIP + "_443", ClusterMatched: "outbound|443||traefik.custom-name"},
			},
			{
				name:     "without the Service in the registry, https to a public host still passes through",
				services: "",
				call:     publicCall,
				want:     simulation.Result{ListenerMatched: "virtualOutbound", ClusterMatched: "PassthroughCluster"},
			},
		}
		for _, tc := range cases {
			t.Run(protocol+"/"+tc.name, func(t *testing.T) {
				got := newMesh(t, tc.services, aliasEntry(protocol, "istio")).Sidecar("default").Call(tc.call)
				t.Logf("%s:%d sni %q: listener %q, filter chain %q, cluster %q",
					tc.call.Address, tc.call.Port, tc.call.Sni, got.ListenerMatched, got.FilterChainMatched, got.ClusterMatched)
				got.Matches(t, tc.want)
			})
		}
	}
}
