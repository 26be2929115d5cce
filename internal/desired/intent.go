package desired

import (
	"fmt"
	"maps"
	"slices"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"

	meshaliasv1 "github.com/meshalias/meshalias/api/v1alpha1"
)

// Owner is the alias a ServiceEntry belongs to.
type Owner struct {
	Kind      string
	Namespace string
	Name      string
	UID       types.UID
}

// Target is one host an alias asks for, and the Service that should answer it.
type Target struct {
	Host        string
	ServiceName string
}

// Intent is what an alias of either kind asks for. Both kinds are reduced to it, so one
// planner, one writer and one conflict rule serve them.
type Intent struct {
	Owner Owner
	Claim Claim
	// ServiceNamespace is where the targets' Services live: the owner's namespace, or, for a
	// ServiceAlias, the one its spec names.
	ServiceNamespace string
	// Domain is a NamespaceAlias's domain, which is judged as a whole besides each host.
	Domain string
	// Invalid, when set, is a spec error found while reducing the alias.
	Invalid  *Problem
	Targets  []Target
	Ports    []int32
	ExportTo []string
	TLSMode  meshaliasv1.TLSMode
}

// ServiceAliasIntent reduces a ServiceAlias to the Intent both kinds share.
func ServiceAliasIntent(alias *meshaliasv1.ServiceAlias) Intent {
	in := Intent{
		Owner:            Owner{Kind: meshaliasv1.KindServiceAlias, Namespace: alias.Namespace, Name: alias.Name, UID: alias.UID},
		Claim:            ClaimOf(meshaliasv1.KindServiceAlias, &alias.ObjectMeta),
		ServiceNamespace: ServiceNamespace(alias),
		Ports:            alias.Spec.Ports,
		ExportTo:         exportTo(alias.Namespace, alias.Spec.ExportTo),
		TLSMode:          alias.Spec.TLSMode,
	}
	for _, h := range alias.Spec.Hosts {
		in.Targets = append(in.Targets, Target{Host: h, ServiceName: alias.Spec.Service.Name})
	}
	return in
}

// NamespaceAliasIntent reduces a NamespaceAlias and the Services it selects to the Intent both
// kinds share: one target x.<domain> per Service x.
func NamespaceAliasIntent(alias *meshaliasv1.NamespaceAlias, services map[string]*corev1.Service) Intent {
	in := Intent{
		Owner:            Owner{Kind: meshaliasv1.KindNamespaceAlias, Namespace: alias.Namespace, Name: alias.Name, UID: alias.UID},
		Claim:            ClaimOf(meshaliasv1.KindNamespaceAlias, &alias.ObjectMeta),
		ServiceNamespace: alias.Namespace,
		Domain:           alias.Spec.Domain,
		ExportTo:         exportTo(alias.Namespace, alias.Spec.ExportTo),
		TLSMode:          alias.Spec.TLSMode,
	}
	if _, err := ServiceSelector(alias); err != nil {
		in.Invalid = &Problem{Reason: meshaliasv1.ReasonInvalidSpec, Message: fmt.Sprintf("spec.selector is not a valid label selector: %v", err)}
	}
	for _, name := range slices.Sorted(maps.Keys(services)) {
		in.Targets = append(in.Targets, Target{Host: name + "." + alias.Spec.Domain, ServiceName: name})
	}
	return in
}

// ServiceNamespace is the namespace of the Service an alias names: its own unless it says.
func ServiceNamespace(alias *meshaliasv1.ServiceAlias) string {
	if alias.Spec.Service.Namespace != "" {
		return alias.Spec.Service.Namespace
	}
	return alias.Namespace
}

// ServiceSelector is a NamespaceAlias's Service selector; absent selects everything.
func ServiceSelector(na *meshaliasv1.NamespaceAlias) (labels.Selector, error) {
	if na.Spec.Selector == nil {
		return labels.Everything(), nil
	}
	return metav1.LabelSelectorAsSelector(na.Spec.Selector)
}

// ClaimOf is an alias's claim on its hosts.
func ClaimOf(kind string, m *metav1.ObjectMeta) Claim {
	return Claim{Kind: kind, Namespace: m.Namespace, Name: m.Name, Created: m.CreationTimestamp.Time}
}

// exportTo is an alias's exportTo as its entries carry it: the alias's own namespace, given by
// name or as ".", once, as ".". Istio's validation refuses an entry that names its namespace
// both ways, and the API server cannot catch it, since a CRD's rules do not see the namespace.
func exportTo(namespace string, list []string) []string {
	if list == nil {
		return nil
	}
	out := make([]string, 0, len(list))
	for _, e := range list {
		if e == namespace {
			e = "."
		}
		if !slices.Contains(out, e) {
			out = append(out, e)
		}
	}
	return out
}
