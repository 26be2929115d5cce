package desired

import (
	"fmt"
	"slices"
	"strings"

	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"

	meshaliasv1 "github.com/meshalias/meshalias/api/v1alpha1"
	"github.com/meshalias/meshalias/internal/visibility"
)

// Problem says why an alias host has no ServiceEntry. Reason is one of the condition reasons
// of the API.
type Problem struct {
	Reason  string
	Message string
	// Unservable is set when the Service itself can never be aliased as it is (headless,
	// ExternalName, no TCP port). A NamespaceAlias skips such Services instead of failing.
	Unservable bool
}

func (p *Problem) Error() string { return p.Reason + ": " + p.Message }

// HostResult is what became of one target.
type HostResult struct {
	Target
	// Entry is the name of the entry that serves the host, when there is one.
	Entry string
	// Adopted is set when Entry was taken over from another controller.
	Adopted bool
	Problem *Problem
}

// Plan is the desired state for one alias: the entries to have, the owned entries to remove,
// and what became of each host.
type Plan struct {
	Entries []*networkingv1.ServiceEntry
	Prune   []*networkingv1.ServiceEntry
	Results []HostResult
	// Problem, when set, stops the whole alias: it serves no host, whatever each host is like.
	Problem *Problem
	// Visibility says which mesh namespaces see the entries; nil when there is none.
	Visibility *visibility.Summary
}

// MakePlan decides, without side effects, which ServiceEntries an alias should own.
func MakePlan(in Intent, facts Facts, clusterDomain string) Plan {
	var plan Plan
	if plan.Problem = aliasProblem(in, facts); plan.Problem != nil {
		plan.Prune = facts.Owned
		return plan
	}
	keep := map[string]bool{}
	ownedByHost := map[string]string{}
	for _, se := range facts.Owned {
		for _, h := range se.Spec.Hosts {
			if _, dup := ownedByHost[h]; !dup {
				ownedByHost[h] = se.Name
			}
		}
	}

	for _, t := range in.Targets {
		result := HostResult{Target: t}
		name, owned := ownedByHost[t.Host]
		adopt := facts.Adoptable[t.Host]
		switch {
		case owned:
		case adopt != nil:
			name = adopt.Name
		default:
			name = EntryName(t.Host)
		}
		claim := in.Claim
		claim.Holds = owned
		result.Problem = hostProblem(in, facts, t, claim, name, owned || adopt != nil, clusterDomain)
		if result.Problem == nil {
			se, problem := BuildServiceEntry(EntryRequest{
				Owner:            in.Owner,
				Name:             name,
				Host:             t.Host,
				ServiceNamespace: in.ServiceNamespace,
				ServiceName:      t.ServiceName,
				Service:          facts.Services[t.ServiceName],
				Ports:            in.Ports,
				ExportTo:         in.ExportTo,
				TLSMode:          in.TLSMode,
				ClusterDomain:    clusterDomain,
			})
			if problem != nil {
				result.Problem = problem
			} else if !keep[se.Name] {
				keep[se.Name] = true
				// An entry under a name of its own was taken over: keep saying so.
				if result.Adopted = se.Name != EntryName(t.Host); result.Adopted {
					se.Labels[meshaliasv1.LabelAdopted] = "true"
				}
				plan.Entries = append(plan.Entries, se)
				result.Entry = se.Name
			}
		}
		plan.Results = append(plan.Results, result)
	}

	for _, se := range facts.Owned {
		if !keep[se.Name] {
			plan.Prune = append(plan.Prune, se)
		}
	}
	if len(plan.Entries) > 0 {
		summary := visibility.Summarize(facts.Mesh, VisibilityEntries(plan.Entries), facts.MeshNamespaces, facts.Sidecars)
		plan.Visibility = &summary
	}
	return plan
}

