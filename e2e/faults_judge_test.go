package e2e_test

import (
	"context"
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/meshalias/meshalias/e2e/internal/live"
	"github.com/meshalias/meshalias/e2e/internal/pilot"
)

// judgement is what a user checks after a fault: is every alias's status true to its
// generation, is every expected entry there once, and is every entry right.
type judgement struct {
	// Lost counts hosts of a Ready alias without their entry; Doubled, hosts declared by more
	// than one ServiceEntry; Orphaned, managed entries whose controller is gone or absent.
	Lost, Doubled, Orphaned int
	// Ready and NotReady count the aliases judged; Reasons counts NotReady by reason.
	Ready, NotReady int
	Reasons         map[string]int
	// Problems says what is wrong, one line each; empty when all is well.
	Problems []string
	// Entries are the managed ServiceEntries, for Istio's validation.
	Entries []*unstructured.Unstructured
}

func (v *judgement) problem(format string, args ...any) {
	v.Problems = append(v.Problems, fmt.Sprintf(format, args...))
}

// err is nil when nothing is wrong, else the first few problems.
func (v judgement) err() error {
	if len(v.Problems) == 0 {
		return nil
	}
	shown := v.Problems[:min(len(v.Problems), 10)]
	return fmt.Errorf("%d problems (lost %d, doubled %d, orphaned %d):\n  %s", len(v.Problems), v.Lost, v.Doubled, v.Orphaned, strings.Join(shown, "\n  "))
}

// judge reads the cluster and checks, for the aliases of namespaces and every managed
// ServiceEntry in the cluster:
//   - each alias has a Ready condition for its current generation, and status.observedGeneration
//     says so too; Ready True unless mayFail, and a False one carries a reason and a message;
//   - each host of a Ready alias has its entry, owned by that alias (else it is lost);
//   - each host is declared by one ServiceEntry only (else it is doubled);
//   - each managed entry has a live controller (else it is orphaned) and keeps the contract:
//     one host, the Service's ClusterIP as the address, the Service's DNS name as the one
//     endpoint, DNS resolution, MESH_INTERNAL, an explicit protocol on every port.
//
// Istio's own validation of the entries is left to validateEntries: it is too slow to poll.
func judge(c client.Client, mayFail bool, namespaces ...string) (judgement, error) {
	ctx := context.Background()
	v := judgement{Reasons: map[string]int{}}
	all, err := live.List(ctx, c, "networking.istio.io/v1", "ServiceEntryList", "")
	if err != nil {
		return v, err
	}
	byHost := map[string][]*unstructured.Unstructured{}
	for _, se := range all {
		for _, h := range stringsAt(se, "spec", "hosts") {
			byHost[h] = append(byHost[h], se)
		}
		if se.GetLabels()[labelManagedBy] == "meshalias" {
			v.Entries = append(v.Entries, se)
		}
	}
	for h, ses := range byHost {
		if len(ses) > 1 {
			v.Doubled++
			v.problem("host %s is declared by %d ServiceEntries: %s", h, len(ses), names(ses))
		}
	}

	// Owners by UID; aliases outside namespaces are fetched when an entry points at one.
	owners := map[types.UID]*unstructured.Unstructured{}
	services := map[string]*corev1.Service{} // namespace/name
	for _, ns := range namespaces {
		var svcs corev1.ServiceList
		if err := c.List(ctx, &svcs, client.InNamespace(ns)); err != nil {
			return v, err
		}
		for i := range svcs.Items {
			s := &svcs.Items[i]
			services[s.Namespace+"/"+s.Name] = s
		}
		for _, kind := range []string{"ServiceAliasList", "NamespaceAliasList"} {
			aliases, err := live.List(ctx, c, "meshalias.io/v1alpha1", kind, ns)
			if err != nil {
				return v, err
			}
			for _, a := range aliases {
				owners[a.GetUID()] = a
				judgeAlias(&v, a, mayFail, byHost, services)
			}
		}
	}

	for _, se := range v.Entries {
		ref := controllerRef(se)
		if ref == nil {
			v.Orphaned++
			v.problem("ServiceEntry %s/%s is managed by meshalias but has no controller", se.GetNamespace(), se.GetName())
			continue
		}
		owner, ok := owners[ref.UID]
		if !ok {
			o, err := get(c, ref.APIVersion, ref.Kind, se.GetNamespace(), ref.Name)
			if err != nil || o.GetUID() != ref.UID {
				v.Orphaned++
				v.problem("ServiceEntry %s/%s: its controller %s %s (uid %s) is gone (%v)", se.GetNamespace(), se.GetName(), ref.Kind, ref.Name, ref.UID, err)
				continue
			}
			owner, owners[ref.UID] = o, o
		}
		svcNS, svcName := entryService(owner, stringsAt(se, "spec", "hosts"))
		svc, ok := services[svcNS+"/"+svcName]
		if !ok {
			var s corev1.Service
			if err := c.Get(ctx, types.NamespacedName{Namespace: svcNS, Name: svcName}, &s); err != nil {
				v.problem("ServiceEntry %s/%s: Service %s/%s: %v", se.GetNamespace(), se.GetName(), svcNS, svcName, err)
				continue
			}
			svc, services[svcNS+"/"+svcName] = &s, &s
		}
		if err := keepsContract(se, svc); err != nil {
			v.problem("%v", err)
		}
	}
	return v, nil
}

