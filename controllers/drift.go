package controllers

import (
	"bytes"
	"context"
	"hash/fnv"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/proto"
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
)

// driftRepairs counts, per namespace, the entries meshalias put back after another writer
// changed them: a number that keeps climbing means two controllers fight over an entry.
var driftRepairs = prometheus.NewCounterVec(prometheus.CounterOpts{
	Name: "meshalias_drift_repairs_total",
	Help: "ServiceEntries that meshalias restored after another field manager changed them, by namespace.",
}, []string{"namespace"})

func init() {
	metrics.Registry.MustRegister(driftRepairs)
}

// driftEventEvery bounds the DriftRepaired events of one entry: a writer that fights every
// second would otherwise fill the namespace's events. Each event says how many repairs it
// stands for, so that the audit still counts them all.
const driftEventEvery = time.Minute

// driftWatch finds who changed an entry, and reports its repairs: the first at once, then at
// most one event a minute per entry, raised at the end of the minute if repairs came in it.
type driftWatch struct {
	// reader reads from the API server: the cache strips managedFields, which name the
	// writers. It is read only when an entry may be about to be repaired.
	reader client.Reader
	// every is driftEventEvery, shorter in tests.
	every time.Duration

	mu      sync.Mutex
	entries map[client.ObjectKey]*driftLog
	// written holds, per managed entry, the spec this process last wrote to it or found in
	// it, hashed, and that generation: when an entry differs from a spec meshalias still
	// wants, and its generation is not older, someone else changed it, even a writer that
	// left no trace in managedFields because it only removed fields. Hashes keep it to a few
	// bytes per entry.
	written map[uint64]writtenSpec
}

// writtenSpec is what meshalias last wrote to, or found in, an entry.
type writtenSpec struct {
	spec       uint64
	generation int64
}

// driftLog is one entry's repairs since its last DriftRepaired event.
type driftLog struct {
	reported time.Time
	pending  int
	// raise raises the event for the pending repairs, with the latest repair's alias and
	// writers. Set while a flush is scheduled.
	raise func(repairs int, since time.Time)
}

// wrote remembers the spec meshalias just wrote to an entry, and the generation it gave it.
func (d *driftWatch) wrote(se *networkingv1.ServiceEntry, generation int64) {
	d.remember(se, generation, true)
}

// forget drops a deleted entry.
func (d *driftWatch) forget(se *networkingv1.ServiceEntry) {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.written, entryKey(se))
}

// saw remembers an entry found as meshalias wants it, unless it knows the entry already: after
// a restart, that is as good as having written it.
func (d *driftWatch) saw(se *networkingv1.ServiceEntry) {
	d.remember(se, se.Generation, false)
}

// remember records an entry's spec and generation, over what it knew of the entry only if
// overwrite is set. The spec is hashed only when it is recorded.
func (d *driftWatch) remember(se *networkingv1.ServiceEntry, generation int64, overwrite bool) {
	key := entryKey(se)
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, known := d.written[key]; known && !overwrite {
		return
	}
	if d.written == nil {
		d.written = map[uint64]writtenSpec{}
	}
	d.written[key] = writtenSpec{spec: specHash(se), generation: generation}
}

// check tells whether another writer changed a managed entry that differs from want, and who.
// When this process knows what it last wrote to the entry, a different wish of its own means
// an update, and an older generation a cache that has not seen the write yet: neither is
// drift, and neither costs a read. Otherwise it reads the entry's managedFields.
func (d *driftWatch) check(ctx context.Context, existing, want *networkingv1.ServiceEntry) (drifted bool, writers []string) {
	d.mu.Lock()
	last, known := d.written[entryKey(want)]
	d.mu.Unlock()
	if known && (last.spec != specHash(want) || existing.Generation < last.generation) {
		return false, nil
	}
	writers = d.writers(ctx, existing)
	// Known and still wanted: someone else changed it, even one that only removed fields
	// and so owns none that managedFields could name.
	return known || len(writers) > 0, writers
}

func entryKey(se *networkingv1.ServiceEntry) uint64 {
	h := fnv.New64a()
	h.Write([]byte(se.Namespace))
	h.Write([]byte{'/'})
	h.Write([]byte(se.Name))
	return h.Sum64()
}

// specHash hashes an entry's spec, with deterministic protobuf encoding. A spec that cannot be
// encoded hashes to 0, which check takes for a wish of its own.
func specHash(se *networkingv1.ServiceEntry) uint64 {
	raw, err := proto.MarshalOptions{Deterministic: true}.Marshal(&se.Spec)
	if err != nil {
		return 0
	}
	h := fnv.New64a()
	h.Write(raw)
	return h.Sum64()
}

// writers reads the entry from the API server and names who changed it since meshalias last
// wrote it.
func (d *driftWatch) writers(ctx context.Context, se *networkingv1.ServiceEntry) []string {
	var live networkingv1.ServiceEntry
	if err := d.reader.Get(ctx, client.ObjectKeyFromObject(se), &live); err != nil {
		return nil
	}
	return changedBy(live.ManagedFields)
}

// changedBy names the field managers, other than meshalias, that own fields of an entry's spec,
// labels or owners and wrote no earlier than meshalias's own last write. A manager that only
// shares fields with meshalias, such as the one that created an adopted entry long ago, did
// not change it: server-side apply keeps it as a co-owner of every field meshalias set to the
// same value.
func changedBy(managed []metav1.ManagedFieldsEntry) []string {
	var ours time.Time
	for _, mf := range managed {
		if mf.Manager == FieldManager && mf.Time != nil && mf.Time.After(ours) {
			ours = mf.Time.Time
		}
	}
	var managers []string
	for _, mf := range managed {
		if mf.Manager == FieldManager || mf.FieldsV1 == nil || mf.Time != nil && mf.Time.Time.Before(ours) {
			continue
		}
		for _, field := range [][]byte{[]byte(`"f:spec"`), []byte(`"f:labels"`), []byte(`"f:ownerReferences"`)} {
			if bytes.Contains(mf.FieldsV1.Raw, field) {
				managers = append(managers, mf.Manager)
				break
			}
		}
	}
	slices.Sort(managers)
	return slices.Compact(managers)
}

// repaired counts one repair of an entry. raise raises its DriftRepaired event, for some number
// of repairs since some time: now if the entry's last event is a minute old, else at the end
// of that minute, once, for all the repairs until then.
func (d *driftWatch) repaired(key client.ObjectKey, raise func(repairs int, since time.Time)) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.entries == nil {
		d.entries = map[client.ObjectKey]*driftLog{}
	}
	now := time.Now()
	l, seen := d.entries[key]
	if !seen || now.Sub(l.reported) >= d.every && l.raise == nil {
		since := now
		if seen {
			since = l.reported
		}
		d.entries[key] = &driftLog{reported: now}
		raise(1, since)
		return
	}
	l.pending++
	if l.raise == nil {
		time.AfterFunc(l.reported.Add(d.every).Sub(now), func() { d.flush(key) })
	}
	l.raise = raise
}

// flush raises the event for an entry's pending repairs.
func (d *driftWatch) flush(key client.ObjectKey) {
	d.mu.Lock()
	l := d.entries[key]
	repairs, since, raise := l.pending, l.reported, l.raise
	l.reported, l.pending, l.raise = time.Now(), 0, nil
	d.mu.Unlock()
	raise(repairs, since)
}
