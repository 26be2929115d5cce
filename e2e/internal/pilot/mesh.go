package pilot

import (
	"testing"

	"istio.io/istio/pilot/pkg/model"
	"istio.io/istio/pilot/pkg/simulation"
	"istio.io/istio/pilot/test/xds"
)

// Mesh is one in-process istiod fed with fixed Services and Istio config.
type Mesh struct {
	t *testing.T
	s *xds.FakeDiscoveryServer
}

// New starts an in-process istiod. services holds Kubernetes objects (Services, and anything
// else the fake Kubernetes registry reads); config holds Istio config (ServiceEntries,
// PeerAuthentications, ...). Both are multi-document YAML. They must not be mixed: the fake
// server silently ignores Services given as Istio config.
func New(t *testing.T, services, config string) *Mesh {
	t.Helper()
	s := xds.NewFakeDiscoveryServer(t, xds.FakeOptions{
		KubernetesObjectString: services,
		ConfigString:           config,
	})
	return &Mesh{t: t, s: s}
}

// Sidecar is the configuration Istio generates for one sidecar proxy.
type Sidecar struct {
	sim *simulation.Simulation
}

// Sidecar returns the generated configuration of a sidecar whose workload runs in namespace
// (empty means "default"). The namespace matters: exportTo and Sidecar resources are
// evaluated from there.
func (m *Mesh) Sidecar(namespace string) *Sidecar {
	m.t.Helper()
	proxy := m.s.SetupProxy(&model.Proxy{ConfigNamespace: namespace})
	return &Sidecar{sim: simulation.NewSimulation(m.t, m.s, proxy)}
}

// Call simulates one outbound connection through the sidecar's listeners and reports the
// listener, filter chain and cluster it lands on.
func (sc *Sidecar) Call(c simulation.Call) simulation.Result {
	if c.CallMode == "" {
		c.CallMode = simulation.CallModeOutbound
	}
	return sc.sim.Run(c)
}
