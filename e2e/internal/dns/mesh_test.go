package dns

import (
	"testing"

	mdns "github.com/miekg/dns"

	"istio.io/istio/pilot/pkg/simulation"
)

// A dual-stack Service as the apiserver stores it, and nothing else.
const dualStackService = `
apiVersion: v1
kind: Service
metadata: {name: traefik, namespace: abc}
spec:
  clusterIP: 10.0.0.12
  clusterIPs: [10.0.0.12, "fd00::c"]
  ipFamilies: [IPv4, IPv6]
  ipFamilyPolicy: RequireDualStack
  selector: {app: traefik}
  ports: [{name: https, port: 443, targetPort: 8443, protocol: TCP}]
`

// TestDualStackCallMatchesAdditionalAddresses checks the one thing Call adds to Istio's simulation: a
// dual-stack sidecar binds the Service's IPv6 ClusterIP as an additional address of the listener
// on its IPv4 one, and a connection to it lands there, where the simulation alone reports the
// catch-all.
func TestDualStackCallMatchesAdditionalAddresses(t *testing.T) {
	m := NewMesh(t, dualStackService, "", true)
	sc := m.Sidecar(m.Proxy("abc", ProxyIPv4, ProxyIPv6))
	if errs := sc.ValidateListeners(); len(errs) > 0 {
		t.Fatalf("invalid listeners: %v", errs)
	}
	if got := sc.ListenerAddresses()["[fd00::c]:443"]; len(got) != 1 || got[0] != "10.0.0.12_443" {
		t.Fatalf("[fd00::c]:443 is bound by %v, want the listener 10.0.0.12_443 alone", got)
	}
	const want = "outbound|443||traefik.abc.svc.cluster.local"
	for _, ip := range []string{"10.0.0.12", "fd00::c"} {
		c := simulation.Call{Address: ip, Port: 443, Protocol: simulation.TCP, TLS: simulation.TLS, Sni: "traefik.abc.svc.cluster.local"}
		got := sc.Call(c)
		t.Log(Describe(c, got))
		if got.Error != nil || got.ListenerMatched != "10.0.0.12_443" || got.ClusterMatched != want {
			t.Errorf("%s, want listener 10.0.0.12_443 and cluster %s", Describe(c, got), want)
		}
	}
	// Without the additional address, the simulation would say otherwise: that is why Call exists.
	c := simulation.Call{Address: "fd00::c", Port: 443, Protocol: simulation.TCP, TLS: simulation.TLS, Sni: "x", CallMode: simulation.CallModeOutbound}
	if got := sc.sim.Run(c); got.ClusterMatched != "PassthroughCluster" {
		t.Logf("note: Istio's simulation now matches additional addresses itself (%s); Call's workaround is no longer needed", Describe(c, got))
	}

}

// TestDualStackNameTableAndAgent checks the DNS proxy's side on the same Service: pilot's name table
// holds both ClusterIPs for a dual-stack proxy, and the agent's DNS server answers A and AAAA.
func TestDualStackNameTableAndAgent(t *testing.T) {
	m := NewMesh(t, dualStackService, "", true)
	p := m.Proxy("default", ProxyIPv4, ProxyIPv6)
	nt := m.NameTable(p)
	host := "traefik.abc.svc.cluster.local"
	ips, ok := Lookup(nt, host)
	if !ok || len(ips) != 2 || ips[0] != "10.0.0.12" || ips[1] != "fd00::c" {
		t.Fatalf("name table %s -> %v (present %v), want [10.0.0.12 fd00::c]", host, ips, ok)
	}
	agent := StartAgent(t, nt, "default")
	for qtype, want := range map[uint16]string{mdns.TypeA: "10.0.0.12", mdns.TypeAAAA: "fd00::c"} {
		got, err := Query(agent, "udp", host, qtype)
		if err != nil {
			t.Fatal(err)
		}
		if err := got.Expect(host, want); err != nil {
			t.Error(err)
		}
	}
}
