package pilot_test

import (
	"strings"
	"testing"

	"github.com/meshalias/meshalias/e2e/internal/pilot"
)

// The incident's cluster: Service traefik in namespace abc, which a legacy controller also
// named traefik.cutom-name (sic), and which meshalias names traefik.custom-name.
const (
	traefikIP = "10.0.0.12"

	traefikService = `
apiVersion: v1
kind: Service
metadata: {name: traefik, namespace: abc}
spec:
  clusterIP: 10.0.0.12
  selector: {app: traefik}
  ports: [{name: https, port: 443, targetPort: 8443, protocol: TCP}]
`
	// A public address and name that have nothing to do with the mesh.
	publicIP  = "220.181.38.148"
	publicSNI = "baidu.com"
)

// legacyEntry is what the old dns-controller wrote: no addresses, no endpoints, and a port
// protocol that Istio cannot split by SNI. protocol "" leaves the port protocol unset.
func legacyEntry(protocol string) string {
	p := ""
	if protocol != "" {
		p = ", protocol: " + protocol
	}
	return `
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: traefik-cutom-name, namespace: abc}
spec:
  hosts: [traefik.cutom-name]
  location: MESH_INTERNAL
  resolution: DNS
  ports: [{name: https-443, number: 443` + p + `}]
`
}

// aliasEntry is the ServiceEntry meshalias writes for host traefik.custom-name: the Service's
// ClusterIP as the address, the Service's DNS name as the one endpoint, an explicit protocol,
// and the endpoint's tlsMode label ("istio", or "disabled" for a backend outside the mesh).
func aliasEntry(protocol, tlsMode string) string {
	return `
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata:
  name: traefik-custom-name
  namespace: abc
  labels:
    app.kubernetes.io/managed-by: meshalias
    meshalias.io/owner-kind: ServiceAlias
    meshalias.io/owner-name: traefik
spec:
  hosts: [traefik.custom-name]
  addresses: [10.0.0.12]
  location: MESH_INTERNAL
  resolution: DNS
  ports: [{name: https-443, number: 443, protocol: ` + protocol + `}]
  endpoints:
  - address: traefik.abc.svc.cluster.local
    labels: {security.istio.io/tlsMode: ` + tlsMode + `}
`
}

const (
	strictInAbc = `
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: default, namespace: abc}
spec: {mtls: {mode: STRICT}}
`
	strictMeshWide = `
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: default, namespace: istio-system}
spec: {mtls: {mode: STRICT}}
`
)

// joinDocs joins YAML documents into one stream.
func joinDocs(docs ...string) string {
	return strings.Join(docs, "\n---\n")
}

// newMesh validates the Istio config with Istio's own validation before handing it to the fake
// istiod, so no test draws conclusions from config istiod's webhook would have refused.
func newMesh(t *testing.T, services, config string) *pilot.Mesh {
	t.Helper()
	if err := pilot.ValidateConfig(config); err != nil {
		t.Fatalf("Istio rejects the config: %v", err)
	}
	return pilot.New(t, services, config)
}
