// Package hostpolicy says which hosts a namespace may claim as aliases: never a Kubernetes
// Service's own names, and, where AliasDomains exist, only names under a domain that allows
// the namespace. The operator and the audit share it; it reads nothing from a cluster.
package hostpolicy

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/labels"
)

// DomainRule is one AliasDomain: the namespaces its selector picks may claim Domain and every
// name under it.
type DomainRule struct {
	Domain   string
	Selector labels.Selector
}

// Policy is the cluster's host policy, as the AliasDomains and the operator's flags make it.
type Policy struct {
	// Required is --require-alias-domain: a host that no rule covers is refused even when
	// there are no rules at all.
	Required bool
	Rules    []DomainRule
}

// InForce tells whether hosts are checked at all. Without any AliasDomain, and without
// --require-alias-domain, every host stays allowed, as single-tenant clusters expect.
func (p Policy) InForce() bool { return p.Required || len(p.Rules) > 0 }

// Allows tells whether a namespace, with its labels, may claim host, and if not, why, in words
// a person can act on. The longest domain that covers the host decides, so a platform team
// can hand "payments.internal" to one team while keeping "internal" for itself.
func (p Policy) Allows(host, namespace string, nsLabels labels.Set) (bool, string) {
	if !p.InForce() {
		return true, ""
	}
	var deciding []DomainRule
	for _, r := range p.Rules {
		if !Covers(r.Domain, host) {
			continue
		}
		switch {
		case len(deciding) == 0 || len(r.Domain) > len(deciding[0].Domain):
			deciding = []DomainRule{r}
		case len(r.Domain) == len(deciding[0].Domain):
			deciding = append(deciding, r)
		}
	}
	if len(deciding) == 0 {
		return false, fmt.Sprintf("no AliasDomain covers host %s: a platform admin must create one for it, or for a domain above it, that selects namespace %s", host, namespace)
	}
	for _, r := range deciding {
		if r.Selector.Matches(nsLabels) {
			return true, ""
		}
	}
	return false, fmt.Sprintf("AliasDomain %s does not allow namespace %s to claim host %s: its namespaceSelector (%s) does not select the namespace", deciding[0].Domain, namespace, host, selectorString(deciding[0].Selector))
}

// Covers tells whether domain is host itself or a domain above it.
func Covers(domain, host string) bool {
	return host == domain || strings.HasSuffix(host, "."+domain)
}

func selectorString(s labels.Selector) string {
	if s.Empty() {
		return "every namespace"
	}
	return s.String()
}

// Suffixes lists a name and every domain above it: "a.b.c", "b.c", "c". An AliasDomain for any
// of them bears on the name.
func Suffixes(name string) []string {
	out := []string{name}
	for {
		_, rest, ok := strings.Cut(name, ".")
		if !ok {
			return out
		}
		out = append(out, rest)
		name = rest
	}
}
