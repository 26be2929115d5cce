package controllers

import (
	"context"
	"fmt"

	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/meshalias/meshalias/internal/visibility"
)

// +kubebuilder:rbac:groups=networking.istio.io,resources=sidecars,verbs=get;list;watch
// The mesh config only: ConfigMaps named "istio", which the cache watches in the Istio
// namespace alone, through a field selector on the name.
// +kubebuilder:rbac:groups="",resources=configmaps,resourceNames=istio,verbs=get;list;watch

// visibilityFacts reads what decides which namespaces' pods see an alias's entries: the mesh
// config, the namespaces in the mesh and every Sidecar, from the cache, without copies.
func (g gatherer) visibilityFacts(ctx context.Context) (visibility.Mesh, []string, []visibility.Sidecar, error) {
	mesh := visibility.Mesh{RootNamespace: g.istioNamespace}
	var cm corev1.ConfigMap
	err := g.reader.Get(ctx, types.NamespacedName{Namespace: g.istioNamespace, Name: visibility.MeshConfigName}, &cm)
	switch {
	case err == nil:
		// A mesh config Istio itself could not read leaves Istio's defaults, as for istiod.
		if parsed, err := visibility.ParseMeshConfig(cm.Data["mesh"], g.istioNamespace); err == nil {
			mesh = parsed
		}
	case client.IgnoreNotFound(err) != nil:
		return mesh, nil, nil, fmt.Errorf("reading the mesh config %s/%s: %w", g.istioNamespace, visibility.MeshConfigName, err)
	}

	var namespaces corev1.NamespaceList
	if err := g.reader.List(ctx, &namespaces, client.UnsafeDisableDeepCopy); err != nil {
		return mesh, nil, nil, fmt.Errorf("listing Namespaces: %w", err)
	}
	var inMesh []string
	for _, ns := range namespaces.Items {
		if g.allNamespacesInMesh || visibility.InMesh(ns.Labels) {
			inMesh = append(inMesh, ns.Name)
		}
	}

	var list networkingv1.SidecarList
	if err := g.reader.List(ctx, &list, client.UnsafeDisableDeepCopy); err != nil {
		return mesh, nil, nil, fmt.Errorf("listing Sidecars: %w", err)
	}
	return mesh, inMesh, visibility.FromSidecars(list.Items), nil
}
