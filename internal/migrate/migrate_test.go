package migrate

import (
	"slices"
	"strings"
	"testing"

	networkingapi "istio.io/api/networking/v1alpha3"
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	meshaliasv1 "github.com/meshalias/meshalias/api/v1alpha1"
)

func legacy(ns, name string, hosts []string, endpoints ...string) *networkingv1.ServiceEntry {
	se := &networkingv1.ServiceEntry{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: networkingapi.ServiceEntry{
			Hosts: hosts, Location: networkingapi.ServiceEntry_MESH_INTERNAL, Resolution: networkingapi.ServiceEntry_DNS,
			Ports: []*networkingapi.ServicePort{{Name: "https-443", Number: 443, Protocol: "TCP"}},
		},
	}
	for _, e := range endpoints {
		se.Spec.Endpoints = append(se.Spec.Endpoints, &networkingapi.WorkloadEntry{Address: e})
	}
	return se
}

func TestPlan(t *testing.T) {
	managed := legacy("abc", "ours", []string{"x.y"})
	managed.Labels = map[string]string{"app.kubernetes.io/managed-by": "meshalias"}
	external := legacy("default", "ext", []string{"www.baidu.com"})
	external.Spec.Location = networkingapi.ServiceEntry_MESH_EXTERNAL

	res := Plan(Input{
		Entries: []*networkingv1.ServiceEntry{
			legacy("abc", "traefik-cutom-name", []string{"traefik.cutom-name"}, "traefik.abc.svc.cluster.local"),
			legacy("abc", "traefik-other", []string{"traefik.other"}, "traefik.abc"),
			legacy("abc", "service-api-hello", []string{"service-api.hello"}),
			legacy("abc", "db-hello", []string{"db.hello"}),
			legacy("abc", "web-world", []string{"web.world"}),
			legacy("xyz", "orphan", []string{"orphan.custom"}, "10.1.2.3"),
			legacy("other", "far", []string{"far.custom"}, "far.abc.svc"),
			managed, external,
		},
		Services: map[types.NamespacedName]bool{
			{Namespace: "abc", Name: "traefik"}: true, {Namespace: "abc", Name: "service-api"}: true,
			{Namespace: "abc", Name: "web"}: true, {Namespace: "abc", Name: "far"}: true,
		},
		NamespaceAliases: []meshaliasv1.NamespaceAlias{{ObjectMeta: metav1.ObjectMeta{Namespace: "abc", Name: "world"}, Spec: meshaliasv1.NamespaceAliasSpec{Domain: "world"}}},
		Domains:          map[string]string{"hello": "abc"},
		ClusterDomain:    "cluster.local",
	})

	if len(res.ServiceAliases) != 2 {
		t.Fatalf("ServiceAliases %v, want far and traefik", res.ServiceAliases)
	}
	traefik := res.ServiceAliases[1]
	if traefik.Namespace != "abc" || traefik.Spec.Service.Name != "traefik" || !slices.Equal(traefik.Spec.Hosts, []string{"traefik.cutom-name", "traefik.other"}) {
		t.Errorf("traefik alias %+v", traefik)
	}
	if len(res.NamespaceAliases) != 1 || res.NamespaceAliases[0].Spec.Domain != "hello" || res.NamespaceAliases[0].Namespace != "abc" {
		t.Errorf("NamespaceAliases %+v, want hello in abc", res.NamespaceAliases)
	}
	if len(res.Covered) != 1 || res.Covered[0].Host != "web.world" {
		t.Errorf("covered %+v, want web.world by the existing NamespaceAlias", res.Covered)
	}
	unmapped := map[string]string{}
	for _, u := range res.Unmapped {
		unmapped[u.Host] = u.Reason
	}
	if len(unmapped) != 2 || !strings.Contains(unmapped["db.hello"], "no Service db") || !strings.Contains(unmapped["orphan.custom"], "no endpoint") {
		t.Errorf("unmapped %v", unmapped)
	}
	if len(res.Notes) != 1 || !strings.Contains(res.Notes[0], "other/far") {
		t.Errorf("notes %v, want one about the entry in another namespace", res.Notes)
	}
}
