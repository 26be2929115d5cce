package e2e_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"text/tabwriter"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"istio.io/istio/pilot/pkg/simulation"

	"github.com/meshalias/meshalias/e2e/internal/controlplane"
	"github.com/meshalias/meshalias/e2e/internal/plugin"
	"github.com/meshalias/meshalias/e2e/internal/visibility"
)

// The namespaces of the visibility cases. abc holds the alias's entry; web is the consumer the
// cases give Sidecars to; other has none of its own, so only the root namespace's applies to it.
const (
	visAlias    = "abc"
	visWeb      = "web"
	visOther    = "other"
	visRoot     = "istio-system"
	visMeshRoot = "mesh-root"
	visHost     = "traefik.custom-name"
	// visBackend is the Service, in each entry's namespace, whose ClusterIP the entry carries.
	visBackend = "backend"
)

// What a consumer namespace is expected to see of the alias host: the namespace of the entry its
// pods see, or why they see none.
const (
	notExported   = "NotExported"
	sidecarScoped = "SidecarScoped"
)

// visEntry is an alias-shaped ServiceEntry for visHost: the backend Service's ClusterIP in
// addresses, one endpoint (the Service's DNS name) and one port: HTTP 80, or TCP 9000, a port
// the Service does not have, so that the entry's listener is its own and not the Service's.
type visEntry struct {
	namespace string
	tcp       bool
	exportTo  string // a YAML flow sequence, or "" for none
}

func (e visEntry) port() int {
	if e.tcp {
		return 9000
	}
	return 80
}

func (e visEntry) doc(ip string) string {
	port := `{name: http, number: 80, protocol: HTTP}`
	endpoint := fmt.Sprintf(`{address: %s.%s.svc.cluster.local}`, visBackend, e.namespace)
	if e.tcp {
		port = `{name: tcp-9000, number: 9000, protocol: TCP}`
		endpoint = fmt.Sprintf(`{address: %s.%s.svc.cluster.local, ports: {tcp-9000: 80}}`, visBackend, e.namespace)
	}
	exportTo := ""
	if e.exportTo != "" {
		exportTo = "  exportTo: " + e.exportTo + "\n"
	}
	return fmt.Sprintf(`
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata:
  name: %s
  namespace: %s
  labels: {app.kubernetes.io/managed-by: meshalias, meshalias.io/owner-kind: ServiceAlias, meshalias.io/owner-name: %s}
spec:
  hosts: [%s]
  addresses: [%s]
  endpoints: [%s]
  ports: [%s]
  location: MESH_INTERNAL
  resolution: DNS
%s`, entryName(visHost), e.namespace, visBackend, visHost, ip, endpoint, port, exportTo)
}

// sidecarDoc is a Sidecar with the given spec, in YAML flow style.
func sidecarDoc(namespace, name, spec string) string {
	return fmt.Sprintf(`
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: %s, namespace: %s}
spec: %s
`, name, namespace, spec)
}

// egress is a Sidecar spec with one catch-all egress listener importing hosts.
func egress(hosts ...string) string {
	return `{egress: [{hosts: ["` + strings.Join(hosts, `", "`) + `"]}]}`
}

