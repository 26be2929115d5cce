package promtool

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/prometheus/prometheus/promql/parser"
	"go.yaml.in/yaml/v3"
)

const component = "../../config/components/prometheus"

// promtool is the binary hack/build-promtool.sh built from this module: $PROMTOOL when
// hack/test-alerts.sh has built it already, else built here.
func promtool(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("PROMTOOL"); p != "" {
		return p
	}
	out, err := exec.Command("../build-promtool.sh").Output()
	if err != nil {
		t.Fatalf("hack/build-promtool.sh: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	return filepath.Join(lines[len(lines)-1], "promtool")
}

// rulesFile writes the PrometheusRule's spec, the rule groups promtool reads, into dir: the
// PrometheusRule stays the one source of the alerts.
func rulesFile(t *testing.T, dir string) string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(component, "alerts.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var rule struct {
		APIVersion string    `yaml:"apiVersion"`
		Kind       string    `yaml:"kind"`
		Spec       yaml.Node `yaml:"spec"`
	}
	if err := yaml.Unmarshal(raw, &rule); err != nil {
		t.Fatal(err)
	}
	if rule.APIVersion != "monitoring.coreos.com/v1" || rule.Kind != "PrometheusRule" {
		t.Fatalf("alerts.yaml is a %s %s, want a monitoring.coreos.com/v1 PrometheusRule", rule.APIVersion, rule.Kind)
	}
	groups, err := yaml.Marshal(&rule.Spec)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "alerts.rules.yaml")
	if err := os.WriteFile(path, groups, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func runPromtool(t *testing.T, args ...string) string {
	t.Helper()
	var out bytes.Buffer
	cmd := exec.Command(promtool(t), args...)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("promtool %s: %v\n%s", strings.Join(args, " "), err, out.String())
	}
	return out.String()
}

// promtool check rules: the rule groups load, every expression parses and type-checks, and
// no rule is a duplicate.
func TestAlertsCheck(t *testing.T) {
	out := runPromtool(t, "check", "rules", "--lint=all", "--lint-fatal", rulesFile(t, t.TempDir()))
	if !strings.Contains(out, "SUCCESS: 4 rules found") {
		t.Errorf("promtool check rules:\n%s\nwant 4 rules", out)
	}
}

// promtool test rules: alerts_test.yaml's series, evaluated by Prometheus's rule engine, fire
// each alert when they should, with the labels and text a person receives, and not otherwise.
func TestAlertsFire(t *testing.T) {
	dir := t.TempDir()
	rulesFile(t, dir)
	tests, err := os.ReadFile(filepath.Join(component, "alerts_test.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "alerts_test.yaml"), tests, 0o644); err != nil {
		t.Fatal(err)
	}
	runPromtool(t, "test", "rules", filepath.Join(dir, "alerts_test.yaml"))
}

// Every alert is tested: an alert with no case in alerts_test.yaml is one nobody has seen fire.
func TestEveryAlertHasCases(t *testing.T) {
	groups, err := os.ReadFile(rulesFile(t, t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	var spec struct {
		Groups []struct {
			Rules []struct {
				Alert       string            `yaml:"alert"`
				Labels      map[string]string `yaml:"labels"`
				Annotations map[string]string `yaml:"annotations"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	if err := yaml.Unmarshal(groups, &spec); err != nil {
		t.Fatal(err)
	}
	tests, err := os.ReadFile(filepath.Join(component, "alerts_test.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range spec.Groups {
		for _, r := range g.Rules {
			if r.Alert == "" {
				continue
			}
			if r.Labels["severity"] == "" || r.Annotations["summary"] == "" || r.Annotations["description"] == "" {
				t.Errorf("alert %s needs a severity label and summary and description annotations", r.Alert)
			}
			fires := regexp.MustCompile(`(?m)alertname: ` + r.Alert + `\n\s+exp_alerts:\n\s+- exp_labels`)
			quiet := regexp.MustCompile(`(?m)alertname: ` + r.Alert + `\n\s+exp_alerts: \[\]`)
			if !fires.Match(tests) {
				t.Errorf("alerts_test.yaml has no case where %s fires", r.Alert)
			}
			if !quiet.Match(tests) {
				t.Errorf("alerts_test.yaml has no case where %s stays quiet", r.Alert)
			}
		}
	}
}

// grafanaVariables stand in for what Grafana substitutes before it sends a query.
var grafanaVariables = strings.NewReplacer("$__rate_interval", "5m", "$__interval", "1m", "$__range", "1h", "$job", "meshalias")

// Every query of the dashboard parses with Prometheus's own PromQL parser, once Grafana has
// put its variables in: promtool checks the alerts, and this checks the dashboard.
func TestDashboardQueriesParse(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(component, "dashboard.json"))
	if err != nil {
		t.Fatal(err)
	}
	var dashboard struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(raw, &dashboard); err != nil {
		t.Fatal(err)
	}
	queries := 0
	for _, p := range dashboard.Panels {
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, target := range p.Targets {
			queries++
			expr := grafanaVariables.Replace(target.Expr)
			if strings.Contains(expr, "$") {
				t.Errorf("panel %q: a variable the dashboard does not define: %s", p.Title, target.Expr)
				continue
			}
			if _, err := parser.NewParser(parser.Options{}).ParseExpr(expr); err != nil {
				t.Errorf("panel %q: %s: %v", p.Title, target.Expr, err)
			}
		}
	}
	if queries == 0 {
		t.Fatal("the dashboard has no queries")
	}
}
