package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	networkingapi "istio.io/api/networking/v1alpha3"
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	meshaliasv1 "github.com/meshalias/meshalias/api/v1alpha1"
	"github.com/meshalias/meshalias/internal/audit"
	"github.com/meshalias/meshalias/internal/localcluster"
)

var (
	cluster *localcluster.Cluster
	k8s     client.Client
)

// The plugin runs against a real API server, as `kubectl meshalias` would.
func TestMain(m *testing.M) {
	os.Exit(func() int {
		wd, _ := os.Getwd()
		root, err := localcluster.RepoRoot(wd)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		if cluster, err = localcluster.Start(localcluster.Options{RepoRoot: root}); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer cluster.Stop()
		scheme := runtime.NewScheme()
		_ = clientgoscheme.AddToScheme(scheme)
		_ = networkingv1.AddToScheme(scheme)
		_ = meshaliasv1.AddToScheme(scheme)
		if k8s, err = client.New(cluster.Config, client.Options{Scheme: scheme}); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		return m.Run()
	}())
}

func plugin(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(append([]string{"--kubeconfig", cluster.Kubeconfig}, args...), &out, &errOut)
	return code, out.String(), errOut.String()
}

func namespace(t *testing.T) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "p-"}}
	if err := k8s.Create(context.Background(), ns); err != nil {
		t.Fatal(err)
	}
	return ns.Name
}

func entry(ns, name, host, protocol string, mutate func(*networkingapi.ServiceEntry)) *networkingv1.ServiceEntry {
	se := &networkingv1.ServiceEntry{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: networkingapi.ServiceEntry{
			Hosts: []string{host}, Location: networkingapi.ServiceEntry_MESH_INTERNAL, Resolution: networkingapi.ServiceEntry_DNS,
			Ports: []*networkingapi.ServicePort{{Name: "p-443", Number: 443, Protocol: protocol}},
		},
	}
	if mutate != nil {
		mutate(&se.Spec)
	}
	return se
}

func TestAudit(t *testing.T) {
	ns := namespace(t)
	code, out, _ := plugin(t, "audit", "-n", ns)
	if code != 0 || !strings.Contains(out, "No unsafe ServiceEntries") {
		t.Fatalf("an empty namespace: exit %d, output %q", code, out)
	}

	ctx := context.Background()
	for _, se := range []*networkingv1.ServiceEntry{
		entry(ns, "traefik-cutom-name", "traefik.cutom-name", "TCP", nil),
		entry(ns, "mongo-legacy", "mongo.legacy", "", func(s *networkingapi.ServiceEntry) { s.ExportTo = []string{"."} }),
		entry(ns, "safe", "safe.alias", "TCP", func(s *networkingapi.ServiceEntry) { s.Addresses = []string{"10.0.0.9"} }),
		entry(ns, "sni", "sni.alias", "TLS", nil),
	} {
		if err := k8s.Create(ctx, se); err != nil {
			t.Fatal(err)
		}
	}

	code, out, _ = plugin(t, "audit", "-n", ns, "-o", "json")
	if code != exitFindings {
		t.Errorf("exit %d with findings, want %d", code, exitFindings)
	}
	var findings []audit.Finding
	if err := json.Unmarshal([]byte(out), &findings); err != nil {
		t.Fatalf("-o json is not a JSON array of findings: %v\n%s", err, out)
	}
	if len(findings) != 2 {
		t.Fatalf("findings %+v, want the two address-less TCP entries", findings)
	}
	byName := map[string]audit.Finding{}
	for _, f := range findings {
		byName[f.Name] = f
	}
	if f := byName["traefik-cutom-name"]; f.Namespace != ns || f.Severity != audit.SeverityCritical || strings.Join(f.AffectedNamespaces, ",") != "*" || strings.Join(f.Ports, ",") != "443/TCP" {
		t.Errorf("traefik finding %+v", f)
	}
	if f := byName["mongo-legacy"]; strings.Join(f.AffectedNamespaces, ",") != ns || !strings.Contains(byName["traefik-cutom-name"].Message, "pods disagree") {
		t.Errorf("mongo finding %+v; traefik message %q", f, byName["traefik-cutom-name"].Message)
	}

	code, out, _ = plugin(t, "audit", "-A", "-o", "yaml")
	var fromYAML []map[string]any
	if err := yaml.Unmarshal([]byte(out), &fromYAML); err != nil || code != exitFindings || len(fromYAML) < 2 {
		t.Errorf("-A -o yaml: exit %d, %d findings, %v", code, len(fromYAML), err)
	}
	for _, key := range []string{"namespace", "name", "ports", "severity", "affectedNamespaces", "message"} {
		if _, ok := fromYAML[0][key]; !ok {
			t.Errorf("a finding lacks %q: %v", key, fromYAML[0])
		}
	}

	code, out, _ = plugin(t, "audit", "-n", ns)
	if code != exitFindings || !strings.Contains(out, "SEVERITY") || !strings.Contains(out, "traefik-cutom-name") {
		t.Errorf("table: exit %d\n%s", code, out)
	}

	if code, _, errOut := plugin(t, "audit", "-o", "xml"); code != exitError || !strings.Contains(errOut, "unknown output format") {
		t.Errorf("a bad -o: exit %d, %q", code, errOut)
	}
	if code, _, errOut := plugin(t, "--context", "nowhere", "audit"); code != exitError || errOut == "" {
		t.Errorf("a missing context: exit %d, %q", code, errOut)
	}
}

