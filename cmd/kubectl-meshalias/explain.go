package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"

	meshaliasv1 "github.com/meshalias/meshalias/api/v1alpha1"
	"github.com/meshalias/meshalias/internal/audit"
	"github.com/meshalias/meshalias/internal/visibility"
)

// Explanation is what `kubectl meshalias explain HOST --from NS` finds, for a pod of NS.
type Explanation struct {
	Host string `json:"host"`
	From string `json:"from"`
	// Entry is the entry that serves the host to the namespace's pods; nil when none does.
	Entry *ExplainedEntry `json:"entry"`
	// Others are the entries that declare the host and that the namespace's pods do not see.
	Others []ExplainedEntry `json:"others,omitempty"`
	// Sidecar is the Sidecar that applies to the namespace's pods, as namespace/name.
	Sidecar string `json:"sidecar,omitempty"`
	// AddEgressHost is the line to add to that Sidecar's egress hosts, when it hides the entry.
	AddEgressHost string `json:"addEgressHost,omitempty"`
	// SelectiveSidecars select some of the namespace's pods, which see what they import.
	SelectiveSidecars []string `json:"selectiveSidecars,omitempty"`
	// DNSProxyAnswers tells whether Istio's DNS proxy, where DNS capture is on, answers the
	// host for these pods: it answers the names of the entries they see, with their addresses.
	DNSProxyAnswers bool `json:"dnsProxyAnswers"`
	// CatchAlls are the entries the namespace's pods see that take every connection on one
	// of the host's ports: where the host's own entry is hidden, they get its traffic.
	CatchAlls []string `json:"catchAlls,omitempty"`
	Verdict   string   `json:"verdict"`
}

// ExplainedEntry is one entry that declares the host.
type ExplainedEntry struct {
	Namespace string   `json:"namespace"`
	Name      string   `json:"name"`
	Addresses []string `json:"addresses"`
	Ports     []uint32 `json:"ports"`
	// Alias is the meshalias alias that owns it, as Kind namespace/name; empty for others.
	Alias string `json:"alias,omitempty"`
	// Hidden is "" when the namespace's pods see it, else NotExported or SidecarScoped.
	Hidden string `json:"hidden,omitempty"`
}

