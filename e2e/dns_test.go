package e2e_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	mdns "github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"istio.io/istio/pilot/pkg/simulation"

	"github.com/meshalias/meshalias/e2e/internal/controlplane"
	"github.com/meshalias/meshalias/e2e/internal/dns"
	"github.com/meshalias/meshalias/e2e/internal/kstatus"
	"github.com/meshalias/meshalias/e2e/internal/live"
	"github.com/meshalias/meshalias/e2e/internal/operator"
	"github.com/meshalias/meshalias/e2e/internal/pilot"
	"github.com/meshalias/meshalias/e2e/internal/poll"
)

// The DNS tests' aliases, all in namespace dnsNS: a ServiceAlias, a NamespaceAlias for every
// Service (one regex rule), and a NamespaceAlias with a selector (an exact rule per host).
const (
	dnsNS           = "abc"
	dnsAliasDomain  = "custom-name"
	dnsEveryDomain  = "hello"
	dnsPickedDomain = "picked"
	dnsTLSPort      = 443
)

// TestDNS proves that every alias host resolves to its Service's ClusterIP, both ways a pod can
// resolve it: through a real CoreDNS (built from the Go module proxy, run against the test
// cluster with the rules `kubectl meshalias dns --coredns -A` prints), and through Istio's DNS
// proxy (the name table pilot builds for a DNS-capturing sidecar, served by the sidecar agent's
// own DNS code). Names that are no alias's get NXDOMAIN from CoreDNS.
func TestDNS(t *testing.T) {
	ctx := context.Background()
	corednsBin, err := dns.BuildCoreDNS(controlplane.RepoRoot(), func(line string) { t.Log(line) })
	must(t, err)
	bins, cluster, op := runOperator(t)
	c := cluster.Client
	step := steps(t)

	// Service name -> ClusterIP, and alias host -> the Service it stands for.
	clusterIPs := map[string]string{}
	want := map[string]string{}
	var rules string

	step("aliases of both kinds are Ready", func(t *testing.T) {
		allowDomains(t, c, op, dnsNS, dnsAliasDomain, dnsEveryDomain, dnsPickedDomain)
		must(t, c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: dnsNS}}))
		// traefik is picked by the selector; service-api is not.
		for _, svc := range []*corev1.Service{
			tlsService(dnsNS, "traefik", map[string]string{"alias": "yes"}),
			tlsService(dnsNS, "service-api", nil),
		} {
			must(t, c.Create(ctx, svc))
			clusterIPs[svc.Name] = svc.Spec.ClusterIP
		}
		t.Logf("ClusterIPs: %v", clusterIPs)
		create(t, c, `
apiVersion: meshalias.io/v1alpha1
kind: ServiceAlias
metadata: {name: traefik, namespace: `+dnsNS+`}
spec:
  service: {name: traefik}
  hosts: [traefik.`+dnsAliasDomain+`]
`)
		create(t, c, `
apiVersion: meshalias.io/v1alpha1
kind: NamespaceAlias
metadata: {name: every, namespace: `+dnsNS+`}
spec: {domain: `+dnsEveryDomain+`}
`)
		create(t, c, `
apiVersion: meshalias.io/v1alpha1
kind: NamespaceAlias
metadata: {name: picked, namespace: `+dnsNS+`}
spec:
  domain: `+dnsPickedDomain+`
  selector: {matchLabels: {alias: "yes"}}
`)
		want["traefik."+dnsAliasDomain] = "traefik"
		want["traefik."+dnsEveryDomain] = "traefik"
		want["service-api."+dnsEveryDomain] = "service-api"
		want["traefik."+dnsPickedDomain] = "traefik"
		waitAliasesReady(t, c, op,
			func() (*unstructured.Unstructured, error) { return serviceAlias(c, dnsNS, "traefik") },
			func() (*unstructured.Unstructured, error) { return namespaceAlias(c, dnsNS, "every") },
			func() (*unstructured.Unstructured, error) { return namespaceAlias(c, dnsNS, "picked") },
		)
		// The operator's entries are the mesh's side of the same hosts: one per host, each with
		// its Service's ClusterIP.
		poll.Until(t, poll.Timeout, "one entry per alias host", whileAlive(op, func() error {
			got, err := entryHosts(c)
			if err != nil {
				return err
			}
			for host, svc := range want {
				if !slices.Equal(got[host], []string{clusterIPs[svc]}) {
					return fmt.Errorf("alias host %s: entry addresses %v, want [%s] (all entries: %v)", host, got[host], clusterIPs[svc], got)
				}
			}
			if len(got) != len(want) {
				return fmt.Errorf("entries for hosts %v, want exactly %v", got, want)
			}
			return nil
		}))
	})

	step("kubectl meshalias dns --coredns prints the rules", func(t *testing.T) {
		rules, err = dns.Rules(bins.Plugin, cluster.AdminKubeconfig, "-A")
		must(t, err)
		t.Logf("kubectl meshalias dns --coredns -A:\n%s", rules)
		cm, err := dns.Rules(bins.Plugin, cluster.AdminKubeconfig, "-A", "--format", "configmap")
		must(t, err)
		inCM, err := dns.ConfigMapRules(cm)
		must(t, err)
		if inCM != rules {
			t.Errorf("the ConfigMap's %s differs from the snippet:\n%s\nsnippet:\n%s", dns.ConfigMapKey, inCM, rules)
		}
		// What the rules say is judged by CoreDNS below; here only that each alias is in them.
		for host := range want {
			if !strings.Contains(rules, "exact "+host+".") && !strings.Contains(rules, "\\."+strings.SplitN(host, ".", 2)[1]+"\\.$") {
				t.Errorf("no rule for %s", host)
			}
		}
	})

	step("a real CoreDNS with the rules resolves every alias host", func(t *testing.T) {
		// The rules go where the coredns-custom ConfigMap's keys go: files imported into the
		// server block.
		custom := filepath.Join(t.TempDir(), "custom")
		must(t, os.MkdirAll(custom, 0o755))
		must(t, os.WriteFile(filepath.Join(custom, dns.ConfigMapKey), []byte(rules), 0o644))
		upstream := dns.StartUpstream(t)
		server := dns.StartCoreDNS(t, corednsBin, dns.Corefile{
			Import:     filepath.Join(custom, "*.override"),
			Kubeconfig: cluster.AdminKubeconfig,
			Upstream:   upstream.Addr,
		})

		// The Services' own names first: the kubernetes plugin reads the test cluster.
		for svc, ip := range clusterIPs {
			expectAnswer(t, server.Addr, svc+"."+dnsNS+".svc.cluster.local", mdns.TypeA, ip)
		}
		for host, svc := range want {
			// A under the alias name itself ("answer auto"), over UDP and TCP.
			expectAnswer(t, server.Addr, host, mdns.TypeA, clusterIPs[svc])
			// AAAA for a single-stack Service: NOERROR with no record, never NXDOMAIN, which
			// a client asking A and AAAA in parallel could take for the whole name.
			expectAnswer(t, server.Addr, host, mdns.TypeAAAA)
		}
		for _, tc := range []struct{ host, why string }{
			{"nosuch." + dnsEveryDomain, "under a NamespaceAlias's domain, but no Service of that name"},
			{"service-api." + dnsPickedDomain, "a Service the NamespaceAlias's selector leaves out"},
			{"nosuch." + dnsAliasDomain, "under an AliasDomain, but no alias's host"},
			{"traefik.cutom-name", "the legacy misspelling, no alias's host here"},
		} {
			for _, network := range []string{"udp", "tcp"} {
				got, err := dns.Query(server.Addr, network, tc.host, mdns.TypeA)
				must(t, err)
				t.Logf("%s A %s (%s): %s", network, tc.host, tc.why, got)
				if got.Rcode != mdns.RcodeToString[mdns.RcodeNameError] || len(got.IPs) > 0 {
					t.Errorf("%s A %s (%s): %s, want NXDOMAIN", network, tc.host, tc.why, got)
				}
			}
		}
		// The aliases are answered from the cluster's own data: none of them went upstream.
		asked := upstream.Asked()
		t.Logf("forwarded upstream: %v", asked)
		for host := range want {
			if slices.Contains(asked, mdns.Fqdn(host)) {
				t.Errorf("CoreDNS forwarded alias host %s upstream instead of rewriting it", host)
			}
		}
		if lines := server.Process.Grep("[ERROR]"); len(lines) > 0 {
			t.Errorf("coredns logged errors:\n%s", strings.Join(lines, "\n"))
		}
	})

	step("pilot's name table resolves every alias host for a DNS-capturing sidecar", func(t *testing.T) {
		snap, err := live.Read(ctx, c, []string{""}, []string{""})
		must(t, err)
		must(t, pilot.ValidateConfig(snap.Config))
		mesh := dns.NewMesh(t, snap.Services, snap.Config, false)
		for _, from := range []string{"default", dnsNS} {
			p := mesh.Proxy(from, dns.ProxyIPv4)
			nt := mesh.NameTable(p)
			for host, svc := range want {
				ips, ok := dns.Lookup(nt, host)
				t.Logf("sidecar in %s: name table %s -> %v", from, host, ips)
				if !ok || !slices.Equal(ips, []string{clusterIPs[svc]}) {
					t.Errorf("sidecar in %s: name table has %s -> %v (present %v), want [%s]", from, host, ips, ok, clusterIPs[svc])
				}
			}
			for _, host := range []string{"service-api." + dnsPickedDomain, "nosuch." + dnsEveryDomain} {
				if ips, ok := dns.Lookup(nt, host); ok {
					t.Errorf("sidecar in %s: name table has %s -> %v, which is no alias's host", from, host, ips)
				}
			}
			// The agent's DNS server, loaded with that table, is what the pod's resolver asks.
			agent := dns.StartAgent(t, nt, from)
			for host, svc := range want {
				expectAnswer(t, agent, host, mdns.TypeA, clusterIPs[svc])
			}
		}
	})

	step("the shipped RBAC refused the operator nothing", func(t *testing.T) {
		op.Stop(t)
		op.CheckLogs(t)
	})
}