func TestMigrate(t *testing.T) {
	ns := namespace(t)
	ctx := context.Background()
	for _, o := range []client.Object{
		&corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "traefik"}, Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 443}}}},
		&corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "service-api"}, Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 80}}}},
		entry(ns, "traefik-cutom-name", "traefik.cutom-name", "TCP", func(s *networkingapi.ServiceEntry) {
			s.Endpoints = []*networkingapi.WorkloadEntry{{Address: "traefik." + ns + ".svc.cluster.local"}}
		}),
		entry(ns, "service-api-hello", "service-api.hello", "TCP", nil),
		entry(ns, "mystery", "mystery.somewhere", "TCP", nil),
	} {
		if err := k8s.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	code, out, errOut := plugin(t, "migrate", "-n", ns, "--domain", "hello="+ns)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	// What it prints must be accepted by the API server as is.
	docs := strings.Split(out, "\n---\n")
	var created []string
	for _, doc := range docs[1:] {
		obj := map[string]any{}
		if err := yaml.Unmarshal([]byte(doc), &obj); err != nil {
			t.Fatalf("not YAML: %v\n%s", err, doc)
		}
		var o client.Object
		switch obj["kind"] {
		case "ServiceAlias":
			o = &meshaliasv1.ServiceAlias{}
		case "NamespaceAlias":
			o = &meshaliasv1.NamespaceAlias{}
		}
		if err := yaml.UnmarshalStrict([]byte(doc), o); err != nil {
			t.Fatalf("%v\n%s", err, doc)
		}
		if err := k8s.Create(ctx, o); err != nil {
			t.Fatalf("the API server refused a printed manifest: %v\n%s", err, doc)
		}
		created = append(created, fmt.Sprint(obj["kind"], " ", o.GetName()))
	}
	if strings.Join(created, ",") != "ServiceAlias traefik,NamespaceAlias hello" {
		t.Errorf("manifests %v, want ServiceAlias traefik and NamespaceAlias hello", created)
	}
	if !strings.Contains(errOut, "unmapped: "+ns+"/mystery host mystery.somewhere") {
		t.Errorf("the unmapped entry is not listed with its reason: %s", errOut)
	}
	if code, _, errOut := plugin(t, "migrate", "--domain", "nonsense"); code != exitError || !strings.Contains(errOut, "hello=abc") {
		t.Errorf("a bad --domain: exit %d %q", code, errOut)
	}
}

