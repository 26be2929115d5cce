// Package visibility asks Istio's own pilot which ServiceEntries a namespace's sidecars see, for
// the objects a live apiserver holds: the Services, the ServiceEntries, the Sidecars, and the
// mesh config in the ConfigMap istio of istio-system, parsed by istiod's own parser. It is the
// oracle that `kubectl meshalias explain` and `audit`, which judge visibility without pilot,
// are compared against.
package visibility

import (
	"context"
	"errors"
	"fmt"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"istio.io/istio/pilot/pkg/config/kube/crd"
	"istio.io/istio/pilot/pkg/model"
	"istio.io/istio/pilot/pkg/simulation"
	"istio.io/istio/pilot/test/xds"
	"istio.io/istio/pkg/config/constants"
	"istio.io/istio/pkg/config/host"
	"istio.io/istio/pkg/config/mesh"
	"istio.io/istio/pkg/config/schema/gvk"
	"istio.io/istio/pkg/config/validation"
	dnsserver "istio.io/istio/pkg/dns/server"

	"github.com/meshalias/meshalias/e2e/internal/live"
	"github.com/meshalias/meshalias/e2e/internal/pilot"
)

// Where istiod reads its mesh config: the ConfigMap istio, key mesh, in its own namespace.
const (
	IstioNamespace = "istio-system"
	MeshConfigMap  = "istio"
	MeshKey        = "mesh"
)

// Snapshot is what pilot is fed, read from the cluster.
type Snapshot struct {
	// Kubernetes holds the Namespaces and Services, as multi-document YAML.
	Kubernetes string
	// Config holds the ServiceEntries and Sidecars, as multi-document YAML.
	Config string
	// Mesh is the mesh config YAML; "" when the ConfigMap is absent, and istiod's defaults apply.
	Mesh string
}

// Read takes every Namespace, Service, ServiceEntry and Sidecar of the cluster, and the mesh
// config.
func Read(ctx context.Context, c client.Client) (Snapshot, error) {
	var s Snapshot
	var kube, config []runtime.Object
	for _, kind := range []struct{ apiVersion, listKind string }{{"v1", "NamespaceList"}, {"v1", "ServiceList"}} {
		objs, err := live.List(ctx, c, kind.apiVersion, kind.listKind, "")
		if err != nil {
			return s, err
		}
		for _, o := range objs {
			kube = append(kube, o)
		}
	}
	for _, kind := range []struct{ apiVersion, listKind string }{
		{"networking.istio.io/v1", "ServiceEntryList"},
		{"networking.istio.io/v1", "SidecarList"},
	} {
		objs, err := live.List(ctx, c, kind.apiVersion, kind.listKind, "")
		if err != nil {
			return s, err
		}
		for _, o := range objs {
			config = append(config, o)
		}
	}
	var err error
	if s.Kubernetes, err = pilot.Documents(kube...); err != nil {
		return s, err
	}
	if s.Config, err = pilot.Documents(config...); err != nil {
		return s, err
	}
	var cm corev1.ConfigMap
	switch err := c.Get(ctx, client.ObjectKey{Namespace: IstioNamespace, Name: MeshConfigMap}, &cm); {
	case apierrors.IsNotFound(err):
	case err != nil:
		return s, err
	default:
		s.Mesh = cm.Data[MeshKey]
	}
	return s, nil
}

// Mesh is one in-process istiod fed with a snapshot and its mesh config.
type Mesh struct {
	t *testing.T
	s *xds.FakeDiscoveryServer
	// RootNamespace and DefaultServiceExportTo are what pilot took from the mesh config.
	RootNamespace          string
	DefaultServiceExportTo []string
}

