package ambient_test

import (
	"fmt"
	"strings"
)

// The mesh every candidate is judged in: Service traefik in namespace amb, which runs in
// ambient mode, two traefik pods captured by ztunnel, a STRICT PeerAuthentication there, and a
// namespace side whose pods run sidecars.
const (
	aliasHost    = "traefik.custom-name"
	serviceHost  = "traefik.amb.svc.cluster.local"
	clusterIP    = "10.0.0.12"
	waypointHost = "waypoint.amb.svc.cluster.local"
	// dedicatedVIP stands for an address meshalias would have to own and hand out itself (a
	// range of its own, as istiod's allocator uses 240.240.0.0/16): not the Service's ClusterIP.
	dedicatedVIP = "240.241.0.7"
	// waypointPodIP is the address of amb's waypoint pod (waypointObjects).
	waypointPodIP = "10.1.0.20"

	// A public address and name that have nothing to do with the mesh (the incident's call).
	publicIP  = "220.181.38.148"
	publicSNI = "baidu.com"
)

// portVariant is how the Service names its ports, which decides the protocol meshalias writes
// (controllers.PortProtocol: appProtocol, else an Istio name prefix, else TCP).
type portVariant struct {
	id string
	// names and the protocols meshalias derives from them, for ports 80 and 443.
	web, websecure           string
	webProtocol, tlsProtocol string
	webTargetPort, tlsTarget int
	description              string
}

var portVariants = []portVariant{
	{
		id: "tcp", web: "web", websecure: "websecure", webProtocol: "TCP", tlsProtocol: "TCP",
		webTargetPort: 8000, tlsTarget: 8443,
		description: "traefik's chart names its ports web and websecure: meshalias writes TCP for both",
	},
	{
		id: "istio-names", web: "http", websecure: "https", webProtocol: "HTTP", tlsProtocol: "HTTPS",
		webTargetPort: 8000, tlsTarget: 8443,
		description: "ports named http and https: meshalias writes HTTP and HTTPS",
	},
}

func namespaces(ambLabels ...string) string {
	labels := append([]string{"istio.io/dataplane-mode: ambient"}, ambLabels...)
	return `
apiVersion: v1
kind: Namespace
metadata: {name: istio-system}
---
apiVersion: v1
kind: Namespace
metadata:
  name: amb
  labels: {` + strings.Join(labels, ", ") + `}
---
apiVersion: v1
kind: Namespace
metadata:
  name: side
  labels: {istio-injection: enabled}
`
}

func traefikService(v portVariant) string {
	return fmt.Sprintf(`
apiVersion: v1
kind: Service
metadata: {name: traefik, namespace: amb}
spec:
  type: ClusterIP
  clusterIP: %[1]s
  clusterIPs: [%[1]s]
  selector: {app: traefik}
  ports:
  - {name: %[2]s, port: 80, targetPort: %[4]d, protocol: TCP}
  - {name: %[3]s, port: 443, targetPort: %[5]d, protocol: TCP}
`, clusterIP, v.web, v.websecure, v.webTargetPort, v.tlsTarget)
}

// ambientPod is a pod ztunnel captures. The annotation is what istio-cni writes on a pod it
// has redirected to ztunnel (in a namespace labelled istio.io/dataplane-mode=ambient); istiod
// reads the annotation, not the namespace label, to decide the pod takes HBONE. No CNI runs
// here, so the fixture writes it.
func ambientPod(name, ip, app string) string {
	return fmt.Sprintf(`
apiVersion: v1
kind: Pod
metadata:
  name: %[1]s
  namespace: amb
  labels: {app: %[3]s}
  annotations: {ambient.istio.io/redirection: enabled}
spec: {serviceAccountName: %[3]s, nodeName: node-1}
status:
  phase: Running
  conditions: [{type: Ready, status: "True"}]
  podIP: %[2]s
  podIPs: [{ip: %[2]s}]
`, name, ip, app)
}

// sidecarPod is a client with an injected sidecar, in namespace side.
const sidecarPod = `
apiVersion: v1
kind: Pod
metadata:
  name: client
  namespace: side
  labels: {app: client, security.istio.io/tlsMode: istio}
  annotations: {sidecar.istio.io/status: '{"containers":["istio-proxy"]}'}
spec: {serviceAccountName: client, nodeName: node-2}
status:
  phase: Running
  conditions: [{type: Ready, status: "True"}]
  podIP: 10.1.1.10
  podIPs: [{ip: 10.1.1.10}]
`

const strictInAmb = `
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: default, namespace: amb}
spec: {mtls: {mode: STRICT}}
`

const nodes = `
apiVersion: v1
kind: Node
metadata: {name: node-1}
---
apiVersion: v1
kind: Node
metadata: {name: node-2}
`