// The naming rules need the whole cluster: a host in one namespace can be another
// namespace's Service name, and the AliasDomains are cluster-wide.
func TestAuditNamingRules(t *testing.T) {
	ctx := context.Background()
	prod, evil := namespace(t), namespace(t)
	shadow := entry(evil, "payments-prod", "payments."+prod, "HTTP", func(s *networkingapi.ServiceEntry) { s.Addresses = []string{"10.0.0.9"} })
	squat := entry(evil, "example-org", "example.org", "HTTP", func(s *networkingapi.ServiceEntry) { s.Addresses = []string{"10.0.0.9"} })
	for _, o := range []client.Object{
		&corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: prod, Name: "payments"}, Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 80}}}},
		shadow, squat,
	} {
		if err := k8s.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}

	code, out, _ := plugin(t, "audit", "-n", evil, "-o", "json")
	var findings []audit.Finding
	if err := json.Unmarshal([]byte(out), &findings); err != nil {
		t.Fatalf("-o json: %v\n%s", err, out)
	}
	if code != exitFindings || len(findings) != 1 || findings[0].Rule != audit.RuleShadowsService || findings[0].Name != "payments-prod" ||
		!strings.Contains(findings[0].Message, "Service "+prod+"/payments") {
		t.Fatalf("exit %d, findings %+v: want one critical finding for the entry that takes %s/payments's name", code, findings, prod)
	}

	// With the policy in force, the squat on example.org is a warning; warnings alone do not
	// fail a pipeline.
	code, out, _ = plugin(t, "audit", "-n", evil, "--require-alias-domain")
	if code != exitFindings || !strings.Contains(out, audit.RuleHostNotAllowed) || !strings.Contains(out, "no AliasDomain covers host example.org") {
		t.Errorf("--require-alias-domain: exit %d\n%s", code, out)
	}
	if err := k8s.Delete(ctx, shadow); err != nil {
		t.Fatal(err)
	}
	domain := &meshaliasv1.AliasDomain{
		ObjectMeta: metav1.ObjectMeta{Name: "example.org"},
		Spec:       meshaliasv1.AliasDomainSpec{Domain: "example.org", NamespaceSelector: metav1.LabelSelector{MatchLabels: map[string]string{"team": "web"}}},
	}
	if err := k8s.Create(ctx, domain); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = k8s.Delete(ctx, domain) })
	// An entry that carries the VIP of a Service in an ambient namespace takes its slot in
	// ztunnel.
	amb := namespace(t)
	ambNS := &corev1.Namespace{}
	if err := k8s.Get(ctx, client.ObjectKey{Name: amb}, ambNS); err != nil {
		t.Fatal(err)
	}
	ambNS.Labels = map[string]string{"istio.io/dataplane-mode": "ambient"}
	ambSvc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: amb, Name: "traefik"}, Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 80}}}}
	for _, err := range []error{k8s.Update(ctx, ambNS), k8s.Create(ctx, ambSvc)} {
		if err != nil {
			t.Fatal(err)
		}
	}
	vipEntry := entry(amb, "traefik-alias", "traefik.alias", "HTTP", func(s *networkingapi.ServiceEntry) { s.Addresses = []string{ambSvc.Spec.ClusterIP} })
	if err := k8s.Create(ctx, vipEntry); err != nil {
		t.Fatal(err)
	}
	code, out, _ = plugin(t, "audit", "-n", amb, "-o", "json")
	findings = nil
	if err := json.Unmarshal([]byte(out), &findings); err != nil {
		t.Fatalf("-o json: %v\n%s", err, out)
	}
	// (The AliasDomain above puts the host policy in force, so the entry breaks it too.)
	if code != exitFindings || len(findings) == 0 || findings[0].Rule != audit.RuleAmbientVIP || findings[0].Severity != audit.SeverityCritical || !strings.Contains(findings[0].Message, "Service "+amb+"/traefik") {
		t.Errorf("exit %d, findings %+v: want a critical ambient-vip finding first", code, findings)
	}

	code, out, _ = plugin(t, "audit", "-n", evil, "-o", "json")
	findings = nil
	if err := json.Unmarshal([]byte(out), &findings); err != nil {
		t.Fatalf("-o json: %v\n%s", err, out)
	}
	if code != 0 || len(findings) != 1 || findings[0].Severity != audit.SeverityWarning || !strings.Contains(findings[0].Message, "AliasDomain example.org does not allow namespace "+evil) {
		t.Errorf("exit %d, findings %+v: want exit 0 and one warning naming the AliasDomain", code, findings)
	}
}

// markReady writes what the operator would: Ready=True for the current generation.
func markReady(t *testing.T, obj client.Object, status *[]metav1.Condition, observed *int64) {
	t.Helper()
	*observed = obj.GetGeneration()
	*status = []metav1.Condition{{Type: "Ready", Status: metav1.ConditionTrue, Reason: "Synced", Message: "ok", LastTransitionTime: metav1.Now(), ObservedGeneration: obj.GetGeneration()}}
	if err := k8s.Status().Update(context.Background(), obj); err != nil {
		t.Fatal(err)
	}
}

