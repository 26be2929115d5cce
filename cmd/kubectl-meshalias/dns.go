package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	meshaliasv1 "github.com/meshalias/meshalias/api/v1alpha1"
	"github.com/meshalias/meshalias/internal/coredns"
)

func newDNSCommand(opts *options) *cobra.Command {
	var (
		forCoreDNS    bool
		format        string
		clusterDomain string
	)
	cmd := &cobra.Command{
		Use:   "dns --coredns",
		Short: "Render the Ready aliases as CoreDNS rewrites, for pods that do not use Istio's DNS proxy",
		Long: `dns --coredns prints, for every Ready alias in scope, a CoreDNS snippet that resolves the
alias to its Service's ClusterIP, through the cluster's own DNS: one "rewrite name exact" per
ServiceAlias host, and one "rewrite name regex" per NamespaceAlias domain (or an exact rule per
host it serves, when it selects only some Services). The text is deterministic: commit it to
Git. See docs/dns.md for where it goes and when the DNS proxy makes it unnecessary.`,
		Example: "  kubectl meshalias dns --coredns -A\n  kubectl meshalias dns --coredns -A --format configmap | kubectl apply -f -",
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !forCoreDNS {
				return errors.New("say which DNS server to render for: --coredns is the one there is")
			}
			if format != "snippet" && format != "configmap" {
				return fmt.Errorf("unknown --format %q: use snippet or configmap", format)
			}
			c, scope, where, err := opts.connect()
			if err != nil {
				return err
			}
			exact, domains, err := rewrites(cmd.Context(), c, scope, clusterDomain)
			if err != nil {
				return fmt.Errorf("reading the aliases in %s: %w", where, err)
			}
			snippet := coredns.Snippet(exact, domains, clusterDomain)
			if format == "snippet" {
				_, err = fmt.Fprint(cmd.OutOrStdout(), snippet)
				return err
			}
			out, err := coredns.ConfigMap(snippet)
			if err != nil {
				return err
			}
			_, err = cmd.OutOrStdout().Write(out)
			return err
		},
	}
	cmd.Flags().BoolVar(&forCoreDNS, "coredns", false, "Render CoreDNS rewrite rules.")
	cmd.Flags().StringVar(&format, "format", "snippet", "snippet: the rules alone; configmap: a kube-system/coredns-custom ConfigMap with them under "+coredns.ConfigMapKey+".")
	cmd.Flags().StringVar(&clusterDomain, "cluster-domain", "cluster.local", "The cluster's DNS domain, as the operator's --cluster-domain.")
	return cmd
}

// rewrites reads the aliases in scope, and the entries of meshalias's NamespaceAliases, and
// leaves the choice of rules to coredns.Rewrites.
func rewrites(ctx context.Context, c client.Client, scope client.ListOption, clusterDomain string) ([]coredns.Exact, []coredns.Domain, error) {
	var sas meshaliasv1.ServiceAliasList
	if err := c.List(ctx, &sas, scope); err != nil {
		return nil, nil, err
	}
	var nas meshaliasv1.NamespaceAliasList
	if err := c.List(ctx, &nas, scope); err != nil {
		return nil, nil, err
	}
	var entries networkingv1.ServiceEntryList
	if err := c.List(ctx, &entries, scope, client.MatchingLabels{meshaliasv1.LabelManagedBy: meshaliasv1.ManagedByValue, meshaliasv1.LabelOwnerKind: meshaliasv1.KindNamespaceAlias}); err != nil {
		return nil, nil, err
	}
	exact, domains := coredns.Rewrites(sas.Items, nas.Items, entries.Items, clusterDomain)
	return exact, domains, nil
}
