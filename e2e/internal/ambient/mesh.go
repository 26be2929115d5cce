package ambient

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	listener "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"istio.io/istio/pilot/pkg/controllers/ipallocate"
	"istio.io/istio/pilot/pkg/features"
	"istio.io/istio/pilot/pkg/model"
	"istio.io/istio/pilot/pkg/simulation"
	v3 "istio.io/istio/pilot/pkg/xds/v3"
	"istio.io/istio/pilot/test/xds"
	"istio.io/istio/pkg/config/constants"
	"istio.io/istio/pkg/config/host"
	"istio.io/istio/pkg/config/schema/gvk"
	"istio.io/istio/pkg/dns/server"
	kubelib "istio.io/istio/pkg/kube"
	"istio.io/istio/pkg/test"
	"istio.io/istio/pkg/test/util/retry"
	"istio.io/istio/pkg/workloadapi"
)

// Mesh is one in-process istiod in ambient mode, fed with fixed objects.
type Mesh struct {
	t *testing.T
	s *xds.FakeDiscoveryServer
}

// Start starts an in-process istiod with ambient mode on.
//
// kube holds what istiod reads from the Kubernetes API itself: Namespaces, Services, Pods,
// Gateway API objects. istio holds Istio config: ServiceEntries, PeerAuthentications. In a
// cluster both the sidecar code and the ambient index read Istio config from the same CRDs;
// here the sidecar code reads a config store and the ambient index a fake Kubernetes client, so
// istio is given to both (istio's own waypoint tests do the same). Both are multi-document
// YAML.
//
// istiod's ServiceEntry IP auto-allocation controller runs against the fake client, as it does
// in istiod by default (PILOT_ENABLE_IP_AUTOALLOCATE): it writes status.addresses on entries
// without spec.addresses, which the ambient index turns into the entry's VIP.
func Start(t *testing.T, kube, istio string) *Mesh {
	t.Helper()
	if !features.EnableAmbient {
		t.Fatal("istiod's ambient mode is off: the process must start with PILOT_ENABLE_AMBIENT=true (this package's TestMain does it)")
	}
	stop := test.NewStop(t)
	s := xds.NewFakeDiscoveryServer(t, xds.FakeOptions{
		KubernetesObjectString: JoinDocs(kube, istio),
		ConfigString:           istio,
		KubeClientModifier: func(c kubelib.Client) {
			if !features.EnableIPAutoallocate {
				return
			}
			// Created before the client's informers start, as istiod's bootstrap does.
			alloc := ipallocate.NewIPAllocator(stop, c)
			go alloc.Run(stop)
		},
	})
	return &Mesh{t: t, s: s}
}

// JoinDocs joins YAML documents into one stream, with the separator the fake server splits on.
func JoinDocs(docs ...string) string {
	var nonEmpty []string
	for _, d := range docs {
		if strings.TrimSpace(d) != "" {
			nonEmpty = append(nonEmpty, strings.Trim(d, "\n"))
		}
	}
	return strings.Join(nonEmpty, "\n---\n")
}

// AllocatedAddresses waits until istiod's allocator has written status.addresses on the
// ServiceEntry namespace/name, and returns them. It also hands that status to the config store
// the sidecar code reads (in a cluster it is the same object), and waits until the sidecar
// code's service for host carries the address, so sidecars are judged with it too.
func (m *Mesh) AllocatedAddresses(namespace, name, hostname string) []string {
	m.t.Helper()
	var addrs []string
	retry.UntilSuccessOrFail(m.t, func() error {
		se, err := m.s.KubeClient().Istio().NetworkingV1().ServiceEntries(namespace).Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if len(se.Status.Addresses) == 0 {
			return fmt.Errorf("ServiceEntry %s/%s has no allocated address yet", namespace, name)
		}
		addrs = addrs[:0]
		for _, a := range se.Status.Addresses {
			addrs = append(addrs, a.GetValue())
		}
		cfg := m.s.Store().Get(gvk.ServiceEntry, name, namespace)
		if cfg == nil {
			return fmt.Errorf("ServiceEntry %s/%s is not in the config store", namespace, name)
		}
		cfg.Status = proto.Clone(&se.Status)
		_, err = m.s.Store().UpdateStatus(*cfg)
		return err
	}, retry.Timeout(20*time.Second), retry.Delay(10*time.Millisecond))

	retry.UntilSuccessOrFail(m.t, func() error {
		svc := m.s.PushContext().ServiceIndex.HostnameAndNamespace[host.Name(hostname)][namespace]
		if svc == nil || svc.AutoAllocatedIPv4Address == "" {
			return fmt.Errorf("sidecar registry has no allocated address for %s yet", hostname)
		}
		return nil
	}, retry.Timeout(20*time.Second), retry.Delay(10*time.Millisecond))
	return slices.Clone(addrs)
}

