package controllers_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/yaml"
)

// The alerts and the dashboard in config/components/prometheus query only series that the
// running operator really exports, with labels it really sets: a renamed metric, label or
// controller would otherwise leave an alert that never fires and a panel that stays empty.
//
// The names come from a careful scan of the PromQL text (promQLNames), not from Prometheus's
// own parser: that would bring Prometheus into this module's go.mod. hack/promtool parses
// the same queries with the real parser, so a query this scan misreads is still caught there
// as long as it is not valid PromQL.
func TestMonitoringQueriesUseExportedMetrics(t *testing.T) {
	queries := monitoringQueries(t, repoRoot(t))

	// An object of each kind gives every controller's reconcile and work queue series their
	// first samples, and the API client's; the aliases set the per-reason gauge, and the audit
	// of their namespace the unsafe-entries one. The AliasDomain allows the aliases' hosts.
	ns := newNamespace(t)
	domain := ns + ".metrics-names"
	policyDomain(t, domain, map[string]string{"kubernetes.io/metadata.name": ns})
	create(t,
		service(ns, "web"),
		serviceAlias(ns, "web", "web", "web."+domain),
		namespaceAlias(ns, "all", "all."+domain, nil),
	)
	// leader_election_master_status exists only under leader election, which the suite's
	// operator runs without: a second manager with it on, and no controllers, elects itself.
	electLeader(t, ns)

	eventually(t, "every series the alerts and the dashboard query is exported", func() error {
		families, err := metrics.Registry.Gather()
		if err != nil {
			return err
		}
		exported := exportedSeries(families)
		var problems []string
		for _, q := range queries {
			problems = append(problems, q.check(exported)...)
		}
		if len(problems) > 0 {
			return fmt.Errorf("\n  %s", strings.Join(problems, "\n  "))
		}
		return nil
	})
}

// query is one PromQL expression and where it is written.
type query struct {
	where, expr string
	// names only: a Grafana label_values() variable, which is not PromQL.
	names []string
}

