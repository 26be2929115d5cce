// Package live reads what a real apiserver holds and hands it to Istio's pilot, so that the
// oracle judges the objects as stored (ClusterIPs allocated, ServiceEntries as the operator
// wrote them), not as a test imagined them.
package live

import (
	"context"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/meshalias/meshalias/e2e/internal/pilot"
)

// Kinds of Istio config the oracle reads from the cluster.
var istioConfigLists = []struct{ apiVersion, listKind string }{
	{"networking.istio.io/v1", "ServiceEntryList"},
	{"security.istio.io/v1", "PeerAuthenticationList"},
}

// List reads every object of a kind as unstructured, which keeps apiVersion and kind on each
// item (typed lists drop them). An empty namespace lists all namespaces.
func List(ctx context.Context, c client.Client, apiVersion, listKind, namespace string, opts ...client.ListOption) ([]*unstructured.Unstructured, error) {
	l := &unstructured.UnstructuredList{}
	l.SetAPIVersion(apiVersion)
	l.SetKind(listKind)
	if namespace != "" {
		opts = append(opts, client.InNamespace(namespace))
	}
	if err := c.List(ctx, l, opts...); err != nil {
		return nil, err
	}
	out := make([]*unstructured.Unstructured, 0, len(l.Items))
	for i := range l.Items {
		out = append(out, &l.Items[i])
	}
	return out, nil
}

// Snapshot is the pilot's input, as multi-document YAML read from the cluster.
type Snapshot struct {
	Services string
	Config   string
}

// Read takes the Services of serviceNamespaces and the ServiceEntries and PeerAuthentications
// of configNamespaces ("" for all namespaces).
func Read(ctx context.Context, c client.Client, serviceNamespaces, configNamespaces []string) (Snapshot, error) {
	var services, config []runtime.Object
	for _, ns := range serviceNamespaces {
		objs, err := List(ctx, c, "v1", "ServiceList", ns)
		if err != nil {
			return Snapshot{}, err
		}
		services = appendObjects(services, objs)
	}
	for _, ns := range configNamespaces {
		for _, kind := range istioConfigLists {
			objs, err := List(ctx, c, kind.apiVersion, kind.listKind, ns)
			if err != nil {
				return Snapshot{}, err
			}
			config = appendObjects(config, objs)
		}
	}
	var s Snapshot
	var err error
	if s.Services, err = pilot.Documents(services...); err != nil {
		return Snapshot{}, err
	}
	if s.Config, err = pilot.Documents(config...); err != nil {
		return Snapshot{}, err
	}
	return s, nil
}

// Mesh starts Istio's pilot on the snapshot.
func (s Snapshot) Mesh(t *testing.T) *pilot.Mesh {
	t.Helper()
	return pilot.New(t, s.Services, s.Config)
}

func appendObjects(dst []runtime.Object, objs []*unstructured.Unstructured) []runtime.Object {
	for _, o := range objs {
		dst = append(dst, o)
	}
	return dst
}