// dualNS is the namespace of TestDualStack's Service and alias; dualClient and dualScoped are
// other namespaces' sidecars: dualScoped has a Sidecar that imports the alias only.
const (
	dualNS     = "abc"
	dualClient = "client"
	dualScoped = "scoped"
	dualDomain = "dual-name"
	dualHost   = "traefik." + dualDomain
)

// TestDualStack runs the cluster with a dual-stack Service range and aliases a
// RequireDualStack Service: the operator writes both ClusterIPs into the one entry, and Istio's
// pilot, for a dual-stack sidecar, answers the alias with both addresses, routes a connection to
// either ClusterIP to the Service, and must give the sidecar listeners Istio's own validation
// (xdstest.ValidateListeners) accepts. That last check fails with the entry as written today: a
// sidecar that also sees the dual-stack Service binds its IPv6 ClusterIP twice, once as an
// additional address of the Service's listener and once as the entry's own listener, and Envoy
// refuses a listener whose address another listener already has. The test also keeps the
// comparison with an entry that carries the Service's primary (IPv4) ClusterIP only.
func TestDualStack(t *testing.T) {
	ctx := context.Background()
	_, cluster, op := runOperator(t, controlplane.ServiceClusterIPRange(controlplane.DualStackServiceRange))
	c := cluster.Client
	step := steps(t)

	var svc *corev1.Service
	var entry *unstructured.Unstructured

	step("the operator writes the primary ClusterIP of a RequireDualStack Service", func(t *testing.T) {
		allowDomains(t, c, op, dualNS, dualDomain)
		must(t, c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: dualNS}}))
		svc = tlsService(dualNS, "traefik", nil)
		policy := corev1.IPFamilyPolicyRequireDualStack
		svc.Spec.IPFamilyPolicy = &policy
		must(t, c.Create(ctx, svc))
		t.Logf("Service %s/%s: ipFamilies %v, clusterIPs %v", dualNS, svc.Name, svc.Spec.IPFamilies, svc.Spec.ClusterIPs)
		if len(svc.Spec.ClusterIPs) != 2 || !slices.Equal(svc.Spec.IPFamilies, []corev1.IPFamily{corev1.IPv4Protocol, corev1.IPv6Protocol}) {
			t.Fatalf("the dual-stack apiserver gave clusterIPs %v, families %v; want one IPv4 and one IPv6", svc.Spec.ClusterIPs, svc.Spec.IPFamilies)
		}
		create(t, c, `
apiVersion: meshalias.io/v1alpha1
kind: ServiceAlias
metadata: {name: traefik, namespace: `+dualNS+`}
spec:
  service: {name: traefik}
  hosts: [`+dualHost+`]
`)
		waitAliasesReady(t, c, op, func() (*unstructured.Unstructured, error) { return serviceAlias(c, dualNS, "traefik") })
		var err error
		entry, err = serviceEntry(c, dualNS, entryName(dualHost))
		must(t, err)
		got := stringsAt(entry, "spec", "addresses")
		t.Logf("entry %s/%s: addresses %v", dualNS, entry.GetName(), got)
		if !slices.Equal(got, svc.Spec.ClusterIPs[:1]) {
			t.Errorf("entry addresses %v, want the Service's primary ClusterIP %v", got, svc.Spec.ClusterIPs[0])
		}
		alias, err := serviceAlias(c, dualNS, "traefik")
		must(t, err)
		if got := stringsAt(alias, "status", "addresses"); !slices.Equal(got, svc.Spec.ClusterIPs[:1]) {
			t.Errorf("ServiceAlias status.addresses %v, want %v", got, svc.Spec.ClusterIPs[:1])
		}
	})

	services, err := live.List(ctx, c, "v1", "ServiceList", dualNS)
	must(t, err)
	v4, v6 := svc.Spec.ClusterIPs[0], svc.Spec.ClusterIPs[1]

	t.Run("a dual-stack DNS-capturing sidecar resolves the alias to the primary ClusterIP", func(t *testing.T) {
		mesh := dualMesh(t, services, entry)
		p := mesh.Proxy(dualNS, dns.ProxyIPv4, dns.ProxyIPv6)
		nt := mesh.NameTable(p)
		ips, _ := dns.Lookup(nt, dualHost)
		t.Logf("name table %s -> %v", dualHost, ips)
		if !slices.Equal(ips, []string{v4}) {
			t.Errorf("name table %s -> %v, want %v", dualHost, ips, []string{v4})
		}
		agent := dns.StartAgent(t, nt, dualNS)
		expectAnswer(t, agent, dualHost, mdns.TypeA, v4)
	})

	// The checks with pilot below are independent of each other: each runs even when one
	// before it failed.
	t.Run("a sidecar's listeners are valid and both ClusterIPs reach the Service", func(t *testing.T) {
		mesh := dualMesh(t, services, entry)
		for _, tc := range []struct {
			name string
			ips  []string
		}{
			{"dual-stack", []string{dns.ProxyIPv4, dns.ProxyIPv6}},
			{"IPv4-only", []string{dns.ProxyIPv4}},
		} {
			sc := mesh.Sidecar(mesh.Proxy(dualNS, tc.ips...))
			logListeners(t, sc, tc.name, dnsTLSPort)
			if errs := sc.ValidateListeners(); len(errs) > 0 {
				t.Errorf("%s sidecar: Istio's xdstest.ValidateListeners rejects its listeners with the operator's entry "+
					"(Envoy refuses a listener whose address another listener has: \"error adding listener ... has duplicate address\"):\n  %s",
					tc.name, strings.Join(errs, "\n  "))
			}
			for _, ip := range svc.Spec.ClusterIPs {
				if tc.name == "IPv4-only" && ip == v6 {
					continue // such a pod has no IPv6 to call from
				}
				call := tlsCall(ip, dnsTLSPort, dualHost)
				got := sc.Call(call)
				t.Logf("%s sidecar: %s", tc.name, dns.Describe(call, got))
				if err := dualReachesService(sc, got, dualNS, svc.Name, dnsTLSPort); err != nil {
					t.Errorf("%s sidecar: %s: %v", tc.name, dns.Describe(call, got), err)
				}
			}
		}
	})

	// The comparison behind the operator's choice: its entry (the primary ClusterIP) against the
	// same entry with both ClusterIPs, from sidecars that see the Service and from sidecars that
	// do not. Both ClusterIPs give a sidecar that sees the Service two listeners on the IPv6
	// ClusterIP, which Envoy refuses; under a Sidecar that imports the alias alone, pilot keeps
	// one of the two at random. The primary alone is valid everywhere, and a sidecar that sees
	// the Service reaches it on either ClusterIP by the Service's own listener.
	t.Run("the same entry with both ClusterIPs", func(t *testing.T) {
		primaryOnly := entry
		both := entry.DeepCopy()
		must(t, unstructured.SetNestedStringSlice(both.Object, []string{v4, v6}, "spec", "addresses"))
		mesh := dualMesh(t, services, both)
		if errs := mesh.Sidecar(mesh.Proxy(dualNS, dns.ProxyIPv4, dns.ProxyIPv6)).ValidateListeners(); len(errs) == 0 {
			t.Errorf("both ClusterIPs gave a dual-stack sidecar that sees the Service valid listeners: the reason for writing the primary alone is gone; revisit it")
		} else {
			t.Logf("both ClusterIPs, dual-stack sidecar that sees the Service: %s", strings.Join(errs, "; "))
		}
		// The Service kept to its own namespace (networking.istio.io/exportTo: "."), as a team
		// may keep it while exporting the alias.
		private := make([]*unstructured.Unstructured, 0, len(services))
		for _, s := range services {
			s = s.DeepCopy()
			if s.GetName() == svc.Name {
				s.SetAnnotations(map[string]string{"networking.istio.io/exportTo": "."})
			}
			private = append(private, s)
		}
		// A Sidecar in dualScoped that imports the alias and not the Service.
		scoped := object(t, `
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: default, namespace: `+dualScoped+`}
spec:
  egress: [{hosts: ["`+dualNS+`/`+dualHost+`"]}]
`)
		serviceC, entryC := serviceCluster(dualNS, svc.Name, dnsTLSPort), entryCluster(dualHost, dnsTLSPort)
		for _, tc := range []struct {
			name     string
			services []*unstructured.Unstructured
			entry    *unstructured.Unstructured
			config   []*unstructured.Unstructured
			from     string
			// the clusters of calls to the IPv4 and IPv6 ClusterIP, and the name table's answer
			wantV4, wantV6 string
			wantIPs        []string
		}{
			{"sidecar sees the Service, primary ClusterIP only", services, primaryOnly, nil, dualNS,
				serviceC, serviceC, []string{v4}},
			{"Service not exported to the sidecar, both ClusterIPs", private, both, nil, dualClient,
				entryC, entryC, []string{v4, v6}},
			{"Service not exported to the sidecar, primary ClusterIP only", private, primaryOnly, nil, dualClient,
				entryC, "PassthroughCluster", []string{v4}},
			// Under a Sidecar, Istio keeps one model.Service per host (SidecarScope's
			// appendSidecarServices drops a second same-host, same-ports one), and an entry
			// with two addresses is two of them: which address survives varies from one pilot
			// run to the next. See oneFamily below.
			{"Sidecar imports the alias only, both ClusterIPs", services, both, []*unstructured.Unstructured{scoped}, dualScoped,
				"", "", nil},
			{"Sidecar imports the alias only, primary ClusterIP only", services, primaryOnly, []*unstructured.Unstructured{scoped}, dualScoped,
				entryC, "PassthroughCluster", []string{v4}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				mesh := dualMesh(t, tc.services, tc.entry, tc.config...)
				p := mesh.Proxy(tc.from, dns.ProxyIPv4, dns.ProxyIPv6)
				sc := mesh.Sidecar(p)
				if errs := sc.ValidateListeners(); len(errs) > 0 {
					logListeners(t, sc, "dual-stack", dnsTLSPort)
					t.Errorf("invalid listeners: %v", errs)
				}
				ips, _ := dns.Lookup(mesh.NameTable(p), dualHost)
				t.Logf("from %s: entry addresses %v, name table %s -> %v", tc.from, stringsAt(tc.entry, "spec", "addresses"), dualHost, ips)
				if tc.wantIPs == nil {
					// oneFamily: the name table holds one of the two ClusterIPs, calls to it
					// reach the entry and calls to the other pass through.
					if len(ips) != 1 || (ips[0] != v4 && ips[0] != v6) {
						t.Fatalf("from %s: name table %s -> %v, want exactly one of %s and %s", tc.from, dualHost, ips, v4, v6)
					}
					tc.wantIPs, tc.wantV4, tc.wantV6 = ips, "PassthroughCluster", "PassthroughCluster"
					if ips[0] == v4 {
						tc.wantV4 = entryC
					} else {
						tc.wantV6 = entryC
					}
					t.Logf("from %s: Istio kept the entry's %s alone", tc.from, ips[0])
				}
				if want := slices.Sorted(slices.Values(tc.wantIPs)); !slices.Equal(ips, want) {
					t.Errorf("from %s: name table %s -> %v, want %v", tc.from, dualHost, ips, want)
				}
				for _, call := range []struct{ ip, want string }{{v4, tc.wantV4}, {v6, tc.wantV6}} {
					c := tlsCall(call.ip, dnsTLSPort, dualHost)
					got := sc.Call(c)
					t.Logf("from %s: %s", tc.from, dns.Describe(c, got))
					if got.Error != nil || got.ClusterMatched != call.want {
						t.Errorf("from %s: %s, want cluster %s", tc.from, dns.Describe(c, got), call.want)
					}
				}
			})
		}
	})

	step("the shipped RBAC refused the operator nothing", func(t *testing.T) {
		op.Stop(t)
		op.CheckLogs(t)
	})
}

