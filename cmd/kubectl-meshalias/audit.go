package main

import (
	"encoding/json"
	"fmt"
	"io"

	"github.com/spf13/cobra"
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	"sigs.k8s.io/yaml"

	"github.com/meshalias/meshalias/internal/audit"
)

func newAuditCommand(opts *options) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "List the ServiceEntries that send every connection on a port to one service",
		Long: `audit lists every ServiceEntry on which Istio builds a 0.0.0.0 listener that takes
connections for any destination: no addresses, and a TCP, unset, MONGO, MYSQL or REDIS port,
under resolution DNS, DNS_ROUND_ROBIN or STATIC. HTTP, HTTPS and TLS ports match on Host or
SNI and are safe. Resolution NONE passes traffic on and is reported as info.

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
			findings := audit.Entries(list.Items)
			if err := printFindings(cmd.OutOrStdout(), opts.output, findings, len(list.Items), where); err != nil {
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
	return cmd
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
