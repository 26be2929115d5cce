package kstatus_test

import (
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/yaml"

	"github.com/meshalias/meshalias/e2e/internal/kstatus"
)

// alias builds a ServiceAlias at generation 2 with the given status block, as the operator
// would report it.
func alias(t *testing.T, statusYAML string) *unstructured.Unstructured {
	t.Helper()
	doc := `
apiVersion: meshalias.io/v1alpha1
kind: ServiceAlias
metadata: {name: traefik, namespace: abc, generation: 2}
spec: {service: {name: traefik}, hosts: [traefik.custom-name]}
status:
` + statusYAML
	// Through JSON and UnmarshalJSON so that generation stays an int64, as it is when read
	// from an apiserver; kstatus rejects the float64 a plain map unmarshal would give.
	b, err := yaml.YAMLToJSON([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	u := &unstructured.Unstructured{}
	if err := u.UnmarshalJSON(b); err != nil {
		t.Fatal(err)
	}
	return u
}

// The condition contract in the design (Ready, plus Reconciling / Stalled) only helps GitOps
// users if kstatus reads it as intended; these cases pin that reading.
func TestKstatusReadsAliasConditions(t *testing.T) {
	cases := []struct {
		name   string
		status string
		want   status.Status
	}{
		{"synced", `
  observedGeneration: 2
  conditions:
  - {type: Ready, status: "True", reason: Synced, message: ok, lastTransitionTime: "2026-01-01T00:00:00Z"}
`, status.CurrentStatus},
		{"status of an older generation", `
  observedGeneration: 1
  conditions:
  - {type: Ready, status: "True", reason: Synced, message: ok, lastTransitionTime: "2026-01-01T00:00:00Z"}
`, status.InProgressStatus},
		{"reconciling", `
  observedGeneration: 2
  conditions:
  - {type: Ready, status: "False", reason: Reconciling, message: writing, lastTransitionTime: "2026-01-01T00:00:00Z"}
  - {type: Reconciling, status: "True", reason: Progressing, message: writing, lastTransitionTime: "2026-01-01T00:00:00Z"}
`, status.InProgressStatus},
		{"stalled on a missing Service", `
  observedGeneration: 2
  conditions:
  - {type: Ready, status: "False", reason: ServiceNotFound, message: no Service abc/traefik, lastTransitionTime: "2026-01-01T00:00:00Z"}
  - {type: Stalled, status: "True", reason: ServiceNotFound, message: no Service abc/traefik, lastTransitionTime: "2026-01-01T00:00:00Z"}
`, status.FailedStatus},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			obj := alias(t, tc.status)
			res, err := kstatus.Compute(obj)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("kstatus %s: %s", res.Status, res.Message)
			if err := kstatus.Want(obj, tc.want); err != nil {
				t.Error(err)
			}
		})
	}
}
