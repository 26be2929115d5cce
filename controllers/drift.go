package controllers

import (
	"bytes"
	"context"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
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
// second would otherwise fill the namespace's events.
const driftEventEvery = time.Minute

// driftWatch finds who changed an entry, and says so at most once a minute per entry.
type driftWatch struct {
	// reader reads from the API server: the cache strips managedFields, which name the
	// writers. It is read only when an entry is about to be repaired.
	reader client.Reader

	mu   sync.Mutex
	last map[client.ObjectKey]time.Time
}

// writers names the field managers, other than meshalias, that own fields of an entry's
// spec, labels or owners.
func (d *driftWatch) writers(ctx context.Context, se *networkingv1.ServiceEntry) []string {
	var live networkingv1.ServiceEntry
	if err := d.reader.Get(ctx, client.ObjectKeyFromObject(se), &live); err != nil {
		return nil
	}
	var managers []string
	for _, mf := range live.ManagedFields {
		if mf.Manager == FieldManager || mf.FieldsV1 == nil {
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

// due tells whether an entry's next DriftRepaired event may be raised now.
func (d *driftWatch) due(key client.ObjectKey, now time.Time) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.last == nil {
		d.last = map[client.ObjectKey]time.Time{}
	}
	if last, ok := d.last[key]; ok && now.Sub(last) < driftEventEvery {
		return false
	}
	d.last[key] = now
	return true
}