func monitoringQueries(t *testing.T, root string) []query {
	t.Helper()
	dir := filepath.Join(root, "config", "components", "prometheus")
	var queries []query

	raw, err := os.ReadFile(filepath.Join(dir, "alerts.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var rule struct {
		Spec struct {
			Groups []struct {
				Rules []struct {
					Alert string `json:"alert"`
					Expr  string `json:"expr"`
				} `json:"rules"`
			} `json:"groups"`
		} `json:"spec"`
	}
	if err := yaml.Unmarshal(raw, &rule); err != nil {
		t.Fatal(err)
	}
	for _, g := range rule.Spec.Groups {
		for _, r := range g.Rules {
			queries = append(queries, query{where: "alert " + r.Alert, expr: r.Expr})
		}
	}

	raw, err = os.ReadFile(filepath.Join(dir, "dashboard.json"))
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
		Templating struct {
			List []struct {
				Name       string `json:"name"`
				Definition string `json:"definition"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(raw, &dashboard); err != nil {
		t.Fatal(err)
	}
	for _, p := range dashboard.Panels {
		for _, target := range p.Targets {
			queries = append(queries, query{where: "panel " + p.Title, expr: target.Expr})
		}
	}
	for _, v := range dashboard.Templating.List {
		if m := labelValues.FindStringSubmatch(v.Definition); m != nil {
			queries = append(queries, query{where: "variable $" + v.Name, names: []string{m[1]}})
		}
	}

	if len(queries) < 10 {
		t.Fatalf("found %d queries in alerts.yaml and dashboard.json; the files moved or the scan broke", len(queries))
	}
	for _, q := range queries {
		if q.names == nil && len(promQLNames(q.expr)) == 0 {
			t.Fatalf("%s: found no metric name in %q; the scan broke", q.where, q.expr)
		}
	}
	return queries
}

var labelValues = regexp.MustCompile(`^label_values\(\s*([a-zA-Z_:][a-zA-Z0-9_:]*)\s*,`)

// Labels that Prometheus adds from the scrape target, not the operator.
var targetLabels = []string{"job", "instance", "pod", "container", "endpoint", "service"}

// check lists what the query needs and the operator does not export: metric names, labels in
// its matchers and groupings, and the values its positive matchers name (the controllers).
func (q query) check(exported map[string]series) []string {
	var problems []string
	names := q.names
	if names == nil {
		names = promQLNames(q.expr)
	}
	for _, name := range names {
		if _, ok := exported[name]; !ok {
			problems = append(problems, fmt.Sprintf("%s: %s is not exported", q.where, name))
		}
	}
	for _, sel := range promQLSelectors(q.expr) {
		s, ok := exported[sel.name]
		if !ok {
			continue
		}
		for _, m := range sel.matchers {
			if slices.Contains(targetLabels, m.label) {
				continue
			}
			values, ok := s[m.label]
			if !ok {
				problems = append(problems, fmt.Sprintf("%s: %s has no label %s", q.where, sel.name, m.label))
				continue
			}
			if m.op != "=" && m.op != "=~" {
				continue
			}
			// A positive matcher names values the operator must export: every alternative
			// of a plain a|b|c alternation.
			for _, want := range strings.Split(m.value, "|") {
				if !plainValue.MatchString(want) {
					continue
				}
				if !values[want] {
					problems = append(problems, fmt.Sprintf("%s: no %s series has %s=%q (it has %v)", q.where, sel.name, m.label, want, sortedKeys(values)))
				}
			}
		}
	}
	for _, g := range promQLGroupings(q.expr) {
		for _, label := range g.labels {
			if slices.Contains(targetLabels, label) {
				continue
			}
			found := false
			for _, name := range g.names {
				if _, ok := exported[name][label]; ok {
					found = true
				}
			}
			if !found {
				problems = append(problems, fmt.Sprintf("%s: groups by %s, which none of %v has", q.where, label, g.names))
			}
		}
	}
	return problems
}

var plainValue = regexp.MustCompile(`^[a-zA-Z0-9_.-]+$`)

// series maps each label of an exported name to the values it takes.
type series map[string]map[string]bool

// exportedSeries lists the names a scrape of the registry shows, as Prometheus stores them:
// a histogram's _bucket (with le), _sum and _count, a summary's _sum and _count.
func exportedSeries(families []*dto.MetricFamily) map[string]series {
	out := map[string]series{}
	add := func(name string, m *dto.Metric, extra ...string) {
		s := out[name]
		if s == nil {
			s = series{}
			out[name] = s
		}
		for _, l := range m.GetLabel() {
			if s[l.GetName()] == nil {
				s[l.GetName()] = map[string]bool{}
			}
			s[l.GetName()][l.GetValue()] = true
		}
		for _, label := range extra {
			if s[label] == nil {
				s[label] = map[string]bool{}
			}
		}
	}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			switch f.GetType() {
			case dto.MetricType_HISTOGRAM, dto.MetricType_GAUGE_HISTOGRAM:
				add(f.GetName()+"_bucket", m, "le")
				add(f.GetName()+"_sum", m)
				add(f.GetName()+"_count", m)
			case dto.MetricType_SUMMARY:
				add(f.GetName(), m, "quantile")
				add(f.GetName()+"_sum", m)
				add(f.GetName()+"_count", m)
			default:
				add(f.GetName(), m)
			}
		}
	}
	return out
}

var (
	// PromQL's string literals, in double, single or back quotes.
	promQLString = regexp.MustCompile("\"(?:[^\"\\\\]|\\\\.)*\"|'(?:[^'\\\\]|\\\\.)*'|`[^`]*`")
	// Label matchers {…}, ranges and subqueries […].
	promQLBraces   = regexp.MustCompile(`\{[^}]*\}`)
	promQLBrackets = regexp.MustCompile(`\[[^\]]*\]`)
	// Clauses whose parentheses hold label names, not expressions.
	promQLLabelLists = regexp.MustCompile(`\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)`)
	promQLIdentifier = regexp.MustCompile(`[a-zA-Z_:][a-zA-Z0-9_:]*`)
	promQLKeywords   = []string{"and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring", "group_left", "group_right", "atan2", "inf", "nan", "start", "end"}
	promQLSelector   = regexp.MustCompile(`([a-zA-Z_:][a-zA-Z0-9_:]*)\s*\{([^}]*)\}`)
	promQLMatcher    = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"`)
	promQLBy         = regexp.MustCompile(`\bby\s*\(([^)]*)\)\s*\(`)
)

// promQLNames returns the metric names a PromQL expression selects: what is left once
// strings, matchers, ranges and label lists are gone, less function names (followed by a
// parenthesis), keywords, and the unit letters of numbers.
func promQLNames(expr string) []string {
	s := promQLString.ReplaceAllString(expr, `""`)
	s = promQLBraces.ReplaceAllString(s, " ")
	s = promQLBrackets.ReplaceAllString(s, " ")
	s = promQLLabelLists.ReplaceAllString(s, " ")
	seen := map[string]bool{}
	var names []string
	for _, loc := range promQLIdentifier.FindAllStringIndex(s, -1) {
		word := s[loc[0]:loc[1]]
		if loc[0] > 0 && strings.ContainsAny(s[loc[0]-1:loc[0]], "0123456789.$") {
			continue // 5m, 1e3, a Grafana variable
		}
		if rest := strings.TrimLeft(s[loc[1]:], " \t\n"); strings.HasPrefix(rest, "(") {
			continue // a function
		}
		if slices.Contains(promQLKeywords, strings.ToLower(word)) || seen[word] {
			continue
		}
		seen[word] = true
		names = append(names, word)
	}
	return names
}

type matcher struct{ label, op, value string }

type selector struct {
	name     string
	matchers []matcher
}

// promQLSelectors returns the name{matchers} selectors of an expression.
func promQLSelectors(expr string) []selector {
	var out []selector
	for _, m := range promQLSelector.FindAllStringSubmatch(expr, -1) {
		sel := selector{name: m[1]}
		for _, mm := range promQLMatcher.FindAllStringSubmatch(m[2], -1) {
			sel.matchers = append(sel.matchers, matcher{label: mm[1], op: mm[2], value: mm[3]})
		}
		out = append(out, sel)
	}
	return out
}

type grouping struct {
	labels, names []string
}

// promQLGroupings returns, for each `by (labels) (expression)`, the labels and the metric
// names of the expression they group.
func promQLGroupings(expr string) []grouping {
	var out []grouping
	for _, loc := range promQLBy.FindAllStringSubmatchIndex(expr, -1) {
		var labels []string
		for _, l := range strings.Split(expr[loc[2]:loc[3]], ",") {
			if l = strings.TrimSpace(l); l != "" {
				labels = append(labels, l)
			}
		}
		// The parenthesis the match ends on opens the grouped expression: find its mate.
		open, depth, end := loc[1]-1, 0, -1
		for i := open; i < len(expr) && end < 0; i++ {
			switch expr[i] {
			case '(':
				depth++
			case ')':
				depth--
				if depth == 0 {
					end = i
				}
			}
		}
		if end < 0 {
			continue
		}
		out = append(out, grouping{labels: labels, names: promQLNames(expr[open+1 : end])})
	}
	return out
}

func sortedKeys(m map[string]bool) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// electLeader runs a manager with no controllers under leader election, as cmd/manager's
// --leader-elect does, with cmd/manager's Lease name, until the test ends.
func electLeader(t *testing.T, ns string) {
	t.Helper()
	mgr, err := ctrl.NewManager(cluster.Config, ctrl.Options{
		Scheme:                        scheme,
		Metrics:                       metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress:        "0",
		LeaderElection:                true,
		LeaderElectionID:              "meshalias.meshalias.io",
		LeaderElectionNamespace:       ns,
		LeaderElectionReleaseOnCancel: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = mgr.Start(ctx)
	}()
	t.Cleanup(func() { cancel(); <-done })
	select {
	case <-mgr.Elected():
	case <-time.After(30 * time.Second):
		t.Fatal("the leader-election manager was not elected within 30s")
	}
}

// The scan reads names, matchers and groupings as Prometheus's parser would, on the shapes
// the alerts and the dashboard use.
func TestPromQLScan(t *testing.T) {
	for _, tc := range []struct {
		expr      string
		names     []string
		selectors int
		groupings [][]string // the names each by (…) groups, in order
	}{
		{
			expr:      `max by (namespace) (meshalias_unsafe_serviceentries) > 0`,
			names:     []string{"meshalias_unsafe_serviceentries"},
			groupings: [][]string{{"meshalias_unsafe_serviceentries"}},
		},
		{
			expr:      `sum by (controller) (rate(controller_runtime_reconcile_errors_total{controller=~"a|b"}[10m])) / sum by (controller) (rate(controller_runtime_reconcile_total{job="$job"}[$__rate_interval])) > 0.1`,
			names:     []string{"controller_runtime_reconcile_errors_total", "controller_runtime_reconcile_total"},
			selectors: 2,
			groupings: [][]string{{"controller_runtime_reconcile_errors_total"}, {"controller_runtime_reconcile_total"}},
		},
		{
			expr:      `histogram_quantile(0.99, sum by (controller, le) (rate(controller_runtime_reconcile_time_seconds_bucket{job="$job"}[5m])))`,
			names:     []string{"controller_runtime_reconcile_time_seconds_bucket"},
			selectors: 1,
			groupings: [][]string{{"controller_runtime_reconcile_time_seconds_bucket"}},
		},
		{
			expr:      "max(leader_election_master_status{name=\"x\"}) < 1\n  or\nabsent(leader_election_master_status{name=\"x\"})",
			names:     []string{"leader_election_master_status"},
			selectors: 2,
		},
		{
			expr:  `sum(rate(a_total[5m] offset 1h)) by (code) / on (code) group_left (method) b + 1e3`,
			names: []string{"a_total", "b"},
		},
	} {
		if got := promQLNames(tc.expr); !slices.Equal(got, tc.names) {
			t.Errorf("promQLNames(%q) = %v, want %v", tc.expr, got, tc.names)
		}
		if got := len(promQLSelectors(tc.expr)); got != tc.selectors {
			t.Errorf("promQLSelectors(%q) found %d, want %d", tc.expr, got, tc.selectors)
		}
		var groups [][]string
		for _, g := range promQLGroupings(tc.expr) {
			groups = append(groups, g.names)
		}
		if !slices.EqualFunc(groups, tc.groupings, slices.Equal) {
			t.Errorf("promQLGroupings(%q) grouped %v, want %v", tc.expr, groups, tc.groupings)
		}
	}
}
