package controlplane

import (
	"slices"

	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// Option changes how Run starts the control plane.
type Option func(*envtest.Environment)

// DualStackServiceRange is a Service range of both IP families, IPv4 first: a Service that asks
// for both (ipFamilyPolicy PreferDualStack or RequireDualStack) gets a ClusterIP from each, and
// its spec.clusterIP is the IPv4 one. /108 is the largest IPv6 range kube-apiserver accepts.
const DualStackServiceRange = "10.0.0.0/24,fd00::/108"

// ServiceClusterIPRange runs kube-apiserver with --service-cluster-ip-range=cidrs instead of
// envtest's 10.0.0.0/24: one CIDR, or one of each IP family separated by a comma for a
// dual-stack cluster (DualStackServiceRange).
func ServiceClusterIPRange(cidrs string) Option {
	return func(env *envtest.Environment) {
		env.ControlPlane.GetAPIServer().Configure().Set("service-cluster-ip-range", cidrs)
	}
}

// WithoutIstioCRDs starts the control plane with meshalias' CRDs only, as a cluster where
// meshalias is installed before Istio; InstallIstioCRDs adds Istio's later.
func WithoutIstioCRDs() Option {
	return func(env *envtest.Environment) {
		istio, _ := IstioCRDs() // Run has failed already if it can't be found
		env.CRDInstallOptions.Paths = slices.DeleteFunc(env.CRDInstallOptions.Paths, func(p string) bool { return p == istio })
	}
}

// CertDir keeps kube-apiserver's certificates, and its ServiceAccount signing key, in dir
// instead of a directory envtest deletes when the apiserver stops. RestartAPIServer needs it:
// a real kube-apiserver restarts with the same serving certificate and signing key, so the
// clients' CA and the operator's ServiceAccount token stay valid.
func CertDir(dir string) Option {
	return func(env *envtest.Environment) {
		env.ControlPlane.GetAPIServer().CertDir = dir
	}
}
