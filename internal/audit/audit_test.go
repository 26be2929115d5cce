package audit

import (
	"slices"
	"strings"
	"testing"

	networkingapi "istio.io/api/networking/v1alpha3"
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func entry(ns, name string, mutate func(*networkingapi.ServiceEntry)) *networkingv1.ServiceEntry {
	se := &networkingv1.ServiceEntry{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: networkingapi.ServiceEntry{
			Hosts:      []string{name + ".custom-name"},
			Location:   networkingapi.ServiceEntry_MESH_INTERNAL,
			Resolution: networkingapi.ServiceEntry_DNS,
			Ports:      []*networkingapi.ServicePort{{Name: "https-443", Number: 443, Protocol: "TCP"}},
		},
	}
	if mutate != nil {
		mutate(&se.Spec)
	}
	return se
}

func TestEntry(t *testing.T) {
	cases := []struct {
		name     string
		mutate   func(*networkingapi.ServiceEntry)
		severity Severity // "" means no finding
		ports    []string
		affected []string
	}{
		{name: "the incident: TCP, DNS, no addresses", severity: SeverityCritical, ports: []string{"443/TCP"}, affected: []string{"*"}},
		{name: "unset protocol", mutate: func(s *networkingapi.ServiceEntry) { s.Ports[0].Protocol = "" }, severity: SeverityCritical, ports: []string{"443/TCP"}},
		{name: "MONGO", mutate: func(s *networkingapi.ServiceEntry) { s.Ports[0].Protocol = "MONGO" }, severity: SeverityCritical, ports: []string{"443/MONGO"}},
		{name: "MYSQL and REDIS", mutate: func(s *networkingapi.ServiceEntry) {
			s.Ports = []*networkingapi.ServicePort{{Name: "mysql", Number: 3306, Protocol: "MYSQL"}, {Name: "redis", Number: 6379, Protocol: "REDIS"}}
		}, severity: SeverityCritical, ports: []string{"3306/MYSQL", "6379/REDIS"}},
		{name: "STATIC", mutate: func(s *networkingapi.ServiceEntry) {
			s.Resolution = networkingapi.ServiceEntry_STATIC
			s.Endpoints = []*networkingapi.WorkloadEntry{{Address: "10.1.2.3"}}
		}, severity: SeverityCritical},
		{name: "DNS_ROUND_ROBIN", mutate: func(s *networkingapi.ServiceEntry) { s.Resolution = networkingapi.ServiceEntry_DNS_ROUND_ROBIN }, severity: SeverityCritical},
		{name: "HTTPS matches on SNI", mutate: func(s *networkingapi.ServiceEntry) { s.Ports[0].Protocol = "HTTPS" }},
		{name: "TLS matches on SNI", mutate: func(s *networkingapi.ServiceEntry) { s.Ports[0].Protocol = "TLS" }},
		{name: "HTTP matches on Host", mutate: func(s *networkingapi.ServiceEntry) { s.Ports[0].Protocol = "http" }},
		{name: "addresses narrow the listener", mutate: func(s *networkingapi.ServiceEntry) { s.Addresses = []string{"10.96.0.12"} }},
		{name: "a CIDR narrows it too", mutate: func(s *networkingapi.ServiceEntry) { s.Addresses = []string{"10.96.0.0/16"} }},
		{name: "0.0.0.0/0 narrows nothing", mutate: func(s *networkingapi.ServiceEntry) { s.Addresses = []string{"0.0.0.0/0"} }, severity: SeverityCritical},
		{name: "resolution NONE passes through", mutate: func(s *networkingapi.ServiceEntry) { s.Resolution = networkingapi.ServiceEntry_NONE }, severity: SeverityInfo},
		{name: "exportTo . reaches its own namespace", mutate: func(s *networkingapi.ServiceEntry) { s.ExportTo = []string{"."} }, severity: SeverityCritical, affected: []string{"abc"}},
		{name: "exportTo names namespaces", mutate: func(s *networkingapi.ServiceEntry) { s.ExportTo = []string{"b", ".", "a"} }, severity: SeverityCritical, affected: []string{"a", "abc", "b"}},
		{name: "exportTo ~ reaches nobody", mutate: func(s *networkingapi.ServiceEntry) { s.ExportTo = []string{"~"} }},
		{name: "mixed ports: only the blind ones", mutate: func(s *networkingapi.ServiceEntry) {
			s.Ports = append(s.Ports, &networkingapi.ServicePort{Name: "http", Number: 80, Protocol: "HTTP"})
		}, severity: SeverityCritical, ports: []string{"443/TCP"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f, ok := Entry(entry("abc", "traefik", tc.mutate))
			if tc.severity == "" {
				if ok {
					t.Fatalf("unexpected finding: %+v", f)
				}
				return
			}
			if !ok || f.Severity != tc.severity {
				t.Fatalf("finding %+v (found %v), want severity %s", f, ok, tc.severity)
			}
			if tc.ports != nil && !slices.Equal(f.Ports, tc.ports) {
				t.Errorf("ports %v, want %v", f.Ports, tc.ports)
			}
			if tc.affected != nil && !slices.Equal(f.AffectedNamespaces, tc.affected) {
				t.Errorf("affected %v, want %v", f.AffectedNamespaces, tc.affected)
			}
			if f.Namespace != "abc" || f.Name != "traefik" || f.Message == "" {
				t.Errorf("finding lacks its identity or message: %+v", f)
			}
		})
	}
}

func TestEntriesCompete(t *testing.T) {
	findings := Entries([]*networkingv1.ServiceEntry{
		entry("abc", "traefik", nil),
		entry("def", "mysql", func(s *networkingapi.ServiceEntry) { s.Ports[0].Protocol = "" }),
		entry("ghi", "alone", func(s *networkingapi.ServiceEntry) { s.ExportTo = []string{"."}; s.Ports[0].Number = 8443 }),
		entry("jkl", "safe", func(s *networkingapi.ServiceEntry) { s.Addresses = []string{"10.0.0.1"} }),
	})
	if len(findings) != 3 {
		t.Fatalf("findings %+v, want 3", findings)
	}
	byName := map[string]Finding{}
	for _, f := range findings {
		byName[f.Name] = f
	}
	if got := byName["traefik"].CompetesWith; !slices.Equal(got, []string{"def/mysql"}) || !strings.Contains(byName["traefik"].Message, "pods disagree") {
		t.Errorf("traefik competes with %v: %s", got, byName["traefik"].Message)
	}
	if got := byName["alone"].CompetesWith; len(got) != 0 {
		t.Errorf("an entry on another port competes with %v", got)
	}
}