// The CoreDNS rewrites cover the Ready aliases only, each the way it serves its hosts.
func TestDNSCoreDNS(t *testing.T) {
	ctx := context.Background()
	abc, edge := namespace(t), namespace(t)
	sa := &meshaliasv1.ServiceAlias{ObjectMeta: metav1.ObjectMeta{Namespace: abc, Name: "traefik"},
		Spec: meshaliasv1.ServiceAliasSpec{Service: meshaliasv1.ServiceReference{Name: "traefik"}, Hosts: []string{"traefik.custom-name", "t.custom-name"}}}
	cross := &meshaliasv1.ServiceAlias{ObjectMeta: metav1.ObjectMeta{Namespace: edge, Name: "api"},
		Spec: meshaliasv1.ServiceAliasSpec{Service: meshaliasv1.ServiceReference{Name: "api", Namespace: abc}, Hosts: []string{"api.edge-alias"}}}
	unready := &meshaliasv1.ServiceAlias{ObjectMeta: metav1.ObjectMeta{Namespace: abc, Name: "pending"},
		Spec: meshaliasv1.ServiceAliasSpec{Service: meshaliasv1.ServiceReference{Name: "x"}, Hosts: []string{"pending.custom-name"}}}
	all := &meshaliasv1.NamespaceAlias{ObjectMeta: metav1.ObjectMeta{Namespace: abc, Name: "hello"}, Spec: meshaliasv1.NamespaceAliasSpec{Domain: "hello"}}
	some := &meshaliasv1.NamespaceAlias{ObjectMeta: metav1.ObjectMeta{Namespace: abc, Name: "some"},
		Spec: meshaliasv1.NamespaceAliasSpec{Domain: "some.domain", Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"alias": "yes"}}}}
	served := entry(abc, "web-some-domain", "web.some.domain", "HTTP", func(s *networkingapi.ServiceEntry) {
		s.Addresses = []string{"10.0.0.9"}
		s.Endpoints = []*networkingapi.WorkloadEntry{{Address: "web." + abc + ".svc.cluster.local"}}
	})
	served.Labels = map[string]string{meshaliasv1.LabelManagedBy: meshaliasv1.ManagedByValue, meshaliasv1.LabelOwnerKind: meshaliasv1.KindNamespaceAlias, meshaliasv1.LabelOwnerName: "some"}
	for _, o := range []client.Object{sa, cross, unready, all, some, served} {
		if err := k8s.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	markReady(t, sa, &sa.Status.Conditions, &sa.Status.ObservedGeneration)
	markReady(t, cross, &cross.Status.Conditions, &cross.Status.ObservedGeneration)
	markReady(t, all, &all.Status.Conditions, &all.Status.ObservedGeneration)
	markReady(t, some, &some.Status.Conditions, &some.Status.ObservedGeneration)

	code, out, errOut := plugin(t, "dns", "--coredns", "-A")
	want := strings.Join([]string{
		"rewrite stop name exact api.edge-alias. api." + abc + ".svc.cluster.local.",
		"rewrite stop name exact t.custom-name. traefik." + abc + ".svc.cluster.local.",
		"rewrite stop name exact traefik.custom-name. traefik." + abc + ".svc.cluster.local.",
		"rewrite stop name exact web.some.domain. web." + abc + ".svc.cluster.local.",
		`rewrite stop name regex ^([a-z0-9]([-a-z0-9]*[a-z0-9])?)\.hello\.$ {1}.` + abc + ".svc.cluster.local. answer auto",
	}, "\n")
	if code != 0 || !strings.Contains(out, want) || strings.Contains(out, "pending") {
		t.Errorf("exit %d (%s); got\n%s\nwant the lines\n%s", code, errOut, out, want)
	}

	code, out, _ = plugin(t, "dns", "--coredns", "-n", edge, "--format", "configmap")
	var cm corev1.ConfigMap
	if err := yaml.Unmarshal([]byte(out), &cm); err != nil || code != 0 {
		t.Fatalf("--format configmap: exit %d, %v\n%s", code, err, out)
	}
	if cm.Name != "coredns-custom" || cm.Namespace != "kube-system" || !strings.Contains(cm.Data["meshalias.override"], "exact api.edge-alias.") || strings.Contains(cm.Data["meshalias.override"], "hello") {
		t.Errorf("ConfigMap for namespace %s: %+v", edge, cm)
	}
	if code, _, errOut := plugin(t, "dns"); code != exitError || !strings.Contains(errOut, "--coredns") {
		t.Errorf("dns without --coredns: exit %d, %q", code, errOut)
	}
}

