package ambient_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"istio.io/istio/pilot/pkg/simulation"

	"github.com/meshalias/meshalias/e2e/internal/ambient"
	"github.com/meshalias/meshalias/e2e/internal/pilot"
)

// TestTodaysEntryTakesTheServiceVIPInZtunnel is why meshalias refuses ambient namespaces
// (Ready=False, AmbientUnsupported): with the entry meshalias writes in sidecar mode, istiod
// sends ztunnel two services for the Service's ClusterIP in the same namespace. ztunnel keeps
// one service per namespace per VIP; when the alias's entry holds the slot, every ambient client
// dialing the ClusterIP goes to the entry's one endpoint, the Service's DNS name, as plain TCP:
// no HBONE, no identity, no waypoint, and the pods' STRICT PeerAuthentication refuses it.
//
// What istiod sends is measured; which of the two ztunnel keeps is a model of ztunnel's source.
func TestTodaysEntryTakesTheServiceVIPInZtunnel(t *testing.T) {
	v := portVariants[0]
	if err := pilot.ValidateConfig(todaysEntry(v)); err != nil {
		t.Fatal(err)
	}
	mesh := ambient.Start(t, cluster(v), ambient.JoinDocs(strictInAmb, todaysEntry(v)))
	mesh.WaitForService("amb", aliasHost)
	wds := mesh.Ztunnel()

	sent := wds.ServicesForVIP(clusterIP)
	var keys []string
	for _, s := range sent {
		keys = append(keys, ambient.ServiceKey(s))
		t.Logf("istiod sends ztunnel service %s: VIPs %v, canonical %v", ambient.ServiceKey(s), ambient.VIPs(s), s.GetCanonical())
		for _, wl := range wds.Endpoints(s) {
			t.Logf("  endpoint %s, policies %v", ambient.Describe(wl), wl.GetAuthorizationPolicies())
		}
	}
	slices.Sort(keys)
	if !slices.Equal(keys, bothServices) {
		t.Fatalf("services for VIP %s: %v, want both %v in namespace amb", clusterIP, keys, bothServices)
	}

	traefik, alias := wds.ServicesForHost(serviceHost)[0], wds.ServicesForHost(aliasHost)[0]
	if got := tunnelSummary(wds.Endpoints(traefik)); got != "HBONE" {
		t.Errorf("traefik's own endpoints: %s, want HBONE", got)
	}
	for _, wl := range wds.Endpoints(traefik) {
		if got := ambient.Describe(wl); !slices.Contains(wl.GetAuthorizationPolicies(), "istio-system/istio_converted_static_strict") {
			t.Errorf("traefik's pod %s does not carry the STRICT policy: %v", got, wl.GetAuthorizationPolicies())
		}
	}
	aliasEndpoints := wds.Endpoints(alias)
	if len(aliasEndpoints) != 1 || ambient.Describe(aliasEndpoints[0]) != "amb/traefik-custom-name "+serviceHost+" plain TCP" {
		t.Errorf("the entry's endpoints: %v, want one, the Service's DNS name over plain TCP", aliasEndpoints)
	}

	// ztunnel (model): the last of the two it receives holds the ClusterIP for namespace amb.
	for _, order := range [][2]string{{"traefik", "alias"}, {"alias", "traefik"}} {
		first, last := traefik, alias
		if order[0] == "alias" {
			first, last = alias, traefik
		}
		slot := ambient.ZtunnelVIPSlots(first, last)[clusterIP]
		t.Logf("ztunnel (model) receives %s then %s: the ClusterIP answers, for every client, as %s", order[0], order[1], slot["amb"])
		if len(slot) != 1 || slot["amb"] != ambient.ServiceKey(last) {
			t.Errorf("slots for %s after %v: %v, want only amb -> %s", clusterIP, order, slot, ambient.ServiceKey(last))
		}
	}
}

