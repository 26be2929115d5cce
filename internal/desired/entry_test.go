package desired

import (
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	meshaliasv1 "github.com/meshalias/meshalias/api/v1alpha1"
)

func testService(mutate func(*corev1.Service)) *corev1.Service {
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: "abc", Name: "traefik"},
		Spec: corev1.ServiceSpec{
			Type:       corev1.ServiceTypeClusterIP,
			ClusterIP:  "10.96.0.12",
			ClusterIPs: []string{"10.96.0.12"},
			Ports:      []corev1.ServicePort{{Name: "https", Port: 443, Protocol: corev1.ProtocolTCP}},
		},
	}
	if mutate != nil {
		mutate(svc)
	}
	return svc
}

func testRequest(svc *corev1.Service) EntryRequest {
	return EntryRequest{
		Owner:            Owner{Kind: meshaliasv1.KindServiceAlias, Namespace: "abc", Name: "traefik", UID: "uid-1"},
		Name:             EntryName("traefik.custom-name"),
		Host:             "traefik.custom-name",
		ServiceNamespace: "abc",
		ServiceName:      "traefik",
		Service:          svc,
		ClusterDomain:    "cluster.local",
	}
}

func TestBuildServiceEntry(t *testing.T) {
	cases := []struct {
		name       string
		svc        *corev1.Service
		mutate     func(*EntryRequest)
		wantReason string
		check      func(t *testing.T, addresses []string, ports map[uint32]string, endpoint string, tlsMode string)
	}{
		{
			name: "the incident's Service gets its ClusterIP and an explicit endpoint",
			svc:  testService(nil),
			check: func(t *testing.T, addresses []string, ports map[uint32]string, endpoint, tlsMode string) {
				if !slices.Equal(addresses, []string{"10.96.0.12"}) || endpoint != "traefik.abc.svc.cluster.local" || tlsMode != "istio" {
					t.Errorf("addresses %v endpoint %s tlsMode %s", addresses, endpoint, tlsMode)
				}
			},
		},
		{
			name: "dual stack takes the primary ClusterIP: two give pilot duplicate listeners",
			svc:  testService(func(s *corev1.Service) { s.Spec.ClusterIPs = []string{"10.96.0.12", "fd00::12"} }),
			check: func(t *testing.T, addresses []string, _ map[uint32]string, _, _ string) {
				if !slices.Equal(addresses, []string{"10.96.0.12"}) {
					t.Errorf("addresses %v", addresses)
				}
			},
		},
		{
			name: "protocol from appProtocol, then name prefix, else TCP; never unset",
			svc: testService(func(s *corev1.Service) {
				s.Spec.Ports = []corev1.ServicePort{
					{Name: "web", Port: 80, AppProtocol: ptr.To("HTTP")},
					{Name: "grpc-api", Port: 9090},
					{Name: "mongo", Port: 27017},
					{Name: "", Port: 5432},
					{Name: "h2c", Port: 8080, AppProtocol: ptr.To("kubernetes.io/h2c")},
					{Name: "tls-passthrough", Port: 8443, AppProtocol: ptr.To("unknown-proto")},
					{Name: "dns", Port: 53, Protocol: corev1.ProtocolUDP},
				}
			}),
			check: func(t *testing.T, _ []string, ports map[uint32]string, _, _ string) {
				want := map[uint32]string{80: "HTTP", 9090: "GRPC", 27017: "MONGO", 5432: "TCP", 8080: "HTTP2", 8443: "TLS"}
				if len(ports) != len(want) {
					t.Errorf("ports %v, want %v (UDP left out)", ports, want)
				}
				for n, p := range want {
					if ports[n] != p {
						t.Errorf("port %d protocol %q, want %q", n, ports[n], p)
					}
				}
			},
		},
		{
			name: "a port subset",
			svc: testService(func(s *corev1.Service) {
				s.Spec.Ports = append(s.Spec.Ports, corev1.ServicePort{Name: "http", Port: 80})
			}),
			mutate: func(r *EntryRequest) { r.Ports = []int32{80} },
			check: func(t *testing.T, _ []string, ports map[uint32]string, _, _ string) {
				if len(ports) != 1 || ports[80] != "HTTP" {
					t.Errorf("ports %v", ports)
				}
			},
		},
		{
			name:   "tlsMode disabled for a backend outside the mesh",
			svc:    testService(nil),
			mutate: func(r *EntryRequest) { r.TLSMode = meshaliasv1.TLSModeDisabled },
			check: func(t *testing.T, _ []string, _ map[uint32]string, _, tlsMode string) {
				if tlsMode != "disabled" {
					t.Errorf("tlsMode %q", tlsMode)
				}
			},
		},
		{
			name:   "another cluster domain",
			svc:    testService(nil),
			mutate: func(r *EntryRequest) { r.ClusterDomain = "corp.example" },
			check: func(t *testing.T, _ []string, _ map[uint32]string, endpoint, _ string) {
				if endpoint != "traefik.abc.svc.corp.example" {
					t.Errorf("endpoint %s", endpoint)
				}
			},
		},
		{name: "missing Service", svc: nil, wantReason: meshaliasv1.ReasonServiceNotFound},
		{name: "headless", svc: testService(func(s *corev1.Service) { s.Spec.ClusterIP, s.Spec.ClusterIPs = "None", []string{"None"} }), wantReason: meshaliasv1.ReasonNoClusterIP},
		{name: "ExternalName", svc: testService(func(s *corev1.Service) {
			s.Spec.Type, s.Spec.ClusterIP, s.Spec.ClusterIPs, s.Spec.ExternalName = corev1.ServiceTypeExternalName, "", nil, "example.org"
		}), wantReason: meshaliasv1.ReasonNoClusterIP},
		{name: "not yet allocated", svc: testService(func(s *corev1.Service) { s.Spec.ClusterIP, s.Spec.ClusterIPs = "", nil }), wantReason: meshaliasv1.ReasonNoClusterIP},
		{name: "port not on the Service", svc: testService(nil), mutate: func(r *EntryRequest) { r.Ports = []int32{8443} }, wantReason: meshaliasv1.ReasonInvalidSpec},
		{name: "UDP only", svc: testService(func(s *corev1.Service) {
			s.Spec.Ports = []corev1.ServicePort{{Name: "dns", Port: 53, Protocol: corev1.ProtocolUDP}}
		}), wantReason: meshaliasv1.ReasonInvalidSpec},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req := testRequest(tc.svc)
			if tc.mutate != nil {
				tc.mutate(&req)
			}
			se, problem := BuildServiceEntry(req)
			if tc.wantReason != "" {
				if problem == nil || problem.Reason != tc.wantReason || se != nil {
					t.Fatalf("got entry %v, problem %v; want no entry and %s", se, problem, tc.wantReason)
				}
				if !strings.Contains(problem.Message, "abc/traefik") {
					t.Errorf("message %q does not name the Service", problem.Message)
				}
				return
			}
			if problem != nil {
				t.Fatalf("unexpected problem %v", problem)
			}
			ports := map[uint32]string{}
			for _, p := range se.Spec.Ports {
				ports[p.Number] = p.Protocol
			}
			tc.check(t, se.Spec.Addresses, ports, se.Spec.Endpoints[0].Address, se.Spec.Endpoints[0].Labels[LabelTLSMode])
			if se.Spec.Hosts[0] != "traefik.custom-name" || se.Spec.Resolution.String() != "DNS" || se.Spec.Location.String() != "MESH_INTERNAL" {
				t.Errorf("hosts %v resolution %v location %v", se.Spec.Hosts, se.Spec.Resolution, se.Spec.Location)
			}
			if se.CreationTimestamp != (metav1.Time{}) || se.ResourceVersion != "" {
				t.Errorf("the desired entry carries server-owned metadata")
			}
		})
	}
}

