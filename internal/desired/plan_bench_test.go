package desired

import (
	"fmt"
	"testing"

	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	meshaliasv1 "github.com/meshalias/meshalias/api/v1alpha1"
	"github.com/meshalias/meshalias/internal/hostpolicy"
)

// benchHosts is the size of the largest NamespaceAlias the operator is held to.
const benchHosts = 10000

// benchNamespaceAlias is a NamespaceAlias over benchHosts Services, as the planner sees it:
// its intent, and the facts with every Service, under an AliasDomain that allows it.
func benchNamespaceAlias() (Intent, Facts) {
	services := map[string]*corev1.Service{}
	for i := range benchHosts {
		name := fmt.Sprintf("svc-%05d", i)
		services[name] = &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Namespace: "abc", Name: name},
			Spec: corev1.ServiceSpec{
				Type:       corev1.ServiceTypeClusterIP,
				ClusterIP:  fmt.Sprintf("10.96.%d.%d", i/250, i%250+1),
				ClusterIPs: []string{fmt.Sprintf("10.96.%d.%d", i/250, i%250+1)},
				Ports:      []corev1.ServicePort{{Name: "http", Port: 80, Protocol: corev1.ProtocolTCP}},
			},
		}
	}
	alias := &meshaliasv1.NamespaceAlias{
		ObjectMeta: metav1.ObjectMeta{Namespace: "abc", Name: "all", UID: "uid-1", CreationTimestamp: metav1.NewTime(t0)},
		Spec:       meshaliasv1.NamespaceAliasSpec{Domain: "hello"},
	}
	facts := Facts{
		Reference:       ReferenceLocal,
		Services:        services,
		Policy:          hostpolicy.Policy{Rules: []hostpolicy.DomainRule{{Domain: "hello", Selector: labels.Everything()}}},
		NamespaceLabels: map[string]string{"kubernetes.io/metadata.name": "abc"},
	}
	return NamespaceAliasIntent(alias, services), facts
}

// BenchmarkMakePlan plans a NamespaceAlias of 10,000 hosts: the first time, with no entry
// yet, and again once it owns them all, as every later reconcile does.
func BenchmarkMakePlan(b *testing.B) {
	in, facts := benchNamespaceAlias()
	run := func(name string) {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if plan := MakePlan(in, facts, "cluster.local"); len(plan.Entries) != benchHosts {
					b.Fatalf("planned %d entries, want %d", len(plan.Entries), benchHosts)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*benchHosts), "ns/host")
		})
	}
	run("first")
	facts.Owned = MakePlan(in, facts, "cluster.local").Entries
	run("owned")
}

// BenchmarkBuildServiceEntry builds the entries of the same 10,000 hosts alone, with no plan
// around them: what MakePlan costs beyond it is the planner's own.
func BenchmarkBuildServiceEntry(b *testing.B) {
	in, facts := benchNamespaceAlias()
	entries := make([]*networkingv1.ServiceEntry, len(in.Targets))
	b.ReportAllocs()
	for b.Loop() {
		for i, t := range in.Targets {
			se, problem := BuildServiceEntry(EntryRequest{
				Owner: in.Owner, Name: EntryName(t.Host), Host: t.Host, ServiceNamespace: in.ServiceNamespace,
				ServiceName: t.ServiceName, Service: facts.Services[t.ServiceName], ClusterDomain: "cluster.local",
			})
			if problem != nil {
				b.Fatal(problem)
			}
			entries[i] = se
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*benchHosts), "ns/host")
}
