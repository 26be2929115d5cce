// Command demo plays the incident's story on an embedded control plane: a Service traefik,
// the legacy address-less ServiceEntry that hijacked all outbound HTTPS, and the aliases that
// replace it. With --once it prints what happened and exits 0 when the story came out right.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"syscall"
	"time"

	networkingapi "istio.io/api/networking/v1alpha3"
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/yaml"

	meshaliasv1 "github.com/meshalias/meshalias/api/v1alpha1"
	"github.com/meshalias/meshalias/controllers"
	"github.com/meshalias/meshalias/internal/audit"
	"github.com/meshalias/meshalias/internal/coredns"
	"github.com/meshalias/meshalias/internal/desired"
	"github.com/meshalias/meshalias/internal/localcluster"
)

const ns = "abc"

// squatter is a namespace whose aliases try to take names that are not theirs.
const squatter = "squat"

// teamEdge labels abc; the AliasDomains of the story select it.
var teamEdge = map[string]string{"team": "edge"}

// legacyLabels mark the old controller's entries; the operator runs with them as its
// --adopt-selector, so it takes them over in place.
var legacyLabels = map[string]string{"app.kubernetes.io/managed-by": "dns-controller"}

func main() {
	once := flag.Bool("once", false, "Play the story once, print it, and exit: 0 when it came out right.")
	flag.Parse()
	if err := run(*once); err != nil {
		fmt.Fprintln(os.Stderr, "demo failed:", err)
		os.Exit(1)
	}
}

func run(once bool) error {
	wd, _ := os.Getwd()
	root, err := localcluster.RepoRoot(wd)
	if err != nil {
		return err
	}
	step("Starting etcd, kube-apiserver and kube-controller-manager (garbage collector)")
	logFile, err := os.CreateTemp("", "meshalias-demo-*.log")
	if err != nil {
		return err
	}
	// The operator logs next to the control plane, so the story stays readable here.
	ctrl.SetLogger(zap.New(zap.WriteTo(logFile)))
	fmt.Printf("    logs: tail -f %s\n", logFile.Name())
	cluster, err := localcluster.Start(localcluster.Options{RepoRoot: root, ControllerManager: true, Log: logFile})
	if err != nil {
		return err
	}
	defer func() {
		step("Stopping the control plane")
		_ = cluster.Stop()
	}()
	step("Installed meshalias's CRDs and Istio's (from the istio.io/api module)")

	scheme := localcluster.NewScheme()
	c, err := client.New(cluster.Config, client.Options{Scheme: scheme})
	if err != nil {
		return err
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	step("Starting the meshalias operator, with --adopt-selector=app.kubernetes.io/managed-by=dns-controller and --require-alias-domain, as config/default runs it")
	managerDone, err := startOperator(ctx, cluster, scheme)
	if err != nil {
		return err
	}

	if err := playStory(ctx, c); err != nil {
		return err
	}
	verdict := judge(ctx, c)
	show(ctx, c)
	if verdict == nil {
		verdict = sidecarScene(ctx, c)
	}
	if verdict == nil {
		verdict = fightScene(ctx, c)
	}
	if err := printAudit(ctx, c, "The audit, after: the legacy entry now carries traefik's ClusterIP"); err != nil {
		return err
	}
	if err := printCoreDNS(ctx, c); err != nil {
		return err
	}

	kubectl := filepath.Join(cluster.BinDir, "kubectl")
	fmt.Printf("\nPoint the built kubectl at this control plane:\n  export KUBECONFIG=%s\n  %s get servicealiases,namespacealiases,serviceentries -A\n  go run ./cmd/kubectl-meshalias audit -A\n", cluster.Kubeconfig, kubectl)
	if once {
		stop()
		<-managerDone
		if verdict != nil {
			return verdict
		}
		step("The story came out right")
		return nil
	}
	if verdict != nil {
		fmt.Println("\nThe story did not come out right:", verdict)
	}
	step("meshalias keeps reconciling: edit or delete an entry and watch it come back. Ctrl-C stops everything.")
	<-ctx.Done()
	<-managerDone
	return verdict
}

// startOperator runs meshalias in this process, with the options cmd/manager uses.
func startOperator(ctx context.Context, cluster *localcluster.Cluster, scheme *runtime.Scheme) (<-chan struct{}, error) {
	operator := controllers.Config{
		ClusterDomain:           "cluster.local",
		MaxConcurrentReconciles: 2,
		AdoptSelector:           labels.SelectorFromSet(legacyLabels),
		RequireAliasDomain:      true,
	}
	cfg := rest.CopyConfig(cluster.Config)
	cfg.QPS = -1 // as ctrl.GetConfig does for cmd/manager
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:  scheme,
		Cache:   controllers.CacheOptions(operator),
		Metrics: metricsserver.Options{BindAddress: "0"},
	})
	if err != nil {
		return nil, err
	}
	if err := controllers.Setup(ctx, mgr, operator); err != nil {
		return nil, err
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := mgr.Start(ctx); err != nil {
			fmt.Fprintln(os.Stderr, "operator:", err)
		}
	}()
	return done, nil
}

