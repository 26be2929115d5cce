// Package oddspecs generates alias specs a careless or hostile user might write: bad and
// borderline hosts, wildcards, IPs, ports out of range or absent from the Service, huge lists,
// unicode, empty fields, Services' own .svc names, missing and headless Services. The same
// seed gives the same specs, so a failure names a spec that can be replayed.
package oddspecs

import (
	"fmt"
	"math/rand/v2"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// Services the specs refer to, which the test creates in the namespace (Missing it does not).
const (
	Web      = "web"      // ClusterIP, ports 80 (http) and 443 (https)
	Headless = "headless" // clusterIP: None
	External = "external" // type ExternalName
	Missing  = "missing"  // never created
)

// Generate returns n aliases in namespace, about one in ten a NamespaceAlias, the rest
// ServiceAliases, named odd-000 and on. domain is the one domain the namespace may claim;
// valid hosts are under it, so what the operator refuses it refuses for the spec's sake.
func Generate(seed uint64, n int, namespace, domain string) []*unstructured.Unstructured {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	out := make([]*unstructured.Unstructured, 0, n)
	for i := range n {
		name := fmt.Sprintf("odd-%03d", i)
		var spec map[string]any
		kind := "ServiceAlias"
		if i%10 == 9 {
			kind = "NamespaceAlias"
			spec = map[string]any{"domain": pick(r, namespaceDomains(domain, i))}
		} else {
			spec = serviceAliasSpec(r, i, namespace, domain)
		}
		u := &unstructured.Unstructured{Object: map[string]any{"spec": spec}}
		u.SetAPIVersion("meshalias.io/v1alpha1")
		u.SetKind(kind)
		u.SetNamespace(namespace)
		u.SetName(name)
		out = append(out, u)
	}
	return out
}

func serviceAliasSpec(r *rand.Rand, i int, namespace, domain string) map[string]any {
	spec := map[string]any{}
	// One host in three is fine, so that odd ports, Services and exportTo meet good hosts too.
	var hosts []any
	switch k := r.IntN(12); {
	case k == 0: // a huge list: at the CRD's limit, or over it
		count := 64 + r.IntN(2)
		for j := range count {
			hosts = append(hosts, fmt.Sprintf("h%d-%d.%s", i, j, domain))
		}
	case k == 1:
		hosts = []any{} // empty
	default:
		for range 1 + r.IntN(3) {
			if r.IntN(3) == 0 {
				hosts = append(hosts, fmt.Sprintf("h%d-%d.%s", i, r.IntN(1000), domain))
			} else {
				hosts = append(hosts, pick(r, oddHosts(i, namespace, domain)))
			}
		}
	}
	spec["hosts"] = hosts
	svc := map[string]any{"name": pick(r, []string{Web, Web, Web, Headless, External, Missing, "", "Web", "web.svc", strings.Repeat("w", 64)})}
	if r.IntN(15) == 0 {
		svc["namespace"] = pick(r, []string{"default", "no-such-namespace", "", "UPPER"})
	}
	spec["service"] = svc
	if r.IntN(3) == 0 {
		spec["ports"] = pickPorts(r)
	}
	if r.IntN(10) == 0 {
		spec["exportTo"] = pickAny(r, [][]any{{"."}, {"*"}, {"~"}, {namespace, "."}, {"no such namespace"}, {}})
	}
	if r.IntN(10) == 0 {
		spec["tlsMode"] = pick(r, []string{"istio", "disabled", "ISTIO", "mutual", ""})
	}
	return spec
}

// oddHosts are the hosts a spec picks from; the first ones are valid.
func oddHosts(i int, namespace, domain string) []string {
	return []string{
		fmt.Sprintf("ok%d.%s", i, domain),
		fmt.Sprintf("a-%d.b.%s", i, domain),
		fmt.Sprintf("xn--bcher-kva%d.%s", i, domain), // punycode: a valid DNS name
		domain,        // the domain itself: one label, not a name under it
		"*." + domain, // wildcard
		fmt.Sprintf("*.w%d.%s", i, domain),
		fmt.Sprintf("Upper%d.%s", i, domain),
		fmt.Sprintf("bücher%d.%s", i, domain), // unicode
		fmt.Sprintf("ok%d.%s.", i, domain),    // trailing dot
		fmt.Sprintf("-dash%d.%s", i, domain),
		fmt.Sprintf("under_score%d.%s", i, domain),
		fmt.Sprintf("double..dot%d.%s", i, domain),
		"10.0.0.1",
		"10.0.0.1." + domain, // digits and dots but a name
		"::1",
		"web." + namespace + ".svc",
		"web." + namespace + ".svc.cluster.local",
		"svc.cluster.local",
		fmt.Sprintf("x%d.svc", i),
		"localhost",
		fmt.Sprintf("other%d.example.com", i), // under no AliasDomain
		"",
		" ",
		fmt.Sprintf("sp ace%d.%s", i, domain),
		strings.Repeat("l", 64) + "." + domain, // label over 63
		strings.Repeat("l", 63) + fmt.Sprintf(".x%d.%s", i, domain), // label of exactly 63
		strings.Repeat(strings.Repeat("m", 60)+".", 4) + domain,     // name over 253
		fmt.Sprintf("emoji%d-\U0001F600.%s", i, domain),
	}
}

func namespaceDomains(domain string, i int) []string {
	return []string{
		domain,
		fmt.Sprintf("n%d.%s", i, domain),
		"*." + domain,
		"UPPER." + domain,
		"",
		"svc",
		"svc.cluster.local",
		"cluster.local",
		"10.0.0.1",
		"bücher." + domain,
		strings.Repeat("d", 64) + "." + domain,
		"other.example.com",
	}
}

func pickPorts(r *rand.Rand) []any {
	switch r.IntN(9) {
	case 0:
		return []any{}
	case 1:
		return []any{int64(0)}
	case 2:
		return []any{int64(65536)}
	case 3:
		return []any{int64(80), int64(80)}
	case 4:
		return []any{int64(9999)} // not a port of the Service
	case 5:
		var ps []any
		for p := range 65 {
			ps = append(ps, int64(1000+p))
		}
		return ps
	case 6:
		return []any{int64(-1)}
	case 7:
		return []any{int64(443)}
	default:
		return []any{int64(80), int64(443)}
	}
}

func pick(r *rand.Rand, s []string) string { return s[r.IntN(len(s))] }

func pickAny(r *rand.Rand, s [][]any) []any { return s[r.IntN(len(s))] }