// tlsService is a ClusterIP Service with one HTTPS port 443, with the given labels.
func tlsService(namespace, name string, labels map[string]string) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace, Labels: labels},
		Spec: corev1.ServiceSpec{
			Selector: map[string]string{"app": name},
			Ports:    []corev1.ServicePort{{Name: "https", Port: dnsTLSPort, TargetPort: intstr.FromInt32(8443)}},
		},
	}
}

// waitAliasesReady waits until every alias is Ready for its generation and kstatus Current.
func waitAliasesReady(t *testing.T, c client.Client, op *operator.Operator, reads ...func() (*unstructured.Unstructured, error)) {
	t.Helper()
	poll.Until(t, poll.Timeout, "the aliases Ready", whileAlive(op, func() error {
		for _, read := range reads {
			u, err := read()
			if err != nil {
				return err
			}
			if err := readyNow(u); err != nil {
				return err
			}
			if err := kstatus.Want(u, status.CurrentStatus); err != nil {
				return err
			}
		}
		return nil
	}))
}

// entryHosts maps each host of meshalias's entries, in every namespace, to the entry's
// addresses.
func entryHosts(c client.Client) (map[string][]string, error) {
	all, err := live.List(context.Background(), c, "networking.istio.io/v1", "ServiceEntryList", "",
		client.MatchingLabels{labelManagedBy: "meshalias"})
	if err != nil {
		return nil, err
	}
	out := map[string][]string{}
	for _, se := range all {
		for _, h := range stringsAt(se, "spec", "hosts") {
			out[h] = stringsAt(se, "spec", "addresses")
		}
	}
	return out, nil
}

