package visibility

import (
	"fmt"
	"slices"
	"strings"
)

// maxListed bounds the namespaces and Sidecars a summary names.
const maxListed = 10

// Summary is what an alias's status says of who can reach it.
type Summary struct {
	// Reason is "" when every namespace sees every entry, else SidecarScoped when a Sidecar
	// hides some, else NotExported.
	Reason string
	// Count is how many namespaces do not see every entry; Namespaces names the first, sorted.
	Count      int
	Namespaces []string
	// Sidecars are the Sidecars that hide an entry, sorted.
	Sidecars []string
	Message  string
}

// Summarize judges what the pods of each namespace see of an alias's entries. A namespace
// that misses any entry is counted; the message names the Sidecars and the egress hosts to
// add to them.
func Summarize(m Mesh, entries []Entry, namespaces []string, sidecars []Sidecar) Summary {
	var s Summary
	var selective []string
	missing := map[string][]string{} // Sidecar -> egress hosts it lacks
	notExported := 0
	for _, ns := range namespaces {
		hidden := false
		for _, e := range entries {
			v := m.See(e, ns, sidecars)
			selective = append(selective, v.Selective...)
			switch v.Hidden {
			case SidecarScoped:
				hidden = true
				s.Reason = SidecarScoped
				for _, h := range e.Hosts {
					missing[v.Sidecar] = append(missing[v.Sidecar], EgressHost(e, h))
				}
			case NotExported:
				hidden = true
				notExported++
				if s.Reason == "" {
					s.Reason = NotExported
				}
			}
		}
		if hidden {
			s.Count++
			if len(s.Namespaces) < maxListed {
				s.Namespaces = append(s.Namespaces, ns)
			}
		}
	}
	slices.Sort(s.Namespaces)
	for sc := range missing {
		s.Sidecars = append(s.Sidecars, sc)
	}
	slices.Sort(s.Sidecars)
	slices.Sort(selective)
	selective = slices.Compact(selective)

	switch {
	case len(namespaces) == 0:
		s.Message = "No namespace is in the mesh yet (labelled istio-injection=enabled or istio.io/rev)."
	case s.Count == 0:
		s.Message = fmt.Sprintf("Every one of %d mesh namespaces sees the alias's entries.", len(namespaces))
	default:
		var b strings.Builder
		fmt.Fprintf(&b, "Hidden from %d of %d mesh namespaces (%s", s.Count, len(namespaces), strings.Join(s.Namespaces, ", "))
		if s.Count > len(s.Namespaces) {
			fmt.Fprintf(&b, ", and %d more", s.Count-len(s.Namespaces))
		}
		b.WriteString(").")
		for i, sc := range s.Sidecars {
			if i == maxListed {
				fmt.Fprintf(&b, " And %d more Sidecars.", len(s.Sidecars)-maxListed)
				break
			}
			hosts := missing[sc]
			slices.Sort(hosts)
			hosts = slices.Compact(hosts)
			fmt.Fprintf(&b, " Sidecar %s does not import it: add %s to its egress hosts.", sc, quoteAll(hosts))
		}
		if notExported > 0 {
			b.WriteString(" exportTo (or the mesh's defaultServiceExportTo) leaves some namespaces out.")
		}
		s.Message = b.String()
	}
	if len(selective) > 0 {
		s.Message += fmt.Sprintf(" Sidecars with a workload selector (%s) apply to the pods they select instead, which are not judged here.", strings.Join(capped(selective), ", "))
	}
	if len(s.Sidecars) > maxListed {
		s.Sidecars = s.Sidecars[:maxListed]
	}
	return s
}

func quoteAll(items []string) string {
	q := make([]string, len(items))
	for i, it := range items {
		q[i] = `"` + it + `"`
	}
	return strings.Join(q, ", ")
}

func capped(items []string) []string {
	if len(items) <= maxListed {
		return items
	}
	return append(slices.Clone(items[:maxListed]), fmt.Sprintf("and %d more", len(items)-maxListed))
}
