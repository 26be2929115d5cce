package controllers

import (
	"fmt"
	"slices"
	"strings"

	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	corev1 "k8s.io/api/core/v1"

	meshaliasv1 "github.com/meshalias/meshalias/api/v1alpha1"
)

// Target is one host an alias asks for, and the Service that should answer it.
type Target struct {
	Host        string
	ServiceName string
}

// Intent is what an alias of either kind asks for. Both kinds are reduced to it, so one
// planner, one writer and one conflict rule serve them.
type Intent struct {
	Owner    Owner
	Claim    Claim
	Targets  []Target
	Ports    []int32
	ExportTo []string
	TLSMode  meshaliasv1.TLSMode
}

// Facts is what the cluster holds that bears on an Intent, as read from the cache.
type Facts struct {
	// Services by name, in the owner's namespace. A missing name means a missing Service.
	Services map[string]*corev1.Service
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
}

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
}

// MakePlan decides, without side effects, which ServiceEntries an alias should own.
func MakePlan(in Intent, facts Facts, clusterDomain string) Plan {
	var plan Plan
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
		result.Problem = hostProblem(in, facts, t, name, owned || adopt != nil, clusterDomain)
		if result.Problem == nil {
			se, problem := BuildServiceEntry(EntryRequest{
				Owner:         in.Owner,
				Name:          name,
				Host:          t.Host,
				ServiceName:   t.ServiceName,
				Service:       facts.Services[t.ServiceName],
				Ports:         in.Ports,
				ExportTo:      in.ExportTo,
				TLSMode:       in.TLSMode,
				ClusterDomain: clusterDomain,
			})
			if problem != nil {
				result.Problem = problem
			} else if !keep[se.Name] {
				keep[se.Name] = true
				// An entry under a name of its own was taken over: keep saying so.
				if result.Adopted = se.Name != EntryName(t.Host); result.Adopted {
					se.Labels[LabelAdopted] = "true"
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
	return plan
}

// hostProblem says why a host cannot be served by this alias, whatever the Service is like.
func hostProblem(in Intent, facts Facts, t Target, name string, ours bool, clusterDomain string) *Problem {
	if err := validateHost(t.Host, clusterDomain); err != nil {
		return &Problem{Reason: meshaliasv1.ReasonInvalidSpec, Message: err.Error()}
	}
	if winner, mine := HostWinner(in.Claim, facts.Rivals[t.Host]); !mine {
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