func playStory(ctx context.Context, c client.Client) error {
	step("Namespace abc (team: edge), with Services traefik (443) and service-api (8080)")
	objs := []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns, Labels: teamEdge}},
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: squatter}},
		&corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "traefik", Labels: map[string]string{"app": "traefik"}},
			Spec:       corev1.ServiceSpec{Selector: map[string]string{"app": "traefik"}, Ports: []corev1.ServicePort{{Name: "https", Port: 443}}},
		},
		&corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "service-api", Labels: map[string]string{"app": "service-api"}},
			Spec:       corev1.ServiceSpec{Selector: map[string]string{"app": "service-api"}, Ports: []corev1.ServicePort{{Name: "http", Port: 8080}}},
		},
	}
	step("The legacy dns-controller's ServiceEntry traefik-cutom-name: TCP 443 and no addresses")
	if err := create(ctx, c, objs...); err != nil {
		return err
	}
	if err := c.Create(ctx, legacyEntry(), client.FieldOwner(legacyManager)); err != nil {
		return err
	}
	if err := printAudit(ctx, c, "The audit, before meshalias: the legacy entry takes every outbound connection on 443"); err != nil {
		return err
	}

	step("AliasDomains custom-name, cutom-name and hello: namespaces labelled team=edge may claim them")
	for _, d := range []string{"custom-name", "cutom-name", "hello"} {
		if err := create(ctx, c, &meshaliasv1.AliasDomain{
			ObjectMeta: metav1.ObjectMeta{Name: d},
			Spec:       meshaliasv1.AliasDomainSpec{Domain: d, NamespaceSelector: metav1.LabelSelector{MatchLabels: teamEdge}},
		}); err != nil {
			return err
		}
	}
	step("ServiceAlias traefik: traefik also answers as traefik.custom-name, and keeps the legacy name traefik.cutom-name")
	step("NamespaceAlias hello: every Service x of abc also answers as x.hello")
	return create(ctx, c,
		&meshaliasv1.ServiceAlias{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "traefik"},
			Spec: meshaliasv1.ServiceAliasSpec{
				Service: meshaliasv1.ServiceReference{Name: "traefik"},
				Hosts:   []string{"traefik.custom-name", "traefik.cutom-name"},
			},
		},
		&meshaliasv1.NamespaceAlias{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "hello"},
			Spec:       meshaliasv1.NamespaceAliasSpec{Domain: "hello"},
		},
		&corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Namespace: squatter, Name: "proxy"},
			Spec:       corev1.ServiceSpec{Selector: map[string]string{"app": "proxy"}, Ports: []corev1.ServicePort{{Name: "http", Port: 80}}},
		},
		squat("take-traefik", "traefik."+ns),
		squat("take-example", "example.org"))
}

// squat is an alias in another team's namespace for a name that is not its to claim.
func squat(name, host string) *meshaliasv1.ServiceAlias {
	return &meshaliasv1.ServiceAlias{
		ObjectMeta: metav1.ObjectMeta{Namespace: squatter, Name: name},
		Spec:       meshaliasv1.ServiceAliasSpec{Service: meshaliasv1.ServiceReference{Name: "proxy"}, Hosts: []string{host}},
	}
}

