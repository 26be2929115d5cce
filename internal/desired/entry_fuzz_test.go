package desired

import (
	"net"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	meshaliasv1 "github.com/meshalias/meshalias/api/v1alpha1"
)

// FuzzBuildServiceEntry holds the line of the incident: for any alias and any Service, the
// builder either refuses with a reason, or returns an entry that has addresses, that are IPs,
// an explicit endpoint, and a protocol on every port. Seeds live in testdata/fuzz.
func FuzzBuildServiceEntry(f *testing.F) {
	f.Add("traefik.custom-name", "ClusterIP", "10.96.0.12", "", "https", int32(443), "", "TCP", int32(0), false)
	f.Add("x.hello", "ClusterIP", "None", "", "tcp", int32(5432), "", "TCP", int32(0), false)
	f.Add("x.hello", "ExternalName", "", "", "", int32(80), "", "TCP", int32(0), true)
	f.Add("x.hello", "ClusterIP", "10.0.0.1", "fd00::1", "", int32(27017), "mongo", "", int32(27017), false)
	f.Add("x.hello", "NodePort", "", "", "redis", int32(6379), "", "UDP", int32(0), false)
	f.Fuzz(func(t *testing.T, host, svcType, ip1, ip2, portName string, port int32, appProtocol, protocol string, wantPort int32, tlsDisabled bool) {
		svc := &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Namespace: "abc", Name: "svc"},
			Spec: corev1.ServiceSpec{
				Type:       corev1.ServiceType(svcType),
				ClusterIP:  ip1,
				ClusterIPs: []string{ip1, ip2},
				Ports:      []corev1.ServicePort{{Name: portName, Port: port, Protocol: corev1.Protocol(protocol)}},
			},
		}
		if appProtocol != "" {
			svc.Spec.Ports[0].AppProtocol = &appProtocol
		}
		req := EntryRequest{
			Owner: Owner{Kind: meshaliasv1.KindServiceAlias, Namespace: "abc", Name: "a"}, Name: EntryName(host), Host: host,
			ServiceNamespace: "abc", ServiceName: "svc", Service: svc, ClusterDomain: "cluster.local",
		}
		if wantPort != 0 {
			req.Ports = []int32{wantPort}
		}
		if tlsDisabled {
			req.TLSMode = meshaliasv1.TLSModeDisabled
		}
		se, problem := BuildServiceEntry(req)
		if se == nil {
			if problem == nil || problem.Reason == "" || problem.Message == "" {
				t.Fatalf("no entry and no reason")
			}
			return
		}
		if problem != nil {
			t.Fatalf("an entry and a problem at once")
		}
		if len(se.Spec.Addresses) == 0 {
			t.Fatalf("entry without addresses: %v", &se.Spec)
		}
		for _, a := range se.Spec.Addresses {
			if net.ParseIP(a) == nil {
				t.Fatalf("address %q is not an IP", a)
			}
		}
		if len(se.Spec.Endpoints) != 1 || se.Spec.Endpoints[0].Address == "" {
			t.Fatalf("entry without an explicit endpoint: %v", se.Spec.Endpoints)
		}
		if len(se.Spec.Ports) == 0 {
			t.Fatalf("entry without ports")
		}
		for _, p := range se.Spec.Ports {
			if p.Protocol == "" || p.Name == "" || p.Number == 0 {
				t.Fatalf("port with an unset protocol, name or number: %v", p)
			}
		}
	})
}