// TestAmbientIgnoresExportTo: the entry's exportTo hides it from sidecars in other namespaces,
// but istiod still sends it to ztunnel for every namespace (ambient scopes ServiceEntries with
// meshConfig serviceEntryVisibility, not exportTo). So exportTo cannot confine an alias to its
// own namespace in ambient.
func TestAmbientIgnoresExportTo(t *testing.T) {
	v := portVariants[0]
	entry := todaysEntry(v) + "  exportTo: [\".\"]\n"
	if err := pilot.ValidateConfig(entry); err != nil {
		t.Fatal(err)
	}
	mesh := ambient.Start(t, cluster(v), ambient.JoinDocs(strictInAmb, entry))
	mesh.WaitForService("amb", aliasHost)
	wds := mesh.Ztunnel()
	fromSide, svc := wds.ResolveLikeZtunnel(aliasHost, "side")
	nt := mesh.NameTable("side", aliasHost)
	t.Logf("exportTo [.]: ztunnel (model) answers %s to a client in side with %v (service visibility %v); istiod's name table for a sidecar in side: %v",
		aliasHost, fromSide, svc.GetVisibility(), nt)
	if !slices.Equal(fromSide, []string{clusterIP}) {
		t.Errorf("ztunnel's answer to namespace side: %v, want %s (exportTo ignored)", fromSide, clusterIP)
	}
	if nt != nil {
		t.Errorf("the sidecar name table in side has %s -> %v; exportTo [.] should hide it", aliasHost, nt)
	}
	if keys := len(wds.ServicesForVIP(clusterIP)); keys != 2 {
		t.Errorf("istiod sends %d services for %s, want 2 (exportTo does not remove the entry from ztunnel)", keys, clusterIP)
	}
}

// TestSelectorEntrySelectsOnlyItsOwnNamespace: the shape that passes every criterion, (a*),
// reaches the pods through workloadSelector, which selects workloads of the entry's own
// namespace only. meshalias writes entries in the alias's namespace, so for a ServiceAlias of
// a Service in another namespace (allowed by a ReferenceGrant) that shape has no endpoints.
func TestSelectorEntrySelectsOnlyItsOwnNamespace(t *testing.T) {
	v := portVariants[0]
	entry := strings.Replace(selectorEntry(v, dedicatedVIP), "namespace: amb\n", "namespace: amb2\n", 1)
	if err := pilot.ValidateConfig(entry); err != nil {
		t.Fatal(err)
	}
	amb2 := "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: amb2\n  labels: {istio.io/dataplane-mode: ambient}\n"
	mesh := ambient.Start(t, ambient.JoinDocs(cluster(v), amb2), ambient.JoinDocs(strictInAmb, entry))
	mesh.WaitForService("amb2", aliasHost)
	wds := mesh.Ztunnel()
	svcs := wds.ServicesForHost(aliasHost)
	if len(svcs) != 1 || svcs[0].GetNamespace() != "amb2" {
		t.Fatalf("services for %s: %v, want one in amb2", aliasHost, svcs)
	}
	eps := wds.Endpoints(svcs[0])
	t.Logf("entry in amb2 selecting app=traefik (pods in amb): istiod sends %s with VIPs %v and %d endpoints",
		ambient.ServiceKey(svcs[0]), ambient.VIPs(svcs[0]), len(eps))
	if len(eps) != 0 {
		t.Errorf("endpoints %v, want none: workloadSelector does not reach pods of another namespace", eps)
	}
}

// A Service in a sidecar-mode namespace of a mesh that also runs ambient, with pods injected
// under ISTIO_META_ENABLE_HBONE=true (the injector then labels them networking.istio.io/tunnel:
// http, and they accept HBONE).
const (
	webIP    = "10.0.0.30"
	webPodIP = "10.1.1.20"
	webHost  = "web.side.svc.cluster.local"
	webAlias = "web.custom-name"

	webService = `
apiVersion: v1
kind: Service
metadata: {name: web, namespace: side}
spec:
  clusterIP: 10.0.0.30
  clusterIPs: [10.0.0.30]
  selector: {app: web}
  ports: [{name: tcp-web, port: 80, targetPort: 8080, protocol: TCP}]
---
apiVersion: v1
kind: Pod
metadata:
  name: web-0
  namespace: side
  labels: {app: web, security.istio.io/tlsMode: istio, networking.istio.io/tunnel: http}
  annotations: {sidecar.istio.io/status: '{"containers":["istio-proxy"]}'}
spec: {serviceAccountName: web, nodeName: node-2}
status:
  phase: Running
  conditions: [{type: Ready, status: "True"}]
  podIP: 10.1.1.20
  podIPs: [{ip: 10.1.1.20}]
`
	// webEntry is what meshalias writes today for a ServiceAlias web.custom-name in side: side is
	// not an ambient namespace and web's pods are not ambient pods, so meshalias serves it.
	webEntry = `
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata:
  name: web-custom-name
  namespace: side
  labels: {app.kubernetes.io/managed-by: meshalias, meshalias.io/owner-kind: ServiceAlias, meshalias.io/owner-name: web}
spec:
  hosts: [web.custom-name]
  addresses: [10.0.0.30]
  location: MESH_INTERNAL
  resolution: DNS
  ports: [{name: tcp-web, number: 80, protocol: TCP}]
  endpoints:
  - address: web.side.svc.cluster.local
    labels: {security.istio.io/tlsMode: istio}
`
	strictInSide = `
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: default, namespace: side}
spec: {mtls: {mode: STRICT}}
`
)

