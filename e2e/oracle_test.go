package e2e_test

import (
	"fmt"
	"strconv"
	"strings"
	"testing"

	"istio.io/istio/pilot/pkg/simulation"

	"github.com/meshalias/meshalias/e2e/internal/pilot"
)

// A public address and name that have nothing to do with the mesh: where `curl https://baidu.com`
// goes.
const (
	publicIP  = "220.181.38.148"
	publicSNI = "baidu.com"
)

// tlsCall is a TLS connection, as a sidecar sees it, to address:port with the given SNI.
func tlsCall(address string, port int, sni string) simulation.Call {
	return simulation.Call{Address: address, Port: port, Protocol: simulation.TCP, TLS: simulation.TLS, Sni: sni}
}

// httpCall is a plain HTTP request to address:port with the given Host header.
func httpCall(address string, port int, host string) simulation.Call {
	return simulation.Call{Address: address, Port: port, Protocol: simulation.HTTP, HostHeader: host, Path: "/"}
}

// run simulates a call and logs where it went.
func run(t *testing.T, sc *pilot.Sidecar, from string, c simulation.Call) simulation.Result {
	t.Helper()
	got := sc.Call(c)
	name := c.Sni
	if name == "" {
		name = c.HostHeader
	}
	t.Logf("from %s: %s to %s:%d (%s): listener %q, filter chain %q, cluster %q, error %v",
		from, c.Protocol, c.Address, c.Port, name, got.ListenerMatched, got.FilterChainMatched, got.ClusterMatched, got.Error)
	return got
}

// serviceCluster is the outbound cluster Istio builds for a Kubernetes Service's port.
func serviceCluster(namespace, service string, port int) string {
	return fmt.Sprintf("outbound|%d||%s.%s.svc.cluster.local", port, service, namespace)
}

// entryCluster is the outbound cluster Istio builds for a ServiceEntry host's port.
func entryCluster(host string, port int) string {
	return "outbound|" + strconv.Itoa(port) + "||" + host
}

// reachesService returns nil when a call landed on the Service's backends: its own cluster, or
// a cluster whose every endpoint is the Service's DNS name on that port (a meshalias entry,
// which resolves to the Service's ClusterIP).
func reachesService(sc *pilot.Sidecar, got simulation.Result, namespace, service string, port int) error {
	if got.Error != nil {
		return got.Error
	}
	if got.ClusterMatched == serviceCluster(namespace, service, port) {
		return nil
	}
	ups, err := sc.Upstreams(got.ClusterMatched)
	if err != nil {
		return fmt.Errorf("landed on %q, not the Service's cluster: %w", got.ClusterMatched, err)
	}
	want := fmt.Sprintf("%s.%s.svc.cluster.local:%d", service, namespace, port)
	var eps []string
	for _, u := range ups {
		eps = append(eps, u.Endpoint)
		if u.Endpoint != want {
			return fmt.Errorf("landed on %q with endpoints [%s], want only %s", got.ClusterMatched, strings.Join(eps, ", "), want)
		}
	}
	return nil
}
