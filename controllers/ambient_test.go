package controllers_test

import (
	"fmt"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	meshaliasv1 "github.com/meshalias/meshalias/api/v1alpha1"
)

var ambientLabels = map[string]string{"istio.io/dataplane-mode": "ambient"}

// In an ambient namespace an alias gets no entry, and says why; a sidecar namespace of the
// same mesh is served as ever. Leaving ambient mode brings the entry.
func TestAmbientNamespaceGetsNoEntry(t *testing.T) {
	amb := labelledNamespace(t, ambientLabels)
	side := newNamespace(t)
	create(t, service(amb, "traefik"), service(side, "traefik"),
		serviceAlias(amb, "traefik", "traefik", "traefik."+amb+".ambient"),
		namespaceAlias(amb, "hello", amb+".ambient-hello", nil),
		serviceAlias(side, "traefik", "traefik", "traefik."+side+".sidecar"))

	alias := waitServiceAlias(t, amb, "traefik", metav1.ConditionFalse, meshaliasv1.ReasonAmbientUnsupported)
	if msg := readyMessage(alias.Status.Conditions); !strings.Contains(msg, "namespace "+amb+" runs in Istio's ambient mode") {
		t.Errorf("message %q should say the namespace is in ambient mode", msg)
	}
	waitNamespaceAlias(t, amb, "hello", metav1.ConditionFalse, meshaliasv1.ReasonAmbientUnsupported)
	waitServiceAlias(t, side, "traefik", metav1.ConditionTrue, meshaliasv1.ReasonSynced)
	for _, kind := range []string{"ServiceAlias", "NamespaceAlias"} {
		if got := entriesOf(t, amb, kind, map[string]string{"ServiceAlias": "traefik", "NamespaceAlias": "hello"}[kind]); len(got) != 0 {
			t.Errorf("%s in the ambient namespace has %d entries", kind, len(got))
		}
	}

	relabelNamespace(t, amb, nil)
	waitServiceAlias(t, amb, "traefik", metav1.ConditionTrue, meshaliasv1.ReasonSynced)
	waitNamespaceAlias(t, amb, "hello", metav1.ConditionTrue, meshaliasv1.ReasonSynced)
}

// A Service whose pods are enrolled in ambient one by one, in a sidecar namespace, is refused
// as long as one such pod exists.
func TestAmbientPodOfTheService(t *testing.T) {
	ns := newNamespace(t)
	host := "traefik." + ns + ".ambient-pod"
	create(t, service(ns, "traefik"), serviceAlias(ns, "traefik", "traefik", host))
	waitServiceAlias(t, ns, "traefik", metav1.ConditionTrue, meshaliasv1.ReasonSynced)

	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "traefik-0", Labels: map[string]string{"app": "traefik", "istio.io/dataplane-mode": "ambient"}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "traefik", Image: "traefik"}}},
	}
	create(t, pod)
	alias := waitServiceAlias(t, ns, "traefik", metav1.ConditionFalse, meshaliasv1.ReasonAmbientUnsupported)
	if msg := readyMessage(alias.Status.Conditions); !strings.Contains(msg, "pod "+ns+"/traefik-0") {
		t.Errorf("message %q should name the ambient pod", msg)
	}
	eventually(t, "the entry is gone", func() error {
		if _, err := entryFor(ns, host); !apierrors.IsNotFound(err) {
			return fmt.Errorf("entry: %v", err)
		}
		return nil
	})

	// The pod leaves ambient mode: it drops out of the cache, and the alias is served again.
	pod.Labels = map[string]string{"app": "traefik"}
	if err := k8s.Update(ctx, pod); err != nil {
		t.Fatal(err)
	}
	waitServiceAlias(t, ns, "traefik", metav1.ConditionTrue, meshaliasv1.ReasonSynced)
}
