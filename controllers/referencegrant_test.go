package controllers_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"
	gatewayv1beta1 "sigs.k8s.io/gateway-api/apis/v1beta1"

	meshaliasv1 "github.com/meshalias/meshalias/api/v1alpha1"
	"github.com/meshalias/meshalias/controllers"
	"github.com/meshalias/meshalias/internal/localcluster"
)

// grantFrom is a ReferenceGrant in the Service's namespace that lets ServiceAliases of
// namespace from refer to Services there: all of them, or the one named.
func grantFrom(serviceNamespace, from string, service string) *gatewayv1beta1.ReferenceGrant {
	to := gatewayv1beta1.ReferenceGrantTo{Group: "", Kind: "Service"}
	if service != "" {
		to.Name = ptr.To(gatewayv1.ObjectName(service))
	}
	return &gatewayv1beta1.ReferenceGrant{
		ObjectMeta: metav1.ObjectMeta{Namespace: serviceNamespace, Name: "from-" + from},
		Spec: gatewayv1beta1.ReferenceGrantSpec{
			From: []gatewayv1beta1.ReferenceGrantFrom{{Group: "meshalias.io", Kind: "ServiceAlias", Namespace: gatewayv1.Namespace(from)}},
			To:   []gatewayv1beta1.ReferenceGrantTo{to},
		},
	}
}

func crossNamespaceAlias(ns, name, svcNamespace, svc string, hosts ...string) *meshaliasv1.ServiceAlias {
	alias := serviceAlias(ns, name, svc, hosts...)
	alias.Spec.Service.Namespace = svcNamespace
	return alias
}

// An alias in namespace edge for a Service in abc is served only while abc consents, and
// while it is not, its status says nothing of abc's Service.
func TestCrossNamespaceAliasNeedsAGrant(t *testing.T) {
	abc, edge := newNamespace(t), newNamespace(t)
	host := "traefik." + edge + ".edge-alias"
	svc := service(abc, "traefik")
	create(t, svc, crossNamespaceAlias(edge, "traefik", abc, "traefik", host))

	alias := waitServiceAlias(t, edge, "traefik", metav1.ConditionFalse, meshaliasv1.ReasonRefNotPermitted)
	msg := meta.FindStatusCondition(alias.Status.Conditions, meshaliasv1.ConditionReady).Message
	if !strings.Contains(msg, "ReferenceGrant") || !strings.Contains(msg, abc) {
		t.Errorf("message %q should say which namespace's ReferenceGrant is missing", msg)
	}
	if strings.Contains(msg, svc.Spec.ClusterIP) || len(alias.Status.Addresses) > 0 || len(alias.Status.ServiceEntries) > 0 {
		t.Errorf("an alias without a grant shows the other namespace's Service: message %q, addresses %v, entries %v", msg, alias.Status.Addresses, alias.Status.ServiceEntries)
	}
	if got := entriesOf(t, edge, "ServiceAlias", "traefik"); len(got) != 0 {
		t.Fatalf("an alias without a grant has %d entries", len(got))
	}

	// A grant for another Service of abc does not do.
	create(t, grantFrom(abc, edge, "other"))
	alias = waitServiceAlias(t, edge, "traefik", metav1.ConditionFalse, meshaliasv1.ReasonRefNotPermitted)

	grant := grantFrom(abc, edge, "traefik")
	grant.Name = "traefik-for-edge"
	create(t, grant)
	alias = waitServiceAlias(t, edge, "traefik", metav1.ConditionTrue, meshaliasv1.ReasonSynced)
	se, err := entryFor(edge, host)
	if err != nil {
		t.Fatal(err)
	}
	if want := "traefik." + abc + ".svc.cluster.local"; len(se.Spec.Endpoints) != 1 || se.Spec.Endpoints[0].Address != want {
		t.Errorf("endpoints %v, want one at %s", se.Spec.Endpoints, want)
	}
	if !slices.Equal(se.Spec.Addresses, []string{svc.Spec.ClusterIP}) || !slices.Equal(alias.Status.Addresses, se.Spec.Addresses) {
		t.Errorf("entry addresses %v, status addresses %v, want abc's ClusterIP %s", se.Spec.Addresses, alias.Status.Addresses, svc.Spec.ClusterIP)
	}
	if se.Namespace != edge {
		t.Errorf("the entry lives in %s, want the alias's namespace %s", se.Namespace, edge)
	}

	// Consent withdrawn: the entry goes within one event.
	if err := k8s.Delete(ctx, grant); err != nil {
		t.Fatal(err)
	}
	waitServiceAlias(t, edge, "traefik", metav1.ConditionFalse, meshaliasv1.ReasonRefNotPermitted)
	eventually(t, "the entry is gone with the grant", func() error {
		if _, err := entryFor(edge, host); !apierrors.IsNotFound(err) {
			return fmt.Errorf("entry for %s: %v", host, err)
		}
		return nil
	})
}

// Without the ReferenceGrant CRD, the operator starts all the same, and an alias across
// namespaces says why it is refused.
func TestCrossNamespaceAliasWithoutTheGrantCRD(t *testing.T) {
	abc, edge := newNamespace(t), newNamespace(t)
	host := "traefik." + edge + ".no-grants"
	create(t, service(abc, "traefik"), grantFrom(abc, edge, ""))

	path, err := localcluster.ReferenceGrantCRD(repoRoot(t))
	if err != nil {
		t.Fatal(err)
	}
	read := envtest.CRDInstallOptions{Paths: []string{path}}
	if err := envtest.ReadCRDFiles(&read); err != nil || len(read.CRDs) != 1 {
		t.Fatalf("reading %s: %d CRDs, %v", path, len(read.CRDs), err)
	}
	crds := read.CRDs
	uninstall := func() error {
		return envtest.UninstallCRDs(cluster.Config, envtest.CRDInstallOptions{CRDs: crds})
	}
	reinstall := func() {
		if _, err := envtest.InstallCRDs(cluster.Config, envtest.CRDInstallOptions{CRDs: []*apiextensionsv1.CustomResourceDefinition{crds[0].DeepCopy()}}); err != nil {
			t.Errorf("re-installing the ReferenceGrant CRD: %v", err)
		}
	}
	if err := uninstall(); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the ReferenceGrant CRD is gone", func() error {
		if err := k8s.Get(ctx, clientKey("", "referencegrants.gateway.networking.k8s.io"), &apiextensionsv1.CustomResourceDefinition{}); !apierrors.IsNotFound(err) {
			return fmt.Errorf("CRD still there: %v", err)
		}
		return nil
	})
	restartManager(t, func(*controllers.Config) {})
	t.Cleanup(reinstall) // runs before the restart back, which then finds the CRD again

	create(t, crossNamespaceAlias(edge, "traefik", abc, "traefik", host))
	alias := waitServiceAlias(t, edge, "traefik", metav1.ConditionFalse, meshaliasv1.ReasonRefNotPermitted)
	if msg := meta.FindStatusCondition(alias.Status.Conditions, meshaliasv1.ConditionReady).Message; !strings.Contains(msg, "CRD is not installed") {
		t.Errorf("message %q should say the ReferenceGrant CRD is missing", msg)
	}
	// An alias of the same namespace is served as ever.
	create(t, service(edge, "local"), serviceAlias(edge, "local", "local", "local."+edge+".no-grants"))
	waitServiceAlias(t, edge, "local", metav1.ConditionTrue, meshaliasv1.ReasonSynced)
}
