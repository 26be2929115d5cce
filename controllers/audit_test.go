package controllers_test

import (
	"fmt"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
)

// The operator audits every ServiceEntry, whoever wrote it: a gauge per namespace and a
// Warning event on each unsafe entry.
func TestContinuousAudit(t *testing.T) {
	ns := newNamespace(t)
	bad := legacyEntry(ns, "legacy", "legacy."+ns+".audit", nil)
	create(t, bad)
	eventually(t, "the gauge counts the unsafe entry", func() error { return gaugeIs(ns, 1) })
	eventually(t, "a Warning event on the entry", func() error { return eventWithReason(ns, "ServiceEntry", "legacy", "UnsafeServiceEntry") })

	// Someone fixes it by hand: the gauge follows.
	eventually(t, "giving the entry an address", func() error {
		if err := k8s.Get(ctx, client.ObjectKeyFromObject(bad), bad); err != nil {
			return err
		}
		bad.Spec.Addresses = []string{"10.0.0.77"}
		return k8s.Update(ctx, bad)
	})
	eventually(t, "the gauge drops to zero", func() error { return gaugeIs(ns, 0) })
}

func gaugeIs(ns string, want float64) error {
	m, err := namespaceSample("meshalias_unsafe_serviceentries", ns)
	if err != nil {
		return err
	}
	if got := m.GetGauge().GetValue(); got != want {
		return fmt.Errorf("meshalias_unsafe_serviceentries{namespace=%q} = %v, want %v", ns, got, want)
	}
	return nil
}

// namespaceSample is the operator's sample of a metric for one namespace.
func namespaceSample(name, ns string) (*dto.Metric, error) {
	families, err := metrics.Registry.Gather()
	if err != nil {
		return nil, err
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			if labelValue(m, "namespace") == ns {
				return m, nil
			}
		}
	}
	return nil, fmt.Errorf("no %s sample for namespace %s", name, ns)
}

func labelValue(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

// An entry that takes a Service's own name is unsafe even with an address: it takes that
// Service's HTTP traffic. A Service created after the entry turns the verdict, and one
// deleted turns it back.
func TestContinuousAuditFindsShadowingEntries(t *testing.T) {
	prod, other := newNamespace(t), newNamespace(t)
	shadow := legacyEntry(other, "payments-prod", "payments."+prod, nil)
	shadow.Spec.Addresses = []string{"10.0.0.78"}
	create(t, shadow)
	eventually(t, "an entry with an address, for no Service's name, is safe", func() error { return gaugeIs(other, 0) })

	svc := service(prod, "payments")
	create(t, svc)
	eventually(t, "the gauge counts the entry once the Service exists", func() error { return gaugeIs(other, 1) })
	eventually(t, "a Warning event on the entry", func() error {
		return eventWithReason(other, "ServiceEntry", "payments-prod", "UnsafeServiceEntry")
	})

	if err := k8s.Delete(ctx, svc); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the gauge drops once the Service is gone", func() error { return gaugeIs(other, 0) })
}
