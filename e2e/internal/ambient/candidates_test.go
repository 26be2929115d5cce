package ambient_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"istio.io/istio/pilot/pkg/simulation"
	"istio.io/istio/pkg/workloadapi"

	"github.com/meshalias/meshalias/e2e/internal/ambient"
	"github.com/meshalias/meshalias/e2e/internal/pilot"
)

// verdict is what users of one alias shape would see, measured with istiod's own code. Address
// columns name the kind of address, not the value: "ClusterIP" (the Service's, 10.0.0.12),
// "allocated" (istiod's allocator, 240.240.0.0/16), "own VIP" (an address of the entry's own),
// "none".
type verdict struct {
	// ClusterIPServices: every service istiod sends ztunnel for the Service's ClusterIP.
	ClusterIPServices []string
	// SharedVIPs: every VIP istiod sends for more than one service within one namespace.
	SharedVIPs []string
	// AliasVIP: the addresses of the service istiod sends for the alias host.
	AliasVIP string
	// AliasWaypoint: the waypoint istiod binds that service to, if any (ztunnel then sends its
	// traffic to the waypoint, over HBONE).
	AliasWaypoint string
	// AliasEndpoints: how that service's endpoints are reached: "HBONE" (every one), "plain
	// TCP" (every one), "none" (no service, or no endpoints).
	AliasEndpoints string
	// TraefikWaypoint: the waypoint istiod binds the Service traefik to, if any.
	TraefikWaypoint string
	// DNSFromAmb and DNSFromSide: what ztunnel's DNS proxy answers for the alias host to a
	// client in namespace amb or side (modelled from ztunnel's source over what istiod sends).
	DNSFromAmb, DNSFromSide string
	// NameTable: what istiod's DNS name table answers for the alias host to a sidecar in side
	// with DNS capture.
	NameTable string
	// PublicTLS and PublicTLSDNSCapture: the cluster a sidecar in namespace side sends
	// https://baidu.com (220.181.38.148:443, SNI baidu.com) to, without and with DNS capture.
	PublicTLS, PublicTLSDNSCapture string
	// Only when amb has a waypoint: WaypointVIPMatchers counts the destination matchers istiod
	// gives the waypoint for the ClusterIP, WaypointVIPServices names the services they lead
	// to, and AliasRouteOnWaypoint lists where the candidate's route (if any) sits: filter
	// chain and Host match.
	WaypointVIPMatchers  int
	WaypointVIPServices  []string
	AliasRouteOnWaypoint []string
}

type candidate struct {
	id, title string
	// ambLabels are extra labels on namespace amb.
	ambLabels []string
	// kube and istio are the candidate's own objects, on top of the shared cluster; entry is
	// the candidate's ServiceEntry alone (nil: none), validated with Istio's validation.
	kube, istio func(portVariant) string
	entry       func(portVariant) string
	// allocates: the entry has no spec.addresses, so istiod's allocator gives it one.
	allocates bool
	// want is the verdict per port variant id.
	want map[string]verdict
}

func none(portVariant) string { return "" }

const (
	passthrough = "PassthroughCluster"
	hijacked    = "outbound|443||traefik.custom-name"
)

var (
	bothServices = []string{"amb/" + serviceHost, "amb/" + aliasHost}
	onlyService  = []string{"amb/" + serviceHost}
	sharedSlot   = []string{clusterIP + " in namespace amb: amb/" + serviceHost + ", amb/" + aliasHost}
	waypointRef  = "amb/" + waypointHost
)

// both is a verdict that does not depend on how the Service names its ports.
func both(v verdict) map[string]verdict {
	return map[string]verdict{"tcp": v, "istio-names": v}
}

// byPorts is a verdict that differs only in where a sidecar sends the public TLS call without
// DNS capture: tcpPublicTLS when meshalias writes TCP ports, PassthroughCluster otherwise.
func byPorts(v verdict, tcpPublicTLS string) map[string]verdict {
	tcp := v
	tcp.PublicTLS = tcpPublicTLS
	v.PublicTLS = passthrough
	return map[string]verdict{"tcp": tcp, "istio-names": v}
}

