package controllers_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	networkingapi "istio.io/api/networking/v1alpha3"
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	meshaliasv1 "github.com/meshalias/meshalias/api/v1alpha1"
)

// legacyEntry is what the old dns-controller wrote: no addresses, TCP.
func legacyEntry(ns, name, host string, labels map[string]string) *networkingv1.ServiceEntry {
	return &networkingv1.ServiceEntry{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: labels},
		Spec: networkingapi.ServiceEntry{
			Hosts:      []string{host},
			Location:   networkingapi.ServiceEntry_MESH_INTERNAL,
			Resolution: networkingapi.ServiceEntry_DNS,
			Ports:      []*networkingapi.ServicePort{{Name: "https-443", Number: 443, Protocol: "TCP"}},
		},
	}
}

var dnsController = map[string]string{"app.kubernetes.io/managed-by": "dns-controller"}

// With --adopt-selector, the legacy entry is rewritten in place: same object, never deleted,
// so there is no moment without an entry for the host.
func TestAdoptionTakesOverInPlace(t *testing.T) {
	ns := newNamespace(t)
	host := "traefik." + ns + ".cutom-name"
	legacy := legacyEntry(ns, "traefik-cutom-name", host, dnsController)
	svc := service(ns, "traefik")
	create(t, legacy, svc, serviceAlias(ns, "traefik", "traefik", host))

	alias := waitServiceAlias(t, ns, "traefik", metav1.ConditionTrue, meshaliasv1.ReasonSynced)
	got := &networkingv1.ServiceEntry{}
	if err := k8s.Get(ctx, client.ObjectKeyFromObject(legacy), got); err != nil {
		t.Fatal(err)
	}
	if got.UID != legacy.UID {
		t.Fatalf("the entry was replaced, not taken over: UID %s -> %s", legacy.UID, got.UID)
	}
	if !slices.Equal(got.Spec.Addresses, []string{svc.Spec.ClusterIP}) || len(got.Spec.Endpoints) != 1 || got.Spec.Ports[0].Protocol != "HTTPS" {
		t.Errorf("the adopted entry is not rewritten to the contract: %v", &got.Spec)
	}
	if got.Labels[meshaliasv1.LabelManagedBy] != "meshalias" || got.Labels[meshaliasv1.LabelAdopted] != "true" {
		t.Errorf("labels %v", got.Labels)
	}
	if ref := metav1.GetControllerOf(got); ref == nil || ref.UID != alias.UID {
		t.Errorf("controller reference %v, want the alias", ref)
	}
	if !slices.Equal(alias.Status.Adopted, []string{"traefik-cutom-name"}) || !slices.Equal(alias.Status.ServiceEntries, []string{"traefik-cutom-name"}) {
		t.Errorf("status adopted %v entries %v", alias.Status.Adopted, alias.Status.ServiceEntries)
	}
	eventually(t, "an Adopted event on the alias", func() error {
		return eventWithReason(ns, "ServiceAlias", "traefik", "Adopted")
	})
	if got := entriesOf(t, ns, "ServiceAlias", "traefik"); len(got) != 1 {
		t.Errorf("the alias owns %d entries, want just the adopted one", len(got))
	}
}

func TestAdoptionStopsAtNamespaceAndSelector(t *testing.T) {
	nsLegacy, nsAlias := newNamespace(t), newNamespace(t)
	host := "x." + nsAlias + ".cutom-name"
	other := "y." + nsAlias + ".cutom-name"
	create(t,
		legacyEntry(nsLegacy, "elsewhere", host, dnsController),           // matches, but in another namespace
		legacyEntry(nsAlias, "someone-elses", other, map[string]string{}), // same namespace, no match
		service(nsAlias, "x"), serviceAlias(nsAlias, "x", "x", host, other))
	alias := waitServiceAlias(t, nsAlias, "x", metav1.ConditionFalse, meshaliasv1.ReasonHostConflict)
	msg := meta.FindStatusCondition(alias.Status.Conditions, meshaliasv1.ConditionReady).Message
	if !strings.Contains(msg, nsLegacy+"/elsewhere") || !strings.Contains(msg, nsAlias+"/someone-elses") {
		t.Errorf("message %q should name both entries it may not take over", msg)
	}
	if len(alias.Status.Adopted) != 0 {
		t.Errorf("adopted %v", alias.Status.Adopted)
	}
}

func eventWithReason(ns, kind, name, reason string) error {
	var list eventsv1.EventList
	if err := k8s.List(ctx, &list, client.InNamespace(ns)); err != nil {
		return err
	}
	var seen []string
	for _, e := range list.Items {
		if e.Regarding.Kind == kind && e.Regarding.Name == name && e.Reason == reason {
			return nil
		}
		seen = append(seen, e.Regarding.Kind+"/"+e.Regarding.Name+":"+e.Reason)
	}
	return fmt.Errorf("no %s event for %s %s among %v", reason, kind, name, seen)
}

// eventMentioning finds an event of a reason, on an object, whose note says something.
func eventMentioning(ns, kind, name, reason, says string) error {
	var list eventsv1.EventList
	if err := k8s.List(ctx, &list, client.InNamespace(ns)); err != nil {
		return err
	}
	for _, e := range list.Items {
		if e.Regarding.Kind == kind && e.Regarding.Name == name && e.Reason == reason {
			if strings.Contains(e.Note, says) {
				return nil
			}
			return fmt.Errorf("the %s event says %q, not %q", reason, e.Note, says)
		}
	}
	return fmt.Errorf("no %s event for %s %s", reason, kind, name)
}
