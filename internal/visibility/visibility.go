// Package visibility tells which namespaces' sidecars see a ServiceEntry, by the rules of
// Istio's pilot (pilot/pkg/model/sidecar.go and push_context.go): the entry's exportTo, else
// the mesh's defaultServiceExportTo; then the consumer namespace's own Sidecar without a
// workload selector, else the root namespace's, and its egress hosts. It reads nothing from a
// cluster: the operator's status, the audit and `kubectl meshalias explain` share it, and the
// e2e compares it with pilot's own SidecarScope.
package visibility

import (
	"slices"
	"strings"

	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
)

// Mesh is what Istio's mesh config says about visibility.
type Mesh struct {
	// RootNamespace holds the Sidecar that applies where a namespace has none of its own.
	RootNamespace string
	// DefaultServiceExportTo applies to entries without an exportTo; empty means ["*"].
	DefaultServiceExportTo []string
}

// Entry is a ServiceEntry, as visibility sees it.
type Entry struct {
	Namespace string
	Name      string
	Hosts     []string
	ExportTo  []string
	Ports     []uint32
}

// Listener is one egress listener of a Sidecar.
type Listener struct {
	// Port, when not 0, limits the listener to services with that port.
	Port uint32
	// Hosts are "namespace/dnsName" imports: namespace "*", "." or a name, "~" excluding.
	Hosts []string
}

// Sidecar is an Istio Sidecar, as visibility sees it.
type Sidecar struct {
	Namespace string
	Name      string
	// Selective is set when the Sidecar has a workload selector: it applies to some pods only.
	Selective bool
	Egress    []Listener
}

// Ref names a Sidecar as a person looks it up.
func (s Sidecar) Ref() string { return s.Namespace + "/" + s.Name }

// Reasons a namespace does not see an entry.
const (
	// NotExported: exportTo (or the mesh's default) leaves the namespace out.
	NotExported = "NotExported"
	// SidecarScoped: the Sidecar that applies to the namespace does not import the entry.
	SidecarScoped = "SidecarScoped"
)

// View is what one namespace's pods see of an entry.
type View struct {
	Namespace string
	// Hidden is "" when the namespace's pods see the entry, else NotExported or SidecarScoped.
	Hidden string
	// Sidecar is the Sidecar that decides, when one does.
	Sidecar string
	// Selective names the Sidecars with a workload selector in the namespace: the pods they
	// select may see it otherwise.
	Selective []string
}

// Exported tells whether an entry is exported to a namespace, by exportTo or the mesh default.
func (m Mesh) Exported(e Entry, namespace string) bool {
	exportTo := e.ExportTo
	if len(exportTo) == 0 {
		exportTo = m.DefaultServiceExportTo
	}
	if len(exportTo) == 0 {
		return true
	}
	for _, to := range exportTo {
		switch to {
		case "*":
			return true
		case ".":
			if namespace == e.Namespace {
				return true
			}
		case "~":
		default:
			if to == namespace {
				return true
			}
		}
	}
	return false
}

// SidecarFor is the Sidecar that applies to the pods of a namespace that no selective Sidecar
// selects: the namespace's own without a workload selector, else the root namespace's. The
// oldest wins in pilot; sidecars must come in creation order.
func (m Mesh) SidecarFor(namespace string, sidecars []Sidecar) (Sidecar, bool) {
	for _, ns := range []string{namespace, m.RootNamespace} {
		for _, s := range sidecars {
			if s.Namespace == ns && !s.Selective {
				return s, true
			}
		}
	}
	return Sidecar{}, false
}

// See is what the pods of a namespace see of an entry.
func (m Mesh) See(e Entry, namespace string, sidecars []Sidecar) View {
	v := View{Namespace: namespace}
	for _, s := range sidecars {
		if s.Namespace == namespace && s.Selective {
			v.Selective = append(v.Selective, s.Ref())
		}
	}
	if !m.Exported(e, namespace) {
		v.Hidden = NotExported
		return v
	}
	s, ok := m.SidecarFor(namespace, sidecars)
	if !ok {
		return v
	}
	v.Sidecar = s.Ref()
	if !s.Imports(e, namespace) {
		v.Hidden = SidecarScoped
	}
	return v
}

// Imports tells whether any egress listener of the Sidecar, applied to the pods of
// namespace, imports the entry. A Sidecar without egress listeners imports everything, as if
// it had */* (pilot's initSidecarScopeInternalIndexes).
func (s Sidecar) Imports(e Entry, namespace string) bool {
	if len(s.Egress) == 0 {
		return true
	}
	for _, l := range s.Egress {
		if l.imports(e, namespace) {
			return true
		}
	}
	return false
}

func (l Listener) imports(e Entry, namespace string) bool {
	if l.Port != 0 && !slices.Contains(e.Ports, l.Port) {
		return false
	}
	var exact, wildcard, excluded []string
	for _, h := range l.Hosts {
		ns, name, ok := strings.Cut(h, "/")
		if !ok || strings.Contains(name, "/") {
			continue // pilot ignores a host that is not namespace/dnsName
		}
		exclude := strings.HasPrefix(ns, "~")
		if exclude {
			ns = strings.TrimPrefix(ns, "~")
			if ns == "" {
				ns = "*"
			}
		}
		if ns == "." {
			ns = namespace
		}
		switch {
		case exclude && (ns == e.Namespace || ns == "*"):
			excluded = append(excluded, name)
		case exclude:
		case ns == e.Namespace:
			exact = append(exact, name)
		case ns == "*":
			wildcard = append(wildcard, name)
		}
	}
	for _, host := range e.Hosts {
		if slices.ContainsFunc(excluded, func(p string) bool { return subsetOf(host, p) }) {
			continue
		}
		if slices.ContainsFunc(exact, func(p string) bool { return subsetOf(host, p) }) ||
			slices.ContainsFunc(wildcard, func(p string) bool { return subsetOf(host, p) }) {
			return true
		}
	}
	return false
}

// subsetOf is pilot's host.Name.SubsetOf for a host without a wildcard: equal to the
// pattern, or under a "*.domain" pattern, or any host for "*".
func subsetOf(host, pattern string) bool {
	switch {
	case pattern == "*":
		return true
	case strings.HasPrefix(pattern, "*"):
		return strings.HasSuffix(host, pattern[1:])
	default:
		return host == pattern
	}
}

// FromSidecar is how visibility sees an Istio Sidecar. An HTTP_PROXY listener is a generic
// egress proxy: pilot matches no port on it (needsPortMatch), so neither does visibility.
func FromSidecar(s *networkingv1.Sidecar) Sidecar {
	sc := Sidecar{Namespace: s.Namespace, Name: s.Name, Selective: s.Spec.WorkloadSelector != nil}
	for _, l := range s.Spec.Egress {
		port := l.GetPort().GetNumber()
		if strings.EqualFold(l.GetPort().GetProtocol(), "HTTP_PROXY") {
			port = 0
		}
		sc.Egress = append(sc.Egress, Listener{Port: port, Hosts: l.Hosts})
	}
	return sc
}

// EgressHost is the egress host that imports an entry's host into a Sidecar: a Sidecar's
// "ns/host" names the namespace of the ServiceEntry object, not of the DNS name.
func EgressHost(e Entry, host string) string { return e.Namespace + "/" + host }