// WaitForService waits until the ambient index holds a service for namespace/hostname with a
// VIP. An entry whose VIP comes from the allocator gets it asynchronously.
func (m *Mesh) WaitForService(namespace, hostname string) {
	m.t.Helper()
	retry.UntilSuccessOrFail(m.t, func() error {
		for _, a := range m.s.AmbientIndex.Lookup(namespace + "/" + hostname) {
			if s := a.GetService(); s != nil && len(s.GetAddresses()) > 0 {
				return nil
			}
		}
		return fmt.Errorf("ambient index has no service %s/%s with a VIP", namespace, hostname)
	}, retry.Timeout(20*time.Second), retry.Delay(10*time.Millisecond))
}

// WDS is what istiod sends ztunnel: every service and workload of the mesh.
type WDS struct {
	Services  []*workloadapi.Service
	Workloads []*workloadapi.Workload
}

// Ztunnel connects to istiod as ztunnel does, over delta xDS, subscribes to every address
// (type Address, the workload discovery service) and returns what istiod sends.
func (m *Mesh) Ztunnel() *WDS {
	m.t.Helper()
	m.s.EnsureSynced(m.t)
	ads := m.s.ConnectDeltaADS().WithType(v3.AddressType).WithNodeType(model.Ztunnel).WithTimeout(10 * time.Second)
	defer ads.Cleanup()
	resp := ads.RequestResponseAck(&discovery.DeltaDiscoveryRequest{ResourceNamesSubscribe: []string{"*"}})
	w := &WDS{}
	for _, r := range resp.GetResources() {
		addr := &workloadapi.Address{}
		if err := r.GetResource().UnmarshalTo(addr); err != nil {
			m.t.Fatalf("resource %s: %v", r.GetName(), err)
		}
		switch {
		case addr.GetService() != nil:
			w.Services = append(w.Services, addr.GetService())
		case addr.GetWorkload() != nil:
			w.Workloads = append(w.Workloads, addr.GetWorkload())
		}
	}
	if want := len(m.s.AmbientIndex.All()); len(resp.GetResources()) != want {
		m.t.Fatalf("istiod sent ztunnel %d addresses, its ambient index holds %d", len(resp.GetResources()), want)
	}
	return w
}

// ServiceKey is the key istiod and ztunnel use for a service: namespace/hostname.
func ServiceKey(s *workloadapi.Service) string {
	return s.GetNamespace() + "/" + s.GetHostname()
}

// VIPs returns a service's addresses as strings.
func VIPs(s *workloadapi.Service) []string {
	var out []string
	for _, a := range s.GetAddresses() {
		if ip, ok := netip.AddrFromSlice(a.GetAddress()); ok {
			out = append(out, ip.String())
		}
	}
	return out
}

// ServicesForVIP returns every service istiod sends with ip among its addresses.
func (w *WDS) ServicesForVIP(ip string) []*workloadapi.Service {
	var out []*workloadapi.Service
	for _, s := range w.Services {
		if slices.Contains(VIPs(s), ip) {
			out = append(out, s)
		}
	}
	return out
}

// ServicesForHost returns every service istiod sends with the given hostname.
func (w *WDS) ServicesForHost(hostname string) []*workloadapi.Service {
	var out []*workloadapi.Service
	for _, s := range w.Services {
		if s.GetHostname() == hostname {
			out = append(out, s)
		}
	}
	return out
}

// SharedVIP is a VIP that istiod sends for more than one service in the same namespace.
// ztunnel's ServiceStore (src/state/service.rs, insert_internal) keeps one service per
// namespace per VIP and replaces it on every insert: whichever of these it received last
// answers for the VIP in that namespace.
type SharedVIP struct {
	VIP       string
	Namespace string
	Services  []string // namespace/hostname, sorted
}

