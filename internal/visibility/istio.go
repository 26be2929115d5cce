package visibility

import (
	"fmt"
	"slices"
	"strings"

	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	"sigs.k8s.io/yaml"
)

// MeshConfigName is the ConfigMap, in Istio's namespace, that holds the mesh config.
const MeshConfigName = "istio"

// ParseMeshConfig reads what bears on visibility from the mesh config (the ConfigMap's "mesh"
// key). The root namespace of Sidecars is Istio's own unless the mesh config names another.
func ParseMeshConfig(mesh, istioNamespace string) (Mesh, error) {
	var mc struct {
		RootNamespace          string   `json:"rootNamespace"`
		DefaultServiceExportTo []string `json:"defaultServiceExportTo"`
	}
	if err := yaml.Unmarshal([]byte(mesh), &mc); err != nil {
		return Mesh{RootNamespace: istioNamespace}, fmt.Errorf("the mesh config's \"mesh\" key: %w", err)
	}
	m := Mesh{RootNamespace: istioNamespace, DefaultServiceExportTo: mc.DefaultServiceExportTo}
	if mc.RootNamespace != "" {
		m.RootNamespace = mc.RootNamespace
	}
	return m, nil
}

// InMesh tells a namespace whose pods get sidecars: injection on, or a revision.
func InMesh(labels map[string]string) bool {
	_, rev := labels["istio.io/rev"]
	return labels["istio-injection"] == "enabled" || rev
}

// FromSidecars is how visibility sees Istio Sidecars, in the order pilot picks one when a
// namespace has several: the oldest first, then by name.
func FromSidecars(items []*networkingv1.Sidecar) []Sidecar {
	sorted := slices.Clone(items)
	slices.SortStableFunc(sorted, func(a, b *networkingv1.Sidecar) int {
		if c := a.CreationTimestamp.Compare(b.CreationTimestamp.Time); c != 0 {
			return c
		}
		return strings.Compare(a.Name, b.Name)
	})
	out := make([]Sidecar, 0, len(sorted))
	for _, s := range sorted {
		out = append(out, FromSidecar(s))
	}
	return out
}