// TestVisibilityAgreesWithPilot runs each case's Services, alias-shaped entries, Sidecars and
// mesh config on a live apiserver, and asks both `kubectl meshalias explain` and Istio's own
// pilot, fed the same live objects and mesh config, what the pods of each namespace see of the
// alias host. explain's entry is set exactly when pilot's SidecarScope for a sidecar of that
// namespace holds the host, from the same namespace; a call to the host then reaches the entry's
// cluster; explain's DNS answer matches the name table pilot builds; and both name the same
// Sidecar. Each case also says what it expects, so that the two cannot agree on a case that
// tests nothing.
func TestVisibilityAgreesWithPilot(t *testing.T) {
	ctx := context.Background()
	bins := buildBinaries(t)
	cluster := controlplane.Run(t)
	c := cluster.Client

	abc := []visEntry{{namespace: visAlias}}
	abcTCP := []visEntry{{namespace: visAlias, tcp: true}}
	sees := func(ns string) string { return ns }
	all := func(v string) map[string]string { return map[string]string{visAlias: v, visWeb: v, visOther: v} }
	// only: abc and other see abc's entry, and web what the case says.
	only := func(webSees string) map[string]string {
		return map[string]string{visAlias: sees(visAlias), visWeb: webSees, visOther: sees(visAlias)}
	}
	cases := []struct {
		name     string
		mesh     string // the mesh config, "" for no ConfigMap
		entries  []visEntry
		sidecars []string // created in this order, each in a later second than the one before
		want     map[string]string
		// viaProxy: web's pods reach services through the Sidecar's HTTP proxy listener on
		// 127.0.0.1:15080 (Host "host:port"), not by their addresses.
		viaProxy bool
	}{
		{name: "no Sidecar", entries: abc, want: all(sees(visAlias))},
		{name: "web ./*", entries: abc,
			sidecars: []string{sidecarDoc(visWeb, "web-own", egress("./*"))},
			want:     only(sidecarScoped)},
		{name: "web */*", entries: abc,
			sidecars: []string{sidecarDoc(visWeb, "web-all", egress("*/*"))},
			want:     only(sees(visAlias))},
		{name: "web abc/host", entries: abc,
			sidecars: []string{sidecarDoc(visWeb, "web-host", egress("./*", "abc/"+visHost))},
			want:     only(sees(visAlias))},
		{name: "web abc/*", entries: abc,
			sidecars: []string{sidecarDoc(visWeb, "web-abc", egress("./*", "abc/*"))},
			want:     only(sees(visAlias))},
		{name: "web */*.custom-name", entries: abc,
			sidecars: []string{sidecarDoc(visWeb, "web-domain", egress("./*", "*/*.custom-name"))},
			want:     only(sees(visAlias))},
		{name: "web custom-name/host (DNS domain, not namespace)", entries: abc,
			sidecars: []string{sidecarDoc(visWeb, "web-domain-ns", egress("./*", "custom-name/"+visHost))},
			want:     only(sidecarScoped)},
		{name: "web other/*", entries: abc,
			sidecars: []string{sidecarDoc(visWeb, "web-other", egress("./*", "other/*"))},
			want:     only(sidecarScoped)},
		{name: "web ~abc/* with */*", entries: abc,
			sidecars: []string{sidecarDoc(visWeb, "web-but-abc", egress("~abc/*", "*/*"))},
			want:     only(sidecarScoped)},
		{name: "web ~abc/another host with */*", entries: abc,
			sidecars: []string{sidecarDoc(visWeb, "web-but-one", egress("~abc/another.custom-name", "*/*"))},
			want:     only(sees(visAlias))},
		{name: "root ./*", entries: abc,
			sidecars: []string{sidecarDoc(visRoot, "root-own", egress("./*"))},
			want:     map[string]string{visAlias: sees(visAlias), visWeb: sidecarScoped, visOther: sidecarScoped}},
		{name: "web's Sidecar over the root's", entries: abc,
			sidecars: []string{sidecarDoc(visRoot, "root-own", egress("./*")), sidecarDoc(visWeb, "web-abc", egress("./*", "abc/*"))},
			want:     map[string]string{visAlias: sees(visAlias), visWeb: sees(visAlias), visOther: sidecarScoped}},
		{name: "the oldest of two web Sidecars", entries: abc,
			sidecars: []string{sidecarDoc(visWeb, "web-z-old", egress("./*")), sidecarDoc(visWeb, "web-a-new", egress("*/*"))},
			want:     only(sidecarScoped)},
		{name: "web Sidecar with a workload selector", entries: abc,
			sidecars: []string{sidecarDoc(visWeb, "web-canary", `{workloadSelector: {labels: {app: canary}}, egress: [{hosts: ["./*"]}]}`)},
			want:     only(sees(visAlias))},
		{name: "rootNamespace from the mesh config", entries: abc, mesh: "rootNamespace: " + visMeshRoot + "\n",
			sidecars: []string{sidecarDoc(visRoot, "system-all", egress("*/*")), sidecarDoc(visMeshRoot, "mesh-root-own", egress("./*"))},
			want:     map[string]string{visAlias: sees(visAlias), visWeb: sidecarScoped, visOther: sidecarScoped}},
		{name: "defaultServiceExportTo [.]", entries: abc, mesh: "defaultServiceExportTo: [\".\"]\n",
			want: map[string]string{visAlias: sees(visAlias), visWeb: notExported, visOther: notExported}},
		{name: "defaultServiceExportTo [., web]", entries: abc, mesh: "defaultServiceExportTo: [\".\", \"web\"]\n",
			want: map[string]string{visAlias: sees(visAlias), visWeb: sees(visAlias), visOther: notExported}},
		{name: "exportTo [.]", entries: []visEntry{{namespace: visAlias, exportTo: `["."]`}},
			want: map[string]string{visAlias: sees(visAlias), visWeb: notExported, visOther: notExported}},
		{name: "exportTo [web]", entries: []visEntry{{namespace: visAlias, exportTo: `["web"]`}},
			want: map[string]string{visAlias: notExported, visWeb: sees(visAlias), visOther: notExported}},
		{name: "exportTo [~]", entries: []visEntry{{namespace: visAlias, exportTo: `["~"]`}},
			want: all(notExported)},
		{name: "exportTo [*] over defaultServiceExportTo [.]", entries: []visEntry{{namespace: visAlias, exportTo: `["*"]`}},
			mesh: "defaultServiceExportTo: [\".\"]\n", want: all(sees(visAlias))},
		{name: "exportTo [web] and web ./*", entries: []visEntry{{namespace: visAlias, exportTo: `["web"]`}},
			sidecars: []string{sidecarDoc(visWeb, "web-own", egress("./*"))},
			want:     map[string]string{visAlias: notExported, visWeb: sidecarScoped, visOther: notExported}},
		{name: "web port-scoped listener on another port", entries: abc,
			sidecars: []string{sidecarDoc(visWeb, "web-9999", `{egress: [{port: {number: 9999, protocol: HTTP, name: http-9999}, hosts: ["abc/*"]}]}`)},
			want:     only(sidecarScoped)},
		{name: "web port-scoped listener on another port, then ./*", entries: abc,
			sidecars: []string{sidecarDoc(visWeb, "web-9999-own", `{egress: [{port: {number: 9999, protocol: HTTP, name: http-9999}, hosts: ["abc/*"]}, {hosts: ["./*"]}]}`)},
			want:     only(sidecarScoped)},
		{name: "web port-scoped listener on the entry's port", entries: abc,
			sidecars: []string{sidecarDoc(visWeb, "web-80", `{egress: [{port: {number: 80, protocol: HTTP, name: http}, hosts: ["abc/*"]}]}`)},
			want:     only(sees(visAlias))},
		{name: "web Sidecar without egress", entries: abc,
			sidecars: []string{sidecarDoc(visWeb, "web-registry-only", `{outboundTrafficPolicy: {mode: REGISTRY_ONLY}}`)},
			want:     only(sees(visAlias))},
		{name: "web HTTP_PROXY listener */*", entries: abc,
			sidecars: []string{sidecarDoc(visWeb, "web-http-proxy", `{egress: [{port: {number: 15080, protocol: HTTP_PROXY, name: http-proxy}, bind: 127.0.0.1, captureMode: NONE, hosts: ["*/*"]}]}`)},
			want:     only(sees(visAlias)), viaProxy: true},
		{name: "the host in abc and in web", entries: []visEntry{{namespace: visAlias}, {namespace: visWeb}},
			want: map[string]string{visAlias: sees(visAlias), visWeb: sees(visWeb), visOther: sees(visAlias)}},
		{name: "TCP entry, no Sidecar", entries: abcTCP, want: all(sees(visAlias))},
		{name: "TCP entry, web ./*", entries: abcTCP,
			sidecars: []string{sidecarDoc(visWeb, "web-own", egress("./*"))},
			want:     only(sidecarScoped)},
		{name: "TCP entry, web port-scoped on its port", entries: abcTCP,
			sidecars: []string{sidecarDoc(visWeb, "web-9000", `{egress: [{port: {number: 9000, protocol: TCP, name: tcp-9000}, hosts: ["abc/*"]}]}`)},
			want:     only(sees(visAlias))},
		{name: "TCP entry, web port-scoped on another port", entries: abcTCP,
			sidecars: []string{sidecarDoc(visWeb, "web-9001", `{egress: [{port: {number: 9001, protocol: TCP, name: tcp-9001}, hosts: ["abc/*"]}]}`)},
			want:     only(sidecarScoped)},
	}

	for _, ns := range []string{visAlias, visWeb, visOther} {
		must(t, c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns, Labels: map[string]string{"istio-injection": "enabled"}}}))
	}
	for _, ns := range []string{visRoot, visMeshRoot} {
		must(t, c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}))
	}

	var table strings.Builder
	tw := tabwriter.NewWriter(&table, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "case\tfrom\tsidecar\tevaluator (explain)\t--assume\tpilot (SidecarScope, call)\t")
	disagreements := 0
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			// The case's objects, created in order, deleted when it ends.
			var created []client.Object
			t.Cleanup(func() {
				for _, o := range slices.Backward(created) {
					if err := c.Delete(context.Background(), o); err != nil {
						t.Errorf("deleting %T %s/%s: %v", o, o.GetNamespace(), o.GetName(), err)
					}
				}
			})
			add := func(o client.Object) {
				t.Helper()
				must(t, c.Create(ctx, o))
				created = append(created, o)
			}
			ips := map[string]string{}
			for _, e := range tc.entries {
				svc := visService(e.namespace)
				add(svc)
				ips[e.namespace] = svc.Spec.ClusterIP
			}
			for _, e := range tc.entries {
				add(object(t, e.doc(ips[e.namespace])))
			}

			// Before the Sidecars and the mesh config are applied, what explain --assume makes
			// of them: it must come to what pilot does once they are.
			assumed := map[string]plugin.Explanation{}
			if tc.mesh != "" || len(tc.sidecars) > 0 {
				file := filepath.Join(t.TempDir(), "assume.yaml")
				must(t, os.WriteFile(file, []byte(assumeDoc(tc.mesh, tc.sidecars)), 0o600))
				for _, from := range []string{visAlias, visWeb, visOther} {
					ex, err := plugin.Explain(bins.Plugin, cluster.AdminKubeconfig, visHost, from, "--assume", file)
					must(t, err)
					assumed[from] = ex
				}
			}

			if tc.mesh != "" {
				add(&corev1.ConfigMap{
					ObjectMeta: metav1.ObjectMeta{Namespace: visibility.IstioNamespace, Name: visibility.MeshConfigMap},
					Data:       map[string]string{visibility.MeshKey: tc.mesh},
				})
			}
			for i, doc := range tc.sidecars {
				if i > 0 {
					// Pilot takes a namespace's oldest Sidecar; creation times are in seconds.
					waitForNextSecond(time.Now())
				}
				add(object(t, doc))
			}

			snap, err := visibility.Read(ctx, c)
			must(t, err)
			warnings, err := snap.Validate()
			if err != nil {
				t.Fatalf("Istio refuses the case's config: %v", err)
			}
			for _, w := range warnings {
				t.Logf("Istio warns: %s", w)
			}
			mesh := snap.Pilot(t)

			for _, from := range []string{visAlias, visWeb, visOther} {
				ex, err := plugin.Explain(bins.Plugin, cluster.AdminKubeconfig, visHost, from)
				must(t, err)
				proxy := mesh.Proxy(from)

				// What the evaluator says, of the applied config and of the assumed one.
				evalSees, evalSays := explainVerdict(ex)
				assumeSays := "-"
				if a, ok := assumed[from]; ok {
					var assumeSees string
					assumeSees, assumeSays = explainVerdict(a)
					if assumeSees != evalSees || a.Sidecar != ex.Sidecar {
						t.Errorf("from %s: explain --assume says %s (sidecar %q), and once applied %s (sidecar %q)", from, assumeSays, a.Sidecar, evalSays, ex.Sidecar)
					} else {
						assumeSays = "same"
					}
				}

				// What pilot does. The call goes to the address of the entry it sees, else of the
				// entry the case expects, else of the first.
				pilotSees, inScope := proxy.Service(visHost)
				entry := tc.entries[0]
				for _, e := range tc.entries {
					if e.namespace == pilotSees || (pilotSees == "" && e.namespace == tc.want[from]) {
						entry = e
					}
				}
				call := httpCall(ips[entry.namespace], entry.port(), visHost)
				switch {
				case tc.viaProxy && from == visWeb:
					call = httpCall("127.0.0.1", 15080, fmt.Sprintf("%s:%d", visHost, entry.port()))
				case entry.tcp:
					call = simulation.Call{Address: ips[entry.namespace], Port: entry.port(), Protocol: simulation.TCP}
				}
				got := proxy.Call(call)
				reached := got.ClusterMatched == entryCluster(visHost, entry.port())
				pilotSays := "hidden"
				if inScope {
					pilotSays = "sees " + pilotSees
				}
				pilotSays += " -> " + got.ClusterMatched
				dns := proxy.DNSAnswers(visHost)

				sidecar := proxy.Sidecar()
				evalSidecar := ex.Sidecar
				if _, name, ok := strings.Cut(evalSidecar, "/"); ok {
					evalSidecar = name
				}
				shownSidecar := ex.Sidecar
				if shownSidecar == "" {
					shownSidecar = "-"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t\n", tc.name, from, shownSidecar, evalSays, assumeSays, pilotSays)
				t.Logf("from %s: explain %s (sidecar %q, dns %v, addEgressHost %q); pilot %s (sidecar %q, dns %v), call %s:%d: listener %q, cluster %q",
					from, evalSays, ex.Sidecar, ex.DNSProxyAnswers, ex.AddEgressHost, pilotSays, sidecar, dns, call.Address, call.Port, got.ListenerMatched, got.ClusterMatched)

				// They agree.
				if evalSees != pilotSees {
					disagreements++
					t.Errorf("from %s: explain says %s, pilot's SidecarScope %s", from, evalSays, pilotSays)
				}
				if reached != inScope {
					t.Errorf("from %s: pilot's SidecarScope has the host: %v, but the call reached the entry's cluster: %v (%q)", from, inScope, reached, got.ClusterMatched)
				}
				if ex.DNSProxyAnswers != dns {
					t.Errorf("from %s: explain says the DNS proxy answers: %v; pilot's name table has the host: %v", from, ex.DNSProxyAnswers, dns)
				}
				if evalSidecar != sidecar {
					t.Errorf("from %s: explain names Sidecar %q, pilot's scope is %q's", from, ex.Sidecar, sidecar)
				}

				// And they say what the case expects.
				switch want := tc.want[from]; want {
				case notExported, sidecarScoped:
					if ex.Entry != nil || ex.HiddenReason(visAlias) != want {
						t.Errorf("from %s: explain says %s, want hidden: %s", from, evalSays, want)
					}
					if want == sidecarScoped && ex.AddEgressHost != visAlias+"/"+visHost {
						t.Errorf("from %s: explain's addEgressHost %q, want %q", from, ex.AddEgressHost, visAlias+"/"+visHost)
					}
					if inScope {
						t.Errorf("from %s: pilot %s, want hidden: %s", from, pilotSays, want)
					}
				default:
					if evalSees != want {
						t.Errorf("from %s: explain says %s, want sees %s", from, evalSays, want)
					}
					if pilotSees != want {
						t.Errorf("from %s: pilot %s, want sees %s", from, pilotSays, want)
					}
				}
			}
		})
	}
	tw.Flush()
	t.Logf("evaluator vs pilot, alias host %s (entry in %s), %d disagreements:\n%s", visHost, visAlias, disagreements, table.String())
}

