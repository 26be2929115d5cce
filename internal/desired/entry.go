package desired

import (
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"

	networkingapi "istio.io/api/networking/v1alpha3"
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	meshaliasv1 "github.com/meshalias/meshalias/api/v1alpha1"
)

// EntryRequest is everything one ServiceEntry is built from: no client, no clock.
type EntryRequest struct {
	Owner Owner
	// Name is the entry's name: EntryName(Host), or the name of an entry taken over.
	Name string
	Host string
	// ServiceNamespace and ServiceName name the Service; Service is nil when it is missing.
	ServiceNamespace string
	ServiceName      string
	Service          *corev1.Service
	// Ports, when not empty, limits the entry to these Service port numbers.
	Ports         []int32
	ExportTo      []string
	TLSMode       meshaliasv1.TLSMode
	ClusterDomain string
}

// LabelTLSMode is Istio's endpoint label that tells sidecars whether to use mutual TLS.
const LabelTLSMode = "security.istio.io/tlsMode"

// EndpointLabels are the labels of an entry's endpoint: Istio mutual TLS unless the alias
// turns it off.
func EndpointLabels(mode meshaliasv1.TLSMode) map[string]string {
	if mode == meshaliasv1.TLSModeDisabled {
		return map[string]string{LabelTLSMode: string(meshaliasv1.TLSModeDisabled)}
	}
	return map[string]string{LabelTLSMode: string(meshaliasv1.TLSModeIstio)}
}

// BuildServiceEntry returns the ServiceEntry that serves req.Host, or the Problem that stops
// one from existing. The entry always carries the Service's ClusterIPs in spec.addresses:
// without them Istio builds a 0.0.0.0 listener that takes every connection on the port.
func BuildServiceEntry(req EntryRequest) (*networkingv1.ServiceEntry, *Problem) {
	svc := req.Service
	if svc == nil {
		return nil, &Problem{Reason: meshaliasv1.ReasonServiceNotFound, Message: "Service " + req.ServiceNamespace + "/" + req.ServiceName + " not found"}
	}
	ref := svc.Namespace + "/" + svc.Name
	addresses := clusterIPs(svc)
	if len(addresses) == 0 {
		why := "it is headless (clusterIP: None)"
		if svc.Spec.Type == corev1.ServiceTypeExternalName {
			why = "it is of type ExternalName"
		}
		return nil, &Problem{meshaliasv1.ReasonNoClusterIP, fmt.Sprintf("Service %s has no ClusterIP: %s", ref, why), true}
	}
	ports, problem := entryPorts(svc, req.Ports)
	if problem != nil {
		return nil, problem
	}

	endpoint := &networkingapi.WorkloadEntry{
		Address: svc.Name + "." + svc.Namespace + ".svc." + req.ClusterDomain,
		Labels:  EndpointLabels(req.TLSMode),
	}

	return &networkingv1.ServiceEntry{
		TypeMeta: metav1.TypeMeta{APIVersion: networkingv1.SchemeGroupVersion.String(), Kind: "ServiceEntry"},
		ObjectMeta: metav1.ObjectMeta{
			Name:      req.Name,
			Namespace: req.Owner.Namespace,
			Labels: map[string]string{
				meshaliasv1.LabelManagedBy: meshaliasv1.ManagedByValue,
				meshaliasv1.LabelOwnerKind: req.Owner.Kind,
				meshaliasv1.LabelOwnerName: req.Owner.Name,
			},
			OwnerReferences: []metav1.OwnerReference{{
				APIVersion:         meshaliasv1.GroupVersion.String(),
				Kind:               req.Owner.Kind,
				Name:               req.Owner.Name,
				UID:                req.Owner.UID,
				Controller:         ptr.To(true),
				BlockOwnerDeletion: ptr.To(true),
			}},
		},
		Spec: networkingapi.ServiceEntry{
			Hosts:      []string{req.Host},
			Addresses:  addresses,
			Ports:      ports,
			Location:   networkingapi.ServiceEntry_MESH_INTERNAL,
			Resolution: networkingapi.ServiceEntry_DNS,
			Endpoints:  []*networkingapi.WorkloadEntry{endpoint},
			ExportTo:   slices.Clone(req.ExportTo),
		},
	}, nil
}

