package e2e_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"

	"istio.io/istio/pilot/pkg/simulation"
)

// checkEntry asserts the ServiceEntry contract for one alias host: the Service's ClusterIP as
// the address, the Service's DNS name as the one endpoint, an explicit protocol, the labels and
// a controller ownerReference to the alias.
func checkEntry(t *testing.T, se *unstructured.Unstructured, host, ownerKind string, owner *unstructured.Unstructured, clusterIP, service string, port int, protocol string) {
	t.Helper()
	name := se.GetNamespace() + "/" + se.GetName()
	if got := stringsAt(se, "spec", "hosts"); !slices.Equal(got, []string{host}) {
		t.Errorf("%s: hosts %v, want [%s]", name, got, host)
	}
	if got := stringsAt(se, "spec", "addresses"); !slices.Equal(got, []string{clusterIP}) {
		t.Errorf("%s: addresses %v, want [%s]", name, got, clusterIP)
	}
	if got := str(se.Object, "spec", "resolution"); got != "DNS" {
		t.Errorf("%s: resolution %q, want DNS", name, got)
	}
	if got := str(se.Object, "spec", "location"); got != "MESH_INTERNAL" {
		t.Errorf("%s: location %q, want MESH_INTERNAL", name, got)
	}
	eps, _, _ := unstructured.NestedSlice(se.Object, "spec", "endpoints")
	wantEP := service + "." + se.GetNamespace() + ".svc.cluster.local"
	if len(eps) != 1 || str(eps[0].(map[string]any), "address") != wantEP {
		t.Errorf("%s: endpoints %v, want one, %s", name, eps, wantEP)
	}
	ports, _, _ := unstructured.NestedSlice(se.Object, "spec", "ports")
	if len(ports) != 1 {
		t.Errorf("%s: ports %v, want one", name, ports)
	} else {
		p := ports[0].(map[string]any)
		if n, _ := p["number"].(int64); n != int64(port) || p["protocol"] != protocol {
			t.Errorf("%s: port %v, want %d/%s", name, p, port, protocol)
		}
	}
	labels := se.GetLabels()
	for k, v := range map[string]string{labelManagedBy: "meshalias", labelOwnerKind: ownerKind, labelOwnerName: owner.GetName()} {
		if labels[k] != v {
			t.Errorf("%s: label %s=%q, want %q", name, k, labels[k], v)
		}
	}
	ref := controllerRef(se)
	if ref == nil || ref.Kind != ownerKind || ref.Name != owner.GetName() || ref.UID != owner.GetUID() || ref.APIVersion != "meshalias.io/v1alpha1" {
		t.Errorf("%s: controller ownerReference %+v, want %s %s (uid %s)", name, ref, ownerKind, owner.GetName(), owner.GetUID())
	}
}

// simulationResult is what a call should match; an empty listener is not compared.
func simulationResult(listener, cluster string) simulation.Result {
	return simulation.Result{ListenerMatched: listener, ClusterMatched: cluster}
}

func sortedStrings(s ...string) []string {
	slices.Sort(s)
	return s
}

func asObjects(us []*unstructured.Unstructured) []runtime.Object {
	out := make([]runtime.Object, 0, len(us))
	for _, u := range us {
		out = append(out, u)
	}
	return out
}

func describe(c *metav1.Condition) string {
	if c == nil {
		return "absent"
	}
	return fmt.Sprintf("%s/%s", c.Status, c.Reason)
}

func join(s []string) string { return "[" + strings.Join(s, ", ") + "]" }

// errString is an error with a fixed message, for poll checks.
type errString string

func (e errString) Error() string { return string(e) }

// waitForNextSecond returns once the wall clock is in a later second than ts, so that an object
// created now gets a strictly later creationTimestamp.
func waitForNextSecond(ts time.Time) {
	next := ts.Truncate(time.Second).Add(time.Second)
	if d := time.Until(next); d > 0 {
		time.Sleep(d + 10*time.Millisecond)
	}
}
