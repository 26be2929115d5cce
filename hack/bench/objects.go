package main

import (
	"encoding/binary"
	"fmt"
	"net"
	"sync/atomic"

	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"

	meshaliasv1 "github.com/meshalias/meshalias/api/v1alpha1"
	"github.com/meshalias/meshalias/internal/desired"
)

// The namespaces of one size's run. Each scenario has its own, so that one's objects never
// wake the operator in another's.
const (
	floorNS   = "floor"
	benchNS   = "bench"
	nsAliasNS = "nsalias"
	// aliasDomain is the domain of every ServiceAlias host: svc-00042.alias-bench.
	aliasDomain = "alias-bench"
	// nsDomain is the NamespaceAlias's domain, distinct from aliasDomain so that the two
	// kinds of alias never claim the same host.
	nsDomain      = "nsbench"
	clusterDomain = "cluster.local"
	// serviceCIDR holds about a million ClusterIPs: 10k Services and all the re-created ones
	// fit, and an explicit IP rarely meets an allocated one.
	serviceCIDR = "10.96.0.0/12"
)

func newScheme() *runtime.Scheme {
	s := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{clientgoscheme.AddToScheme, networkingv1.AddToScheme, meshaliasv1.AddToScheme} {
		if err := add(s); err != nil {
			panic(err)
		}
	}
	return s
}

func serviceName(i int) string { return fmt.Sprintf("svc-%05d", i) }

func aliasHost(i int) string { return serviceName(i) + "." + aliasDomain }

// newService is a plain ClusterIP Service with one HTTP port; ip "" lets the API server
// allocate one.
func newService(ns, name, ip string) *corev1.Service {
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: map[string]string{"app": name}},
		Spec: corev1.ServiceSpec{
			Selector: map[string]string{"app": name},
			Ports:    []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromInt32(8080)}},
		},
	}
	if ip != "" {
		svc.Spec.ClusterIP = ip
		svc.Spec.ClusterIPs = []string{ip}
	}
	return svc
}

// newAlias is the ServiceAlias of Service i: one host.
func newAlias(ns string, i int) *meshaliasv1.ServiceAlias {
	return &meshaliasv1.ServiceAlias{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: serviceName(i)},
		Spec: meshaliasv1.ServiceAliasSpec{
			Service: meshaliasv1.ServiceReference{Name: serviceName(i)},
			Hosts:   []string{aliasHost(i)},
		},
	}
}

// floorEntry is the very ServiceEntry the operator would write for alias i, built by the
// operator's own pure builder, so that the floor sends requests of the same size.
func floorEntry(alias *meshaliasv1.ServiceAlias, i int) (*networkingv1.ServiceEntry, error) {
	svc := newService(alias.Namespace, alias.Spec.Service.Name, nthIP(0x0a640000, i))
	se, problem := desired.BuildServiceEntry(desired.EntryRequest{
		Owner:         desired.Owner{Kind: meshaliasv1.KindServiceAlias, Namespace: alias.Namespace, Name: alias.Name, UID: alias.UID},
		Name:          desired.EntryName(alias.Spec.Hosts[0]),
		Host:          alias.Spec.Hosts[0],
		ServiceName:   svc.Name,
		Service:       svc,
		ClusterDomain: clusterDomain,
	})
	if problem != nil {
		return nil, problem
	}
	return se, nil
}

// nthIP is the IPv4 address base+i+1.
func nthIP(base uint32, i int) string {
	ip := make(net.IP, 4)
	binary.BigEndian.PutUint32(ip, base+uint32(i)+1)
	return ip.String()
}

// ipPool hands out explicit ClusterIPs for re-created Services, from the top of the Service
// range (10.111.0.0/16), away from where the floor's made-up addresses live.
type ipPool struct{ next atomic.Int64 }

func (p *ipPool) take() string { return nthIP(0x0a6f0000, int(p.next.Add(1))) }
