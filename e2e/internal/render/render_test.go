package render_test

import (
	"path/filepath"
	"testing"

	"sigs.k8s.io/kustomize/kyaml/filesys"

	"github.com/meshalias/meshalias/e2e/internal/controlplane"
	"github.com/meshalias/meshalias/e2e/internal/render"
)

// The install users apply (config/default) must render, ship both CRDs cluster-scoped, and put
// every namespaced object in the operator's namespace; the end-to-end tests install from it.
func TestKustomizeRendersDefaultInstall(t *testing.T) {
	objs, err := render.Kustomize(filesys.MakeFsOnDisk(), filepath.Join(controlplane.RepoRoot(), "config", "default"))
	if err != nil {
		t.Fatal(err)
	}
	crds := map[string]bool{}
	for _, o := range objs {
		t.Logf("%s %s/%s", o.GetKind(), o.GetNamespace(), o.GetName())
		switch o.GetKind() {
		case "CustomResourceDefinition", "ClusterRole", "ClusterRoleBinding", "Namespace", "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding":
			if o.GetKind() == "CustomResourceDefinition" {
				crds[o.GetName()] = true
			}
			if o.GetNamespace() != "" {
				t.Errorf("cluster-scoped %s %s got namespace %q", o.GetKind(), o.GetName(), o.GetNamespace())
			}
		default:
			if o.GetNamespace() != "meshalias-system" {
				t.Errorf("%s %s is in namespace %q, want meshalias-system", o.GetKind(), o.GetName(), o.GetNamespace())
			}
		}
	}
	for _, want := range []string{"servicealiases.meshalias.io", "namespacealiases.meshalias.io"} {
		if !crds[want] {
			t.Errorf("CRD %s not rendered", want)
		}
	}
}