func (s SharedVIP) String() string {
	return fmt.Sprintf("%s in namespace %s: %s", s.VIP, s.Namespace, strings.Join(s.Services, ", "))
}

// SharedVIPs returns every VIP istiod sends for more than one service within one namespace.
func (w *WDS) SharedVIPs() []SharedVIP {
	type slot struct{ vip, ns string }
	bySlot := map[slot][]string{}
	for _, s := range w.Services {
		for _, vip := range VIPs(s) {
			k := slot{vip, s.GetNamespace()}
			bySlot[k] = append(bySlot[k], ServiceKey(s))
		}
	}
	var out []SharedVIP
	for k, svcs := range bySlot {
		if len(svcs) > 1 {
			slices.Sort(svcs)
			out = append(out, SharedVIP{VIP: k.vip, Namespace: k.ns, Services: svcs})
		}
	}
	slices.SortFunc(out, func(a, b SharedVIP) int { return strings.Compare(a.String(), b.String()) })
	return out
}

// Endpoints returns the workloads istiod sends as endpoints of the service: those that list
// its key among their services.
func (w *WDS) Endpoints(s *workloadapi.Service) []*workloadapi.Workload {
	var out []*workloadapi.Workload
	for _, wl := range w.Workloads {
		if _, ok := wl.GetServices()[ServiceKey(s)]; ok {
			out = append(out, wl)
		}
	}
	slices.SortFunc(out, func(a, b *workloadapi.Workload) int { return strings.Compare(a.GetUid(), b.GetUid()) })
	return out
}

// Describe says, for one workload, how ztunnel would reach it: its address (or the hostname
// it would resolve), the tunnel protocol, and the waypoint, if any.
func Describe(wl *workloadapi.Workload) string {
	addr := wl.GetHostname()
	for _, a := range wl.GetAddresses() {
		if ip, ok := netip.AddrFromSlice(a); ok {
			addr = ip.String()
		}
	}
	tunnel := "plain TCP"
	if wl.GetTunnelProtocol() == workloadapi.TunnelProtocol_HBONE {
		tunnel = "HBONE"
	}
	return wl.GetNamespace() + "/" + wl.GetName() + " " + addr + " " + tunnel
}

// ResolveLikeZtunnel answers an A query for hostname from a client in clientNamespace the way
// ztunnel's DNS proxy does, over the services istiod sent. This is a model of ztunnel's
// src/dns/server.rs (find_server, get_addresses) and src/state/service.rs (find_best_match,
// visible_to), not ztunnel itself: services with that exact hostname that have a VIP (or a
// hostname under svc.cluster.local), visible to the client's namespace; one in the client's
// namespace first, then a canonical one, then the first. It returns the service's VIPs and
// the service, or nothing when ztunnel would forward the query upstream (to kube-dns).
func (w *WDS) ResolveLikeZtunnel(hostname, clientNamespace string) ([]string, *workloadapi.Service) {
	var best *workloadapi.Service
	rank := 0 // 3: client's namespace, 2: canonical, 1: first
	for _, s := range w.ServicesForHost(hostname) {
		if len(s.GetAddresses()) == 0 && !strings.HasSuffix(s.GetHostname(), ".svc.cluster.local") {
			continue
		}
		if s.GetVisibility() == workloadapi.Service_NAMESPACE && s.GetNamespace() != clientNamespace {
			continue
		}
		r := 1
		switch {
		case s.GetNamespace() == clientNamespace:
			r = 3
		case s.GetCanonical():
			r = 2
		}
		if r > rank {
			best, rank = s, r
		}
	}
	if best == nil {
		return nil, nil
	}
	return VIPs(best), best
}

// NameTable returns the addresses istiod's DNS name table (pkg/dns/server.BuildNameTable, what
// istio-agent serves to a sidecar with DNS capture) holds for hostname, for a sidecar in
// namespace. Nil means the name is not in the table: the query goes to kube-dns.
func (m *Mesh) NameTable(namespace, hostname string) []string {
	m.t.Helper()
	nt := server.BuildNameTable(server.Config{Node: m.proxy(namespace, true), Push: m.s.PushContext()})
	if ni, ok := nt.GetTable()[hostname]; ok {
		return ni.GetIps()
	}
	return nil
}

// Sidecar is the configuration istiod generates for one sidecar proxy.
type Sidecar struct {
	sim *simulation.Simulation
}

