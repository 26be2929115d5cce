package pilot

import (
	"fmt"

	cluster "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	envoycore "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"google.golang.org/protobuf/types/known/structpb"
)

// transportSocketMatchKey is the endpoint metadata namespace Envoy reads to pick one of a
// cluster's transport_socket_matches; Istio writes the endpoint's tlsMode label there.
const transportSocketMatchKey = "envoy.transport_socket_match"

// istioWorkloadSecret is the SDS secret holding the sidecar's own workload certificate. An
// upstream TLS context that presents it is Istio mutual TLS; any other TLS is not.
const istioWorkloadSecret = "default"

// Upstream says how the sidecar would connect to one endpoint of a cluster.
type Upstream struct {
	// Endpoint is the endpoint address (a DNS name for DNS resolution) and port.
	Endpoint string
	// TransportSocket names what was chosen: a transport_socket_matches entry such as
	// "tlsMode-istio" or "tlsMode-disabled", or the cluster-wide socket's name.
	TransportSocket string
	// IstioMutualTLS is true when the connection presents the workload certificate.
	IstioMutualTLS bool
}

// Cluster returns the generated cluster with the given name, or nil.
func (sc *Sidecar) Cluster(name string) *cluster.Cluster {
	for _, c := range sc.sim.Clusters {
		if c.GetName() == name {
			return c
		}
	}
	return nil
}

// Upstreams resolves, for every endpoint of a cluster, which transport socket Envoy would use,
// the way Envoy does it: the first transport_socket_matches entry whose match fields all appear
// in the endpoint's metadata, else the cluster's transport_socket, else plain text. Istio's
// auto mTLS does not decide per cluster but per endpoint, so looking at the cluster alone
// would not show whether the tlsMode label did its job.
func (sc *Sidecar) Upstreams(clusterName string) ([]Upstream, error) {
	c := sc.Cluster(clusterName)
	if c == nil {
		return nil, fmt.Errorf("no cluster %q", clusterName)
	}
	var out []Upstream
	for _, locality := range c.GetLoadAssignment().GetEndpoints() {
		for _, lb := range locality.GetLbEndpoints() {
			addr := lb.GetEndpoint().GetAddress().GetSocketAddress()
			u, err := transport(c, lb.GetMetadata().GetFilterMetadata()[transportSocketMatchKey])
			if err != nil {
				return nil, err
			}
			u.Endpoint = fmt.Sprintf("%s:%d", addr.GetAddress(), addr.GetPortValue())
			out = append(out, u)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("cluster %q has no inline endpoints (type %v)", clusterName, c.GetType())
	}
	return out, nil
}

// subset reports whether every field of match has the same value in meta. An empty match
// matches every endpoint, which is how Istio's plain-text fallback entry works.
func subset(match, meta *structpb.Struct) bool {
	for k, v := range match.GetFields() {
		got, ok := meta.GetFields()[k]
		if !ok || got.GetStringValue() != v.GetStringValue() {
			return false
		}
	}
	return true
}

func isIstioMutualTLS(socket *envoycore.TransportSocket) (bool, error) {
	any := socket.GetTypedConfig()
	if any == nil {
		return false, nil
	}
	ctx := &tlsv3.UpstreamTlsContext{}
	if !any.MessageIs(ctx) {
		return false, nil // raw buffer, internal upstream, ...
	}
	if err := any.UnmarshalTo(ctx); err != nil {
		return false, err
	}
	for _, s := range ctx.GetCommonTlsContext().GetTlsCertificateSdsSecretConfigs() {
		if s.GetName() == istioWorkloadSecret {
			return true, nil
		}
	}
	return false, nil
}

// UpstreamFor says how the sidecar would connect to an endpoint of the cluster that carries
// Istio's tlsMode label with the given value. It serves clusters whose endpoints come from EDS
// (a Kubernetes Service's pods), which the simulation does not list: a pod with an Istio
// sidecar carries tlsMode "istio". Endpoint is left empty.
func (sc *Sidecar) UpstreamFor(clusterName, tlsMode string) (Upstream, error) {
	c := sc.Cluster(clusterName)
	if c == nil {
		return Upstream{}, fmt.Errorf("no cluster %q", clusterName)
	}
	meta := &structpb.Struct{Fields: map[string]*structpb.Value{"tlsMode": structpb.NewStringValue(tlsMode)}}
	return transport(c, meta)
}

// transport picks the transport socket Envoy would use for an endpoint with the given
// transport-socket-match metadata.
func transport(c *cluster.Cluster, meta *structpb.Struct) (Upstream, error) {
	var u Upstream
	socket := c.GetTransportSocket()
	u.TransportSocket = socket.GetName()
	if matches := c.GetTransportSocketMatches(); len(matches) > 0 {
		socket, u.TransportSocket = nil, ""
		for _, m := range matches {
			if subset(m.GetMatch(), meta) {
				socket, u.TransportSocket = m.GetTransportSocket(), m.GetName()
				break
			}
		}
	}
	mtls, err := isIstioMutualTLS(socket)
	if err != nil {
		return Upstream{}, fmt.Errorf("cluster %q: %w", c.GetName(), err)
	}
	u.IstioMutualTLS = mtls
	return u, nil
}
