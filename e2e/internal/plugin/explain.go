package plugin

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os/exec"
	"slices"
)

// Explanation is the output of `kubectl meshalias explain HOST --from NS -o json`, read by its
// JSON field names alone, as a user's script reads it.
type Explanation struct {
	Host string `json:"host"`
	From string `json:"from"`
	// Entry is the entry the namespace's pods see for the host; nil when they see none.
	Entry *ExplainedEntry `json:"entry"`
	// Others are the entries declaring the host that the namespace's pods do not see.
	Others            []ExplainedEntry `json:"others"`
	Sidecar           string           `json:"sidecar"`
	AddEgressHost     string           `json:"addEgressHost"`
	SelectiveSidecars []string         `json:"selectiveSidecars"`
	DNSProxyAnswers   bool             `json:"dnsProxyAnswers"`
	CatchAlls         []string         `json:"catchAlls"`
	Verdict           string           `json:"verdict"`
}

// ExplainedEntry is one entry that declares the host.
type ExplainedEntry struct {
	Namespace string   `json:"namespace"`
	Name      string   `json:"name"`
	Addresses []string `json:"addresses"`
	Ports     []uint32 `json:"ports"`
	Alias     string   `json:"alias"`
	// Hidden is "" for the entry the namespace sees, else NotExported or SidecarScoped.
	Hidden string `json:"hidden"`
}

// Explain runs `kubectl-meshalias --kubeconfig <kubeconfig> explain <host> --from <from> -o json`,
// with any further flags (--assume FILE, ...). explain exits 0 whatever it finds; any other exit
// code, or output that is not one JSON object, is an error.
func Explain(bin, kubeconfig, host, from string, flags ...string) (Explanation, error) {
	args := append([]string{"--kubeconfig", kubeconfig, "explain", host, "--from", from, "-o", "json"}, flags...)
	cmd := exec.Command(bin, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return Explanation{}, fmt.Errorf("kubectl-meshalias %v: %w: %s", args, err, stderr.String())
	}
	var ex Explanation
	if err := json.Unmarshal(stdout.Bytes(), &ex); err != nil {
		return Explanation{}, fmt.Errorf("kubectl-meshalias %v printed no JSON object: %w\n%s", args, err, stdout.String())
	}
	return ex, nil
}

// HiddenReason is why the namespace does not see the host's entry in namespace ns: the Hidden
// of that entry among Others, or "" when it is not among them.
func (ex Explanation) HiddenReason(ns string) string {
	i := slices.IndexFunc(ex.Others, func(e ExplainedEntry) bool { return e.Namespace == ns })
	if i < 0 {
		return ""
	}
	return ex.Others[i].Hidden
}

// RuleFinding is a finding of `audit -o json` with the rule that found it: one entry can be
// found by several rules (catch-all and unmasked-catch-all), and Finding alone cannot tell them
// apart.
type RuleFinding struct {
	Finding
	Rule string `json:"rule"`
}

// FindRule returns the finding for namespace/name by the given rule, if there is one. It reads
// the audit's JSON output again, for the rule field.
func (r AuditResult) FindRule(namespace, name, rule string) (RuleFinding, bool, error) {
	var all []RuleFinding
	if err := json.Unmarshal([]byte(r.Stdout), &all); err != nil {
		return RuleFinding{}, false, fmt.Errorf("the audit printed no JSON list: %w", err)
	}
	i := slices.IndexFunc(all, func(f RuleFinding) bool {
		return f.Namespace == namespace && f.Name == name && f.Rule == rule
	})
	if i < 0 {
		return RuleFinding{}, false, nil
	}
	return all[i], true, nil
}
