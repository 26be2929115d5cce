// Package audit finds the ServiceEntries that make sidecars send connections for unrelated
// destinations into the entry's own cluster. Its rules follow Istio's pilot: the operator's
// continuous audit and `kubectl meshalias audit` both use this package.
package audit

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	networkingapi "istio.io/api/networking/v1alpha3"
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
)

// Severity of a finding.
type Severity string

const (
	// SeverityCritical: the entry takes connections meant for other destinations.
	SeverityCritical Severity = "critical"
	// SeverityWarning: the entry breaks the cluster's host policy, but takes no one else's
	// traffic by itself.
	SeverityWarning Severity = "warning"
	// SeverityInfo: the entry claims a whole port, but passes traffic on to where it was
	// going (resolution NONE).
	SeverityInfo Severity = "info"
)

// Rules a finding can come from.
const (
	// RuleCatchAll: no address narrows the entry's listener, which takes every connection on
	// a port.
	RuleCatchAll = "catch-all"
	// RuleShadowsService: a host of the entry is a Kubernetes Service's own name, whose HTTP
	// traffic the entry takes.
	RuleShadowsService = "shadows-service"
	// RuleHostNotAllowed: no AliasDomain allows the entry's namespace to claim a host.
	RuleHostNotAllowed = "host-not-allowed"
	// RuleAmbientVIP: the entry's addresses hold the VIP of a Service in an ambient
	// namespace, whose slot in ztunnel the entry can take.
	RuleAmbientVIP = "ambient-vip"
	// RuleUnmasked: a catch-all reaches namespaces where the SNI entries that kept it from
	// their hosts do not: the incident's second failure.
	RuleUnmasked = "unmasked-catch-all"
)

// severityOrder sorts findings: what takes traffic first.
var severityOrder = map[Severity]int{SeverityCritical: 0, SeverityWarning: 1, SeverityInfo: 2}

// AllNamespaces in AffectedNamespaces means every namespace's sidecars.
const AllNamespaces = "*"

// Finding is one unsafe ServiceEntry.
type Finding struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	// Rule is the rule that found it: catch-all, shadows-service or host-not-allowed.
	Rule  string   `json:"rule"`
	Hosts []string `json:"hosts"`
	// Ports are the ports on which the entry takes every connection, as "443/TCP".
	Ports    []string `json:"ports"`
	Severity Severity `json:"severity"`
	// AffectedNamespaces are the namespaces whose sidecars see the entry, following exportTo;
	// ["*"] means all of them.
	AffectedNamespaces []string `json:"affectedNamespaces"`
	// CompetesWith names the other entries that take the same port for the same sidecars.
	CompetesWith []string `json:"competesWith,omitempty"`
	Message      string   `json:"message"`
}

// catchAllPort is one port of an entry on which Istio builds a listener that matches every
// destination address.
type catchAllPort struct {
	number   uint32
	protocol string
}

// sniffedProtocols match on the HTTP Host header or the TLS SNI, so a 0.0.0.0 listener for
// them still only takes the entry's own hosts.
var sniffedProtocols = map[string]bool{
	"HTTP": true, "HTTPS": true, "HTTP2": true, "GRPC": true, "GRPC-WEB": true, "TLS": true,
}

// catchAllPorts returns the ports on which the entry's listener is 0.0.0.0 with a filter
// chain that matches anything: no address narrows it, and the protocol gives Istio nothing
// (Host, SNI) to match on. An unset protocol is TCP to Istio.
func catchAllPorts(se *networkingv1.ServiceEntry) []catchAllPort {
	if narrowedByAddresses(se.Spec.Addresses) {
		return nil
	}
	var out []catchAllPort
	for _, p := range se.Spec.Ports {
		proto := strings.ToUpper(p.Protocol)
		if proto == "" {
			proto = "TCP"
		}
		if proto == "UDP" || sniffedProtocols[proto] {
			continue
		}
		out = append(out, catchAllPort{number: p.Number, protocol: proto})
	}
	return out
}

// narrowedByAddresses tells whether addresses give the listener a real IP or range. An
// address that is itself the whole space (0.0.0.0/0, ::/0) narrows nothing.
func narrowedByAddresses(addresses []string) bool {
	for _, a := range addresses {
		if prefix, err := netip.ParsePrefix(a); err == nil {
			if prefix.Bits() > 0 {
				return true
			}
			continue
		}
		if addr, err := netip.ParseAddr(a); err == nil && !addr.IsUnspecified() {
			return true
		}
	}
	return false
}

// Reach says which namespaces' sidecars see an entry; ["*"] means all of them.
type Reach func(*networkingv1.ServiceEntry) []string