// clusterIPs returns the Service's usable ClusterIP, the primary one: none for a headless or ExternalName
// Service.
func clusterIPs(svc *corev1.Service) []string {
	if svc.Spec.Type == corev1.ServiceTypeExternalName {
		return nil
	}
	// The primary ClusterIP only, for a dual-stack Service too. Measured with pilot (e2e
	// TestDualStack): an entry with both ClusterIPs gives a dual-stack sidecar that sees the
	// Service two listeners on the IPv6 ClusterIP, which Envoy refuses as duplicates, and under
	// a Sidecar that imports the alias alone pilot keeps one family at random. With the
	// primary only, every sidecar's listeners are valid and a sidecar that sees the Service
	// reaches it on either ClusterIP; the IPv6 ClusterIP reaches the alias's entry only there.
	ip := svc.Spec.ClusterIP
	if len(svc.Spec.ClusterIPs) > 0 {
		ip = svc.Spec.ClusterIPs[0]
	}
	// "None" marks a headless Service; anything else that is not an IP is not an address a
	// sidecar could bind a listener to.
	if net.ParseIP(ip) == nil {
		return nil
	}
	return []string{ip}
}

// entryPorts maps the Service's ports, or the wanted subset of them, to ServiceEntry ports.
// UDP and SCTP ports are left out: Istio's sidecars do not carry them.
func entryPorts(svc *corev1.Service, wanted []int32) ([]*networkingapi.ServicePort, *Problem) {
	var ports []*networkingapi.ServicePort
	var have []string
	seen := map[int32]bool{}
	for _, p := range svc.Spec.Ports {
		if p.Protocol != "" && p.Protocol != corev1.ProtocolTCP || p.Port < 1 || p.Port > 65535 {
			continue
		}
		if seen[p.Port] {
			continue
		}
		seen[p.Port] = true
		have = append(have, strconv.Itoa(int(p.Port)))
		if len(wanted) > 0 && !slices.Contains(wanted, p.Port) {
			continue
		}
		protocol := PortProtocol(p)
		name := p.Name
		if name == "" {
			name = strings.ToLower(protocol) + "-" + strconv.Itoa(int(p.Port))
		}
		ports = append(ports, &networkingapi.ServicePort{Number: uint32(p.Port), Protocol: protocol, Name: name})
	}
	ref := svc.Namespace + "/" + svc.Name
	for _, w := range wanted {
		if !seen[w] {
			return nil, &Problem{Reason: meshaliasv1.ReasonInvalidSpec, Message: fmt.Sprintf("port %d is not a TCP port of Service %s (it has %s)", w, ref, listOrNone(have))}
		}
	}
	if len(ports) == 0 {
		return nil, &Problem{meshaliasv1.ReasonInvalidSpec, fmt.Sprintf("Service %s has no TCP port to alias", ref), true}
	}
	return ports, nil
}

func listOrNone(items []string) string {
	if len(items) == 0 {
		return "none"
	}
	return strings.Join(items, ", ")
}

// istioProtocols are the protocols Istio recognises in a port's appProtocol or name prefix,
// with the spelling a ServiceEntry port uses.
var istioProtocols = map[string]string{
	"http":  "HTTP",
	"http2": "HTTP2",
	"grpc":  "GRPC",
	"https": "HTTPS",
	"tls":   "TLS",
	"tcp":   "TCP",
	"mongo": "MONGO",
	"mysql": "MYSQL",
	"redis": "REDIS",
	// Kubernetes' own appProtocol values.
	"kubernetes.io/h2c": "HTTP2",
	"kubernetes.io/ws":  "HTTP",
	"kubernetes.io/wss": "HTTPS",
}

// PortProtocol is the Istio protocol of a Service port: from appProtocol, else from the port
// name's prefix ("http-web", or just "http"), else TCP. It is never empty: Istio treats an
// unset protocol like TCP, and says nothing about it.
func PortProtocol(p corev1.ServicePort) string {
	if p.AppProtocol != nil {
		if proto, ok := istioProtocols[strings.ToLower(*p.AppProtocol)]; ok {
			return proto
		}
	}
	prefix, _, _ := strings.Cut(strings.ToLower(p.Name), "-")
	if proto, ok := istioProtocols[prefix]; ok && !strings.Contains(prefix, "/") {
		return proto
	}
	return "TCP"
}