// Pilot starts an in-process istiod on the snapshot, with the mesh config parsed as istiod
// parses it: its YAML over istiod's defaults.
func (s Snapshot) Pilot(t *testing.T) *Mesh {
	t.Helper()
	m := mesh.DefaultMeshConfig()
	if s.Mesh != "" {
		var err error
		if m, err = mesh.ApplyMeshConfigDefaults(s.Mesh); err != nil {
			t.Fatalf("the mesh config: %v", err)
		}
	}
	fake := xds.NewFakeDiscoveryServer(t, xds.FakeOptions{
		KubernetesObjectString: s.Kubernetes,
		ConfigString:           s.Config,
		MeshConfig:             m,
	})
	return &Mesh{t: t, s: fake, RootNamespace: m.GetRootNamespace(), DefaultServiceExportTo: m.GetDefaultServiceExportTo()}
}

// Proxy is a sidecar of a pod in one namespace, with no labels (so that no Sidecar with a
// workload selector selects it), and what pilot generates for it.
type Proxy struct {
	Namespace string
	p         *model.Proxy
	m         *Mesh
	sim       *simulation.Simulation
}

// Proxy sets up a sidecar in namespace. DNS capture is on, so that the name table istiod would
// send its DNS proxy can be read; it changes no listener or cluster.
func (m *Mesh) Proxy(namespace string) *Proxy {
	m.t.Helper()
	p := m.s.SetupProxy(&model.Proxy{
		ConfigNamespace: namespace,
		Metadata:        &model.NodeMetadata{DNSCapture: true, ClusterID: constants.DefaultClusterName},
	})
	return &Proxy{Namespace: namespace, p: p, m: m, sim: simulation.NewSimulation(m.t, m.s, p)}
}

// Sidecar is the name of the Sidecar whose scope pilot gave the proxy (its own namespace's or
// the root namespace's), or "" when none applies and the proxy sees every service exported to
// its namespace.
func (p *Proxy) Sidecar() string {
	if p.p.SidecarScope == nil || p.p.SidecarScope.Sidecar == nil {
		return ""
	}
	return p.p.SidecarScope.Name
}

// Service tells whether the proxy's SidecarScope holds the host, and the namespace of the
// ServiceEntry (or Service) that provides it.
func (p *Proxy) Service(hostname string) (namespace string, ok bool) {
	svc := p.p.SidecarScope.GetService(host.Name(hostname))
	if svc == nil {
		return "", false
	}
	return svc.Attributes.Namespace, true
}

// DNSAnswers tells whether the name table istiod sends the proxy's DNS proxy holds the host.
func (p *Proxy) DNSAnswers(hostname string) bool {
	nt := dnsserver.BuildNameTable(dnsserver.Config{Node: p.p, Push: p.m.s.PushContext()})
	_, ok := nt.GetTable()[hostname]
	return ok
}

// Call simulates one outbound connection from the proxy through its listeners.
func (p *Proxy) Call(c simulation.Call) simulation.Result {
	if c.CallMode == "" {
		c.CallMode = simulation.CallModeOutbound
	}
	return p.sim.Run(c)
}

// Validate runs Istio's own validation, as istiod's webhook would, on every ServiceEntry and
// Sidecar of the snapshot, so that a case cannot pass on config Istio would refuse. Errors are
// returned; warnings are returned apart, since a legacy entry Istio only warns about is
// exactly what some cases need.
func (s Snapshot) Validate() (warnings []string, err error) {
	cfgs, unknown, err := crd.ParseInputs(s.Config)
	if err != nil {
		return nil, err
	}
	var errs []error
	for _, u := range unknown {
		errs = append(errs, fmt.Errorf("%s %s/%s is not Istio config", u.Kind, u.Namespace, u.Name))
	}
	for _, c := range cfgs {
		var validate validation.ValidateFunc
		switch c.GroupVersionKind.Kind {
		case gvk.ServiceEntry.Kind:
			validate = validation.ValidateServiceEntry
		case gvk.Sidecar.Kind:
			validate = validation.ValidateSidecar
		default:
			continue
		}
		warning, err := validate(c)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s %s/%s: %w", c.GroupVersionKind.Kind, c.Namespace, c.Name, err))
		}
		if warning != nil {
			warnings = append(warnings, fmt.Sprintf("%s %s/%s: %v", c.GroupVersionKind.Kind, c.Namespace, c.Name, warning))
		}
	}
	return warnings, errors.Join(errs...)
}