// Sidecar returns the generated configuration of a sidecar whose workload runs in namespace.
// dnsCapture is istio-agent's DNS capture (ISTIO_META_DNS_CAPTURE, off by default): only a
// sidecar with it uses the addresses istiod allocates to ServiceEntries without addresses.
func (m *Mesh) Sidecar(namespace string, dnsCapture bool) *Sidecar {
	m.t.Helper()
	return &Sidecar{sim: simulation.NewSimulation(m.t, m.s, m.proxy(namespace, dnsCapture))}
}

// SidecarOf returns the generated configuration of the sidecar of one pod: its namespace,
// address and labels, and whether it runs with ISTIO_META_ENABLE_HBONE. Its Call with
// CallModeInbound says what the sidecar does with a connection that reaches the pod.
func (m *Mesh) SidecarOf(namespace, ip string, labels map[string]string, hbone bool) *Sidecar {
	m.t.Helper()
	p := m.s.SetupProxy(&model.Proxy{
		ConfigNamespace: namespace,
		IPAddresses:     []string{ip},
		Labels:          labels,
		Metadata: &model.NodeMetadata{
			ClusterID:   constants.DefaultClusterName,
			Labels:      labels,
			EnableHBONE: model.StringBool(hbone),
		},
	})
	return &Sidecar{sim: simulation.NewSimulation(m.t, m.s, p)}
}

// ListenerOn returns the name of the sidecar's listener bound to port on any address, or "".
func (sc *Sidecar) ListenerOn(port uint32) string {
	for _, l := range sc.sim.Listeners {
		if l.GetAddress().GetSocketAddress().GetPortValue() == port {
			return l.GetName()
		}
	}
	return ""
}

func (m *Mesh) proxy(namespace string, dnsCapture bool) *model.Proxy {
	return m.s.SetupProxy(&model.Proxy{
		ConfigNamespace: namespace,
		Metadata: &model.NodeMetadata{
			ClusterID:  constants.DefaultClusterName,
			DNSCapture: model.StringBool(dnsCapture),
		},
	})
}

// Call simulates one outbound connection through the sidecar's listeners and reports the
// listener, filter chain and cluster it lands on.
func (sc *Sidecar) Call(c simulation.Call) simulation.Result {
	if c.CallMode == "" {
		c.CallMode = simulation.CallModeOutbound
	}
	return sc.sim.Run(c)
}

// Waypoint is the configuration istiod generates for one waypoint proxy.
type Waypoint struct {
	t    *testing.T
	main *listener.Listener // main_internal: where the waypoint picks a service by destination
}

// Waypoint returns the generated configuration of the waypoint proxy of the Gateway
// namespace/name, whose pod has address ip.
func (m *Mesh) Waypoint(namespace, name, ip string) *Waypoint {
	m.t.Helper()
	p := m.s.SetupProxy(&model.Proxy{
		Type:            model.Waypoint,
		ConfigNamespace: namespace,
		IPAddresses:     []string{ip},
		Labels: map[string]string{
			"gateway.networking.k8s.io/gateway-name": name,
			"gateway.istio.io/managed":               constants.ManagedGatewayMeshControllerLabel,
		},
		Metadata: &model.NodeMetadata{ClusterID: constants.DefaultClusterName},
	})
	for _, l := range m.s.Listeners(p) {
		if l.GetName() == "main_internal" {
			return &Waypoint{t: m.t, main: l}
		}
	}
	m.t.Fatalf("no main_internal listener for waypoint %s/%s", namespace, name)
	return nil
}