// expectAnswer asks server for name over UDP and over TCP and checks the answer: NOERROR,
// exactly ips, every record under name.
func expectAnswer(t *testing.T, server, name string, qtype uint16, ips ...string) {
	t.Helper()
	for _, network := range []string{"udp", "tcp"} {
		got, err := dns.Query(server, network, name, qtype)
		if err != nil {
			t.Error(err)
			continue
		}
		t.Logf("%s %s %s at %s: %s", network, mdns.TypeToString[qtype], name, server, got)
		if err := got.Expect(name, ips...); err != nil {
			t.Errorf("%s %s at %s: %v", network, mdns.TypeToString[qtype], server, err)
		}
	}
}

// dualMesh starts pilot, with Istio's dual-stack support on, on the Services, the entry and any
// other Istio config given.
func dualMesh(t *testing.T, services []*unstructured.Unstructured, entry *unstructured.Unstructured, config ...*unstructured.Unstructured) *dns.Mesh {
	t.Helper()
	svcDocs, err := pilot.Documents(asObjects(services)...)
	must(t, err)
	cfgDocs, err := pilot.Documents(asObjects(append([]*unstructured.Unstructured{entry}, config...))...)
	must(t, err)
	must(t, pilot.ValidateConfig(cfgDocs))
	return dns.NewMesh(t, svcDocs, cfgDocs, true)
}

