package dns

import (
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"testing"

	listener "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	"google.golang.org/protobuf/proto"

	"istio.io/istio/pilot/pkg/features"
	"istio.io/istio/pilot/pkg/model"
	"istio.io/istio/pilot/pkg/simulation"
	"istio.io/istio/pilot/test/xds"
	"istio.io/istio/pilot/test/xdstest"
	"istio.io/istio/pkg/config/constants"
	dnsclient "istio.io/istio/pkg/dns/client"
	dnsproto "istio.io/istio/pkg/dns/proto"
	dnsserver "istio.io/istio/pkg/dns/server"
	"istio.io/istio/pkg/test"
)

// Addresses a test proxy runs with: one per IP family. Any addresses do, as long as no Service
// has them.
const (
	ProxyIPv4 = "192.168.7.7"
	ProxyIPv6 = "2001:db8::7"
)

// Mesh is one in-process istiod fed with fixed Services and Istio config, as pilot.Mesh, but
// with DNS capture and, optionally, Istio's dual-stack support (ISTIO_DUAL_STACK) turned on.
type Mesh struct {
	t *testing.T
	s *xds.FakeDiscoveryServer
}

// NewMesh starts an in-process istiod. services holds Kubernetes objects, config Istio config,
// both as multi-document YAML (see live.Snapshot). With dualStack, pilot runs as istiod does with
// ISTIO_DUAL_STACK=true, until the test ends: the setting is process-wide, so tests that use it
// must not run in parallel with other pilot tests.
func NewMesh(t *testing.T, services, config string, dualStack bool) *Mesh {
	t.Helper()
	if dualStack {
		test.SetForTest(t, &features.EnableDualStack, true)
	}
	s := xds.NewFakeDiscoveryServer(t, xds.FakeOptions{
		KubernetesObjectString: services,
		ConfigString:           config,
	})
	return &Mesh{t: t, s: s}
}

// Proxy is a sidecar in namespace with DNS capture on (ISTIO_META_DNS_CAPTURE=true), whose pod
// has the given IPs: ProxyIPv4 for a single-stack one, ProxyIPv4 and ProxyIPv6 for a dual-stack
// one.
func (m *Mesh) Proxy(namespace string, ips ...string) *model.Proxy {
	m.t.Helper()
	return m.s.SetupProxy(&model.Proxy{
		ConfigNamespace: namespace,
		IPAddresses:     ips,
		// A sidecar says which cluster it runs in; pilot reads a Kubernetes Service's ClusterIPs
		// for that cluster, and without it falls back to the Service's first ClusterIP alone.
		Metadata: &model.NodeMetadata{DNSCapture: true, ClusterID: constants.DefaultClusterName},
	})
}

// NameTable is the table istiod sends the proxy for its DNS proxy: every host its SidecarScope
// sees, with the addresses to answer.
func (m *Mesh) NameTable(p *model.Proxy) *dnsproto.NameTable {
	return dnsserver.BuildNameTable(dnsserver.Config{Node: p, Push: m.s.PushContext()})
}

// Lookup returns the addresses a name table holds for host, sorted, and whether it has the host.
func Lookup(nt *dnsproto.NameTable, host string) ([]string, bool) {
	ni, ok := nt.GetTable()[host]
	if !ok {
		return nil, false
	}
	ips := slices.Clone(ni.GetIps())
	slices.Sort(ips)
	return ips, true
}

// StartAgent runs the DNS server of Istio's sidecar agent (pkg/dns/client, what answers a
// DNS-capturing pod's queries) on a free port of 127.0.0.1, UDP and TCP, loaded with nt, for a
// proxy in namespace. It returns the address to query. Names it does not know it forwards to
// this machine's resolv.conf servers, so only ask it for names the table should hold.
func StartAgent(t *testing.T, nt *dnsproto.NameTable, namespace string) string {
	t.Helper()
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		ports, err := freePorts(1)
		if err != nil {
			t.Fatal(err)
		}
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[0]))
		agent, err := dnsclient.NewLocalDNSServer(namespace, namespace+".svc.cluster.local", addr)
		if err != nil {
			lastErr = err
			continue
		}
		agent.UpdateLookupTable(nt)
		agent.StartDNS()
		t.Cleanup(agent.Close)
		return addr
	}
	t.Fatalf("starting the sidecar agent's DNS server: %v", lastErr)
	return ""
}

// Sidecar is the listeners and clusters pilot generates for one proxy, and how they route.
type Sidecar struct {
	t   *testing.T
	sim *simulation.Simulation
}

// Sidecar generates the configuration of proxy p.
func (m *Mesh) Sidecar(p *model.Proxy) *Sidecar {
	m.t.Helper()
	return &Sidecar{t: m.t, sim: simulation.NewSimulation(m.t, m.s, p)}
}

// Listeners are the sidecar's listeners.
func (sc *Sidecar) Listeners() []*listener.Listener { return sc.sim.Listeners }

