package pilot

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/yaml"
)

// Documents renders objects, typically read from a live apiserver, as the multi-document YAML
// that New takes. Each object must carry its apiVersion and kind (lists read with a typed client
// leave them empty; set them, or read unstructured). Only what istiod reads is kept: server-set
// metadata (managedFields, resourceVersion, uid, ownerReferences) and status are dropped, so the
// oracle sees exactly the user-visible spec.
func Documents(objs ...runtime.Object) (string, error) {
	docs := make([]string, 0, len(objs))
	for _, obj := range objs {
		m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
		if err != nil {
			return "", err
		}
		u := &unstructured.Unstructured{Object: m}
		if u.GetAPIVersion() == "" || u.GetKind() == "" {
			return "", fmt.Errorf("object %s/%s has no apiVersion or kind", u.GetNamespace(), u.GetName())
		}
		clean := map[string]any{
			"apiVersion": u.GetAPIVersion(),
			"kind":       u.GetKind(),
			"metadata":   cleanMetadata(u),
		}
		if spec, ok := m["spec"]; ok {
			clean["spec"] = spec
		}
		b, err := yaml.Marshal(clean)
		if err != nil {
			return "", err
		}
		docs = append(docs, string(b))
	}
	return strings.Join(docs, "---\n"), nil
}

func cleanMetadata(u *unstructured.Unstructured) map[string]any {
	md := map[string]any{"name": u.GetName()}
	if ns := u.GetNamespace(); ns != "" {
		md["namespace"] = ns
	}
	if l := u.GetLabels(); len(l) > 0 {
		md["labels"] = l
	}
	if a := u.GetAnnotations(); len(a) > 0 {
		md["annotations"] = a
	}
	// Istio breaks ties between conflicting config by age, so keep it when the server set it.
	if ts := u.GetCreationTimestamp(); !ts.IsZero() {
		md["creationTimestamp"] = ts.UTC().Format("2006-01-02T15:04:05Z")
	}
	return md
}
