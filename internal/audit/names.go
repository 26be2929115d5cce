package audit

import (
	"fmt"
	"slices"
	"strings"

	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"

	"github.com/meshalias/meshalias/internal/hostpolicy"
	"github.com/meshalias/meshalias/internal/visibility"
)

// Names is what the naming rules read besides the entries: the Services that exist, and the
// cluster's host policy with the labels of the namespaces it selects on.
type Names struct {
	ClusterDomain string
	// ServiceExists tells whether a Service exists; nil skips the shadowing rule.
	ServiceExists func(namespace, name string) bool
	Policy        hostpolicy.Policy
	// NamespaceLabels are the labels of each namespace, by name.
	NamespaceLabels map[string]map[string]string
	// AmbientVIPs maps each ClusterIP of a Service in an ambient namespace to the Service,
	// as "namespace/name".
	AmbientVIPs map[string]string
	// Mesh, MeshNamespaces and Sidecars, when MeshNamespaces is set, make a finding's reach
	// follow Sidecars and the mesh's defaultServiceExportTo, as pilot does, not exportTo alone.
	Mesh           visibility.Mesh
	MeshNamespaces []string
	Sidecars       []visibility.Sidecar
}

// reach is the namespaces whose sidecars see an entry.
func (n Names) reach(se *networkingv1.ServiceEntry) []string {
	if n.MeshNamespaces == nil {
		return AffectedNamespaces(se)
	}
	e := visibilityEntry(se)
	var out []string
	for _, ns := range n.MeshNamespaces {
		if n.Mesh.See(e, ns, n.Sidecars).Hidden == "" {
			out = append(out, ns)
		}
	}
	slices.Sort(out)
	if out == nil {
		out = []string{}
	}
	return out
}

func visibilityEntry(se *networkingv1.ServiceEntry) visibility.Entry {
	e := visibility.Entry{Namespace: se.Namespace, Name: se.Name, Hosts: se.Spec.Hosts, ExportTo: se.Spec.ExportTo}
	for _, p := range se.Spec.Ports {
		e.Ports = append(e.Ports, p.Number)
	}
	return e
}

// Unmasked finds the incident's second situation: a catch-all entry on a port, and entries
// for TLS or HTTPS hosts on the same port (often MESH_EXTERNAL ones for public names) that
// win over it for their hosts, by SNI. Where the catch-all reaches a namespace and such an
// entry does not, because a Sidecar or exportTo hides it, that namespace's connections to the
// entry's hosts go to the catch-all's service.
func (n Names) Unmasked(entries []*networkingv1.ServiceEntry, catchAll Finding) (Finding, bool) {
	if n.MeshNamespaces == nil || catchAll.Rule != RuleCatchAll || catchAll.Severity != SeverityCritical {
		return Finding{}, false
	}
	reached := map[string]bool{}
	for _, ns := range catchAll.AffectedNamespaces {
		reached[ns] = true
	}
	var namespaces, maskers []string
	for _, se := range entries {
		if !masks(se, catchAll.Ports) {
			continue
		}
		seen := n.reach(se)
		if len(seen) == 0 {
			continue // it masks nothing anywhere
		}
		hiddenIn := 0
		for _, ns := range n.MeshNamespaces {
			if reached[ns] && !slices.Contains(seen, ns) {
				namespaces = append(namespaces, ns)
				hiddenIn++
			}
		}
		if hiddenIn > 0 {
			maskers = append(maskers, se.Namespace+"/"+se.Name+" ("+strings.Join(se.Spec.Hosts, ", ")+")")
		}
	}
	if len(namespaces) == 0 {
		return Finding{}, false
	}
	slices.Sort(namespaces)
	namespaces = slices.Compact(namespaces)
	slices.Sort(maskers)
	return Finding{
		Namespace: catchAll.Namespace, Name: catchAll.Name, Rule: RuleUnmasked, Hosts: catchAll.Hosts, Ports: catchAll.Ports,
		Severity: SeverityCritical, AffectedNamespaces: namespaces,
		Message: fmt.Sprintf("the catch-all on port %s reaches %s, where %s do not: connections from there to those hosts go to %s", strings.Join(catchAll.Ports, ", "), listOrNone(capped(namespaces)), strings.Join(maskers, ", "), strings.Join(catchAll.Hosts, ", ")),
	}, true
}

// masks tells an entry whose hosts, on one of the ports, Istio matches by SNI or Host before
// the catch-all's filter chain: TLS, HTTPS or HTTP ports.
func masks(se *networkingv1.ServiceEntry, ports []string) bool {
	for _, p := range se.Spec.Ports {
		if !sniffedProtocols[strings.ToUpper(p.Protocol)] {
			continue
		}
		for _, port := range ports {
			if number, _, _ := strings.Cut(port, "/"); number == fmt.Sprint(p.Number) {
				return true
			}
		}
	}
	return false
}

func capped(items []string) []string {
	if len(items) <= 10 {
		return items
	}
	return append(slices.Clone(items[:10]), fmt.Sprintf("and %d more", len(items)-10))
}

