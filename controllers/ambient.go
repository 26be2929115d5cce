package controllers

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/controller-runtime/pkg/client"

	meshaliasv1 "github.com/meshalias/meshalias/api/v1alpha1"
	"github.com/meshalias/meshalias/internal/desired"
)

// ambientPods selects the only pods meshalias caches: those enrolled in ambient mode one by
// one. A cluster has few, and their labels are all meshalias reads of them.
var ambientPods = labels.SelectorFromSet(labels.Set{meshaliasv1.LabelIstioDataplaneMode: meshaliasv1.DataplaneModeAmbient})

// ambient finds out whether the alias's namespace, the Services' namespace or the Services'
// pods run in ambient mode.
func (g gatherer) ambient(ctx context.Context, aliasNamespace, serviceNamespace string, services map[string]*corev1.Service) (desired.Ambient, error) {
	if g.ambientMesh {
		return desired.Ambient{Namespace: "the mesh runs in Istio's ambient mode (--ambient-mesh)"}, nil
	}
	for _, ns := range []string{aliasNamespace, serviceNamespace} {
		var obj corev1.Namespace
		if err := g.reader.Get(ctx, client.ObjectKey{Name: ns}, &obj); client.IgnoreNotFound(err) != nil {
			return desired.Ambient{}, fmt.Errorf("reading Namespace %s: %w", ns, err)
		}
		if obj.Labels[meshaliasv1.LabelIstioDataplaneMode] == meshaliasv1.DataplaneModeAmbient {
			return desired.Ambient{Namespace: fmt.Sprintf("namespace %s runs in Istio's ambient mode (%s=%s)", ns, meshaliasv1.LabelIstioDataplaneMode, meshaliasv1.DataplaneModeAmbient)}, nil
		}
	}
	if len(services) == 0 {
		return desired.Ambient{}, nil // no Service whose pods could be
	}
	var pods metav1.PartialObjectMetadataList
	pods.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("PodList"))
	if err := g.reader.List(ctx, &pods, client.InNamespace(serviceNamespace)); err != nil {
		return desired.Ambient{}, fmt.Errorf("listing ambient pods in %s: %w", serviceNamespace, err)
	}
	a := desired.Ambient{}
	for _, pod := range pods.Items {
		for name, svc := range services {
			if len(svc.Spec.Selector) > 0 && labels.SelectorFromValidatedSet(svc.Spec.Selector).Matches(labels.Set(pod.Labels)) {
				if a.Services == nil {
					a.Services = map[string]string{}
				}
				a.Services[name] = fmt.Sprintf("pod %s/%s of Service %s runs in Istio's ambient mode (%s=%s)", pod.Namespace, pod.Name, name, meshaliasv1.LabelIstioDataplaneMode, meshaliasv1.DataplaneModeAmbient)
			}
		}
	}
	return a, nil
}
