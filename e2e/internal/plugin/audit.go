// Package plugin runs the built kubectl-meshalias binary and reads its output, as a script or
// a CI job would.
package plugin

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"slices"
)

// Finding is one entry of `kubectl meshalias audit -o json`, read as a user's script reads it:
// by the JSON field names alone.
type Finding struct {
	Namespace          string   `json:"namespace"`
	Name               string   `json:"name"`
	Hosts              []string `json:"hosts"`
	Ports              []string `json:"ports"`
	Severity           string   `json:"severity"`
	AffectedNamespaces []string `json:"affectedNamespaces"`
	CompetesWith       []string `json:"competesWith"`
	Message            string   `json:"message"`
}

// Exit codes of the plugin.
const (
	ExitClean    = 0
	ExitError    = 1
	ExitFindings = 3
)

// AuditResult is one run of the audit.
type AuditResult struct {
	ExitCode int
	Findings []Finding
	Stdout   string
	Stderr   string
}

// Find returns the finding for namespace/name, if there is one.
func (r AuditResult) Find(namespace, name string) (Finding, bool) {
	i := slices.IndexFunc(r.Findings, func(f Finding) bool { return f.Namespace == namespace && f.Name == name })
	if i < 0 {
		return Finding{}, false
	}
	return r.Findings[i], true
}

// Audit runs `kubectl-meshalias --kubeconfig <kubeconfig> audit -o json <scope...>`, where
// scope is "-A" or "-n", "<namespace>". An exit code other than 0, 1 or 3, or output that is
// not JSON when the code says there is some, is an error.
func Audit(bin, kubeconfig string, scope ...string) (AuditResult, error) {
	args := append([]string{"--kubeconfig", kubeconfig, "audit", "-o", "json"}, scope...)
	cmd := exec.Command(bin, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	res := AuditResult{Stdout: stdout.String(), Stderr: stderr.String()}
	var exit *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exit):
		res.ExitCode = exit.ExitCode()
	default:
		return res, fmt.Errorf("running %s: %w", bin, err)
	}
	if res.ExitCode != ExitClean && res.ExitCode != ExitFindings {
		return res, fmt.Errorf("kubectl-meshalias %v exited %d: %s", args, res.ExitCode, res.Stderr)
	}
	if err := json.Unmarshal(stdout.Bytes(), &res.Findings); err != nil {
		return res, fmt.Errorf("kubectl-meshalias %v printed no JSON list: %w\n%s", args, err, res.Stdout)
	}
	return res, nil
}