func labelNamespace(t *testing.T, ns string, labels map[string]string) {
	t.Helper()
	obj := &corev1.Namespace{}
	if err := k8s.Get(context.Background(), client.ObjectKey{Name: ns}, obj); err != nil {
		t.Fatal(err)
	}
	obj.Labels = labels
	if err := k8s.Update(context.Background(), obj); err != nil {
		t.Fatal(err)
	}
}

func explainJSON(t *testing.T, args ...string) Explanation {
	t.Helper()
	code, out, errOut := plugin(t, append([]string{"explain", "-o", "json"}, args...)...)
	var ex Explanation
	if err := json.Unmarshal([]byte(out), &ex); code != 0 || err != nil {
		t.Fatalf("explain %v: exit %d, %v\n%s%s", args, code, err, out, errOut)
	}
	return ex
}

// explain tells one namespace's story of one host: the entry, the Sidecar and the line to
// add, DNS, and the catch-all that takes the traffic when the entry is hidden. --assume
// judges a Sidecar before it is applied.
func TestExplain(t *testing.T) {
	ctx := context.Background()
	abc, web := namespace(t), namespace(t)
	labelNamespace(t, web, map[string]string{"istio-injection": "enabled"})
	host := "traefik." + abc + ".explain"
	alias := entry(abc, "traefik-alias", host, "HTTPS", func(s *networkingapi.ServiceEntry) { s.Addresses = []string{"10.0.0.12"} })
	legacy := entry(abc, "legacy", "legacy."+abc+".explain", "TCP", nil)
	for _, o := range []client.Object{alias, legacy} {
		if err := k8s.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}

	ex := explainJSON(t, host, "--from", web)
	if ex.Entry == nil || ex.Entry.Name != "traefik-alias" || !ex.DNSProxyAnswers || ex.Sidecar != "" || !slices.Contains(ex.CatchAlls, abc+"/legacy on 443/TCP") {
		t.Errorf("with no Sidecar: %+v", ex)
	}

	sc := &networkingv1.Sidecar{ObjectMeta: metav1.ObjectMeta{Namespace: web, Name: "default"},
		Spec: networkingapi.Sidecar{Egress: []*networkingapi.IstioEgressListener{{Hosts: []string{"./*"}}}}}
	if err := k8s.Create(ctx, sc); err != nil {
		t.Fatal(err)
	}
	ex = explainJSON(t, host, "--from", web)
	if ex.Entry != nil || ex.Sidecar != web+"/default" || ex.AddEgressHost != abc+"/"+host || ex.DNSProxyAnswers || len(ex.CatchAlls) != 0 {
		t.Errorf("behind ./*: %+v", ex)
	}
	code, out, _ := plugin(t, "explain", host, "--from", web)
	if code != 0 || !strings.Contains(out, `add "`+abc+"/"+host+`" to its egress hosts`) {
		t.Errorf("text output: exit %d\n%s", code, out)
	}

	// The fix, judged before it is applied.
	fix := filepath.Join(t.TempDir(), "sidecar.yaml")
	if err := os.WriteFile(fix, []byte(fmt.Sprintf("apiVersion: networking.istio.io/v1\nkind: Sidecar\nmetadata: {name: default, namespace: %s}\nspec:\n  egress:\n  - hosts: [\"./*\", \"%s/%s\"]\n", web, abc, host)), 0o600); err != nil {
		t.Fatal(err)
	}
	if ex := explainJSON(t, host, "--from", web, "--assume", fix); ex.Entry == nil || ex.AddEgressHost != "" {
		t.Errorf("with the fix assumed: %+v", ex)
	}
	if code, _, errOut := plugin(t, "explain", host); code != exitError || !strings.Contains(errOut, "--from") {
		t.Errorf("no --from: exit %d %q", code, errOut)
	}
}