// explainVerdict is the namespace of the entry explain says the pods see ("" for none), and
// a short account of it.
func explainVerdict(ex plugin.Explanation) (sees, says string) {
	if ex.Entry != nil {
		return ex.Entry.Namespace, "sees " + ex.Entry.Namespace
	}
	reasons := make([]string, 0, len(ex.Others))
	for _, o := range ex.Others {
		reasons = append(reasons, o.Hidden)
	}
	return "", "hidden: " + strings.Join(reasons, ",")
}

// assumeDoc is a file for explain --assume: the mesh config's ConfigMap, when there is one, and
// the Sidecars in the order they would be created.
func assumeDoc(mesh string, sidecars []string) string {
	var docs []string
	if mesh != "" {
		docs = append(docs, fmt.Sprintf("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: %s, namespace: %s}\ndata:\n  %s: |\n    %s\n",
			visibility.MeshConfigMap, visibility.IstioNamespace, visibility.MeshKey, strings.ReplaceAll(strings.TrimSpace(mesh), "\n", "\n    ")))
	}
	docs = append(docs, sidecars...)
	return strings.Join(docs, "\n---\n")
}

// visService is the backend Service of an alias in namespace.
func visService(namespace string) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: visBackend},
		Spec: corev1.ServiceSpec{
			Selector: map[string]string{"app": visBackend},
			Ports:    []corev1.ServicePort{{Name: "http", Port: 80}},
		},
	}
}