var candidates = []candidate{
	{
		id:    "0",
		title: "today's entry: addresses = ClusterIP, endpoint = the Service's DNS name",
		kube:  none, istio: todaysEntry, entry: todaysEntry,
		// The reason meshalias refuses ambient: istiod sends ztunnel two services for the
		// ClusterIP in namespace amb, and the alias's one reaches traefik over plain TCP.
		want: both(verdict{
			ClusterIPServices: bothServices, SharedVIPs: sharedSlot,
			AliasVIP: "ClusterIP", AliasEndpoints: "plain TCP",
			DNSFromAmb: "ClusterIP", DNSFromSide: "ClusterIP", NameTable: "ClusterIP",
			PublicTLS: passthrough, PublicTLSDNSCapture: passthrough,
		}),
	},
	{
		id:        "0w",
		title:     "today's entry, in a namespace that uses a waypoint",
		ambLabels: []string{"istio.io/use-waypoint: waypoint"},
		kube:      func(portVariant) string { return waypointObjects },
		istio:     todaysEntry, entry: todaysEntry,
		// A waypoint does not help: the VIP is still shared in ztunnel, and the waypoint itself
		// gets two destination matchers for the same /32.
		want: both(verdict{
			ClusterIPServices: bothServices, SharedVIPs: sharedSlot,
			AliasVIP: "ClusterIP", AliasWaypoint: waypointRef, AliasEndpoints: "plain TCP",
			TraefikWaypoint: waypointRef,
			DNSFromAmb:      "ClusterIP", DNSFromSide: "ClusterIP", NameTable: "ClusterIP",
			PublicTLS: passthrough, PublicTLSDNSCapture: passthrough,
			WaypointVIPMatchers: 2, WaypointVIPServices: []string{serviceHost, aliasHost},
		}),
	},
	{
		id:    "a",
		title: "no addresses (istiod allocates), workloadSelector = the Service's pod selector",
		kube:  none, istio: func(v portVariant) string { return selectorEntry(v, "") },
		entry:     func(v portVariant) string { return selectorEntry(v, "") },
		allocates: true,
		// Safe for ztunnel, but a sidecar without DNS capture gets the incident's 0.0.0.0:443
		// listener when the port is TCP.
		want: byPorts(verdict{
			ClusterIPServices: onlyService,
			AliasVIP:          "allocated", AliasEndpoints: "HBONE",
			DNSFromAmb: "allocated", DNSFromSide: "allocated", NameTable: "allocated",
			PublicTLSDNSCapture: passthrough,
		}, hijacked),
	},
	{
		id:    "a*",
		title: "an address of the entry's own (not the ClusterIP), workloadSelector = the Service's pod selector",
		kube:  none, istio: func(v portVariant) string { return selectorEntry(v, dedicatedVIP) },
		entry: func(v portVariant) string { return selectorEntry(v, dedicatedVIP) },
		want: both(verdict{
			ClusterIPServices: onlyService,
			AliasVIP:          "own VIP", AliasEndpoints: "HBONE",
			DNSFromAmb: "own VIP", DNSFromSide: "own VIP", NameTable: "own VIP",
			PublicTLS: passthrough, PublicTLSDNSCapture: passthrough,
		}),
	},
	{
		id:    "b",
		title: "no addresses (istiod allocates), endpoint = the Service's DNS name",
		kube:  none, istio: hostnameEntry, entry: hostnameEntry,
		allocates: true,
		want: byPorts(verdict{
			ClusterIPServices: onlyService,
			AliasVIP:          "allocated", AliasEndpoints: "plain TCP",
			DNSFromAmb: "allocated", DNSFromSide: "allocated", NameTable: "allocated",
			PublicTLSDNSCapture: passthrough,
		}, hijacked),
	},
	{
		id:        "c",
		title:     "no entry: the alias host on an HTTPRoute the namespace's waypoint serves",
		ambLabels: []string{"istio.io/use-waypoint: waypoint"},
		kube:      func(portVariant) string { return waypointObjects },
		istio:     func(portVariant) string { return aliasRoute },
		// Nothing resolves the alias host, and the route's hostnames are dropped: it serves
		// every Host sent to traefik's own VIP, as the waypoint's default route already did.
		want: both(verdict{
			ClusterIPServices: onlyService,
			AliasVIP:          "none", AliasEndpoints: "none",
			TraefikWaypoint: waypointRef,
			DNSFromAmb:      "none", DNSFromSide: "none", NameTable: "none",
			PublicTLS: passthrough, PublicTLSDNSCapture: passthrough,
			WaypointVIPMatchers: 1, WaypointVIPServices: []string{serviceHost},
			AliasRouteOnWaypoint: []string{"inbound-vip|80|http|" + serviceHost + ", Host match none"},
		}),
	},
}