// cluster is the Kubernetes side of the mesh every candidate shares.
func cluster(v portVariant, ambLabels ...string) string {
	return strings.Join([]string{
		nodes,
		namespaces(ambLabels...),
		traefikService(v),
		ambientPod("traefik-0", "10.1.0.10", "traefik"),
		ambientPod("traefik-1", "10.1.0.11", "traefik"),
		sidecarPod,
	}, "\n---\n")
}

const entryMeta = `
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata:
  name: traefik-custom-name
  namespace: amb
  labels:
    app.kubernetes.io/managed-by: meshalias
    meshalias.io/owner-kind: ServiceAlias
    meshalias.io/owner-name: traefik
spec:
  hosts: [traefik.custom-name]
  location: MESH_INTERNAL`

// entryPorts are the entry's ports. withTarget adds the Service's targetPort, which an entry
// that selects the pods directly needs (the pods do not listen on the Service port); an entry
// whose endpoint is the Service's DNS name must not have it (the ClusterIP listens on the
// Service port).
func entryPorts(v portVariant, withTarget bool) string {
	if withTarget {
		return fmt.Sprintf(`
  ports:
  - {name: %s, number: 80, protocol: %s, targetPort: %d}
  - {name: %s, number: 443, protocol: %s, targetPort: %d}`, v.web, v.webProtocol, v.webTargetPort, v.websecure, v.tlsProtocol, v.tlsTarget)
	}
	return fmt.Sprintf(`
  ports:
  - {name: %s, number: 80, protocol: %s}
  - {name: %s, number: 443, protocol: %s}`, v.web, v.webProtocol, v.websecure, v.tlsProtocol)
}

const hostnameEndpoint = `
  resolution: DNS
  endpoints:
  - address: traefik.amb.svc.cluster.local
    labels: {security.istio.io/tlsMode: istio}`

const podSelector = `
  resolution: STATIC
  workloadSelector:
    labels: {app: traefik}`

// todaysEntry is the entry meshalias writes today (controllers/desired.go): the Service's
// ClusterIP as the address, the Service's DNS name as the one endpoint.
func todaysEntry(v portVariant) string {
	return entryMeta + `
  addresses: [` + clusterIP + `]` + entryPorts(v, false) + hostnameEndpoint + "\n"
}

// selectorEntry is candidate (a): no addresses (istiod allocates one), the Service's pod
// selector as workloadSelector. With address set, it is candidate (a*): the same with an
// address of the entry's own.
func selectorEntry(v portVariant, address string) string {
	addr := ""
	if address != "" {
		addr = "\n  addresses: [" + address + "]"
	}
	return entryMeta + addr + entryPorts(v, true) + podSelector + "\n"
}

// hostnameEntry is candidate (b): no addresses, the Service's DNS name as the endpoint.
func hostnameEntry(v portVariant) string {
	return entryMeta + entryPorts(v, false) + hostnameEndpoint + "\n"
}

// waypoint is the namespace waypoint of amb as istiod sees it once its deployment is ready:
// the Gateway (with the status address istiod's deployment controller writes), its Service and
// one pod. The namespace label istio.io/use-waypoint binds amb's Services to it.
const waypointObjects = `
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: waypoint, namespace: amb}
spec:
  gatewayClassName: istio-waypoint
  listeners: [{name: mesh, port: 15008, protocol: HBONE}]
status:
  addresses: [{type: Hostname, value: waypoint.amb.svc.cluster.local}]
---
apiVersion: v1
kind: Service
metadata:
  name: waypoint
  namespace: amb
  labels:
    gateway.istio.io/managed: istio.io-mesh-controller
    gateway.networking.k8s.io/gateway-name: waypoint
spec:
  clusterIP: 10.0.0.20
  clusterIPs: [10.0.0.20]
  selector: {gateway.networking.k8s.io/gateway-name: waypoint}
  ports: [{name: mesh, port: 15008, appProtocol: hbone, protocol: TCP}]
---
apiVersion: v1
kind: Pod
metadata:
  name: waypoint-0
  namespace: amb
  labels:
    gateway.networking.k8s.io/gateway-name: waypoint
    gateway.istio.io/managed: istio.io-mesh-controller
spec: {serviceAccountName: waypoint, nodeName: node-1}
status:
  phase: Running
  conditions: [{type: Ready, status: "True"}]
  podIP: 10.1.0.20
  podIPs: [{ip: 10.1.0.20}]
`

// aliasRoute is candidate (c): no entry; the alias host on a route the namespace's waypoint
// serves for Service traefik (a GAMMA route: parentRef is the Service).
const aliasRoute = `
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: traefik-custom-name, namespace: amb}
spec:
  parentRefs: [{group: "", kind: Service, name: traefik, port: 80}]
  hostnames: [traefik.custom-name]
  rules: [{backendRefs: [{name: traefik, port: 80}]}]
`
