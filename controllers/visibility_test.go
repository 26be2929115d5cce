package controllers_test

import (
	"fmt"
	"strings"
	"testing"

	networkingapi "istio.io/api/networking/v1alpha3"
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	meshaliasv1 "github.com/meshalias/meshalias/api/v1alpha1"
)

var inMesh = map[string]string{"istio-injection": "enabled"}

func sidecarObject(ns, name string, hosts ...string) *networkingv1.Sidecar {
	return &networkingv1.Sidecar{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec:       networkingapi.Sidecar{Egress: []*networkingapi.IstioEgressListener{{Hosts: hosts}}},
	}
}

// waitVisible waits for the alias's Visible condition, for its generation, and returns it.
func waitVisible(t *testing.T, ns, name string, status metav1.ConditionStatus, reason string) (*meshaliasv1.ServiceAlias, *metav1.Condition) {
	t.Helper()
	alias := &meshaliasv1.ServiceAlias{}
	var visible *metav1.Condition
	eventually(t, fmt.Sprintf("ServiceAlias %s/%s Visible=%s/%s", ns, name, status, reason), func() error {
		if err := k8s.Get(ctx, clientKey(ns, name), alias); err != nil {
			return err
		}
		visible = meta.FindStatusCondition(alias.Status.Conditions, meshaliasv1.ConditionVisible)
		switch {
		case visible == nil:
			return fmt.Errorf("no Visible condition")
		case visible.ObservedGeneration != alias.Generation || visible.Status != status || visible.Reason != reason:
			return fmt.Errorf("Visible=%s/%s (generation %d): %s", visible.Status, visible.Reason, visible.ObservedGeneration, visible.Message)
		}
		return nil
	})
	return alias, visible
}

// The incident's second failure: a Sidecar with egress ./* in a consumer namespace hides
// every alias of other namespaces. The alias says so, names the Sidecar and the egress host
// to add, and turns Visible once the Sidecar imports it. Ready never depends on it.
func TestVisibleFollowsSidecars(t *testing.T) {
	abc := newNamespace(t)
	web := labelledNamespace(t, inMesh)
	t.Cleanup(func() { relabelNamespace(t, web, nil) })
	host := "traefik." + abc + ".visible"
	create(t, service(abc, "traefik"), serviceAlias(abc, "traefik", "traefik", host))
	waitVisible(t, abc, "traefik", metav1.ConditionTrue, meshaliasv1.ReasonExported)

	sc := sidecarObject(web, "default", "./*", "istio-system/*")
	create(t, sc)
	t.Cleanup(func() { deleteAndWait(t, sc) })
	alias, visible := waitVisible(t, abc, "traefik", metav1.ConditionFalse, meshaliasv1.ReasonSidecarScoped)
	for _, want := range []string{"Sidecar " + web + "/default", `"` + abc + "/" + host + `"`} {
		if !strings.Contains(visible.Message, want) {
			t.Errorf("Visible message %q should say %q", visible.Message, want)
		}
	}
	if hf := alias.Status.HiddenFrom; hf == nil || hf.Count < 1 || !strings.Contains(strings.Join(hf.Namespaces, ","), web) || strings.Join(hf.Sidecars, ",") != web+"/default" {
		t.Errorf("status.hiddenFrom %+v, want %s and its Sidecar", hf, web)
	}
	if !meta.IsStatusConditionTrue(alias.Status.Conditions, meshaliasv1.ConditionReady) {
		t.Errorf("a hidden alias is still served: Ready must stay True")
	}

	// The line the message names, added: the alias is seen again.
	if err := k8s.Get(ctx, clientKey(web, "default"), sc); err != nil {
		t.Fatal(err)
	}
	sc.Spec.Egress[0].Hosts = append(sc.Spec.Egress[0].Hosts, abc+"/"+host)
	if err := k8s.Update(ctx, sc); err != nil {
		t.Fatal(err)
	}
	alias, _ = waitVisible(t, abc, "traefik", metav1.ConditionTrue, meshaliasv1.ReasonExported)
	if alias.Status.HiddenFrom != nil {
		t.Errorf("status.hiddenFrom %+v once nothing hides it", alias.Status.HiddenFrom)
	}
}

// exportTo, or the mesh config's defaultServiceExportTo when the alias sets none, decides
// before any Sidecar.
func TestVisibleFollowsExportTo(t *testing.T) {
	abc := newNamespace(t)
	web := labelledNamespace(t, inMesh)
	t.Cleanup(func() { relabelNamespace(t, web, nil) })
	private := serviceAlias(abc, "private", "app", "private."+abc+".visible")
	private.Spec.ExportTo = []string{"."}
	create(t, service(abc, "app"), private, serviceAlias(abc, "default", "app", "default."+abc+".visible"))
	waitVisible(t, abc, "private", metav1.ConditionFalse, meshaliasv1.ReasonNotExported)
	waitVisible(t, abc, "default", metav1.ConditionTrue, meshaliasv1.ReasonExported)

	// The mesh's default export, read from Istio's mesh config.
	if err := k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "istio-system"}}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	mesh := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Namespace: "istio-system", Name: "istio"},
		Data:       map[string]string{"mesh": "defaultServiceExportTo: [\".\"]\n"},
	}
	create(t, mesh)
	t.Cleanup(func() { deleteAndWait(t, mesh) })
	waitVisible(t, abc, "default", metav1.ConditionFalse, meshaliasv1.ReasonNotExported)
}
