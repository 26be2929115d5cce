package audit

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// PrintTable writes findings for people: one line each, and a summary that says what to do.
func PrintTable(w io.Writer, findings []Finding, audited int, where string) error {
	if len(findings) == 0 {
		_, err := fmt.Fprintf(w, "No unsafe ServiceEntries among %d in %s.\n", audited, where)
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SEVERITY\tNAMESPACE\tNAME\tPORTS\tREACHES\tMESSAGE")
	for _, f := range findings {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", f.Severity, f.Namespace, f.Name, strings.Join(f.Ports, ","), strings.Join(f.AffectedNamespaces, ","), f.Message)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "\n%d of %d ServiceEntries in %s are unsafe. Fix: give each an address (its Service's ClusterIP), or let meshalias manage it.\n", len(findings), audited, where)
	return err
}
