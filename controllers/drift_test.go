package controllers

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	networkingapi "istio.io/api/networking/v1alpha3"
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// raised is one DriftRepaired event as driftWatch asked for it.
type raised struct {
	repairs int
	since   time.Time
}

// TestDriftEventsCountEveryRepair checks what a person reading the events, or the audit adding
// them up, gets from a writer that fights: the first repair at once, then one event per
// interval standing for every repair in it, and none lost.
func TestDriftEventsCountEveryRepair(t *testing.T) {
	d := &driftWatch{every: 200 * time.Millisecond}
	key := client.ObjectKey{Namespace: "abc", Name: "traefik-custom-name"}
	events := make(chan raised, 10)
	raise := func(repairs int, since time.Time) { events <- raised{repairs, since} }
	next := func(what string) raised {
		t.Helper()
		select {
		case e := <-events:
			return e
		case <-time.After(10 * time.Second):
			t.Fatalf("no event for %s", what)
			return raised{}
		}
	}

	start := time.Now()
	d.repaired(key, raise)
	first := next("the first repair")
	if first.repairs != 1 || first.since.Before(start) {
		t.Errorf("first event: %+v, want 1 repair since now", first)
	}
	for range 5 {
		d.repaired(key, raise)
	}
	select {
	case e := <-events:
		t.Fatalf("an event within the interval of the first: %+v", e)
	default:
	}
	flushed := next("the repairs within the interval")
	if flushed.repairs != 5 || !flushed.since.Equal(first.since) {
		t.Errorf("flushed event: %+v, want 5 repairs since the first event (%s)", flushed, first.since)
	}

	// After a quiet interval, the next repair is reported at once again.
	time.Sleep(2 * d.every)
	d.repaired(key, raise)
	if e := next("a repair after a quiet interval"); e.repairs != 1 {
		t.Errorf("after a quiet interval: %+v, want 1 repair", e)
	}
	other := client.ObjectKey{Namespace: "abc", Name: "other"}
	d.repaired(other, raise)
	if e := next("another entry's first repair"); e.repairs != 1 {
		t.Errorf("another entry's first repair: %+v, want 1, whatever the first entry's interval", e)
	}
}

func TestChangedByNamesOnlyLaterWriters(t *testing.T) {
	at := func(s int) *metav1.Time { return &metav1.Time{Time: time.Date(2026, 11, 28, 10, 0, s, 0, time.UTC)} }
	fields := func(raw string) *metav1.FieldsV1 { return &metav1.FieldsV1{Raw: []byte(raw)} }
	managed := []metav1.ManagedFieldsEntry{
		// Created the entry that meshalias adopted, and still co-owns its hosts.
		{Manager: "dns-controller-v0", Time: at(0), FieldsV1: fields(`{"f:spec":{"f:hosts":{}}}`)},
		{Manager: FieldManager, Time: at(10), FieldsV1: fields(`{"f:spec":{"f:hosts":{},"f:addresses":{}}}`)},
		// Wrote after meshalias, in the same second, and later.
		{Manager: "kubectl-edit", Time: at(10), FieldsV1: fields(`{"f:metadata":{"f:labels":{"f:x":{}}}}`)},
		{Manager: "dns-controller", Time: at(12), FieldsV1: fields(`{"f:spec":{"f:ports":{}}}`)},
		// Wrote after meshalias, but only its status.
		{Manager: "status-writer", Time: at(13), FieldsV1: fields(`{"f:status":{}}`)},
	}
	if got := changedBy(managed); !slices.Equal(got, []string{"dns-controller", "kubectl-edit"}) {
		t.Errorf("changedBy = %v, want [dns-controller kubectl-edit]", got)
	}
}

// liveEntry is a client.Reader that serves one entry, as the API server would, and counts reads.
type liveEntry struct {
	entry *networkingv1.ServiceEntry
	reads int
}

func (l *liveEntry) Get(_ context.Context, _ client.ObjectKey, obj client.Object, _ ...client.GetOption) error {
	l.reads++
	l.entry.DeepCopyInto(obj.(*networkingv1.ServiceEntry))
	return nil
}

func (l *liveEntry) List(context.Context, client.ObjectList, ...client.ListOption) error {
	return errors.New("not served")
}

func TestDriftCheck(t *testing.T) {
	entry := func(generation int64, addresses ...string) *networkingv1.ServiceEntry {
		return &networkingv1.ServiceEntry{
			ObjectMeta: metav1.ObjectMeta{Namespace: "abc", Name: "traefik-custom-name", Generation: generation},
			Spec:       networkingapi.ServiceEntry{Hosts: []string{"traefik.custom-name"}, Addresses: addresses},
		}
	}
	want := entry(0, "10.0.0.7")
	stripped := entry(3) // what another writer left: no addresses
	stripped.ManagedFields = []metav1.ManagedFieldsEntry{{Manager: FieldManager, Time: &metav1.Time{Time: time.Now()}, FieldsV1: &metav1.FieldsV1{Raw: []byte(`{"f:spec":{}}`)}}}

	t.Run("after a restart, only managedFields tell", func(t *testing.T) {
		live := &liveEntry{entry: stripped}
		d := &driftWatch{reader: live}
		if drifted, writers := d.check(context.Background(), stripped, want); drifted || writers != nil || live.reads != 1 {
			t.Errorf("drifted %v, writers %v, reads %d: want no drift named, one read", drifted, writers, live.reads)
		}
	})
	t.Run("what meshalias wrote, changed by a writer that only removed fields", func(t *testing.T) {
		live := &liveEntry{entry: stripped}
		d := &driftWatch{reader: live}
		d.wrote(want, 2)
		if drifted, _ := d.check(context.Background(), stripped, want); !drifted {
			t.Error("a later generation than meshalias's write, differing from the spec it still wants: want drift")
		}
	})
	t.Run("a cache that has not seen meshalias's write yet", func(t *testing.T) {
		live := &liveEntry{entry: stripped}
		d := &driftWatch{reader: live}
		d.wrote(want, 4)
		if drifted, _ := d.check(context.Background(), stripped, want); drifted || live.reads != 0 {
			t.Errorf("drifted %v after %d reads: an older generation is a stale cache, no drift and no read", drifted, live.reads)
		}
	})
	t.Run("meshalias's own wish changed", func(t *testing.T) {
		live := &liveEntry{entry: stripped}
		d := &driftWatch{reader: live}
		d.saw(entry(3))
		if drifted, _ := d.check(context.Background(), entry(3), want); drifted || live.reads != 0 {
			t.Errorf("drifted %v after %d reads: an update of meshalias's own is no drift, and needs no read", drifted, live.reads)
		}
	})
}
