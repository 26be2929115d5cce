package controllers

import (
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/fields"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/meshalias/meshalias/internal/visibility"
)

// CacheOptions keeps the informer cache lean: no managedFields anywhere, of Services and
// ServiceEntries only what meshalias reads, and of pods only those in ambient mode. At 10k Services the annotations alone
// (last-applied-configuration) would outweigh everything else.
func CacheOptions(cfg Config) cache.Options {
	return cache.Options{
		DefaultTransform: cache.TransformStripManagedFields(),
		ByObject: map[client.Object]cache.ByObject{
			&corev1.Service{}:            {Transform: stripService},
			&networkingv1.ServiceEntry{}: {Transform: stripServiceEntry},
			&corev1.Namespace{}:          {Transform: stripNamespace},
			// Only the pods enrolled in ambient mode one by one, as metadata.
			&corev1.Pod{}: {Label: ambientPods},
			// Of ConfigMaps, only Istio's mesh config.
			&corev1.ConfigMap{}: {
				Namespaces: map[string]cache.Config{cfg.istioNamespace(): {}},
				Field:      fields.OneTermEqualSelector("metadata.name", visibility.MeshConfigName),
			},
			&networkingv1.Sidecar{}: {Transform: cache.TransformStripManagedFields()},
		},
	}
}

// stripService keeps of a Service what meshalias reads: its labels (a NamespaceAlias selects
// by them), and of its spec the type, ClusterIPs and ports the entry is built from, and the
// selector that finds its pods in ambient mode.
func stripService(in any) (any, error) {
	if svc, ok := in.(*corev1.Service); ok {
		svc.ManagedFields = nil
		svc.Annotations = nil
		svc.Status = corev1.ServiceStatus{}
		svc.Spec = corev1.ServiceSpec{
			Type:       svc.Spec.Type,
			ClusterIP:  svc.Spec.ClusterIP,
			ClusterIPs: svc.Spec.ClusterIPs,
			Ports:      svc.Spec.Ports,
			Selector:   svc.Spec.Selector,
		}
	}
	return in, nil
}

func stripServiceEntry(in any) (any, error) {
	if se, ok := in.(*networkingv1.ServiceEntry); ok {
		se.ManagedFields = nil
		se.Annotations = nil
	}
	return in, nil
}

// stripNamespace keeps a Namespace's name and labels: the AliasDomains' selectors match the
// labels, and a NamespaceAlias's domain must not be a namespace's name.
func stripNamespace(in any) (any, error) {
	if ns, ok := in.(*corev1.Namespace); ok {
		ns.ManagedFields = nil
		ns.Annotations = nil
		ns.Spec = corev1.NamespaceSpec{}
		ns.Status = corev1.NamespaceStatus{}
	}
	return in, nil
}