// The change that started the incident, judged before it is applied: a root-namespace
// Sidecar with ./* unmasks abc's catch-all for the hosts of default's TLS entries.
func TestAuditAssumeUnmasks(t *testing.T) {
	ctx := context.Background()
	abc, def := namespace(t), namespace(t)
	for _, ns := range []string{abc, def} {
		labelNamespace(t, ns, map[string]string{"istio-injection": "enabled"})
	}
	legacy := entry(abc, "traefik-cutom-name", "traefik.cutom-name", "TCP", nil)
	sni := entry(def, "baidu", "baidu.com", "TLS", func(s *networkingapi.ServiceEntry) { s.Location = networkingapi.ServiceEntry_MESH_EXTERNAL })
	for _, o := range []client.Object{legacy, sni} {
		if err := k8s.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	rules := func(args ...string) []string {
		_, out, errOut := plugin(t, append([]string{"audit", "-A", "-o", "json"}, args...)...)
		var findings []audit.Finding
		if err := json.Unmarshal([]byte(out), &findings); err != nil {
			t.Fatalf("%v\n%s%s", err, out, errOut)
		}
		var got []string
		for _, f := range findings {
			if f.Namespace == abc {
				got = append(got, f.Rule+" "+strings.Join(f.AffectedNamespaces, ","))
			}
		}
		return got
	}
	if got := rules(); slices.Contains(got, audit.RuleUnmasked+" "+abc) {
		t.Errorf("before the Sidecar: %v", got)
	}
	root := filepath.Join(t.TempDir(), "root-sidecar.yaml")
	if err := os.WriteFile(root, []byte("apiVersion: networking.istio.io/v1\nkind: Sidecar\nmetadata: {name: default, namespace: istio-system}\nspec:\n  egress:\n  - hosts: [\"./*\"]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if got := rules("--assume", root); !slices.Contains(got, audit.RuleUnmasked+" "+abc) {
		t.Errorf("with a root ./* Sidecar assumed, want abc's catch-all unmasked for abc: %v", got)
	}
}

// TestAuditFoughtOver reads DriftRepaired events as the operator raises them, through the API
// server's field selector, and lists the entry repaired more often than the threshold allows
// within the window.
func TestAuditFoughtOver(t *testing.T) {
	ns := namespace(t)
	ctx := context.Background()
	fought := entry(ns, "traefik-custom-name", "traefik.custom-name", "TCP", func(s *networkingapi.ServiceEntry) { s.Addresses = []string{"10.0.0.9"} })
	if err := k8s.Create(ctx, fought); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	for i, ev := range []struct {
		repairs int
		ago     time.Duration
	}{
		{1, 3 * time.Minute}, {7, 2 * time.Minute}, {5, time.Minute},
		// Before the window: not counted.
		{400, 3 * time.Hour},
	} {
		at := now.Add(-ev.ago)
		e := &eventsv1.Event{
			ObjectMeta:          metav1.ObjectMeta{Namespace: ns, Name: fmt.Sprintf("traefik.%d", i)},
			EventTime:           metav1.NewMicroTime(at),
			ReportingController: "meshalias",
			ReportingInstance:   "meshalias-0",
			Action:              "Repair",
			Reason:              audit.EventReasonDriftRepaired,
			Type:                corev1.EventTypeWarning,
			Regarding:           corev1.ObjectReference{APIVersion: "meshalias.io/v1alpha1", Kind: "ServiceAlias", Namespace: ns, Name: "traefik"},
			Note:                audit.RepairNote(fought.Name, []string{"dns-controller"}, ev.repairs, at.Add(-time.Minute)),
		}
		if err := k8s.Create(ctx, e); err != nil {
			t.Fatal(err)
		}
	}

	code, out, _ := plugin(t, "audit", "-n", ns, "-o", "json")
	var findings []audit.Finding
	if err := json.Unmarshal([]byte(out), &findings); err != nil {
		t.Fatalf("exit %d, not JSON: %v\n%s", code, err, out)
	}
	if code != 0 || len(findings) != 1 {
		t.Fatalf("exit %d, findings %+v: want exit 0 and one fought-over warning", code, findings)
	}
	if f := findings[0]; f.Rule != audit.RuleFoughtOver || f.Name != fought.Name || f.Severity != audit.SeverityWarning ||
		strings.Join(f.Hosts, ",") != "traefik.custom-name" || !strings.Contains(f.Message, "13 times") || !strings.Contains(f.Message, "dns-controller") {
		t.Errorf("finding %+v, want fought-over, 13 repairs by dns-controller", f)
	}
	if _, out, _ := plugin(t, "audit", "-n", ns, "-o", "json", "--fought-over-threshold", "13"); strings.TrimSpace(out) != "[]" {
		t.Errorf("13 repairs are not more than a threshold of 13: %s", out)
	}
	if _, out, _ := plugin(t, "audit", "-n", ns, "-o", "json", "--fought-over-window", "90s", "--fought-over-threshold", "4"); !strings.Contains(out, "5 times") {
		t.Errorf("within 90s only the last event's 5 repairs count: %s", out)
	}
}
