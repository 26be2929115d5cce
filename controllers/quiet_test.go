package controllers_test

import (
	"testing"
	"time"

	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	meshaliasv1 "github.com/meshalias/meshalias/api/v1alpha1"
)

// After convergence meshalias writes nothing: not while idle, not across a restart. Every
// alias and entry in the cluster keeps its resourceVersion.
func TestQuietWhenConverged(t *testing.T) {
	ns := newNamespace(t)
	create(t, service(ns, "a"), service(ns, "b"),
		serviceAlias(ns, "a", "a", "a."+ns+".quiet"),
		namespaceAlias(ns, "hello", ns+".quiet-hello", nil))
	waitServiceAlias(t, ns, "a", metav1.ConditionTrue, meshaliasv1.ReasonSynced)
	waitNamespaceAlias(t, ns, "hello", metav1.ConditionTrue, meshaliasv1.ReasonSynced)
	time.Sleep(time.Second) // let the last status write's own events pass

	before := resourceVersions(t)
	time.Sleep(3 * time.Second)
	if after := resourceVersions(t); !equalMaps(before, after) {
		t.Errorf("writes while idle: %v", diffMaps(before, after))
	}

	stopManager()
	if err := startManager(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(3 * time.Second)
	if after := resourceVersions(t); !equalMaps(before, after) {
		t.Errorf("writes after a restart: %v", diffMaps(before, after))
	}
}

// resourceVersions maps every alias and entry of the cluster to its resourceVersion.
func resourceVersions(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	lists := map[string]client.ObjectList{
		"ServiceAlias":   &meshaliasv1.ServiceAliasList{},
		"NamespaceAlias": &meshaliasv1.NamespaceAliasList{},
		"ServiceEntry":   &networkingv1.ServiceEntryList{},
	}
	for kind, list := range lists {
		if err := k8s.List(ctx, list); err != nil {
			t.Fatal(err)
		}
		switch l := list.(type) {
		case *meshaliasv1.ServiceAliasList:
			for _, o := range l.Items {
				out[kind+" "+o.Namespace+"/"+o.Name] = o.ResourceVersion
			}
		case *meshaliasv1.NamespaceAliasList:
			for _, o := range l.Items {
				out[kind+" "+o.Namespace+"/"+o.Name] = o.ResourceVersion
			}
		case *networkingv1.ServiceEntryList:
			for _, o := range l.Items {
				out[kind+" "+o.Namespace+"/"+o.Name] = o.ResourceVersion
			}
		}
	}
	return out
}

func equalMaps(a, b map[string]string) bool { return len(diffMaps(a, b)) == 0 }

func diffMaps(a, b map[string]string) []string {
	var d []string
	for k, v := range a {
		if b[k] != v {
			d = append(d, k+": "+v+" -> "+b[k])
		}
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			d = append(d, k+": new")
		}
	}
	return d
}
