package controllers

import (
	"strings"
	"testing"

	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	"k8s.io/apimachinery/pkg/api/meta"
)

// Installed before Istio, the operator says what to install instead of failing on its first
// watch with "no matches for kind".
func TestServiceEntriesInstalled(t *testing.T) {
	without := meta.NewDefaultRESTMapper(nil)
	_, err := serviceEntriesInstalled(without)
	if err == nil || !strings.Contains(err.Error(), "Istio's ServiceEntry CRD (networking.istio.io/v1) is not installed") {
		t.Errorf("without the CRD: %v", err)
	}
	with := meta.NewDefaultRESTMapper(nil)
	with.Add(networkingv1.SchemeGroupVersion.WithKind("ServiceEntry"), meta.RESTScopeNamespace)
	if _, err := serviceEntriesInstalled(with); err != nil {
		t.Errorf("with the CRD: %v", err)
	}
}
