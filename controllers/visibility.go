package controllers

import (
	"context"
	"fmt"
	"slices"
	"strings"

	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/meshalias/meshalias/internal/visibility"
)

// +kubebuilder:rbac:groups=networking.istio.io,resources=sidecars,verbs=get;list;watch
// The mesh config only: ConfigMaps named "istio", which the cache watches in the Istio
// namespace alone, through a field selector on the name.
// +kubebuilder:rbac:groups="",resources=configmaps,resourceNames=istio,verbs=get;list;watch

// meshConfigName is the ConfigMap, in the Istio namespace, that holds the mesh config.
const meshConfigName = "istio"

// meshConfig is the part of Istio's MeshConfig that bears on visibility.
type meshConfig struct {
	RootNamespace          string   `json:"rootNamespace"`
	DefaultServiceExportTo []string `json:"defaultServiceExportTo"`
}

// visibilityFacts reads what decides which namespaces' pods see an alias's entries: the mesh
// config, the namespaces in the mesh and every Sidecar, from the cache, without copies.
func (g gatherer) visibilityFacts(ctx context.Context) (visibility.Mesh, []string, []visibility.Sidecar, error) {
	mesh := visibility.Mesh{RootNamespace: g.istioNamespace}
	var cm corev1.ConfigMap
	err := g.reader.Get(ctx, types.NamespacedName{Namespace: g.istioNamespace, Name: meshConfigName}, &cm)
	switch {
	case err == nil:
		var mc meshConfig
		if err := yaml.Unmarshal([]byte(cm.Data["mesh"]), &mc); err == nil {
			if mc.RootNamespace != "" {
				mesh.RootNamespace = mc.RootNamespace
			}
			mesh.DefaultServiceExportTo = mc.DefaultServiceExportTo
		}
	case client.IgnoreNotFound(err) != nil:
		return mesh, nil, nil, fmt.Errorf("reading the mesh config %s/%s: %w", g.istioNamespace, meshConfigName, err)
	}

	var namespaces corev1.NamespaceList
	if err := g.reader.List(ctx, &namespaces, client.UnsafeDisableDeepCopy); err != nil {
		return mesh, nil, nil, fmt.Errorf("listing Namespaces: %w", err)
	}
	var inMesh []string
	for _, ns := range namespaces.Items {
		if g.allNamespacesInMesh || inTheMesh(ns.Labels) {
			inMesh = append(inMesh, ns.Name)
		}
	}

	var list networkingv1.SidecarList
	if err := g.reader.List(ctx, &list, client.UnsafeDisableDeepCopy); err != nil {
		return mesh, nil, nil, fmt.Errorf("listing Sidecars: %w", err)
	}
	sidecars := make([]visibility.Sidecar, 0, len(list.Items))
	for _, s := range sortedByAge(list.Items) {
		sidecars = append(sidecars, visibility.FromSidecar(s))
	}
	return mesh, inMesh, sidecars, nil
}

// inTheMesh tells a namespace whose pods get sidecars: injection on, or a revision.
func inTheMesh(labels map[string]string) bool {
	_, rev := labels["istio.io/rev"]
	return labels["istio-injection"] == "enabled" || rev
}

// sortedByAge orders Sidecars as pilot does when a namespace has several: the oldest first,
// then by name.
func sortedByAge(items []*networkingv1.Sidecar) []*networkingv1.Sidecar {
	out := append([]*networkingv1.Sidecar(nil), items...)
	slices.SortStableFunc(out, func(a, b *networkingv1.Sidecar) int {
		if c := a.CreationTimestamp.Compare(b.CreationTimestamp.Time); c != 0 {
			return c
		}
		return strings.Compare(a.Name, b.Name)
	})
	return out
}
