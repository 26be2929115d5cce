package controllers

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/controller-runtime/pkg/client"

	meshaliasv1 "github.com/meshalias/meshalias/api/v1alpha1"
)

// ambientPods selects the only pods meshalias caches: those enrolled in ambient mode one by
// one. A cluster has few, and their labels are all meshalias reads of them.
var ambientPods = labels.SelectorFromSet(labels.Set{meshaliasv1.LabelIstioDataplaneMode: meshaliasv1.DataplaneModeAmbient})

// Ambient is where Istio's ambient mode bears on an alias. In ambient, istiod sends ztunnel
// the alias's entry and the Service as two services with one VIP, ztunnel keeps one of them
// per namespace, and when it keeps the entry every ambient client of the Service loses HBONE,
// its identity and its waypoint (docs/ambient.md). So meshalias writes no entry there.
type Ambient struct {
	// Namespace, when set, says why the whole alias is in ambient mode.
	Namespace string
	// Services says, by Service name, why one Service's pods are.
	Services map[string]string
}

func ambientProblem(why string) *Problem {
	return &Problem{Reason: meshaliasv1.ReasonAmbientUnsupported, Message: why + ": meshalias writes no ServiceEntry there, since one that shares the Service's VIP can take the Service's place in ztunnel and strip its clients' mutual TLS (see docs/ambient.md)"}
}

// ambient finds out whether the alias's namespace, the Services' namespace or the Services'
// pods run in ambient mode.
func (g gatherer) ambient(ctx context.Context, aliasNamespace, serviceNamespace string, services map[string]*corev1.Service) (Ambient, error) {
	if g.ambientMesh {
		return Ambient{Namespace: "the mesh runs in Istio's ambient mode (--ambient-mesh)"}, nil
	}
	for _, ns := range []string{aliasNamespace, serviceNamespace} {
		var obj corev1.Namespace
		if err := g.reader.Get(ctx, client.ObjectKey{Name: ns}, &obj); client.IgnoreNotFound(err) != nil {
			return Ambient{}, fmt.Errorf("reading Namespace %s: %w", ns, err)
		}
		if obj.Labels[meshaliasv1.LabelIstioDataplaneMode] == meshaliasv1.DataplaneModeAmbient {
			return Ambient{Namespace: fmt.Sprintf("namespace %s runs in Istio's ambient mode (%s=%s)", ns, meshaliasv1.LabelIstioDataplaneMode, meshaliasv1.DataplaneModeAmbient)}, nil
		}
	}
	var pods metav1.PartialObjectMetadataList
	pods.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("PodList"))
	if err := g.reader.List(ctx, &pods, client.InNamespace(serviceNamespace)); err != nil {
		return Ambient{}, fmt.Errorf("listing ambient pods in %s: %w", serviceNamespace, err)
	}
	a := Ambient{}
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
