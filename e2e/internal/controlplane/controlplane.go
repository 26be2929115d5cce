// Package controlplane starts a real etcd and kube-apiserver (envtest) with meshalias' and
// Istio's CRDs installed, for tests that treat the operator as a black box.
package controlplane

import (
	"os"
	"path/filepath"
	"testing"

	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// Cluster is a running control plane.
type Cluster struct {
	// Config and Client are the admin's.
	Config *rest.Config
	Client client.Client
	// AdminKubeconfig is a kubeconfig file for a user in system:masters, for the child
	// processes that take one (kubectl-meshalias, kube-controller-manager).
	AdminKubeconfig string
	// BinDir holds etcd, kube-apiserver and kube-controller-manager.
	BinDir string

	env *envtest.Environment
}

// Start runs a control plane for the duration of the test and returns its admin config and an
// unstructured-friendly client. The CRDs come from the repo's config/crd/bases, the same YAML
// users apply, never from Go types.
func Start(t *testing.T) (*rest.Config, client.Client) {
	t.Helper()
	c := Run(t)
	return c.Config, c.Client
}

// Run is Start, returning the whole Cluster. Options change how the apiserver runs; without
// them it is envtest's default: a single-stack IPv4 Service range, 10.0.0.0/24.
func Run(t *testing.T, opts ...Option) *Cluster {
	t.Helper()
	assets, err := assetsDir()
	if err != nil {
		t.Fatal(err)
	}
	istio, err := IstioCRDs()
	if err != nil {
		t.Fatal(err)
	}
	env := &envtest.Environment{
		BinaryAssetsDirectory: assets,
		CRDInstallOptions: envtest.CRDInstallOptions{
			Paths:              []string{filepath.Join(RepoRoot(), "config", "crd", "bases"), istio},
			ErrorIfPathMissing: true,
		},
	}
	for _, o := range opts {
		o(env)
	}
	cfg, err := env.Start()
	if err != nil {
		t.Fatalf("starting kube-apiserver from %s: %v", assets, err)
	}
	t.Cleanup(func() {
		if err := env.Stop(); err != nil {
			t.Errorf("stopping control plane: %v", err)
		}
	})
	c, err := client.New(cfg, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	cluster := &Cluster{Config: cfg, Client: c, BinDir: assets, env: env}
	cluster.AdminKubeconfig = cluster.writeKubeconfig(t, "admin", envtest.User{Name: "admin", Groups: []string{"system:masters"}})
	return cluster
}

// InstallIstioCRDs installs Istio's CRDs, from the same bundle Run installs by default, and
// waits until the API server serves them.
func (c *Cluster) InstallIstioCRDs(t *testing.T) {
	t.Helper()
	istio, err := IstioCRDs()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := envtest.InstallCRDs(c.Config, envtest.CRDInstallOptions{Paths: []string{istio}, ErrorIfPathMissing: true}); err != nil {
		t.Fatalf("installing Istio's CRDs: %v", err)
	}
}

// AddUser returns credentials, signed by the apiserver's client CA, for any user name and
// groups.
func (c *Cluster) AddUser(t *testing.T, user envtest.User) *rest.Config {
	t.Helper()
	u, err := c.env.AddUser(user, nil)
	if err != nil {
		t.Fatalf("adding user %s: %v", user.Name, err)
	}
	return u.Config()
}

// writeKubeconfig writes a kubeconfig file for a user signed by envtest's client CA.
func (c *Cluster) writeKubeconfig(t *testing.T, file string, user envtest.User) string {
	t.Helper()
	u, err := c.env.AddUser(user, nil)
	if err != nil {
		t.Fatalf("adding user %s: %v", user.Name, err)
	}
	raw, err := u.KubeConfig()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), file+".kubeconfig")
	if err := os.WriteFile(path, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}
