package render_test

import (
	"os"
	"path/filepath"
	"testing"

	"sigs.k8s.io/kustomize/kyaml/filesys"

	"github.com/meshalias/meshalias/e2e/internal/controlplane"
	"github.com/meshalias/meshalias/e2e/internal/render"
)

// The repo's config/ has no kustomization of its own yet, so this renders the generated CRDs
// and RBAC through a kustomization written in memory, with a namespace transform, to prove the
// pipeline end to end: kustomize must keep the cluster-scoped CRDs untouched and namespace the
// rest.
func TestKustomizeRendersConfig(t *testing.T) {
	fs := filesys.MakeFsInMemory()
	var resources []string
	for _, sub := range []string{"crd/bases", "rbac"} {
		files, err := filepath.Glob(filepath.Join(controlplane.RepoRoot(), "config", sub, "*.yaml"))
		if err != nil || len(files) == 0 {
			t.Fatalf("no YAML in config/%s: %v", sub, err)
		}
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			name := "/config/" + sub + "/" + filepath.Base(f)
			if err := fs.WriteFile(name, b); err != nil {
				t.Fatal(err)
			}
			resources = append(resources, sub+"/"+filepath.Base(f))
		}
	}
	k := "namespace: meshalias-system\nresources:\n"
	for _, r := range resources {
		k += "- " + r + "\n"
	}
	if err := fs.WriteFile("/config/kustomization.yaml", []byte(k)); err != nil {
		t.Fatal(err)
	}

	objs, err := render.Kustomize(fs, "/config")
	if err != nil {
		t.Fatal(err)
	}
	crds := map[string]bool{}
	for _, o := range objs {
		t.Logf("%s %s/%s", o.GetKind(), o.GetNamespace(), o.GetName())
		if o.GetKind() == "CustomResourceDefinition" {
			crds[o.GetName()] = true
			if o.GetNamespace() != "" {
				t.Errorf("CRD %s got namespace %q", o.GetName(), o.GetNamespace())
			}
		}
	}
	for _, want := range []string{"servicealiases.meshalias.io", "namespacealiases.meshalias.io"} {
		if !crds[want] {
			t.Errorf("CRD %s not rendered", want)
		}
	}
}