// VisibilityEntries is how the visibility rules see ServiceEntries.
func VisibilityEntries(entries []*networkingv1.ServiceEntry) []visibility.Entry {
	out := make([]visibility.Entry, 0, len(entries))
	for _, se := range entries {
		e := visibility.Entry{Namespace: se.Namespace, Name: se.Name, Hosts: se.Spec.Hosts, ExportTo: se.Spec.ExportTo}
		for _, p := range se.Spec.Ports {
			e.Ports = append(e.Ports, p.Number)
		}
		out = append(out, e)
	}
	return out
}

// aliasProblem says why an alias can serve none of its hosts: it may not use the Service it
// names, or its domain is out of bounds. Such an alias keeps no entry at all.
func aliasProblem(in Intent, facts Facts) *Problem {
	if in.Invalid != nil {
		return in.Invalid
	}
	if p := refProblem(facts.Reference, in.Owner.Namespace, in.ServiceNamespace, serviceOf(in)); p != nil {
		return p
	}
	if facts.Ambient.Namespace != "" {
		return ambientProblem(facts.Ambient.Namespace)
	}
	if in.Domain == "" {
		return nil
	}
	if facts.DomainIsNamespace {
		return &Problem{Reason: meshaliasv1.ReasonHostConflict, Message: fmt.Sprintf("domain %s is the name of namespace %s: every x.%s is the name Istio gives that namespace's Service x, and a Service's own names cannot be aliased", in.Domain, in.Domain, in.Domain)}
	}
	if ok, why := facts.Policy.Allows(in.Domain, in.Owner.Namespace, facts.NamespaceLabels); !ok {
		return &Problem{Reason: meshaliasv1.ReasonHostNotAllowed, Message: why}
	}
	return nil
}

// serviceOf is the Service a ServiceAlias names; a NamespaceAlias, which names none, never
// refers across namespaces.
func serviceOf(in Intent) string {
	if len(in.Targets) == 0 {
		return ""
	}
	return in.Targets[0].ServiceName
}

// hostProblem says why a host cannot be served by this alias, whatever the Service is like.
// The checks run in the order a person should fix them: a malformed host, a Service's own
// name, the host policy, then the claims of other aliases and entries.
func hostProblem(in Intent, facts Facts, t Target, mine Claim, name string, ours bool, clusterDomain string) *Problem {
	if err := validateHost(t.Host, clusterDomain); err != nil {
		return &Problem{Reason: meshaliasv1.ReasonInvalidSpec, Message: err.Error()}
	}
	if svc, ok := facts.Shadowed[t.Host]; ok {
		return &Problem{Reason: meshaliasv1.ReasonHostConflict, Message: fmt.Sprintf("host %s is the name Istio gives Service %s, and a Service's own names cannot be aliased", t.Host, svc)}
	}
	if ok, why := facts.Policy.Allows(t.Host, in.Owner.Namespace, facts.NamespaceLabels); !ok {
		return &Problem{Reason: meshaliasv1.ReasonHostNotAllowed, Message: why}
	}
	if why, ok := facts.Ambient.Services[t.ServiceName]; ok {
		return ambientProblem(why)
	}
	if winner, mine := HostWinner(mine, facts.Rivals[t.Host]); !mine {
		return &Problem{Reason: meshaliasv1.ReasonHostConflict, Message: fmt.Sprintf("host %s is already claimed by %s, which is older", t.Host, winner)}
	}
	if foreign := facts.Foreign[t.Host]; len(foreign) > 0 {
		return &Problem{Reason: meshaliasv1.ReasonHostConflict, Message: fmt.Sprintf("host %s is declared by ServiceEntry %s, which meshalias does not manage", t.Host, strings.Join(sorted(foreign), ", "))}
	}
	if !ours && facts.Occupied[name] {
		return &Problem{Reason: meshaliasv1.ReasonHostConflict, Message: fmt.Sprintf("ServiceEntry %s/%s exists and meshalias does not manage it", in.Owner.Namespace, name)}
	}
	return nil
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}