// TestAmbientCandidates judges each alias shape with istiod's ambient code and its sidecar code
// in one mesh, and prints one table per shape. The wanted verdicts are the measured ones: they
// document why meshalias refuses ambient namespaces, and fail if a new Istio changes them.
func TestAmbientCandidates(t *testing.T) {
	var rows, summary, allMet []string
	for _, c := range candidates {
		met := [5]bool{true, true, true, true, true}
		for _, v := range portVariants {
			t.Run(c.id+"/"+v.id, func(t *testing.T) {
				got, table := measure(t, c, v)
				t.Logf("candidate (%s) %s\n%s\n%s", c.id, c.title, v.description, table)
				rows = append(rows, row(c, v, got))
				for i, ok := range criteria(c, got) {
					met[i] = met[i] && ok
				}
				want, ok := c.want[v.id]
				if !ok {
					t.Errorf("no wanted verdict; measured:\n%#v", got)
					return
				}
				if diff := compare(want, got); diff != "" {
					t.Errorf("candidate (%s): %s", c.id, diff)
				}
			})
		}
		if met == [5]bool{true, true, true, true, true} {
			allMet = append(allMet, c.id)
		}
		summary = append(summary, fmt.Sprintf("| (%s) %s | %s | %s | %s | %s | %s |", c.id, c.title,
			mark(met[0]), mark(met[1]), mark(met[2]), mark(met[3]), mark(met[4])))
	}
	t.Logf("per candidate:\n%s\n%s", header, strings.Join(rows, "\n"))
	t.Logf("criteria, over both port variants:\n%s\n%s", summaryHeader, strings.Join(summary, "\n"))
	// The conclusion: only an entry with an address of its own, selecting the pods, meets all
	// four criteria and keeps spec.addresses.
	if !slices.Equal(allMet, []string{"a*"}) {
		t.Errorf("candidates meeting every criterion: %v, want [a*]", allMet)
	}
}

const summaryHeader = "| candidate | 1. no VIP shared in a namespace | 2. alias reaches its backend over HBONE | 3. the alias resolves (ztunnel) | 4. no hijack in sidecar namespaces | keeps spec.addresses |\n|---|---|---|---|---|---|"

// criteria judges a verdict against the four criteria of the issue and the project's rule that
// no entry goes without spec.addresses.
func criteria(c candidate, g verdict) [5]bool {
	return [5]bool{
		len(g.SharedVIPs) == 0,
		g.AliasEndpoints == "HBONE",
		g.DNSFromAmb != "none" && g.DNSFromSide != "none",
		g.PublicTLS == passthrough && g.PublicTLSDNSCapture == passthrough,
		// An entry keeps addresses unless istiod had to allocate them; no entry at all keeps
		// the rule too.
		!c.allocates,
	}
}

func mark(ok bool) string {
	if ok {
		return "yes"
	}
	return "no"
}

const header = "| candidate | ports | services istiod sends for the ClusterIP | VIP shared in a namespace | alias VIP | alias reached by | DNS for the alias (ztunnel, from amb / side) | DNS (name table, sidecar in side) | baidu.com from side (no DNS capture / DNS capture) |\n|---|---|---|---|---|---|---|---|---|"

func row(c candidate, v portVariant, g verdict) string {
	shared := "no"
	if len(g.SharedVIPs) > 0 {
		shared = "yes: " + strings.Join(g.SharedVIPs, "; ")
	}
	eps := g.AliasEndpoints
	if g.AliasWaypoint != "" {
		eps = "waypoint, then " + eps
	}
	cell := func(s string) string { return strings.ReplaceAll(s, "|", `\|`) } // Markdown-safe
	return fmt.Sprintf("| (%s) | %s | %s | %s | %s | %s | %s / %s | %s | %s / %s |",
		c.id, v.id, strings.Join(g.ClusterIPServices, ", "), shared, g.AliasVIP, eps,
		g.DNSFromAmb, g.DNSFromSide, g.NameTable, cell(g.PublicTLS), cell(g.PublicTLSDNSCapture))
}

