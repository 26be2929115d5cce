package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	meshaliasv1 "github.com/meshalias/meshalias/api/v1alpha1"
	"github.com/meshalias/meshalias/internal/audit"
	"github.com/meshalias/meshalias/internal/hostpolicy"
)

func newAuditCommand(opts *options) *cobra.Command {
	var clusterDomain string
	var requireAliasDomain bool
	var foughtWindow time.Duration
	var foughtThreshold int
	var mesh meshFlags
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "List the ServiceEntries that send every connection on a port to one service",
		Long: `audit lists every ServiceEntry on which Istio builds a 0.0.0.0 listener that takes
connections for any destination: no addresses, and a TCP, unset, MONGO, MYSQL or REDIS port,
under resolution DNS, DNS_ROUND_ROBIN or STATIC. HTTP, HTTPS and TLS ports match on Host or
SNI and are safe. Resolution NONE passes traffic on and is reported as info.

It also flags, as critical, an entry whose host is a Kubernetes Service's own name
(<svc>.<ns> or <svc>.<ns>.svc), which takes that Service's HTTP traffic; and, as a warning,
an entry whose hosts no AliasDomain allows its namespace to claim; and, as a warning,
an entry fought over: one that meshalias put back more than --fought-over-threshold times
within --fought-over-window, because another writer keeps changing it (read from the
operator's DriftRepaired events).

Which namespaces a finding reaches follows pilot's rules: exportTo, else the mesh config's
defaultServiceExportTo, then each mesh namespace's Sidecar (or the root namespace's). A
catch-all that reaches namespaces where the TLS or HTTPS entries that hid it from their hosts
do not is reported as unmasked-catch-all: the incident's second failure. --assume judges
Sidecars, entries or a mesh config before they are applied.

Exit code: 0 when nothing is critical, 3 when something is, 1 on an error.`,
		Example: "  kubectl meshalias audit -A\n  kubectl meshalias audit -n abc -o json",
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, scope, where, err := opts.connect()
			if err != nil {
				return err
			}
			var list networkingv1.ServiceEntryList
			if err := c.List(cmd.Context(), &list, scope); err != nil {
				return fmt.Errorf("listing ServiceEntries in %s: %w", where, err)
			}
			names, err := readNames(cmd.Context(), c, clusterDomain, requireAliasDomain, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			st, ok, err := mesh.read(cmd.Context(), c, names.NamespaceLabels, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			if ok {
				names.Mesh, names.MeshNamespaces, names.Sidecars = st.mesh, st.namespaces, st.sidecars
			}
			entries := st.withAssumed(list.Items)
			findings := audit.All(entries, names)
			fought, err := foughtOver(cmd.Context(), c, scope, entries, foughtWindow, foughtThreshold, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			findings = append(findings, fought...)
			audit.Sort(findings)
			if err := printFindings(cmd.OutOrStdout(), opts.output, findings, len(entries), where); err != nil {
				return err
			}
			for _, f := range findings {
				if f.Severity == audit.SeverityCritical {
					return errFindings
				}
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&opts.output, "output", "o", "", "Output format: table (default), json or yaml.")
	cmd.Flags().StringVar(&clusterDomain, "cluster-domain", "cluster.local", "The cluster's DNS domain, as the operator's --cluster-domain.")
	mesh.add(cmd)
	cmd.Flags().DurationVar(&foughtWindow, "fought-over-window", time.Hour, "How far back to count meshalias's repairs of an entry, from its DriftRepaired events.")
	cmd.Flags().IntVar(&foughtThreshold, "fought-over-threshold", 10, "List an entry as fought-over when meshalias repaired it more than this many times within --fought-over-window: another writer keeps changing it.")
	cmd.Flags().BoolVar(&requireAliasDomain, "require-alias-domain", false, "Judge hosts as the operator run with --require-alias-domain does: refused unless an AliasDomain allows them.")
	return cmd
}

// namespaceLabels reads every namespace's labels: the mesh's namespaces, the ambient ones and
// the AliasDomains' selectors are judged by them.
func namespaceLabels(ctx context.Context, c client.Client, stderr io.Writer) (map[string]map[string]string, error) {
	labels := map[string]map[string]string{}
	var namespaces metav1.PartialObjectMetadataList
	namespaces.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("NamespaceList"))
	switch err := c.List(ctx, &namespaces); {
	case apierrors.IsForbidden(err):
		fmt.Fprintln(stderr, "note: Namespaces cannot be listed with these credentials; the mesh's and the ambient namespaces, and AliasDomain selectors, are not looked at")
	case err != nil:
		return nil, fmt.Errorf("listing Namespaces: %w", err)
	}
	for _, ns := range namespaces.Items {
		labels[ns.Name] = ns.Labels
	}
	return labels, nil
}

// readNames reads what the naming rules need from the whole cluster, whatever the scope: a
// host in one namespace can be the name of another namespace's Service. A rule whose input
// this user may not read is skipped, and the plugin says so.
func readNames(ctx context.Context, c client.Client, clusterDomain string, require bool, stderr io.Writer) (audit.Names, error) {
	names := audit.Names{ClusterDomain: clusterDomain, AmbientVIPs: map[string]string{}}
	var err error
	if names.NamespaceLabels, err = namespaceLabels(ctx, c, stderr); err != nil {
		return names, err
	}

	var services corev1.ServiceList
	switch err := c.List(ctx, &services); {
	case apierrors.IsForbidden(err):
		fmt.Fprintln(stderr, "note: Services of all namespaces cannot be listed with these credentials; entries that shadow a Service's names are not looked for")
	case err != nil:
		return names, fmt.Errorf("listing Services: %w", err)
	default:
		exists := map[string]bool{}
		for _, s := range services.Items {
			exists[s.Namespace+"/"+s.Name] = true
			if names.NamespaceLabels[s.Namespace][meshaliasv1.LabelIstioDataplaneMode] == meshaliasv1.DataplaneModeAmbient {
				for _, ip := range s.Spec.ClusterIPs {
					names.AmbientVIPs[ip] = s.Namespace + "/" + s.Name
				}
			}
		}
		names.ServiceExists = func(ns, name string) bool { return exists[ns+"/"+name] }
	}

	names.Policy.Required = require
	var domains meshaliasv1.AliasDomainList
	switch err := c.List(ctx, &domains); {
	case apierrors.IsForbidden(err), meta.IsNoMatchError(err):
		fmt.Fprintln(stderr, "note: AliasDomains cannot be read (not installed, or not allowed); the host policy is not checked")
		names.Policy.Required = false
		return names, nil
	case err != nil:
		return names, fmt.Errorf("listing AliasDomains: %w", err)
	}
	for _, d := range domains.Items {
		selector, err := metav1.LabelSelectorAsSelector(&d.Spec.NamespaceSelector)
		if err != nil {
			selector = labels.Nothing()
		}
		names.Policy.Rules = append(names.Policy.Rules, hostpolicy.DomainRule{Domain: d.Spec.Domain, Selector: selector})
	}
	return names, nil
}

func printFindings(w io.Writer, format string, findings []audit.Finding, audited int, where string) error {
	if findings == nil {
		findings = []audit.Finding{}
	}
	switch format {
	case "json":
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(findings)
	case "yaml":
		out, err := yaml.Marshal(findings)
		if err != nil {
			return err
		}
		_, err = w.Write(out)
		return err
	case "", "table":
		return audit.PrintTable(w, findings, audited, where)
	default:
		return fmt.Errorf("unknown output format %q: use table, json or yaml", format)
	}
}
