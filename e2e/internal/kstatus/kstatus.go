// Package kstatus judges custom resources the way GitOps tools do. Flux, Argo CD and
// `kubectl wait`-style tooling built on sigs.k8s.io/cli-utils decide "is it done?" from
// observedGeneration and the Ready / Reconciling / Stalled conditions alone, so the tests ask
// the same library rather than reading the conditions themselves.
package kstatus

import (
	"fmt"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
)

// Compute returns the kstatus of an object. Typed objects are converted to unstructured first,
// because that is all kstatus reads.
func Compute(obj runtime.Object) (*status.Result, error) {
	u, ok := obj.(*unstructured.Unstructured)
	if !ok {
		m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
		if err != nil {
			return nil, err
		}
		u = &unstructured.Unstructured{Object: m}
	}
	return status.Compute(u)
}

// Want returns nil when obj's kstatus is want, else an error naming the status and kstatus's
// message, so a polling loop can retry on it and report the last reason on timeout.
func Want(obj runtime.Object, want status.Status) error {
	res, err := Compute(obj)
	if err != nil {
		return err
	}
	if res.Status != want {
		return fmt.Errorf("kstatus %s (%s), want %s", res.Status, res.Message, want)
	}
	return nil
}