// The incident's second situation: MESH_EXTERNAL SNI entries for public hosts in default, and
// a legacy catch-all in abc.
const (
	catchAllNamespace = "abc"
	catchAllName      = "traefik-legacy"
	catchAllHost      = "traefik.custom-name"
	demoNamespace     = "istio-demo"
	googleSNI         = "www.google.com"
)

// sniEntryDoc is a MESH_EXTERNAL entry for a public host, on TLS 443: Istio matches it by SNI
// on the 0.0.0.0:443 listener, ahead of a catch-all's filter chain, where the sidecar sees it.
func sniEntryDoc(name, host, resolution, exportTo string) string {
	doc := fmt.Sprintf(`
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: %s, namespace: default}
spec:
  hosts: [%s]
  location: MESH_EXTERNAL
  resolution: %s
  ports: [{name: tls, number: 443, protocol: TLS}]
`, name, host, resolution)
	if exportTo != "" {
		doc += "  exportTo: " + exportTo + "\n"
	}
	return doc
}

// catchAllDoc is the legacy controller's entry: no addresses, TCP 443, which makes Istio send
// every connection on 443 that nothing else matches to traefik.
const catchAllDoc = `
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata:
  name: ` + catchAllName + `
  namespace: ` + catchAllNamespace + `
  labels: {app.kubernetes.io/managed-by: dns-controller}
spec:
  hosts: [` + catchAllHost + `]
  location: MESH_INTERNAL
  resolution: DNS
  endpoints: [{address: traefik.abc.svc.cluster.local}]
  ports: [{name: tcp-443, number: 443, protocol: TCP}]
`

