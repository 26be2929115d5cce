package desired

import (
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/meshalias/meshalias/internal/hostpolicy"
	"github.com/meshalias/meshalias/internal/visibility"
)

// Facts is what the cluster holds that bears on an Intent, as read from the cache.
type Facts struct {
	// Reference says whether the alias may use a Service in another namespace. When it may
	// not, Services is empty: the other namespace's Service is not even read.
	Reference Reference
	// Services by name, in the intent's ServiceNamespace. A missing name means a missing
	// Service.
	Services map[string]*corev1.Service
	// Policy is the cluster's host policy, and NamespaceLabels the labels of the owner's
	// namespace, which the policy's selectors match.
	Policy          hostpolicy.Policy
	NamespaceLabels map[string]string
	// Ambient says where Istio's ambient mode bears on the alias.
	Ambient Ambient
	// DomainIsNamespace is set when a NamespaceAlias's domain is the name of a namespace: every
	// x.<domain> would then be the name of that namespace's Service x.
	DomainIsNamespace bool
	// Shadowed names, per host, the existing Service ("ns/name") whose own name the host is.
	Shadowed map[string]string
	// Owned are the entries the alias owns now.
	Owned []*networkingv1.ServiceEntry
	// Rivals are the other aliases that claim each host.
	Rivals map[string][]Claim
	// Foreign names, per host, the entries that declare it and that meshalias does not manage.
	Foreign map[string][]string
	// Occupied names the entry names, in the owner's namespace, that an entry meshalias does
	// not manage already uses.
	Occupied map[string]bool
	// Adoptable holds, per host, an unmanaged entry in the owner's namespace that the
	// adoption selector matches: it is taken over in place instead of being a conflict.
	Adoptable map[string]*networkingv1.ServiceEntry
	// Mesh, MeshNamespaces and Sidecars decide which namespaces' pods see the entries.
	Mesh           visibility.Mesh
	MeshNamespaces []string
	Sidecars       []visibility.Sidecar
}
