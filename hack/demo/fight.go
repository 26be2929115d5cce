package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/meshalias/meshalias/internal/audit"
)

// legacyManager is the field manager the legacy controller writes with.
const legacyManager = "dns-controller"

// fightScene plays the takeover's usual slip: the legacy controller still runs for a few
// seconds and writes its address-less entry back every 250 ms. meshalias puts the entry back
// after each write, and its DriftRepaired event names the other writer.
func fightScene(ctx context.Context, c client.Client) error {
	step("The legacy dns-controller still runs for 3 seconds after the takeover: every 250 ms it strips traefik-cutom-name's addresses again")
	key := types.NamespacedName{Namespace: ns, Name: "traefik-cutom-name"}
	writes := 0
	for end := time.Now().Add(3 * time.Second); time.Now().Before(end); time.Sleep(250 * time.Millisecond) {
		se := &networkingv1.ServiceEntry{}
		if err := c.Get(ctx, key, se); err != nil {
			return err
		}
		legacy := legacyEntry()
		se.Spec.Addresses, se.Spec.Endpoints, se.Spec.Ports = nil, nil, legacy.Spec.Ports
		if err := c.Update(ctx, se, client.FieldOwner(legacyManager)); err == nil {
			writes++
		}
	}
	fmt.Printf("    dns-controller wrote the entry %d times\n", writes)

	traefik := &corev1.Service{}
	if err := c.Get(ctx, types.NamespacedName{Namespace: ns, Name: "traefik"}, traefik); err != nil {
		return err
	}
	var note string
	err := waitUntil(ctx, func() error {
		se := &networkingv1.ServiceEntry{}
		if err := c.Get(ctx, key, se); err != nil {
			return err
		}
		if !slices.Equal(se.Spec.Addresses, traefik.Spec.ClusterIPs) {
			return fmt.Errorf("traefik-cutom-name still has addresses %v, want traefik's ClusterIP %v", se.Spec.Addresses, traefik.Spec.ClusterIPs)
		}
		var events eventsv1.EventList
		if err := c.List(ctx, &events, client.InNamespace(ns), client.MatchingFields{"reason": audit.EventReasonDriftRepaired}); err != nil {
			return err
		}
		for _, e := range events.Items {
			if r, ok := audit.ParseRepair(e.Namespace, e.Note, e.EventTime.Time); ok && r.Entry == key.Name && slices.Contains(r.Writers, legacyManager) {
				note = fmt.Sprintf("%s %s %s %s/%s: %s", e.EventTime.Format(time.TimeOnly), e.Type, e.Reason, e.Regarding.Kind, e.Regarding.Name, e.Note)
				return nil
			}
		}
		return errors.New("no DriftRepaired event names " + legacyManager)
	})
	if err != nil {
		return fmt.Errorf("after the fight: %w", err)
	}
	step("meshalias put the entry back each time, and says who changed it (kubectl get events -n abc --field-selector reason=DriftRepaired)")
	fmt.Println("    " + note)
	if repairs, err := driftRepairs(ns); err == nil {
		fmt.Printf("    meshalias_drift_repairs_total{namespace=%q} %d\n", ns, repairs)
	}
	fmt.Println("    The next events come at most once a minute and count the repairs in between; kubectl meshalias audit lists an entry repaired more than 10 times in an hour as fought-over.")
	return nil
}

// driftRepairs reads the operator's repair counter for a namespace from its metrics registry:
// the demo runs the operator in this process.
func driftRepairs(namespace string) (int, error) {
	families, err := metrics.Registry.Gather()
	if err != nil {
		return 0, err
	}
	for _, f := range families {
		if f.GetName() != "meshalias_drift_repairs_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "namespace" && l.GetValue() == namespace {
					return int(m.GetCounter().GetValue()), nil
				}
			}
		}
	}
	return 0, errors.New("no meshalias_drift_repairs_total for " + namespace)
}