// TestTodaysEntryInASidecarNamespaceReachesZtunnel: meshalias refuses only where the alias's
// namespace, the Service's namespace or the Service's pods are ambient. But istiod sends ztunnel
// every service of the mesh, so the entry meshalias writes for a Service in a sidecar
// namespace shares that Service's VIP in ztunnel too: an ambient client in another namespace
// dialing the ClusterIP gets whichever of the two ztunnel kept for namespace side. With the
// entry, ztunnel connects in plain TCP, and the backend's sidecar, under STRICT, has no filter
// chain for it; with the Service, ztunnel sends HBONE, which the sidecar accepts.
func TestTodaysEntryInASidecarNamespaceReachesZtunnel(t *testing.T) {
	v := portVariants[0]
	if err := pilot.ValidateConfig(webEntry); err != nil {
		t.Fatal(err)
	}
	mesh := ambient.Start(t, ambient.JoinDocs(cluster(v), webService), ambient.JoinDocs(strictInAmb, strictInSide, webEntry))
	mesh.WaitForService("side", webAlias)
	wds := mesh.Ztunnel()

	var keys []string
	for _, s := range wds.ServicesForVIP(webIP) {
		keys = append(keys, ambient.ServiceKey(s))
		var eps []string
		for _, wl := range wds.Endpoints(s) {
			eps = append(eps, ambient.Describe(wl))
		}
		t.Logf("istiod sends ztunnel service %s: VIPs %v; endpoints %v", ambient.ServiceKey(s), ambient.VIPs(s), eps)
	}
	slices.Sort(keys)
	if want := []string{"side/" + webAlias, "side/" + webHost}; !slices.Equal(keys, want) {
		t.Fatalf("services for %s: %v, want %v", webIP, keys, want)
	}
	if got := tunnelSummary(wds.Endpoints(wds.ServicesForHost(webHost)[0])); got != "HBONE" {
		t.Errorf("web's own endpoints: %s, want HBONE", got)
	}
	if got := tunnelSummary(wds.Endpoints(wds.ServicesForHost(webAlias)[0])); got != "plain TCP" {
		t.Errorf("the entry's endpoint: %s, want plain TCP", got)
	}

	// What web's sidecar does with each (the inbound side is measured, not modelled).
	sidecar := mesh.SidecarOf("side", webPodIP, map[string]string{"app": "web", "security.istio.io/tlsMode": "istio", "networking.istio.io/tunnel": "http"}, true)
	plain := sidecar.Call(simulation.Call{Address: webPodIP, Port: 8080, Protocol: simulation.TCP, TLS: simulation.Plaintext, CallMode: simulation.CallModeInbound})
	mtls := sidecar.Call(simulation.Call{Address: webPodIP, Port: 8080, Protocol: simulation.TCP, TLS: simulation.MTLS, CallMode: simulation.CallModeInbound})
	t.Logf("web's sidecar under STRICT: plain TCP to %s:8080 -> error %v; mutual TLS -> cluster %q", webPodIP, plain.Error, mtls.ClusterMatched)
	if !errors.Is(plain.Error, simulation.ErrNoFilterChain) {
		t.Errorf("plain TCP reached %q (error %v); STRICT should leave it no filter chain", plain.ClusterMatched, plain.Error)
	}
	if mtls.Error != nil || mtls.ClusterMatched == "" {
		t.Errorf("mutual TLS: %+v, want an inbound cluster", mtls)
	}
	hbone := sidecar.ListenerOn(15008)
	t.Logf("web's sidecar listens for HBONE on 15008: listener %q", hbone)
	if hbone == "" {
		t.Errorf("web's sidecar has no listener on 15008: HBONE from ztunnel would not be accepted")
	}
}