// printCoreDNS prints what `kubectl meshalias dns --coredns -A` would: the rewrites that let
// pods outside the mesh, or without Istio's DNS proxy, resolve the aliases (docs/dns.md).
func printCoreDNS(ctx context.Context, c client.Client) error {
	var sas meshaliasv1.ServiceAliasList
	var nas meshaliasv1.NamespaceAliasList
	var entries networkingv1.ServiceEntryList
	for _, l := range []client.ObjectList{&sas, &nas, &entries} {
		if err := c.List(ctx, l); err != nil {
			return err
		}
	}
	step("How pods resolve the aliases through CoreDNS (kubectl meshalias dns --coredns -A)")
	exact, domains := coredns.Rewrites(sas.Items, nas.Items, entries.Items, "cluster.local")
	fmt.Print(coredns.Snippet(exact, domains, "cluster.local"))
	return nil
}

func create(ctx context.Context, c client.Client, objs ...client.Object) error {
	for _, o := range objs {
		if err := c.Create(ctx, o); err != nil {
			return fmt.Errorf("creating %s: %w", o.GetName(), err)
		}
	}
	return nil
}

// printAudit runs the same audit as `kubectl meshalias audit -A`.
func printAudit(ctx context.Context, c client.Client, title string) error {
	var entries networkingv1.ServiceEntryList
	if err := c.List(ctx, &entries); err != nil {
		return err
	}
	step(title)
	return audit.PrintTable(os.Stdout, audit.Entries(entries.Items), len(entries.Items), "all namespaces")
}

// legacyEntry is the entry the old dns-controller wrote: with no addresses, Istio gives it the
// listener 0.0.0.0:443, and every sidecar's outbound HTTPS lands on traefik.
func legacyEntry() *networkingv1.ServiceEntry {
	return &networkingv1.ServiceEntry{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "traefik-cutom-name", Labels: legacyLabels},
		Spec: networkingapi.ServiceEntry{
			Hosts:      []string{"traefik.cutom-name"},
			Location:   networkingapi.ServiceEntry_MESH_INTERNAL,
			Resolution: networkingapi.ServiceEntry_DNS,
			Ports:      []*networkingapi.ServicePort{{Name: "https-443", Number: 443, Protocol: "TCP"}},
		},
	}
}

// judge waits for the aliases to settle and checks what a person would check.
func judge(ctx context.Context, c client.Client) error {
	step("Waiting for the aliases to be Ready")
	return waitUntil(ctx, func() error { return check(ctx, c) })
}

// waitUntil polls cond for a minute, and returns its last error if it never held.
func waitUntil(ctx context.Context, cond func() error) error {
	var last error
	err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, time.Minute, true, func(context.Context) (bool, error) {
		last = cond()
		return last == nil, nil
	})
	if err != nil && last != nil {
		return last
	}
	return err
}

