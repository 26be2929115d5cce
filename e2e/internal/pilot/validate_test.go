package pilot_test

import (
	"testing"

	"github.com/meshalias/meshalias/e2e/internal/pilot"
)

// Every ServiceEntry these tests feed to the fake istiod is one Istio's validation accepts, so
// the hijack is reproduced with config a real cluster admits, and the fix is config istiod
// would not refuse.
func TestFixturesPassIstioValidation(t *testing.T) {
	cases := map[string]string{
		"legacy TCP":            legacyEntry("TCP"),
		"legacy unset protocol": legacyEntry(""),
		"alias HTTPS tls istio": aliasEntry("HTTPS", "istio"),
		"alias TLS tls istio":   aliasEntry("TLS", "istio"),
		"alias HTTPS tls off":   aliasEntry("HTTPS", "disabled"),
		"peer authn abc":        strictInAbc,
		"peer authn mesh-wide":  strictMeshWide,
	}
	for name, cfg := range cases {
		t.Run(name, func(t *testing.T) {
			if err := pilot.ValidateConfig(cfg); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// The validation is a real check, not a pass-through: config istiod refuses must fail here,
// and so must a Service handed over as Istio config, which the fake istiod would drop silently.
func TestValidateConfigRejects(t *testing.T) {
	cases := map[string]string{
		"wildcard host with DNS resolution": `
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: wild, namespace: abc}
spec:
  hosts: ["*.custom-name"]
  location: MESH_INTERNAL
  resolution: DNS
  ports: [{name: tcp, number: 443, protocol: TCP}]
`,
		"service given as Istio config": traefikService,
	}
	for name, cfg := range cases {
		t.Run(name, func(t *testing.T) {
			err := pilot.ValidateConfig(cfg)
			if err == nil {
				t.Fatal("accepted")
			}
			t.Logf("rejected: %v", err)
		})
	}
}
