package e2e_test

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"istio.io/istio/pilot/pkg/simulation"

	"github.com/meshalias/meshalias/e2e/internal/controlplane"
	"github.com/meshalias/meshalias/e2e/internal/pilot"
)

// The path every end-to-end check takes: objects as a real apiserver stores them (ClusterIP
// allocated by the apiserver, ServiceEntry admitted by Istio's CRD schema) are read back and
// judged by Istio's pilot. The ServiceEntry is written here by hand in the shape meshalias
// writes; the operator's own tests replace that step. The alias host lands on the Service's own
// cluster because the entry shares the Service's IP:port (see the pilot package's alias test).
func TestLiveObjectsFeedThePilotOracle(t *testing.T) {
	ctx := context.Background()
	_, c := controlplane.Start(t)

	must(t, c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "abc"}}))
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "traefik", Namespace: "abc"},
		Spec: corev1.ServiceSpec{
			Selector: map[string]string{"app": "traefik"},
			Ports:    []corev1.ServicePort{{Name: "https", Port: 443, TargetPort: intstr.FromInt32(8443)}},
		},
	}
	must(t, c.Create(ctx, svc))
	ip := svc.Spec.ClusterIP
	if ip == "" {
		t.Fatal("apiserver allocated no ClusterIP")
	}
	t.Logf("Service abc/traefik got ClusterIP %s", ip)

	entry := &unstructured.Unstructured{}
	must(t, entry.UnmarshalJSON(yamlToJSON(t, `
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata:
  name: traefik-custom-name
  namespace: abc
  labels: {app.kubernetes.io/managed-by: meshalias, meshalias.io/owner-kind: ServiceAlias, meshalias.io/owner-name: traefik}
spec:
  hosts: [traefik.custom-name]
  addresses: [`+ip+`]
  location: MESH_INTERNAL
  resolution: DNS
  ports: [{name: https-443, number: 443, protocol: HTTPS}]
  endpoints: [{address: traefik.abc.svc.cluster.local, labels: {security.istio.io/tlsMode: istio}}]
`)))
	must(t, c.Create(ctx, entry))

	services := list(t, c, "v1", "ServiceList", "abc")
	entries := list(t, c, "networking.istio.io/v1", "ServiceEntryList", "abc")
	servicesYAML, err := pilot.Documents(services...)
	must(t, err)
	entriesYAML, err := pilot.Documents(entries...)
	must(t, err)
	if err := pilot.ValidateConfig(entriesYAML); err != nil {
		t.Fatalf("Istio rejects the ServiceEntries the apiserver admitted: %v", err)
	}

	sidecar := pilot.New(t, servicesYAML, entriesYAML).Sidecar("default")
	for _, tc := range []struct {
		call simulation.Call
		want string
	}{
		{simulation.Call{Address: "220.181.38.148", Port: 443, Protocol: simulation.TCP, TLS: simulation.TLS, Sni: "baidu.com"}, "PassthroughCluster"},
		{simulation.Call{Address: ip, Port: 443, Protocol: simulation.TCP, TLS: simulation.TLS, Sni: "traefik.custom-name"}, "outbound|443||traefik.abc.svc.cluster.local"},
	} {
		got := sidecar.Call(tc.call)
		t.Logf("%s:443 sni %q -> cluster %q", tc.call.Address, tc.call.Sni, got.ClusterMatched)
		got.Matches(t, simulation.Result{ClusterMatched: tc.want})
	}
}

// list reads every object of a kind in a namespace as unstructured, which keeps apiVersion and
// kind on each item (typed lists drop them).
func list(t *testing.T, c client.Client, apiVersion, listKind, namespace string) []runtime.Object {
	t.Helper()
	l := &unstructured.UnstructuredList{}
	l.SetAPIVersion(apiVersion)
	l.SetKind(listKind)
	must(t, c.List(context.Background(), l, client.InNamespace(namespace)))
	objs := make([]runtime.Object, 0, len(l.Items))
	for i := range l.Items {
		objs = append(objs, &l.Items[i])
	}
	return objs
}

// yamlToJSON converts YAML for Unstructured.UnmarshalJSON, which keeps integers as int64 (a
// plain map unmarshal would turn them into float64, which apimachinery's accessors reject).
func yamlToJSON(t *testing.T, doc string) []byte {
	t.Helper()
	b, err := yaml.YAMLToJSON([]byte(doc))
	must(t, err)
	return b
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