// AmbientVIP finds an entry whose addresses hold the VIP of a Service in an ambient
// namespace. istiod then sends ztunnel two services with one VIP; ztunnel keeps one per
// namespace, and when it keeps the entry, ambient clients of the Service lose HBONE, their
// identity and their waypoint, and a STRICT backend refuses them.
func (n Names) AmbientVIP(se *networkingv1.ServiceEntry) (Finding, bool) {
	var vips, services []string
	for _, a := range se.Spec.Addresses {
		if svc, ok := n.AmbientVIPs[a]; ok {
			vips = append(vips, a)
			services = append(services, svc)
		}
	}
	if len(vips) == 0 {
		return Finding{}, false
	}
	return Finding{
		Namespace: se.Namespace, Name: se.Name, Rule: RuleAmbientVIP, Hosts: slices.Clone(se.Spec.Hosts),
		Severity: SeverityCritical, AffectedNamespaces: []string{AllNamespaces},
		Message: fmt.Sprintf("address %s is the VIP of Service %s, in an ambient namespace: ztunnel keeps one service per VIP and namespace, and when it keeps this entry the Service's ambient clients lose mutual TLS; remove the entry (meshalias writes none in ambient namespaces)", strings.Join(vips, ", "), strings.Join(slices.Compact(services), ", ")),
	}, true
}

// Shadowing finds an entry, managed by meshalias or not, with a host that is a Service's own
// name (<svc>.<ns> or <svc>.<ns>.svc): Istio then sends that name's HTTP traffic to the entry
// instead of the Service, from every namespace the entry reaches.
func (n Names) Shadowing(se *networkingv1.ServiceEntry) (Finding, bool) {
	var shadowed, services []string
	for _, h := range se.Spec.Hosts {
		ns, name, ok := hostpolicy.ShadowedService(h, n.ClusterDomain)
		if ok && n.ServiceExists != nil && n.ServiceExists(ns, name) && !n.leadsToTheService(se, ns, name) {
			shadowed = append(shadowed, h)
			services = append(services, ns+"/"+name)
		}
	}
	if len(shadowed) == 0 {
		return Finding{}, false
	}
	return Finding{
		Namespace: se.Namespace, Name: se.Name, Rule: RuleShadowsService, Hosts: shadowed,
		Severity: SeverityCritical, AffectedNamespaces: AffectedNamespaces(se),
		Message: fmt.Sprintf("host %s is the name Istio gives Service %s: this entry takes that Service's HTTP traffic; remove the host", strings.Join(shadowed, ", "), strings.Join(services, ", ")),
	}, true
}

// leadsToTheService tells an entry whose every endpoint is the Service's own FQDN: it takes
// the name, but sends the traffic where the name already led, so nobody's traffic moves.
func (n Names) leadsToTheService(se *networkingv1.ServiceEntry, ns, name string) bool {
	fqdn := name + "." + ns + ".svc." + n.ClusterDomain
	if len(se.Spec.Endpoints) == 0 {
		return false
	}
	for _, ep := range se.Spec.Endpoints {
		if ep.GetAddress() != fqdn {
			return false
		}
	}
	return true
}

// PolicyBreach finds an entry with hosts that no AliasDomain allows its namespace to claim.
// meshalias writes no such entry; another writer, or a policy that changed while meshalias was
// down, can leave one.
func (n Names) PolicyBreach(se *networkingv1.ServiceEntry) (Finding, bool) {
	if !n.Policy.InForce() {
		return Finding{}, false
	}
	var denied, reasons []string
	for _, h := range se.Spec.Hosts {
		if ok, why := n.Policy.Allows(h, se.Namespace, n.NamespaceLabels[se.Namespace]); !ok {
			denied = append(denied, h)
			reasons = append(reasons, why)
		}
	}
	if len(denied) == 0 {
		return Finding{}, false
	}
	return Finding{
		Namespace: se.Namespace, Name: se.Name, Rule: RuleHostNotAllowed, Hosts: denied,
		Severity: SeverityWarning, AffectedNamespaces: AffectedNamespaces(se),
		Message: strings.Join(reasons, "; "),
	}, true
}

// All runs every rule over a set of entries: the catch-all audit, with its competition, and
// the naming rules.
func All(entries []*networkingv1.ServiceEntry, names Names) []Finding {
	findings := entriesReaching(entries, names.reach)
	for _, f := range slices.Clone(findings) {
		if u, ok := names.Unmasked(entries, f); ok {
			findings = append(findings, u)
		}
	}
	for _, se := range entries {
		if f, ok := names.Shadowing(se); ok {
			findings = append(findings, f)
		}
		if f, ok := names.PolicyBreach(se); ok {
			findings = append(findings, f)
		}
		if f, ok := names.AmbientVIP(se); ok {
			findings = append(findings, f)
		}
	}
	Sort(findings)
	return slices.Clip(findings)
}