func newExplainCommand(opts *options) *cobra.Command {
	var from string
	var mesh meshFlags
	cmd := &cobra.Command{
		Use:   "explain HOST --from NAMESPACE",
		Short: "Tell how a pod of a namespace reaches a host: the entry, the Sidecar, DNS and catch-alls",
		Long: `explain tells, for a pod of the --from namespace, which ServiceEntry serves HOST and with
which addresses; whether the namespace's Sidecar (or the root namespace's) imports it, and if
not, the egress host to add; whether Istio's DNS proxy would answer the name; and which
catch-all entries on the host's ports the pod sees, which take its traffic when the entry is
hidden. The rules are pilot's; --assume judges config before it is applied.`,
		Example: "  kubectl meshalias explain traefik.custom-name --from web\n  kubectl meshalias explain traefik.custom-name --from web --assume sidecar.yaml -o json",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if from == "" {
				return errors.New("say which namespace's pods: --from NAMESPACE")
			}
			c, err := opts.client()
			if err != nil {
				return err
			}
			labels, err := namespaceLabels(cmd.Context(), c, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			st, _, err := mesh.read(cmd.Context(), c, labels, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			var list networkingv1.ServiceEntryList
			if err := c.List(cmd.Context(), &list); err != nil {
				return fmt.Errorf("listing ServiceEntries: %w", err)
			}
			ex := explain(args[0], from, st, st.withAssumed(list.Items))
			switch opts.output {
			case "json":
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(ex)
			case "", "text":
				return printExplanation(cmd.OutOrStdout(), ex)
			default:
				return fmt.Errorf("unknown output format %q: use text or json", opts.output)
			}
		},
	}
	cmd.Flags().StringVar(&from, "from", "", "The namespace of the calling pod.")
	cmd.Flags().StringVarP(&opts.output, "output", "o", "", "Output format: text (default) or json.")
	mesh.add(cmd)
	return cmd
}

// explain judges a host for the pods of a namespace.
func explain(host, from string, st meshState, entries []*networkingv1.ServiceEntry) Explanation {
	ex := Explanation{Host: host, From: from}
	var ports []uint32
	for _, se := range byPilotsPreference(entries, from) {
		if !slices.Contains(se.Spec.Hosts, host) {
			continue
		}
		e := visibility.Entry{Namespace: se.Namespace, Name: se.Name, Hosts: []string{host}, ExportTo: se.Spec.ExportTo}
		for _, p := range se.Spec.Ports {
			e.Ports = append(e.Ports, p.Number)
		}
		view := st.mesh.See(e, from, st.sidecars)
		item := ExplainedEntry{Namespace: se.Namespace, Name: se.Name, Addresses: se.Spec.Addresses, Ports: e.Ports, Hidden: view.Hidden}
		if se.Labels[meshaliasv1.LabelManagedBy] == meshaliasv1.ManagedByValue {
			item.Alias = se.Labels[meshaliasv1.LabelOwnerKind] + " " + se.Namespace + "/" + se.Labels[meshaliasv1.LabelOwnerName]
		}
		ex.SelectiveSidecars = view.Selective
		if view.Sidecar != "" {
			ex.Sidecar = view.Sidecar
		}
		ports = append(ports, e.Ports...)
		if view.Hidden == "" && ex.Entry == nil {
			ex.Entry = &item
			continue
		}
		if view.Hidden == visibility.SidecarScoped && ex.AddEgressHost == "" {
			ex.AddEgressHost = visibility.EgressHost(e, host)
		}
		ex.Others = append(ex.Others, item)
	}
	if ex.Entry == nil && ex.Sidecar == "" {
		if s, ok := st.mesh.SidecarFor(from, st.sidecars); ok {
			ex.Sidecar = s.Ref()
		}
	}
	ex.DNSProxyAnswers = ex.Entry != nil && len(ex.Entry.Addresses) > 0
	if ex.Entry != nil {
		ex.AddEgressHost = ""
	}

	// Catch-alls this namespace's pods see, on the host's ports.
	for _, se := range entries {
		f, ok := audit.Entry(se)
		if !ok || f.Severity != audit.SeverityCritical {
			continue
		}
		e := visibility.Entry{Namespace: se.Namespace, Name: se.Name, Hosts: se.Spec.Hosts, ExportTo: se.Spec.ExportTo}
		for _, p := range se.Spec.Ports {
			e.Ports = append(e.Ports, p.Number)
		}
		if st.mesh.See(e, from, st.sidecars).Hidden != "" {
			continue
		}
		for _, p := range f.Ports {
			var n uint32
			fmt.Sscan(strings.SplitN(p, "/", 2)[0], &n)
			if slices.Contains(ports, n) {
				ex.CatchAlls = append(ex.CatchAlls, fmt.Sprintf("%s/%s on %s", se.Namespace, se.Name, p))
			}
		}
	}

	switch {
	case ex.Entry != nil && len(ex.CatchAlls) > 0:
		ex.Verdict = fmt.Sprintf("reaches %s through %s/%s; catch-alls on its ports take every other connection there", host, ex.Entry.Namespace, ex.Entry.Name)
	case ex.Entry != nil:
		ex.Verdict = fmt.Sprintf("reaches %s through %s/%s", host, ex.Entry.Namespace, ex.Entry.Name)
	case len(ex.Others) == 0:
		ex.Verdict = "no ServiceEntry declares " + host
	case len(ex.CatchAlls) > 0:
		ex.Verdict = fmt.Sprintf("does not see %s's entry, and a catch-all takes its traffic", host)
	default:
		ex.Verdict = fmt.Sprintf("does not see %s's entry: the name does not resolve through the DNS proxy, and calls by address bypass the alias", host)
	}
	return ex
}

// byPilotsPreference orders entries as pilot picks one of several for a host: the pod's own
// namespace first, then the oldest, then by name and namespace (push_context.go).
func byPilotsPreference(entries []*networkingv1.ServiceEntry, from string) []*networkingv1.ServiceEntry {
	out := slices.Clone(entries)
	slices.SortStableFunc(out, func(a, b *networkingv1.ServiceEntry) int {
		if (a.Namespace == from) != (b.Namespace == from) {
			if a.Namespace == from {
				return -1
			}
			return 1
		}
		if c := a.CreationTimestamp.Compare(b.CreationTimestamp.Time); c != 0 {
			return c
		}
		if c := strings.Compare(a.Name, b.Name); c != 0 {
			return c
		}
		return strings.Compare(a.Namespace, b.Namespace)
	})
	return out
}

func printExplanation(w io.Writer, ex Explanation) error {
	fmt.Fprintf(w, "A pod in namespace %s, calling %s:\n\n", ex.From, ex.Host)
	if ex.Entry != nil {
		fmt.Fprintf(w, "  entry      %s/%s, addresses %s%s\n", ex.Entry.Namespace, ex.Entry.Name, orNone(ex.Entry.Addresses), aliasOf(ex.Entry.Alias))
	} else {
		fmt.Fprintln(w, "  entry      none that this namespace sees")
	}
	for _, o := range ex.Others {
		fmt.Fprintf(w, "  hidden     %s/%s (%s)%s\n", o.Namespace, o.Name, o.Hidden, aliasOf(o.Alias))
	}
	switch {
	case ex.Sidecar == "":
		fmt.Fprintln(w, "  sidecar    none applies: the pod sees every entry exported to its namespace")
	case ex.AddEgressHost != "":
		fmt.Fprintf(w, "  sidecar    %s does not import it: add %q to its egress hosts\n", ex.Sidecar, ex.AddEgressHost)
	default:
		fmt.Fprintf(w, "  sidecar    %s\n", ex.Sidecar)
	}
	for _, s := range ex.SelectiveSidecars {
		fmt.Fprintf(w, "             %s selects some pods, which see what it imports instead\n", s)
	}
	if ex.DNSProxyAnswers {
		fmt.Fprintln(w, "  dns        Istio's DNS proxy answers it, where DNS capture is on")
	} else {
		fmt.Fprintln(w, "  dns        Istio's DNS proxy does not answer it for this pod")
	}
	for _, c := range ex.CatchAlls {
		fmt.Fprintf(w, "  catch-all  %s\n", c)
	}
	_, err := fmt.Fprintf(w, "\nVerdict: %s.\n", ex.Verdict)
	return err
}

func orNone(items []string) string {
	if len(items) == 0 {
		return "none"
	}
	return strings.Join(items, ", ")
}

func aliasOf(alias string) string {
	if alias == "" {
		return ""
	}
	return " (" + alias + ")"
}