// VIPMatchers returns, in order, every IP range matcher of the waypoint's destination matcher
// that covers the VIP, each as the filter chains it maps ports to ("port -> chain"; a port
// whose protocol is sniffed lists each chain it can reach, separated by " | "). istiod writes
// one range matcher per service: a VIP that two services share gets two matchers for the same
// address.
func (w *Waypoint) VIPMatchers(vip string) [][]string {
	w.t.Helper()
	// The matcher is read as JSON: its typed configs are xds matcher types whose Go module this
	// module does not require directly.
	raw, err := protojson.Marshal(w.main.GetFilterChainMatcher())
	if err != nil {
		w.t.Fatal(err)
	}
	var tree struct {
		MatcherTree struct {
			CustomMatch struct {
				TypedConfig struct {
					RangeMatchers []struct {
						Ranges []struct {
							AddressPrefix string `json:"addressPrefix"`
						} `json:"ranges"`
						OnMatch struct {
							Matcher struct {
								MatcherTree struct {
									ExactMatchMap struct {
										Map map[string]any `json:"map"`
									} `json:"exactMatchMap"`
								} `json:"matcherTree"`
							} `json:"matcher"`
						} `json:"onMatch"`
					} `json:"rangeMatchers"`
				} `json:"typedConfig"`
			} `json:"customMatch"`
		} `json:"matcherTree"`
	}
	if err := json.Unmarshal(raw, &tree); err != nil {
		w.t.Fatal(err)
	}
	var out [][]string
	for _, rm := range tree.MatcherTree.CustomMatch.TypedConfig.RangeMatchers {
		matches := false
		for _, r := range rm.Ranges {
			matches = matches || r.AddressPrefix == vip
		}
		if !matches {
			continue
		}
		var chains []string
		for port, m := range rm.OnMatch.Matcher.MatcherTree.ExactMatchMap.Map {
			var names []string
			actionNames(m, &names)
			chains = append(chains, port+" -> "+strings.Join(names, " | "))
		}
		slices.Sort(chains)
		out = append(out, chains)
	}
	return out
}

// actionNames collects, depth first, the distinct names of every matcher action under v.
func actionNames(v any, names *[]string) {
	switch x := v.(type) {
	case map[string]any:
		if a, ok := x["action"].(map[string]any); ok {
			if n, ok := a["name"].(string); ok && !slices.Contains(*names, n) {
				*names = append(*names, n)
			}
		}
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			actionNames(x[k], names)
		}
	case []any:
		for _, e := range x {
			actionNames(e, names)
		}
	}
}

// WaypointRoute is one HTTP route of a waypoint.
type WaypointRoute struct {
	FilterChain string   // inbound-vip|<port>|http|<service host>
	Domains     []string // of its virtual host
	Name        string
	// HostMatch is the route's match on the Host header, "none" when it has none: the route
	// then serves every Host sent to that service's VIP and port.
	HostMatch string
}

func (r WaypointRoute) String() string {
	return fmt.Sprintf("%s: domains %v, route %q, Host match %s", r.FilterChain, r.Domains, r.Name, r.HostMatch)
}

// HTTPRoutes returns the HTTP routes of every service filter chain of the waypoint.
func (w *Waypoint) HTTPRoutes() []WaypointRoute {
	w.t.Helper()
	var out []WaypointRoute
	for _, fc := range w.main.GetFilterChains() {
		if !strings.HasPrefix(fc.GetName(), "inbound-vip|") {
			continue
		}
		for _, f := range fc.GetFilters() {
			hcm := &hcmv3.HttpConnectionManager{}
			if f.GetTypedConfig() == nil || !f.GetTypedConfig().MessageIs(hcm) {
				continue
			}
			if err := f.GetTypedConfig().UnmarshalTo(hcm); err != nil {
				w.t.Fatal(err)
			}
			for _, vh := range hcm.GetRouteConfig().GetVirtualHosts() {
				for _, r := range vh.GetRoutes() {
					hostMatch := "none"
					for _, h := range r.GetMatch().GetHeaders() {
						if h.GetName() == ":authority" || strings.EqualFold(h.GetName(), "host") {
							hostMatch = h.String()
						}
					}
					out = append(out, WaypointRoute{fc.GetName(), vh.GetDomains(), r.GetName(), hostMatch})
				}
			}
		}
	}
	slices.SortFunc(out, func(a, b WaypointRoute) int { return strings.Compare(a.String(), b.String()) })
	return out
}

// ZtunnelVIPSlots replays, on a model of ztunnel's ServiceStore, the insertion of services in
// the given order, and returns which service each namespace's slot of each VIP holds at the
// end: vip -> namespace -> namespace/hostname. This models ztunnel's src/state/service.rs
// (insert_internal: a service replaces the one of its own namespace under each of its VIPs);
// it does not run ztunnel.
func ZtunnelVIPSlots(inserted ...*workloadapi.Service) map[string]map[string]string {
	slots := map[string]map[string]string{}
	for _, s := range inserted {
		for _, vip := range VIPs(s) {
			if slots[vip] == nil {
				slots[vip] = map[string]string{}
			}
			slots[vip][s.GetNamespace()] = ServiceKey(s)
		}
	}
	return slots
}