// Entry audits one ServiceEntry on its own, without the competition between entries, with
// its reach read from exportTo alone.
func Entry(se *networkingv1.ServiceEntry) (Finding, bool) {
	return entryReaching(se, AffectedNamespaces)
}

func entryReaching(se *networkingv1.ServiceEntry, reach Reach) (Finding, bool) {
	ports := catchAllPorts(se)
	if len(ports) == 0 {
		return Finding{}, false
	}
	f := Finding{
		Namespace:          se.Namespace,
		Name:               se.Name,
		Rule:               RuleCatchAll,
		Hosts:              slices.Clone(se.Spec.Hosts),
		AffectedNamespaces: reach(se),
	}
	for _, p := range ports {
		f.Ports = append(f.Ports, fmt.Sprintf("%d/%s", p.number, p.protocol))
	}
	who := "every namespace's sidecars"
	if !slices.Equal(f.AffectedNamespaces, []string{AllNamespaces}) {
		who = "the sidecars of " + listOrNone(capped(f.AffectedNamespaces))
	}
	if len(f.AffectedNamespaces) == 0 {
		return Finding{}, false // exported nowhere: no sidecar sees it
	}
	if se.Spec.Resolution == networkingapi.ServiceEntry_NONE {
		f.Severity = SeverityInfo
		f.Message = fmt.Sprintf("no addresses and resolution NONE: %s claim port %s for it, but pass connections on to their original destination", who, strings.Join(f.Ports, ", "))
		return f, true
	}
	f.Severity = SeverityCritical
	f.Message = fmt.Sprintf("no addresses: %s send every connection on port %s, to any destination, to %s", who, strings.Join(f.Ports, ", "), strings.Join(f.Hosts, ", "))
	return f, true
}

// AffectedNamespaces follows exportTo: empty or "*" is every namespace, "." the entry's own,
// "~" none, anything else the namespace of that name.
func AffectedNamespaces(se *networkingv1.ServiceEntry) []string {
	if len(se.Spec.ExportTo) == 0 {
		return []string{AllNamespaces}
	}
	var out []string
	for _, e := range se.Spec.ExportTo {
		switch e {
		case "*":
			return []string{AllNamespaces}
		case ".":
			out = append(out, se.Namespace)
		case "~":
		default:
			out = append(out, e)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// Entries audits a set of entries, and names, for each critical finding, the other entries
// that take the same port for some of the same sidecars: each sidecar keeps one of them, so
// pods disagree on where a connection goes. Reach is read from exportTo alone.
func Entries(entries []*networkingv1.ServiceEntry) []Finding {
	return entriesReaching(entries, AffectedNamespaces)
}

func entriesReaching(entries []*networkingv1.ServiceEntry, reach Reach) []Finding {
	var findings []Finding
	for _, se := range entries {
		if f, ok := entryReaching(se, reach); ok {
			findings = append(findings, f)
		}
	}
	for i := range findings {
		if findings[i].Severity != SeverityCritical {
			continue
		}
		for j := range findings {
			if i == j || findings[j].Severity != SeverityCritical {
				continue
			}
			if sharePort(findings[i].Ports, findings[j].Ports) && overlap(findings[i].AffectedNamespaces, findings[j].AffectedNamespaces) {
				findings[i].CompetesWith = append(findings[i].CompetesWith, findings[j].Namespace+"/"+findings[j].Name)
			}
		}
		if len(findings[i].CompetesWith) > 0 {
			findings[i].Message += fmt.Sprintf("; %d other entries take the same port (%s): sidecars pick one, so pods disagree", len(findings[i].CompetesWith), strings.Join(findings[i].CompetesWith, ", "))
		}
	}
	Sort(findings)
	return findings
}

// Sort orders findings by severity, then namespace, name and rule.
func Sort(findings []Finding) {
	slices.SortFunc(findings, func(a, b Finding) int {
		if a.Severity != b.Severity {
			return severityOrder[a.Severity] - severityOrder[b.Severity]
		}
		return strings.Compare(a.Namespace+"/"+a.Name+"/"+a.Rule, b.Namespace+"/"+b.Name+"/"+b.Rule)
	})
}

func sharePort(a, b []string) bool {
	for _, p := range a {
		number, _, _ := strings.Cut(p, "/")
		for _, q := range b {
			if n, _, _ := strings.Cut(q, "/"); n == number {
				return true
			}
		}
	}
	return false
}

func overlap(a, b []string) bool {
	if slices.Contains(a, AllNamespaces) || slices.Contains(b, AllNamespaces) {
		return len(a) > 0 && len(b) > 0
	}
	for _, x := range a {
		if slices.Contains(b, x) {
			return true
		}
	}
	return false
}

func listOrNone(items []string) string {
	if len(items) == 0 {
		return "no namespace"
	}
	return strings.Join(items, ", ")
}