// ValidateListeners runs Istio's own checks of a listener set (xdstest.ValidateListeners: every
// listener valid, no address bound twice, sane filter chain matches) and returns what they
// found, instead of failing the test, so that a test can show a broken set as evidence.
func (sc *Sidecar) ValidateListeners() []string {
	r := &recorder{TB: sc.t}
	xdstest.ValidateListeners(r, sc.sim.Listeners)
	return r.errs
}

// ListenerAddresses lists every address the sidecar's listeners bind, "ip:port" ("[ip]:port"
// for IPv6), with the names of the listeners that bind it: more than one is a conflict.
func (sc *Sidecar) ListenerAddresses() map[string][]string {
	out := map[string][]string{}
	for _, l := range sc.sim.Listeners {
		for _, a := range append([]*listener.AdditionalAddress{{Address: l.GetAddress()}}, l.GetAdditionalAddresses()...) {
			sa := a.GetAddress().GetSocketAddress()
			key := net.JoinHostPort(sa.GetAddress(), strconv.Itoa(int(sa.GetPortValue())))
			out[key] = append(out[key], l.GetName())
		}
	}
	return out
}

// Call simulates one outbound connection. Unlike simulation.Run, it matches a listener by its
// additional addresses too, as Envoy does: a dual-stack sidecar binds a Service's IPv6 ClusterIP
// as an additional address of the listener on its IPv4 one, sharing its filter chains, and the
// simulation alone would miss it and report the connection as falling through to the
// catch-all listeners.
func (sc *Sidecar) Call(c simulation.Call) simulation.Result {
	if c.CallMode == "" {
		c.CallMode = simulation.CallModeOutbound
	}
	sim := sc.sim
	if l, i := sc.additionalMatch(c.Address, c.Port); l != nil {
		// The listener, as Envoy sees it for this connection: bound at the address it came in on.
		moved := proto.Clone(l).(*listener.Listener)
		moved.Address = moved.GetAdditionalAddresses()[i].GetAddress()
		cp := *sc.sim
		cp.Listeners = slices.Clone(sc.sim.Listeners)
		cp.Listeners[slices.Index(sc.sim.Listeners, l)] = moved
		sim = &cp
	}
	return sim.Run(c)
}

// additionalMatch returns the listener that binds address:port as an additional address, and
// that address's index, unless a listener binds it as its own address.
func (sc *Sidecar) additionalMatch(address string, port int) (*listener.Listener, int) {
	for _, l := range sc.sim.Listeners {
		if sa := l.GetAddress().GetSocketAddress(); sa.GetAddress() == address && int(sa.GetPortValue()) == port {
			return nil, 0
		}
	}
	for _, l := range sc.sim.Listeners {
		for i, a := range l.GetAdditionalAddresses() {
			if sa := a.GetAddress().GetSocketAddress(); sa.GetAddress() == address && int(sa.GetPortValue()) == port {
				return l, i
			}
		}
	}
	return nil, 0
}

// Describe is a one-line account of a call's result, for logs.
func Describe(c simulation.Call, r simulation.Result) string {
	s := fmt.Sprintf("%s %s -> listener %q chain %q cluster %q", c.Protocol, net.JoinHostPort(c.Address, strconv.Itoa(c.Port)), r.ListenerMatched, r.FilterChainMatched, r.ClusterMatched)
	if r.Error != nil {
		s += fmt.Sprintf(" error %v", r.Error)
	}
	return s
}

// Endpoints returns the endpoints ("address:port") of a cluster the sidecar has, for a cluster
// with inline endpoints (a ServiceEntry with DNS resolution, say), or an error.
func (sc *Sidecar) Endpoints(cluster string) ([]string, error) {
	for _, c := range sc.sim.Clusters {
		if c.GetName() != cluster {
			continue
		}
		var out []string
		for _, loc := range c.GetLoadAssignment().GetEndpoints() {
			for _, lb := range loc.GetLbEndpoints() {
				sa := lb.GetEndpoint().GetAddress().GetSocketAddress()
				out = append(out, net.JoinHostPort(sa.GetAddress(), strconv.Itoa(int(sa.GetPortValue()))))
			}
		}
		if len(out) == 0 {
			return nil, fmt.Errorf("cluster %q has no inline endpoints (type %v)", cluster, c.GetType())
		}
		return out, nil
	}
	return nil, fmt.Errorf("no cluster %q", cluster)
}

// recorder is a testing.TB that keeps errors instead of failing the test.
type recorder struct {
	testing.TB
	errs []string
}

func (r *recorder) Error(args ...any) {
	r.errs = append(r.errs, strings.TrimSuffix(fmt.Sprintln(args...), "\n"))
}
func (r *recorder) Errorf(format string, args ...any) {
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}
func (r *recorder) Fatal(args ...any) { r.Error(args...) }
func (r *recorder) Fatalf(format string, args ...any) {
	r.Errorf(format, args...)
}
func (r *recorder) Fail()        { r.errs = append(r.errs, "failed") }
func (r *recorder) FailNow()     { r.Fail() }
func (r *recorder) Failed() bool { return len(r.errs) > 0 }
