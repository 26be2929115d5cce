package visibility

import (
	"strings"
	"testing"

	networkingapi "istio.io/api/networking/v1alpha3"
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
)

var alias = Entry{Namespace: "abc", Name: "traefik-custom-name", Hosts: []string{"traefik.custom-name"}, Ports: []uint32{443}}

func sidecar(ns string, port uint32, hosts ...string) Sidecar {
	return Sidecar{Namespace: ns, Name: "default", Egress: []Listener{{Port: port, Hosts: hosts}}}
}

func TestSee(t *testing.T) {
	mesh := Mesh{RootNamespace: "istio-system"}
	cases := []struct {
		name     string
		mesh     Mesh
		entry    Entry
		sidecars []Sidecar
		from     string
		hidden   string
	}{
		{"no Sidecar: everything exported is seen", mesh, alias, nil, "web", ""},
		{"./* hides other namespaces' entries", mesh, alias, []Sidecar{sidecar("web", 0, "./*")}, "web", SidecarScoped},
		{"./* keeps the namespace's own", mesh, alias, []Sidecar{sidecar("abc", 0, "./*")}, "abc", ""},
		{"*/* imports everything", mesh, alias, []Sidecar{sidecar("web", 0, "*/*")}, "web", ""},
		{"abc/* names the entry's namespace", mesh, alias, []Sidecar{sidecar("web", 0, "./*", "abc/*")}, "web", ""},
		{"abc/host imports that host", mesh, alias, []Sidecar{sidecar("web", 0, "abc/traefik.custom-name")}, "web", ""},
		{"*/host imports it from any namespace", mesh, alias, []Sidecar{sidecar("web", 0, "*/traefik.custom-name")}, "web", ""},
		{"the DNS name's namespace is not the entry's", mesh, alias, []Sidecar{sidecar("web", 0, "custom-name/*")}, "web", SidecarScoped},
		{"a wildcard host", mesh, alias, []Sidecar{sidecar("web", 0, "abc/*.custom-name")}, "web", ""},
		{"~abc/* excludes the namespace", mesh, alias, []Sidecar{sidecar("web", 0, "*/*", "~abc/*")}, "web", SidecarScoped},
		{"~/host excludes it everywhere", mesh, alias, []Sidecar{sidecar("web", 0, "*/*", "~/traefik.custom-name")}, "web", SidecarScoped},
		{"a port-scoped listener for another port", mesh, alias, []Sidecar{sidecar("web", 8080, "*/*")}, "web", SidecarScoped},
		{"a port-scoped listener for its port", mesh, alias, []Sidecar{sidecar("web", 443, "*/*")}, "web", ""},
		{"the root namespace's Sidecar applies where there is none", mesh, alias, []Sidecar{sidecar("istio-system", 0, "./*", "istio-system/*")}, "web", SidecarScoped},
		{"the namespace's own Sidecar wins over the root's", mesh, alias, []Sidecar{sidecar("istio-system", 0, "./*"), sidecar("web", 0, "*/*")}, "web", ""},
		{"a Sidecar with a selector is not the namespace's", mesh, alias, []Sidecar{{Namespace: "web", Name: "some", Selective: true, Egress: []Listener{{Hosts: []string{"./*"}}}}}, "web", ""},
		{"exportTo . keeps it home", mesh, Entry{Namespace: "abc", Hosts: alias.Hosts, ExportTo: []string{"."}}, nil, "web", NotExported},
		{"exportTo names the namespace", mesh, Entry{Namespace: "abc", Hosts: alias.Hosts, ExportTo: []string{"web"}}, nil, "web", ""},
		{"defaultServiceExportTo . applies without exportTo", Mesh{DefaultServiceExportTo: []string{"."}}, alias, nil, "web", NotExported},
		{"an entry's exportTo wins over the default", Mesh{DefaultServiceExportTo: []string{"."}}, Entry{Namespace: "abc", Hosts: alias.Hosts, ExportTo: []string{"*"}}, nil, "web", ""},
		{"exportTo ~ hides it everywhere", mesh, Entry{Namespace: "abc", Hosts: alias.Hosts, ExportTo: []string{"~"}}, nil, "abc", NotExported},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.mesh.See(tc.entry, tc.from, tc.sidecars); got.Hidden != tc.hidden {
				t.Errorf("from %s: hidden %q (%+v), want %q", tc.from, got.Hidden, got, tc.hidden)
			}
		})
	}
}

func TestSummarize(t *testing.T) {
	mesh := Mesh{RootNamespace: "istio-system"}
	sidecars := []Sidecar{sidecar("web", 0, "./*"), {Namespace: "api", Name: "canary", Selective: true}}
	s := Summarize(mesh, []Entry{alias}, []string{"abc", "api", "web"}, sidecars)
	if s.Reason != SidecarScoped || s.Count != 1 || strings.Join(s.Namespaces, ",") != "web" || strings.Join(s.Sidecars, ",") != "web/default" {
		t.Errorf("summary %+v", s)
	}
	for _, want := range []string{`add "abc/traefik.custom-name" to its egress hosts`, "Sidecar web/default", "api/canary"} {
		if !strings.Contains(s.Message, want) {
			t.Errorf("message %q lacks %q", s.Message, want)
		}
	}
	if s := Summarize(mesh, []Entry{alias}, []string{"abc", "api"}, nil); s.Reason != "" || s.Count != 0 {
		t.Errorf("nothing hides it, yet %+v", s)
	}
}

func TestFromSidecar(t *testing.T) {
	// An HTTP_PROXY listener matches no port; a Sidecar without egress imports everything.
	proxy := &networkingv1.Sidecar{Spec: networkingapi.Sidecar{Egress: []*networkingapi.IstioEgressListener{
		{Port: &networkingapi.SidecarPort{Number: 15080, Protocol: "HTTP_PROXY"}, Hosts: []string{"*/*"}},
	}}}
	proxy.Namespace, proxy.Name = "web", "proxy"
	if (Mesh{}).See(alias, "web", []Sidecar{FromSidecar(proxy)}).Hidden != "" {
		t.Errorf("an HTTP_PROXY listener with */* must import the entry on any port")
	}
	bare := &networkingv1.Sidecar{}
	bare.Namespace, bare.Name = "web", "registry-only"
	if (Mesh{}).See(alias, "web", []Sidecar{FromSidecar(bare)}).Hidden != "" {
		t.Errorf("a Sidecar without egress imports everything")
	}
}
