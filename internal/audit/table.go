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
	fmt.Fprintln(tw, "SEVERITY\tRULE\tNAMESPACE\tNAME\tPORTS\tREACHES\tMESSAGE")
	entries := map[string]bool{}
	for _, f := range findings {
		entries[f.Namespace+"/"+f.Name] = true
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", f.Severity, f.Rule, f.Namespace, f.Name, dashIfNone(f.Ports), dashIfNone(f.AffectedNamespaces), f.Message)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "\n%d of %d ServiceEntries in %s have findings. Each message says what to fix.\n", len(entries), audited, where)
	return err
}

func dashIfNone(items []string) string {
	if len(items) == 0 {
		return "-"
	}
	return strings.Join(items, ",")
}
