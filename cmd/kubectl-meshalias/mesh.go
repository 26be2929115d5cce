package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"slices"

	"github.com/spf13/cobra"
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/meshalias/meshalias/internal/visibility"
)

// meshFlags say where Istio's mesh config is, which namespaces are in the mesh, and what
// config to assume on top of the cluster's.
type meshFlags struct {
	istioNamespace string
	allInMesh      bool
	assume         string
}

func (f *meshFlags) add(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.istioNamespace, "istio-namespace", "istio-system", "Istio's namespace: its ConfigMap \"istio\" holds the mesh config, and it is the root namespace of Sidecars unless the mesh config names another.")
	cmd.Flags().BoolVar(&f.allInMesh, "all-namespaces-in-mesh", false, "Count every namespace as having sidecars, not only those labelled istio-injection=enabled or istio.io/rev.")
	cmd.Flags().StringVar(&f.assume, "assume", "", "A YAML file of Sidecars, ServiceEntries or Istio's mesh ConfigMap to judge as if they were applied, over the cluster's: a what-if for a change before it is made.")
}

// meshState is what visibility needs from the cluster, with the assumed config on top.
type meshState struct {
	mesh       visibility.Mesh
	namespaces []string // in the mesh
	sidecars   []visibility.Sidecar
	// entries are the assumed ServiceEntries, which replace the cluster's of the same name.
	entries []*networkingv1.ServiceEntry
}

// read loads the mesh config, the namespaces in the mesh and every Sidecar. A user who may
// not list them gets a note, and visibility falls back to exportTo alone (ok is false).
func (f meshFlags) read(ctx context.Context, c client.Client, labels map[string]map[string]string, stderr io.Writer) (meshState, bool, error) {
	st := meshState{mesh: visibility.Mesh{RootNamespace: f.istioNamespace}}
	var assumedSidecars []*networkingv1.Sidecar
	var assumedMesh *corev1.ConfigMap
	if f.assume != "" {
		var err error
		if assumedSidecars, st.entries, assumedMesh, err = readAssumed(f.assume); err != nil {
			return st, false, err
		}
	}

	meshConfig := assumedMesh
	if meshConfig == nil {
		var cm corev1.ConfigMap
		switch err := c.Get(ctx, client.ObjectKey{Namespace: f.istioNamespace, Name: visibility.MeshConfigName}, &cm); {
		case err == nil:
			meshConfig = &cm
		case apierrors.IsNotFound(err):
		case apierrors.IsForbidden(err):
			fmt.Fprintf(stderr, "note: Istio's mesh config %s/istio cannot be read; its defaults are assumed\n", f.istioNamespace)
		default:
			return st, false, fmt.Errorf("reading the mesh config: %w", err)
		}
	}
	if meshConfig != nil {
		var err error
		if st.mesh, err = visibility.ParseMeshConfig(meshConfig.Data["mesh"], f.istioNamespace); err != nil {
			return st, false, err
		}
	}

	for ns, l := range labels {
		if f.allInMesh || visibility.InMesh(l) {
			st.namespaces = append(st.namespaces, ns)
		}
	}
	slices.Sort(st.namespaces)

	var list networkingv1.SidecarList
	switch err := c.List(ctx, &list); {
	case apierrors.IsForbidden(err):
		fmt.Fprintln(stderr, "note: Sidecars cannot be listed with these credentials; who sees an entry follows exportTo alone")
		return st, false, nil
	case err != nil:
		return st, false, fmt.Errorf("listing Sidecars: %w", err)
	}
	items := list.Items
	for _, a := range assumedSidecars {
		items = slices.DeleteFunc(items, func(s *networkingv1.Sidecar) bool { return s.Namespace == a.Namespace && s.Name == a.Name })
		items = append(items, a)
	}
	// Pilot takes the oldest Sidecar of a namespace; an assumed one is the newest.
	st.sidecars = visibility.FromSidecars(items)
	return st, true, nil
}

// withAssumed is the cluster's entries with the assumed ones put over them.
func (st meshState) withAssumed(entries []*networkingv1.ServiceEntry) []*networkingv1.ServiceEntry {
	out := slices.Clone(entries)
	for _, a := range st.entries {
		out = slices.DeleteFunc(out, func(se *networkingv1.ServiceEntry) bool { return se.Namespace == a.Namespace && se.Name == a.Name })
		out = append(out, a)
	}
	return out
}

// readAssumed reads a YAML file of Sidecars, ServiceEntries and Istio's mesh ConfigMap.
func readAssumed(path string) ([]*networkingv1.Sidecar, []*networkingv1.ServiceEntry, *corev1.ConfigMap, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, nil, err
	}
	var sidecars []*networkingv1.Sidecar
	var entries []*networkingv1.ServiceEntry
	var mesh *corev1.ConfigMap
	docs := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(raw)))
	for i := 1; ; i++ {
		doc, err := docs.Read()
		if err == io.EOF {
			return sidecars, entries, mesh, nil
		}
		if err != nil {
			return nil, nil, nil, fmt.Errorf("%s: %w", path, err)
		}
		var meta metav1.TypeMeta
		if err := yaml.Unmarshal(doc, &meta); err != nil {
			return nil, nil, nil, fmt.Errorf("%s, document %d: %w", path, i, err)
		}
		var obj client.Object
		switch meta.Kind {
		case "":
			continue
		case "Sidecar":
			s := &networkingv1.Sidecar{}
			sidecars, obj = append(sidecars, s), s
		case "ServiceEntry":
			se := &networkingv1.ServiceEntry{}
			entries, obj = append(entries, se), se
		case "ConfigMap":
			mesh = &corev1.ConfigMap{}
			obj = mesh
		default:
			return nil, nil, nil, fmt.Errorf("%s, document %d: a %s; --assume takes Sidecars, ServiceEntries and Istio's mesh ConfigMap", path, i, meta.Kind)
		}
		if err := yaml.UnmarshalStrict(doc, obj); err != nil {
			return nil, nil, nil, fmt.Errorf("%s, document %d: %w", path, i, err)
		}
		if obj.GetNamespace() == "" {
			return nil, nil, nil, fmt.Errorf("%s, document %d: %s %s has no namespace", path, i, meta.Kind, obj.GetName())
		}
		// Assumed objects are the newest: a Sidecar created now comes after the others.
		obj.SetCreationTimestamp(metav1.Now())
	}
}