// judgeAlias checks one alias's status and that every host it is Ready for has its entry.
func judgeAlias(v *judgement, a *unstructured.Unstructured, mayFail bool, byHost map[string][]*unstructured.Unstructured, services map[string]*corev1.Service) {
	id := a.GetKind() + " " + a.GetNamespace() + "/" + a.GetName()
	ready := condition(a, "Ready")
	observed, _, _ := unstructured.NestedInt64(a.Object, "status", "observedGeneration")
	switch {
	case ready == nil:
		v.problem("%s has no Ready condition", id)
		return
	case ready.ObservedGeneration != a.GetGeneration() || observed != a.GetGeneration():
		v.problem("%s: generation %d, observed %d (Ready's %d)", id, a.GetGeneration(), observed, ready.ObservedGeneration)
		return
	case ready.Status == metav1.ConditionFalse && mayFail:
		v.NotReady++
		v.Reasons[ready.Reason]++
		if ready.Reason == "" || ready.Message == "" {
			v.problem("%s: Ready=False without a reason or a message (%q: %q)", id, ready.Reason, ready.Message)
		}
		return
	case ready.Status != metav1.ConditionTrue:
		v.problem("%s: Ready=%s %s: %s", id, ready.Status, ready.Reason, ready.Message)
		return
	}
	v.Ready++
	for _, h := range expectedHosts(a, services) {
		ses := byHost[h]
		i := slices.IndexFunc(ses, func(se *unstructured.Unstructured) bool {
			ref := controllerRef(se)
			return ref != nil && ref.UID == a.GetUID()
		})
		if i < 0 {
			v.Lost++
			v.problem("%s is Ready but host %s has no entry of its own (entries: %s)", id, h, names(ses))
		}
	}
}

// expectedHosts are the hosts a Ready alias stands for: a ServiceAlias's spec.hosts, and for
// a NamespaceAlias without a selector <service>.<domain> for each Service of its namespace
// that has a ClusterIP.
func expectedHosts(a *unstructured.Unstructured, services map[string]*corev1.Service) []string {
	if a.GetKind() == "ServiceAlias" {
		return stringsAt(a, "spec", "hosts")
	}
	if _, selected, _ := unstructured.NestedMap(a.Object, "spec", "selector"); selected {
		return nil
	}
	domain := str(a.Object, "spec", "domain")
	var hosts []string
	for _, s := range services {
		if s.Namespace == a.GetNamespace() && hasClusterIP(s) {
			hosts = append(hosts, s.Name+"."+domain)
		}
	}
	return hosts
}

// entryService names the Service an entry of owner stands for.
func entryService(owner *unstructured.Unstructured, hosts []string) (namespace, name string) {
	if owner.GetKind() == "ServiceAlias" {
		ns := str(owner.Object, "spec", "service", "namespace")
		if ns == "" {
			ns = owner.GetNamespace()
		}
		return ns, str(owner.Object, "spec", "service", "name")
	}
	domain := str(owner.Object, "spec", "domain")
	if len(hosts) == 0 {
		return owner.GetNamespace(), ""
	}
	return owner.GetNamespace(), strings.TrimSuffix(hosts[0], "."+domain)
}

func hasClusterIP(s *corev1.Service) bool {
	return s.Spec.Type != corev1.ServiceTypeExternalName && s.Spec.ClusterIP != "" && s.Spec.ClusterIP != corev1.ClusterIPNone
}

// keepsContract checks one managed entry against its Service.
func keepsContract(se *unstructured.Unstructured, svc *corev1.Service) error {
	id := "ServiceEntry " + se.GetNamespace() + "/" + se.GetName()
	var errs []string
	if hosts := stringsAt(se, "spec", "hosts"); len(hosts) != 1 {
		errs = append(errs, fmt.Sprintf("hosts %v, want one", hosts))
	}
	if !hasClusterIP(svc) {
		errs = append(errs, fmt.Sprintf("exists for Service %s/%s, which has no ClusterIP", svc.Namespace, svc.Name))
	} else if got, want := stringsAt(se, "spec", "addresses"), svc.Spec.ClusterIPs; !slices.Equal(got, want) {
		errs = append(errs, fmt.Sprintf("addresses %v, want the Service's ClusterIPs %v", got, want))
	}
	eps, _, _ := unstructured.NestedSlice(se.Object, "spec", "endpoints")
	wantEP := svc.Name + "." + svc.Namespace + ".svc.cluster.local"
	if len(eps) != 1 || str(eps[0].(map[string]any), "address") != wantEP {
		errs = append(errs, fmt.Sprintf("endpoints %v, want one, %s", eps, wantEP))
	}
	if got := str(se.Object, "spec", "resolution"); got != "DNS" {
		errs = append(errs, fmt.Sprintf("resolution %q, want DNS", got))
	}
	if got := str(se.Object, "spec", "location"); got != "MESH_INTERNAL" {
		errs = append(errs, fmt.Sprintf("location %q, want MESH_INTERNAL", got))
	}
	ports, _, _ := unstructured.NestedSlice(se.Object, "spec", "ports")
	if len(ports) == 0 {
		errs = append(errs, "no ports")
	}
	for _, p := range ports {
		if m, _ := p.(map[string]any); str(m, "protocol") == "" {
			errs = append(errs, fmt.Sprintf("port %v has no protocol", m))
		}
	}
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("%s breaks the contract: %s", id, strings.Join(errs, "; "))
}

// validateEach runs Istio's own ServiceEntry validation, istiod's webhook's, on each entry
// apart: parsing stops at the first invalid document, which would hide the others. It returns
// the errors by namespace/name.
func validateEach(entries []*unstructured.Unstructured) map[string]error {
	out := map[string]error{}
	for _, se := range entries {
		docs, err := pilot.Documents(se)
		if err == nil {
			err = pilot.ValidateConfig(docs)
		}
		if err != nil {
			out[se.GetNamespace()+"/"+se.GetName()] = err
		}
	}
	return out
}

func names(objs []*unstructured.Unstructured) string {
	var out []string
	for _, o := range objs {
		out = append(out, o.GetNamespace()+"/"+o.GetName())
	}
	return join(out)
}
