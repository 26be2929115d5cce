// Package migrate turns the ServiceEntries of a legacy alias controller into meshalias
// manifests: a ServiceAlias per Service, a NamespaceAlias per mapped domain. It is pure: the
// caller reads the cluster, this package decides.
package migrate

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	networkingapi "istio.io/api/networking/v1alpha3"
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	meshaliasv1 "github.com/meshalias/meshalias/api/v1alpha1"
)

// Input is what the cluster holds.
type Input struct {
	// Entries are every ServiceEntry in scope; meshalias's own and MESH_EXTERNAL ones are
	// passed over.
	Entries []*networkingv1.ServiceEntry
	// Services holds the namespace/name of every Service.
	Services map[types.NamespacedName]bool
	// NamespaceAliases already in the cluster.
	NamespaceAliases []meshaliasv1.NamespaceAlias
	// Domains maps a domain to the namespace whose Services it names (--domain hello=abc).
	Domains map[string]string
	// ClusterDomain is the cluster's DNS domain.
	ClusterDomain string
}

// Unmapped is a host that no alias could be inferred for.
type Unmapped struct {
	Entry  string `json:"entry"`
	Host   string `json:"host"`
	Reason string `json:"reason"`
}

// Result is the manifests to commit, and what they leave out.
type Result struct {
	ServiceAliases   []*meshaliasv1.ServiceAlias
	NamespaceAliases []*meshaliasv1.NamespaceAlias
	// Covered names hosts an existing NamespaceAlias already serves.
	Covered  []Unmapped
	Unmapped []Unmapped
	// Notes are things a person should know before switching over.
	Notes []string
}

// Plan infers, for each host of each legacy entry, the Service behind it: from an existing
// NamespaceAlias, a --domain mapping, or an endpoint that is a Service's DNS name.
func Plan(in Input) Result {
	var res Result
	serviceAliases := map[types.NamespacedName]*meshaliasv1.ServiceAlias{}
	namespaceAliases := map[string]*meshaliasv1.NamespaceAlias{}

	for _, se := range in.Entries {
		if se.Labels["app.kubernetes.io/managed-by"] == "meshalias" || se.Spec.Location != networkingapi.ServiceEntry_MESH_INTERNAL {
			continue
		}
		ref := se.Namespace + "/" + se.Name
		for _, host := range se.Spec.Hosts {
			svcName, domain, _ := strings.Cut(host, ".")
			if na := coveringNamespaceAlias(in, svcName, domain); na != "" {
				res.Covered = append(res.Covered, Unmapped{Entry: ref, Host: host, Reason: "already served by NamespaceAlias " + na})
				continue
			}
			if ns, ok := in.Domains[domain]; ok {
				if !in.Services[types.NamespacedName{Namespace: ns, Name: svcName}] {
					res.Unmapped = append(res.Unmapped, Unmapped{Entry: ref, Host: host, Reason: fmt.Sprintf("--domain maps %s to namespace %s, which has no Service %s", domain, ns, svcName)})
					continue
				}
				key := ns + "/" + domain
				if namespaceAliases[key] == nil {
					namespaceAliases[key] = &meshaliasv1.NamespaceAlias{
						TypeMeta:   metav1.TypeMeta{APIVersion: meshaliasv1.GroupVersion.String(), Kind: "NamespaceAlias"},
						ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: strings.ReplaceAll(domain, ".", "-")},
						Spec:       meshaliasv1.NamespaceAliasSpec{Domain: domain, ExportTo: se.Spec.ExportTo},
					}
				}
				res.Notes = appendNote(res.Notes, se, ns)
				continue
			}
			svc, ok := endpointService(in, se)
			if !ok {
				res.Unmapped = append(res.Unmapped, Unmapped{Entry: ref, Host: host, Reason: fmt.Sprintf("no endpoint is a Service's DNS name, and no --domain maps %q", domain)})
				continue
			}
			alias := serviceAliases[svc]
			if alias == nil {
				alias = &meshaliasv1.ServiceAlias{
					TypeMeta:   metav1.TypeMeta{APIVersion: meshaliasv1.GroupVersion.String(), Kind: "ServiceAlias"},
					ObjectMeta: metav1.ObjectMeta{Namespace: svc.Namespace, Name: svc.Name},
					Spec:       meshaliasv1.ServiceAliasSpec{Service: meshaliasv1.ServiceReference{Name: svc.Name}, ExportTo: se.Spec.ExportTo},
				}
				serviceAliases[svc] = alias
			}
			if !slices.Contains(alias.Spec.Hosts, host) {
				alias.Spec.Hosts = append(alias.Spec.Hosts, host)
			}
			res.Notes = appendNote(res.Notes, se, svc.Namespace)
		}
	}
	for _, a := range serviceAliases {
		res.ServiceAliases = append(res.ServiceAliases, a)
	}
	slices.SortFunc(res.ServiceAliases, func(a, b *meshaliasv1.ServiceAlias) int {
		return strings.Compare(a.Namespace+"/"+a.Name, b.Namespace+"/"+b.Name)
	})
	for _, k := range slices.Sorted(maps.Keys(namespaceAliases)) {
		res.NamespaceAliases = append(res.NamespaceAliases, namespaceAliases[k])
	}
	return res
}

// appendNote warns when the alias cannot take the legacy entry over in place: an alias owns
// entries only in its own namespace.
func appendNote(notes []string, se *networkingv1.ServiceEntry, aliasNamespace string) []string {
	if se.Namespace == aliasNamespace {
		return notes
	}
	note := fmt.Sprintf("ServiceEntry %s/%s is in another namespace than its alias (%s): it cannot be adopted in place; delete it once the alias is Ready", se.Namespace, se.Name, aliasNamespace)
	if slices.Contains(notes, note) {
		return notes
	}
	return append(notes, note)
}

// coveringNamespaceAlias names the NamespaceAlias that already serves svc.domain, if any.
func coveringNamespaceAlias(in Input, svc, domain string) string {
	for _, na := range in.NamespaceAliases {
		if na.Spec.Domain == domain && in.Services[types.NamespacedName{Namespace: na.Namespace, Name: svc}] {
			return na.Namespace + "/" + na.Name
		}
	}
	return ""
}

// endpointService finds the Service that an endpoint names: svc.ns.svc.<cluster domain>,
// svc.ns.svc, or svc.ns when such a Service exists.
func endpointService(in Input, se *networkingv1.ServiceEntry) (types.NamespacedName, bool) {
	for _, ep := range se.Spec.Endpoints {
		addr := strings.TrimSuffix(ep.Address, ".")
		addr = strings.TrimSuffix(addr, ".svc."+in.ClusterDomain)
		addr = strings.TrimSuffix(addr, ".svc")
		parts := strings.Split(addr, ".")
		if len(parts) != 2 {
			continue
		}
		nn := types.NamespacedName{Namespace: parts[1], Name: parts[0]}
		if in.Services[nn] {
			return nn, true
		}
	}
	return types.NamespacedName{}, false
}