func check(ctx context.Context, c client.Client) error {
	sa := &meshaliasv1.ServiceAlias{}
	if err := c.Get(ctx, types.NamespacedName{Namespace: ns, Name: "traefik"}, sa); err != nil {
		return err
	}
	if !meta.IsStatusConditionTrue(sa.Status.Conditions, meshaliasv1.ConditionReady) || sa.Status.ObservedGeneration != sa.Generation {
		return errors.New("ServiceAlias abc/traefik is not Ready")
	}
	na := &meshaliasv1.NamespaceAlias{}
	if err := c.Get(ctx, types.NamespacedName{Namespace: ns, Name: "hello"}, na); err != nil {
		return err
	}
	if !meta.IsStatusConditionTrue(na.Status.Conditions, meshaliasv1.ConditionReady) || na.Status.Services != 2 {
		return errors.New("NamespaceAlias abc/hello is not Ready with 2 Services")
	}
	traefik := &corev1.Service{}
	if err := c.Get(ctx, types.NamespacedName{Namespace: ns, Name: "traefik"}, traefik); err != nil {
		return err
	}
	for _, host := range []string{"traefik.custom-name", "traefik.hello"} {
		se := &networkingv1.ServiceEntry{}
		if err := c.Get(ctx, types.NamespacedName{Namespace: ns, Name: desired.EntryName(host)}, se); err != nil {
			return fmt.Errorf("the entry for %s: %w", host, err)
		}
		if !slices.Equal(se.Spec.Addresses, traefik.Spec.ClusterIPs) {
			return fmt.Errorf("the entry for %s has addresses %v, want traefik's ClusterIP %v", host, se.Spec.Addresses, traefik.Spec.ClusterIPs)
		}
	}
	legacy := &networkingv1.ServiceEntry{}
	if err := c.Get(ctx, types.NamespacedName{Namespace: ns, Name: "traefik-cutom-name"}, legacy); err != nil {
		return fmt.Errorf("the legacy entry, which meshalias takes over in place: %w", err)
	}
	if !slices.Equal(legacy.Spec.Addresses, traefik.Spec.ClusterIPs) || legacy.Labels[meshaliasv1.LabelAdopted] != "true" {
		return fmt.Errorf("the legacy entry was not taken over: addresses %v, labels %v", legacy.Spec.Addresses, legacy.Labels)
	}
	for name, reason := range map[string]string{"take-traefik": meshaliasv1.ReasonHostConflict, "take-example": meshaliasv1.ReasonHostNotAllowed} {
		alias := &meshaliasv1.ServiceAlias{}
		if err := c.Get(ctx, types.NamespacedName{Namespace: squatter, Name: name}, alias); err != nil {
			return err
		}
		if ready := meta.FindStatusCondition(alias.Status.Conditions, meshaliasv1.ConditionReady); ready == nil || ready.Status != metav1.ConditionFalse || ready.Reason != reason {
			return fmt.Errorf("ServiceAlias %s/%s is not refused with %s: %v", squatter, name, reason, ready)
		}
	}
	var entries networkingv1.ServiceEntryList
	if err := c.List(ctx, &entries); err != nil {
		return err
	}
	for _, se := range entries.Items {
		if se.Namespace == squatter {
			return fmt.Errorf("the squatting namespace has ServiceEntry %s", se.Name)
		}
	}
	if findings := audit.Entries(entries.Items); len(findings) != 0 {
		return fmt.Errorf("the audit still finds %d unsafe entries", len(findings))
	}
	return nil
}

// show prints the entries and the aliases' status, as kubectl -o yaml would.
func show(ctx context.Context, c client.Client) {
	var entries networkingv1.ServiceEntryList
	if err := c.List(ctx, &entries, client.InNamespace(ns), client.MatchingLabels{meshaliasv1.LabelManagedBy: meshaliasv1.ManagedByValue}); err == nil {
		step(fmt.Sprintf("The ServiceEntries meshalias keeps (%d)", len(entries.Items)))
		for _, se := range entries.Items {
			se.ManagedFields = nil
			printYAML(se)
		}
	}
	sa := &meshaliasv1.ServiceAlias{}
	if err := c.Get(ctx, types.NamespacedName{Namespace: ns, Name: "traefik"}, sa); err == nil {
		step("ServiceAlias abc/traefik, status")
		printYAML(sa.Status)
	}
	na := &meshaliasv1.NamespaceAlias{}
	if err := c.Get(ctx, types.NamespacedName{Namespace: ns, Name: "hello"}, na); err == nil {
		step("NamespaceAlias abc/hello, status")
		printYAML(na.Status)
	}
	var squats meshaliasv1.ServiceAliasList
	if err := c.List(ctx, &squats, client.InNamespace(squatter)); err == nil {
		step("Namespace squat tries to take names that are not its own; it gets no ServiceEntry")
		for _, a := range squats.Items {
			if ready := meta.FindStatusCondition(a.Status.Conditions, meshaliasv1.ConditionReady); ready != nil {
				fmt.Printf("  ServiceAlias %s/%s %v: Ready=%s %s: %s\n", a.Namespace, a.Name, a.Spec.Hosts, ready.Status, ready.Reason, ready.Message)
			}
		}
	}
}

func printYAML(v any) {
	out, err := yaml.Marshal(v)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("---")
	fmt.Print(string(out))
}

func step(msg string) {
	fmt.Printf("\n==> %s\n", msg)
}