func TestEntryName(t *testing.T) {
	a, b := EntryName("a-b.c"), EntryName("a.b-c")
	if a == b {
		t.Errorf("hosts that read alike once dots are dashes share the name %s", a)
	}
	if !strings.HasPrefix(EntryName("traefik.custom-name"), "traefik-custom-name-") {
		t.Errorf("name %s does not read as its host", EntryName("traefik.custom-name"))
	}
	long := EntryName(strings.Repeat("x", 63) + "." + strings.Repeat("y", 63) + ".z")
	if len(long) > 63 || EntryName("traefik.custom-name") != EntryName("traefik.custom-name") {
		t.Errorf("name %q is over 63 characters or not deterministic", long)
	}
}

func TestValidateHost(t *testing.T) {
	for host, ok := range map[string]bool{
		"traefik.custom-name":           true,
		"x.hello":                       true,
		"Traefik.custom-name":           false,
		"*.custom-name":                 false,
		"10.0.0.1":                      false,
		"fd00::1":                       false,
		"traefik.abc.svc.corp.local":    false,
		"svc.corp.local":                false,
		"traefik.abc.svc.cluster.local": true, // only the configured domain is reserved
		"a..b":                          false,
		"":                              false,
	} {
		if err := validateHost(host, "corp.local"); (err == nil) != ok {
			t.Errorf("validateHost(%q) = %v, want ok=%v", host, err, ok)
		}
	}
}