func compare(want, got verdict) string {
	w, g := fmt.Sprintf("%#v", want), fmt.Sprintf("%#v", got)
	if w == g {
		return ""
	}
	return fmt.Sprintf("verdict changed:\n got %s\nwant %s", g, w)
}

// measure builds the candidate's mesh and reads every verdict off istiod. It returns the
// verdict and a readable account of the evidence behind it.
func measure(t *testing.T, c candidate, v portVariant) (verdict, string) {
	t.Helper()
	if c.entry != nil {
		if err := pilot.ValidateConfig(c.entry(v)); err != nil {
			t.Fatalf("Istio's validation rejects the entry: %v", err)
		}
	}
	kube := ambient.JoinDocs(cluster(v, c.ambLabels...), c.kube(v))
	istio := ambient.JoinDocs(strictInAmb, c.istio(v))
	mesh := ambient.Start(t, kube, istio)

	var allocated []string
	if c.allocates {
		allocated = mesh.AllocatedAddresses("amb", "traefik-custom-name", aliasHost)
	}
	if c.entry != nil {
		mesh.WaitForService("amb", aliasHost)
	}
	kind := func(ips []string) string {
		if len(ips) == 0 {
			return "none"
		}
		var out []string
		for _, ip := range ips {
			k := ip
			switch {
			case ip == clusterIP:
				k = "ClusterIP"
			case ip == dedicatedVIP:
				k = "own VIP"
			case slices.Contains(allocated, ip):
				k = "allocated"
			}
			if !slices.Contains(out, k) {
				out = append(out, k)
			}
		}
		return strings.Join(out, ",")
	}

	var g verdict
	var ev []string
	wds := mesh.Ztunnel()

	// 1. Services per VIP.
	for _, s := range wds.ServicesForVIP(clusterIP) {
		g.ClusterIPServices = append(g.ClusterIPServices, ambient.ServiceKey(s))
	}
	slices.Sort(g.ClusterIPServices)
	ev = append(ev, fmt.Sprintf("istiod sends ztunnel, for VIP %s: %s", clusterIP, strings.Join(g.ClusterIPServices, ", ")))
	for _, s := range wds.SharedVIPs() {
		g.SharedVIPs = append(g.SharedVIPs, s.String())
		ev = append(ev, "  shared within a namespace (ztunnel keeps one per namespace, the last written): "+s.String())
	}
	if traefik := wds.ServicesForHost(serviceHost); len(traefik) == 1 {
		if wp := traefik[0].GetWaypoint().GetHostname(); wp != nil {
			g.TraefikWaypoint = wp.GetNamespace() + "/" + wp.GetHostname()
		}
	}

	// 2. The alias's service and how its endpoints are reached.
	g.AliasVIP, g.AliasEndpoints = "none", "none"
	if len(allocated) > 0 {
		ev = append(ev, fmt.Sprintf("istiod's allocator gave the entry %v (status.addresses)", allocated))
	}
	aliases := wds.ServicesForHost(aliasHost)
	if len(aliases) > 1 {
		t.Fatalf("istiod sends %d services for %s", len(aliases), aliasHost)
	}
	for _, s := range aliases {
		g.AliasVIP = kind(ambient.VIPs(s))
		var eps []string
		for _, wl := range wds.Endpoints(s) {
			eps = append(eps, ambient.Describe(wl))
		}
		g.AliasEndpoints = tunnelSummary(wds.Endpoints(s))
		if wp := s.GetWaypoint().GetHostname(); wp != nil {
			g.AliasWaypoint = wp.GetNamespace() + "/" + wp.GetHostname()
		}
		ev = append(ev, fmt.Sprintf("istiod sends service %s: VIP %v (%s), canonical %v, waypoint %q; its endpoints: %s",
			ambient.ServiceKey(s), ambient.VIPs(s), g.AliasVIP, s.GetCanonical(), g.AliasWaypoint, listOrNone(eps)))
		for _, vip := range ambient.VIPs(s) {
			var keys []string
			for _, o := range wds.ServicesForVIP(vip) {
				keys = append(keys, ambient.ServiceKey(o))
			}
			ev = append(ev, fmt.Sprintf("  services for its VIP %s: %s", vip, strings.Join(keys, ", ")))
		}
	}
	if len(aliases) == 0 {
		ev = append(ev, "istiod sends no service for "+aliasHost)
	}
	for _, s := range wds.ServicesForHost(serviceHost) {
		var eps []string
		for _, wl := range wds.Endpoints(s) {
			eps = append(eps, ambient.Describe(wl)+" policies "+fmt.Sprint(wl.GetAuthorizationPolicies()))
		}
		ev = append(ev, fmt.Sprintf("istiod sends service %s: VIP %v, canonical %v, waypoint %q; its endpoints: %s",
			ambient.ServiceKey(s), ambient.VIPs(s), s.GetCanonical(), g.TraefikWaypoint, listOrNone(eps)))
	}

	if g.TraefikWaypoint != "" {
		wp := mesh.Waypoint("amb", "waypoint", waypointPodIP)
		matchers := wp.VIPMatchers(clusterIP)
		g.WaypointVIPMatchers = len(matchers)
		for i, chains := range matchers {
			ev = append(ev, fmt.Sprintf("the waypoint's destination matcher %d for %s/32: %s", i+1, clusterIP, strings.Join(chains, "; ")))
			for _, c := range chains {
				for _, name := range strings.Split(c, " | ") {
					parts := strings.Split(name, "|")
					if h := parts[len(parts)-1]; !slices.Contains(g.WaypointVIPServices, h) {
						g.WaypointVIPServices = append(g.WaypointVIPServices, h)
					}
				}
			}
		}
		slices.Sort(g.WaypointVIPServices)
		for _, r := range wp.HTTPRoutes() {
			ev = append(ev, "the waypoint's HTTP route: "+r.String())
			if strings.HasPrefix(r.Name, "amb.traefik-custom-name.") {
				g.AliasRouteOnWaypoint = append(g.AliasRouteOnWaypoint, r.FilterChain+", Host match "+r.HostMatch)
			}
		}
	}

	// 3. DNS.
	fromAmb, _ := wds.ResolveLikeZtunnel(aliasHost, "amb")
	fromSide, _ := wds.ResolveLikeZtunnel(aliasHost, "side")
	g.DNSFromAmb, g.DNSFromSide = kind(fromAmb), kind(fromSide)
	nt := mesh.NameTable("side", aliasHost)
	g.NameTable = kind(nt)
	ev = append(ev, fmt.Sprintf("DNS for %s: ztunnel (model) from amb %v, from side %v; istiod name table for a sidecar in side %v",
		aliasHost, fromAmb, fromSide, nt))

	// 4. A sidecar in the sidecar-mode namespace, with the incident's call.
	call := simulation.Call{Address: publicIP, Port: 443, Protocol: simulation.TCP, TLS: simulation.TLS, Sni: publicSNI}
	plain := mesh.Sidecar("side", false).Call(call)
	captured := mesh.Sidecar("side", true).Call(call)
	g.PublicTLS, g.PublicTLSDNSCapture = plain.ClusterMatched, captured.ClusterMatched
	ev = append(ev, fmt.Sprintf("sidecar in side, TLS to %s:443 SNI %s: listener %q cluster %q; with DNS capture: listener %q cluster %q",
		publicIP, publicSNI, plain.ListenerMatched, plain.ClusterMatched, captured.ListenerMatched, captured.ClusterMatched))
	return g, "  " + strings.Join(ev, "\n  ")
}

// tunnelSummary says how ztunnel would reach a service's endpoints.
func tunnelSummary(endpoints []*workloadapi.Workload) string {
	var hbone, plain int
	for _, wl := range endpoints {
		if wl.GetTunnelProtocol() == workloadapi.TunnelProtocol_HBONE {
			hbone++
		} else {
			plain++
		}
	}
	switch {
	case hbone > 0 && plain == 0:
		return "HBONE"
	case plain > 0 && hbone == 0:
		return "plain TCP"
	case hbone > 0:
		return "mixed"
	}
	return "none"
}

func listOrNone(items []string) string {
	if len(items) == 0 {
		return "none"
	}
	return strings.Join(items, "; ")
}
