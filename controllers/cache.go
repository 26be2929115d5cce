package controllers

import (
	"time"

	"google.golang.org/protobuf/proto"
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/meshalias/meshalias/internal/visibility"
)

// CacheOptions keeps the informer cache lean: no managedFields anywhere, of Services and
// ServiceEntries only what meshalias reads, one copy of what thousands of entries repeat
// (cache_share.go), and of pods only those in ambient mode. At 10k Services the annotations
// alone (last-applied-configuration) would outweigh everything else.
func CacheOptions(cfg Config) cache.Options {
	return cache.Options{
		NewInformer:      listThenWatch,
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

// listThenWatch makes the informers list and then watch, rather than open one watch that
// streams the initial state (client-go's WatchListClient). An API server that has not yet
// built its watch cache of a resource, as after its own start or for a custom resource no
// other client has read since, answers such a watch with 429 and Retry-After: 1, and a list
// it serves from etcd meanwhile (KEP 4568). The alias controllers start only once every
// informer they watch has synced, so one such resource (AliasDomains, Sidecars,
// ReferenceGrants: often nobody else's) held every alias back by a second.
func listThenWatch(lw toolscache.ListerWatcher, obj runtime.Object, resync time.Duration, indexers toolscache.Indexers) toolscache.SharedIndexInformer {
	if l, ok := lw.(*toolscache.ListWatch); ok {
		lw = toolscache.ToListWatcherWithWatchListSemantics(l, noWatchList{})
	}
	return toolscache.NewSharedIndexInformer(lw, obj, resync, indexers)
}

// noWatchList tells client-go's reflector not to use WatchList semantics.
type noWatchList struct{}

func (noWatchList) IsWatchListSemanticsUnSupported() bool { return true }

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

// stripServiceEntry keeps an entry's spec, labels and owner. Its status is istiod's, which
// meshalias never reads: conditions, validation messages and the addresses Istio allocates.
func stripServiceEntry(in any) (any, error) {
	if se, ok := in.(*networkingv1.ServiceEntry); ok {
		se.ManagedFields = nil
		se.Annotations = nil
		proto.Reset(&se.Status)
		shareServiceEntry(se)
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
