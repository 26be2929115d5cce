package desired

import (
	"fmt"

	gatewayv1beta1 "sigs.k8s.io/gateway-api/apis/v1beta1"

	meshaliasv1 "github.com/meshalias/meshalias/api/v1alpha1"
)

// Reference is whether an alias may use the Service it names.
type Reference int

const (
	// ReferenceLocal: the Service is in the alias's own namespace; no grant is needed.
	ReferenceLocal Reference = iota
	// ReferenceGranted: a ReferenceGrant in the Service's namespace allows the reference.
	ReferenceGranted
	// ReferenceNotGranted: no ReferenceGrant allows it.
	ReferenceNotGranted
	// ReferenceGrantsOff: the ReferenceGrant CRD is not installed, so no reference across
	// namespaces can be allowed.
	ReferenceGrantsOff
)

// Permitted tells whether the Service may be read and served.
func (r Reference) Permitted() bool { return r == ReferenceLocal || r == ReferenceGranted }

// refProblem says why a reference is not permitted. It names only what the alias's own spec
// says: nothing of the other namespace's Service leaks into the alias's status.
func refProblem(r Reference, aliasNamespace, svcNamespace, svcName string) *Problem {
	var msg string
	switch r {
	case ReferenceNotGranted:
		msg = fmt.Sprintf("Service %s/%s is in another namespace, and no ReferenceGrant in namespace %s allows ServiceAliases of namespace %s to refer to it", svcNamespace, svcName, svcNamespace, aliasNamespace)
	case ReferenceGrantsOff:
		msg = fmt.Sprintf("Service %s/%s is in another namespace, and references across namespaces are off: the Gateway API ReferenceGrant CRD is not installed (install it, then restart meshalias)", svcNamespace, svcName)
	default:
		return nil
	}
	return &Problem{Reason: meshaliasv1.ReasonRefNotPermitted, Message: msg}
}

// GrantAllows tells whether any of the grants, all in the Service's namespace, lets
// ServiceAliases of namespace from refer to the Service, by Gateway API's rules: a "from"
// entry names the group, kind and namespace of the referrer; a "to" entry names the group and
// kind of the target, and its name when it is limited to one.
func GrantAllows(grants []gatewayv1beta1.ReferenceGrant, from, service string) bool {
	for _, g := range grants {
		fromOK := false
		for _, f := range g.Spec.From {
			if string(f.Group) == meshaliasv1.GroupVersion.Group && f.Kind == meshaliasv1.KindServiceAlias && string(f.Namespace) == from {
				fromOK = true
				break
			}
		}
		if !fromOK {
			continue
		}
		for _, t := range g.Spec.To {
			if t.Group == "" && t.Kind == "Service" && (t.Name == nil || *t.Name == "" || string(*t.Name) == service) {
				return true
			}
		}
	}
	return false
}
