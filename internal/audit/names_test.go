package audit

import (
	"strings"
	"testing"

	networkingapi "istio.io/api/networking/v1alpha3"
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/meshalias/meshalias/internal/hostpolicy"
	"github.com/meshalias/meshalias/internal/visibility"
)

func TestNamingRules(t *testing.T) {
	names := Names{
		ClusterDomain: "cluster.local",
		ServiceExists: func(ns, name string) bool { return ns == "prod" && name == "payments" },
		Policy: hostpolicy.Policy{Rules: []hostpolicy.DomainRule{
			{Domain: "internal", Selector: labels.SelectorFromSet(labels.Set{"team": "platform"})},
		}},
		NamespaceLabels: map[string]map[string]string{"platform": {"team": "platform"}, "evil": {"team": "evil"}},
	}
	withHost := func(ns, host string, mutate func(*networkingapi.ServiceEntry)) func(*networkingapi.ServiceEntry) {
		return func(s *networkingapi.ServiceEntry) {
			s.Hosts = []string{host}
			s.Addresses = []string{"10.0.0.9"}
			if mutate != nil {
				mutate(s)
			}
		}
	}
	toService := func(s *networkingapi.ServiceEntry) {
		s.Endpoints = []*networkingapi.WorkloadEntry{{Address: "payments.prod.svc.cluster.local"}}
	}
	cases := []struct {
		name     string
		ns, host string
		mutate   func(*networkingapi.ServiceEntry)
		rules    []string
	}{
		{"shadows <svc>.<ns>", "evil", "payments.prod", nil, []string{RuleShadowsService, RuleHostNotAllowed}},
		{"shadows <svc>.<ns>.svc", "platform", "payments.prod.svc", nil, []string{RuleShadowsService, RuleHostNotAllowed}},
		{"the name of a Service that does not exist", "platform", "orders.prod", nil, []string{RuleHostNotAllowed}},
		{"an entry that leads to the Service itself moves nobody's traffic", "platform", "payments.prod", toService, []string{RuleHostNotAllowed}},
		{"allowed by the AliasDomain", "platform", "api.internal", nil, nil},
		{"refused by the AliasDomain", "evil", "api.internal", nil, []string{RuleHostNotAllowed}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			se := entry(tc.ns, "e", withHost(tc.ns, tc.host, tc.mutate))
			var rules []string
			for _, f := range All([]*networkingv1.ServiceEntry{se}, names) {
				rules = append(rules, f.Rule)
				if f.Rule == RuleShadowsService && (f.Severity != SeverityCritical || !strings.Contains(f.Message, "Service prod/payments")) {
					t.Errorf("shadow finding %+v should be critical and name the Service", f)
				}
				if f.Rule == RuleHostNotAllowed && (f.Severity != SeverityWarning || !strings.Contains(f.Message, tc.host)) {
					t.Errorf("policy finding %+v should be a warning that names the host", f)
				}
			}
			if strings.Join(rules, ",") != strings.Join(tc.rules, ",") {
				t.Errorf("rules %v, want %v", rules, tc.rules)
			}
		})
	}

	// An entry that carries the VIP of a Service in an ambient namespace.
	ambient := Names{AmbientVIPs: map[string]string{"10.0.0.9": "amb/traefik"}}
	if f, ok := ambient.AmbientVIP(entry("amb", "e", withHost("amb", "traefik.alias", nil))); !ok || f.Severity != SeverityCritical || !strings.Contains(f.Message, "Service amb/traefik") {
		t.Errorf("ambient VIP: %+v, %v", f, ok)
	}
	if f, ok := ambient.AmbientVIP(entry("side", "e", withHost("side", "x.alias", func(s *networkingapi.ServiceEntry) { s.Addresses = []string{"10.0.0.10"} }))); ok {
		t.Errorf("another VIP is flagged: %+v", f)
	}

	// Without AliasDomains the policy says nothing.
	se := entry("evil", "e", withHost("evil", "example.org", nil))
	if f, ok := (Names{ClusterDomain: "cluster.local"}).PolicyBreach(se); ok {
		t.Errorf("no policy, yet a finding: %+v", f)
	}
}

// The incident's second failure: MESH_EXTERNAL entries in default, TLS on 443, had hidden the
// legacy catch-all from their hosts; a root-namespace Sidecar with ./* stopped them reaching
// abc, and abc's pods' connections to those hosts went to the catch-all's service.
func TestUnmaskedCatchAll(t *testing.T) {
	legacy := entry("abc", "traefik-cutom-name", nil)
	sni := entry("default", "baidu", func(s *networkingapi.ServiceEntry) {
		s.Hosts = []string{"baidu.com"}
		s.Location = networkingapi.ServiceEntry_MESH_EXTERNAL
		s.Ports[0].Protocol = "TLS"
	})
	names := Names{
		Mesh:           visibility.Mesh{RootNamespace: "istio-system"},
		MeshNamespaces: []string{"abc", "default", "web"},
	}
	before := All([]*networkingv1.ServiceEntry{legacy, sni}, names)
	for _, f := range before {
		if f.Rule == RuleUnmasked {
			t.Fatalf("without a Sidecar the SNI entry reaches everyone the catch-all does: %+v", f)
		}
	}

	names.Sidecars = []visibility.Sidecar{{Namespace: "istio-system", Name: "default", Egress: []visibility.Listener{{Hosts: []string{"./*"}}}}}
	after := All([]*networkingv1.ServiceEntry{legacy, sni}, names)
	var unmasked []Finding
	for _, f := range after {
		if f.Rule == RuleUnmasked {
			unmasked = append(unmasked, f)
		}
		if f.Rule == RuleCatchAll && strings.Join(f.AffectedNamespaces, ",") != "abc" {
			t.Errorf("the catch-all's reach follows the Sidecar: %v, want abc alone", f.AffectedNamespaces)
		}
	}
	if len(unmasked) != 1 || strings.Join(unmasked[0].AffectedNamespaces, ",") != "abc" || !strings.Contains(unmasked[0].Message, "default/baidu (baidu.com)") {
		t.Errorf("unmasked findings %+v, want one for abc naming default/baidu", unmasked)
	}
}
