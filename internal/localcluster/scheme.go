package localcluster

import (
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	gatewayv1beta1 "sigs.k8s.io/gateway-api/apis/v1beta1"

	meshaliasv1 "github.com/meshalias/meshalias/api/v1alpha1"
)

// NewScheme knows every kind that the cluster serves: Kubernetes' own, Istio's networking
// API, Gateway API's ReferenceGrant and meshalias's, for clients and caches of it.
func NewScheme() *runtime.Scheme {
	s := runtime.NewScheme()
	add := runtime.NewSchemeBuilder(clientgoscheme.AddToScheme, networkingv1.AddToScheme, gatewayv1beta1.Install, meshaliasv1.AddToScheme)
	if err := add.AddToScheme(s); err != nil {
		panic(err) // only a programming error: the built-in schemes register cleanly
	}
	return s
}
