package controllers

import (
	"encoding/json"
	"reflect"
	"testing"

	"google.golang.org/protobuf/proto"
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"

	meshaliasv1 "github.com/meshalias/meshalias/api/v1alpha1"
	"github.com/meshalias/meshalias/internal/desired"
)

// decodedEntry is the entry meshalias builds for a Service, as a watch would decode it: with
// maps and strings of its own.
func decodedEntry(t *testing.T, name string) *networkingv1.ServiceEntry {
	t.Helper()
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: "abc", Name: name},
		Spec: corev1.ServiceSpec{ClusterIP: "10.96.0.10", Ports: []corev1.ServicePort{
			{Name: "http", Protocol: corev1.ProtocolTCP, Port: 80, TargetPort: intstr.FromInt32(8080)},
		}},
	}
	host := name + ".custom-name"
	built, problem := desired.BuildServiceEntry(desired.EntryRequest{
		Name: desired.EntryName(host), Host: host,
		Owner:       desired.Owner{Kind: meshaliasv1.KindServiceAlias, Namespace: "abc", Name: name, UID: types.UID("uid-" + name)},
		ServiceName: name, Service: svc, ClusterDomain: "cluster.local",
	})
	if problem != nil {
		t.Fatal(problem)
	}
	raw, err := json.Marshal(built)
	if err != nil {
		t.Fatal(err)
	}
	var se networkingv1.ServiceEntry
	if err := json.Unmarshal(raw, &se); err != nil {
		t.Fatal(err)
	}
	return &se
}

// The cache's transform changes nothing an entry says, and the entries share the endpoint
// label map the builder writes.
func TestCachedEntriesShareWhatTheyRepeat(t *testing.T) {
	var cached []*networkingv1.ServiceEntry
	for _, name := range []string{"traefik", "whoami"} {
		se := decodedEntry(t, name)
		want := se.DeepCopy()
		if _, err := stripServiceEntry(se); err != nil {
			t.Fatal(err)
		}
		if !proto.Equal(&se.Spec, &want.Spec) || !equality.Semantic.DeepEqual(se.ObjectMeta, want.ObjectMeta) {
			t.Fatalf("the transform changed entry %s:\n got %+v %v\nwant %+v %v", name, se.ObjectMeta, &se.Spec, want.ObjectMeta, &want.Spec)
		}
		cached = append(cached, se)
	}
	a, b := cached[0].Spec.Endpoints[0].Labels, cached[1].Spec.Endpoints[0].Labels
	if reflect.ValueOf(a).UnsafePointer() != reflect.ValueOf(b).UnsafePointer() {
		t.Error("the two entries keep an endpoint label map each; want one shared")
	}

	// What a reader gets is a deep copy: changing it leaves the shared map alone.
	read := cached[0].DeepCopy()
	read.Spec.Endpoints[0].Labels[desired.LabelTLSMode] = "disabled"
	if got := cached[1].Spec.Endpoints[0].Labels[desired.LabelTLSMode]; got != "istio" {
		t.Errorf("a change to a read copy reached another cached entry: tlsMode %q", got)
	}

	// An endpoint label map that is not the builder's stays the entry's own.
	other := decodedEntry(t, "other")
	other.Spec.Endpoints[0].Labels["team"] = "edge"
	own := other.Spec.Endpoints[0].Labels
	if _, err := stripServiceEntry(other); err != nil {
		t.Fatal(err)
	}
	if reflect.ValueOf(other.Spec.Endpoints[0].Labels).UnsafePointer() != reflect.ValueOf(own).UnsafePointer() || len(own) != 2 {
		t.Errorf("an endpoint's own labels were replaced: %v", other.Spec.Endpoints[0].Labels)
	}
}