// logListeners logs which listener binds each address on port.
func logListeners(t *testing.T, sc *dns.Sidecar, which string, port int) {
	t.Helper()
	var lines []string
	for addr, names := range sc.ListenerAddresses() {
		if strings.HasSuffix(addr, fmt.Sprintf(":%d", port)) {
			lines = append(lines, fmt.Sprintf("%s bound by %v", addr, names))
		}
	}
	slices.Sort(lines)
	t.Logf("%s sidecar, listeners on port %d:\n  %s", which, port, strings.Join(lines, "\n  "))
}

// dualReachesService is reachesService for the dns package's Sidecar: the call landed on the
// Service's own cluster, or on a cluster whose every endpoint is the Service's DNS name on the
// port (a meshalias entry).
func dualReachesService(sc *dns.Sidecar, got simulation.Result, namespace, service string, port int) error {
	if got.Error != nil {
		return got.Error
	}
	if got.ClusterMatched == serviceCluster(namespace, service, port) {
		return nil
	}
	eps, err := sc.Endpoints(got.ClusterMatched)
	if err != nil {
		return fmt.Errorf("landed on %q, not the Service's cluster: %w", got.ClusterMatched, err)
	}
	want := fmt.Sprintf("%s.%s.svc.cluster.local:%d", service, namespace, port)
	for _, ep := range eps {
		if ep != want {
			return fmt.Errorf("landed on %q with endpoints %v, want only %s", got.ClusterMatched, eps, want)
		}
	}
	return nil
}
