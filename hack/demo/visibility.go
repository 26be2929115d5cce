package main

import (
	"context"
	"fmt"

	networkingapi "istio.io/api/networking/v1alpha3"
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	meshaliasv1 "github.com/meshalias/meshalias/api/v1alpha1"
)

// consumer is a namespace in the mesh whose Sidecar hides what is not its own: the
// incident's second failure, in the shape that now hides an alias.
const consumer = "istio-demo"

// sidecarScene plays it: the alias says which Sidecar hides it and the line to add, and turns
// Visible once the line is there.
func sidecarScene(ctx context.Context, c client.Client) error {
	step(fmt.Sprintf("Namespace %s, in the mesh, gets a Sidecar with egress hosts [\"./*\"]: it sees only its own namespace", consumer))
	sidecar := &networkingv1.Sidecar{
		ObjectMeta: metav1.ObjectMeta{Namespace: consumer, Name: "default"},
		Spec:       networkingapi.Sidecar{Egress: []*networkingapi.IstioEgressListener{{Hosts: []string{"./*", "istio-system/*"}}}},
	}
	if err := create(ctx, c,
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: consumer, Labels: map[string]string{"istio-injection": "enabled"}}},
		sidecar); err != nil {
		return err
	}
	visible, err := waitVisible(ctx, c, metav1.ConditionFalse)
	if err != nil {
		return err
	}
	fmt.Printf("  ServiceAlias %s/traefik: Visible=%s %s: %s\n", ns, visible.Status, visible.Reason, visible.Message)

	step("The platform team adds the line the status names; the alias turns Visible")
	if err := c.Get(ctx, client.ObjectKeyFromObject(sidecar), sidecar); err != nil {
		return err
	}
	sidecar.Spec.Egress[0].Hosts = append(sidecar.Spec.Egress[0].Hosts, ns+"/traefik.custom-name", ns+"/traefik.cutom-name")
	if err := c.Update(ctx, sidecar); err != nil {
		return err
	}
	if visible, err = waitVisible(ctx, c, metav1.ConditionTrue); err != nil {
		return err
	}
	fmt.Printf("  ServiceAlias %s/traefik: Visible=%s %s: %s\n", ns, visible.Status, visible.Reason, visible.Message)
	return nil
}

// waitVisible waits until the traefik alias's Visible condition has the status.
func waitVisible(ctx context.Context, c client.Client, status metav1.ConditionStatus) (*metav1.Condition, error) {
	var visible *metav1.Condition
	err := waitUntil(ctx, func() error {
		alias := &meshaliasv1.ServiceAlias{}
		if err := c.Get(ctx, types.NamespacedName{Namespace: ns, Name: "traefik"}, alias); err != nil {
			return err
		}
		visible = meta.FindStatusCondition(alias.Status.Conditions, meshaliasv1.ConditionVisible)
		if visible == nil || visible.Status != status {
			return fmt.Errorf("ServiceAlias %s/traefik is not Visible=%s: %v", ns, status, visible)
		}
		return nil
	})
	return visible, err
}