// TestVisibilityOfCatchAllAgreesWithPilot plays the incident's second situation under Sidecars
// and exportTo, and checks `kubectl meshalias audit -A`'s reach against Istio's pilot: from each
// mesh namespace, `curl https://baidu.com` (TLS to 220.181.38.148:443, SNI baidu.com) and the
// same for www.google.com. The catch-all finding reaches a namespace exactly when pilot's
// SidecarScope there holds the catch-all; the unmasked-catch-all finding names a namespace
// exactly when pilot sends one of those calls to the catch-all's cluster; and explain, for the
// public host, sees its entry and the catch-all as pilot does.
func TestVisibilityOfCatchAllAgreesWithPilot(t *testing.T) {
	ctx := context.Background()
	bins := buildBinaries(t)
	cluster := controlplane.Run(t)
	c := cluster.Client

	cases := []struct {
		name               string
		sidecars           []string
		baiduResolution    string
		baiduExportTo      string
		wantHijacked       []string // where pilot is expected to send baidu.com to the catch-all
		wantCatchAllReach  []string
		wantPassthroughFor []string // where neither entry is seen
	}{
		{name: "no Sidecar", baiduResolution: "DNS",
			wantCatchAllReach: []string{catchAllNamespace, "default", demoNamespace}},
		{name: "istio-demo ./*", baiduResolution: "DNS",
			sidecars:          []string{sidecarDoc(demoNamespace, "demo-own", egress("./*"))},
			wantCatchAllReach: []string{catchAllNamespace, "default"}, wantPassthroughFor: []string{demoNamespace}},
		{name: "root ./*", baiduResolution: "DNS",
			sidecars:          []string{sidecarDoc(visRoot, "root-own", egress("./*"))},
			wantHijacked:      []string{catchAllNamespace},
			wantCatchAllReach: []string{catchAllNamespace}, wantPassthroughFor: []string{demoNamespace}},
		{name: "root ./*, baidu.com resolution NONE", baiduResolution: "NONE",
			sidecars:          []string{sidecarDoc(visRoot, "root-own", egress("./*"))},
			wantHijacked:      []string{catchAllNamespace},
			wantCatchAllReach: []string{catchAllNamespace}, wantPassthroughFor: []string{demoNamespace}},
		{name: "istio-demo ./* abc/*", baiduResolution: "DNS",
			sidecars:          []string{sidecarDoc(demoNamespace, "demo-abc", egress("./*", "abc/*"))},
			wantHijacked:      []string{demoNamespace},
			wantCatchAllReach: []string{catchAllNamespace, "default", demoNamespace}},
		{name: "root ./* abc/*, istio-demo */*", baiduResolution: "DNS",
			sidecars: []string{sidecarDoc(visRoot, "root-abc", egress("./*", "abc/*")),
				sidecarDoc(demoNamespace, "demo-all", egress("*/*"))},
			wantHijacked:      []string{catchAllNamespace},
			wantCatchAllReach: []string{catchAllNamespace, "default", demoNamespace}},
		{name: "baidu.com exportTo [.]", baiduResolution: "DNS", baiduExportTo: `["."]`,
			wantHijacked:      []string{catchAllNamespace, demoNamespace},
			wantCatchAllReach: []string{catchAllNamespace, "default", demoNamespace}},
	}

	// The mesh: default and abc by the injection label, istio-demo by a revision label.
	var def corev1.Namespace
	must(t, c.Get(ctx, client.ObjectKey{Name: "default"}, &def))
	def.Labels = map[string]string{"istio-injection": "enabled"}
	must(t, c.Update(ctx, &def))
	must(t, c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: catchAllNamespace, Labels: map[string]string{"istio-injection": "enabled"}}}))
	must(t, c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: demoNamespace, Labels: map[string]string{"istio.io/rev": "canary"}}}))
	must(t, c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: visRoot}}))
	must(t, c.Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: catchAllNamespace, Name: "traefik"},
		Spec:       corev1.ServiceSpec{Selector: map[string]string{"app": "traefik"}, Ports: []corev1.ServicePort{{Name: "https", Port: 443}}},
	}))
	consumers := []string{"default", catchAllNamespace, demoNamespace}

	var table strings.Builder
	tw := tabwriter.NewWriter(&table, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "case\tfrom\tevaluator (audit; explain baidu.com)\tpilot (https://baidu.com)\t")
	disagreements := 0
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var created []*unstructured.Unstructured
			t.Cleanup(func() {
				for _, o := range slices.Backward(created) {
					if err := c.Delete(context.Background(), o); err != nil {
						t.Errorf("deleting %s %s/%s: %v", o.GetKind(), o.GetNamespace(), o.GetName(), err)
					}
				}
			})
			docs := []string{
				sniEntryDoc("baidu", publicSNI, tc.baiduResolution, tc.baiduExportTo),
				sniEntryDoc("google", googleSNI, "NONE", ""),
				catchAllDoc,
			}
			for i, doc := range append(docs, tc.sidecars...) {
				if i > len(docs) {
					waitForNextSecond(time.Now())
				}
				created = append(created, create(t, c, doc))
			}

			// What the audit says.
			res, err := plugin.Audit(bins.Plugin, cluster.AdminKubeconfig, "-A")
			must(t, err)
			catchAll, found, err := res.FindRule(catchAllNamespace, catchAllName, "catch-all")
			must(t, err)
			if !found {
				t.Fatalf("the audit does not report the catch-all:\n%s", res.Stdout)
			}
			unmasked, _, err := res.FindRule(catchAllNamespace, catchAllName, "unmasked-catch-all")
			must(t, err)
			t.Logf("audit: catch-all reaches %v; unmasked-catch-all in %v: %s", catchAll.AffectedNamespaces, unmasked.AffectedNamespaces, unmasked.Message)
			if !sameSet(catchAll.AffectedNamespaces, tc.wantCatchAllReach) {
				t.Errorf("the audit's catch-all reaches %v, want %v", catchAll.AffectedNamespaces, tc.wantCatchAllReach)
			}

			// What pilot does.
			snap, err := visibility.Read(ctx, c)
			must(t, err)
			if _, err := snap.Validate(); err != nil {
				t.Fatalf("Istio refuses the case's config: %v", err)
			}
			mesh := snap.Pilot(t)

			var pilotReach, pilotHijacked, pilotUnmasked []string
			for _, from := range consumers {
				proxy := mesh.Proxy(from)
				_, seesCatchAll := proxy.Service(catchAllHost)
				if seesCatchAll {
					pilotReach = append(pilotReach, from)
				}
				route := func(sni string) string {
					got := proxy.Call(tlsCall(publicIP, 443, sni))
					t.Logf("from %s: TLS to %s:443 (SNI %s): listener %q, filter chain %q, cluster %q", from, publicIP, sni, got.ListenerMatched, got.FilterChainMatched, got.ClusterMatched)
					switch got.ClusterMatched {
					case entryCluster(sni, 443):
						return sni
					case entryCluster(catchAllHost, 443):
						return "catch-all"
					case "PassthroughCluster":
						return "passthrough"
					}
					return got.ClusterMatched
				}
				baidu, google := route(publicSNI), route(googleSNI)
				if baidu == "catch-all" {
					pilotHijacked = append(pilotHijacked, from)
				}
				if baidu == "catch-all" || google == "catch-all" {
					pilotUnmasked = append(pilotUnmasked, from)
				}

				// What explain says of baidu.com for this namespace, with the audit's reach.
				ex, err := plugin.Explain(bins.Plugin, cluster.AdminKubeconfig, publicSNI, from)
				must(t, err)
				_, pilotSeesBaidu := proxy.Service(publicSNI)
				evalRoute := "passthrough"
				switch {
				case ex.Entry != nil:
					evalRoute = publicSNI
				case len(ex.CatchAlls) > 0:
					evalRoute = "catch-all"
				}
				reached := slices.Contains(catchAll.AffectedNamespaces, from)
				isUnmasked := slices.Contains(unmasked.AffectedNamespaces, from)
				evalSays := fmt.Sprintf("catch-all %s; -> %s", reachWord(reached, isUnmasked), evalRoute)
				pilotSays := fmt.Sprintf("catch-all %s; -> %s", map[bool]string{true: "in scope", false: "not in scope"}[seesCatchAll], baidu)
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t\n", tc.name, from, evalSays, pilotSays)

				if evalRoute != baidu {
					disagreements++
					t.Errorf("from %s: explain %s says https://baidu.com goes to %s, pilot sends it to %s", from, publicSNI, evalRoute, baidu)
				}
				if (ex.Entry != nil) != pilotSeesBaidu {
					t.Errorf("from %s: explain's entry for %s is %v, pilot's SidecarScope has it: %v", from, publicSNI, ex.Entry != nil, pilotSeesBaidu)
				}
				if (len(ex.CatchAlls) > 0) != seesCatchAll {
					t.Errorf("from %s: explain's catch-alls %v, pilot's SidecarScope has the catch-all: %v", from, ex.CatchAlls, seesCatchAll)
				}
				if slices.Contains(tc.wantPassthroughFor, from) != (baidu == "passthrough") {
					t.Errorf("from %s: pilot sends https://baidu.com to %s, the case expects passthrough: %v", from, baidu, slices.Contains(tc.wantPassthroughFor, from))
				}
			}

			if !sameSet(catchAll.AffectedNamespaces, pilotReach) {
				disagreements++
				t.Errorf("the audit's catch-all reaches %v; pilot's SidecarScopes hold it in %v", catchAll.AffectedNamespaces, pilotReach)
			}
			if !sameSet(unmasked.AffectedNamespaces, pilotUnmasked) {
				disagreements++
				t.Errorf("the audit's unmasked-catch-all names %v; pilot sends a public host to the catch-all from %v", unmasked.AffectedNamespaces, pilotUnmasked)
			}
			if !sameSet(pilotHijacked, tc.wantHijacked) {
				t.Errorf("pilot sends https://baidu.com to the catch-all from %v, the case expects %v", pilotHijacked, tc.wantHijacked)
			}
		})
	}
	tw.Flush()
	t.Logf("evaluator vs pilot, catch-all %s/%s (TCP 443, no addresses) and SNI entries in default, %d disagreements:\n%s",
		catchAllNamespace, catchAllName, disagreements, table.String())
}

// reachWord is what the audit says of a namespace: the catch-all reaches it, and whether
// unmasked.
func reachWord(reached, unmasked bool) string {
	switch {
	case reached && unmasked:
		return "reaches, unmasked"
	case reached:
		return "reaches"
	case unmasked:
		return "unmasked, not reached (!)"
	}
	return "does not reach"
}

// sameSet compares two lists of namespaces as sets; nil and empty are the same.
func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(slices.Compact(a), slices.Compact(b))
}
