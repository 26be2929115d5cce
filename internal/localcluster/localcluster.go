// Package localcluster starts a real, local Kubernetes control plane (etcd, kube-apiserver
// and, on request, kube-controller-manager) with meshalias's and Istio's CRDs installed. The
// demo and the integration tests run on it; hack/build-control-plane.sh builds its binaries.
package localcluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// Options say what to start.
type Options struct {
	// RepoRoot is the meshalias checkout: the CRDs and the control-plane build live there.
	RepoRoot string
	// ControllerManager also starts kube-controller-manager with the garbage collector and the
	// namespace controller, so that ownerReferences and namespace deletion work as in a cluster.
	ControllerManager bool
	// ServiceCIDR widens the Service range for benchmarks; the default holds about 250.
	ServiceCIDR string
	// Log receives the child processes' output; nil discards it.
	Log *os.File
}

// Cluster is a running local control plane.
type Cluster struct {
	Config *rest.Config
	// Kubeconfig is a file with admin credentials, for kubectl and kube-controller-manager.
	Kubeconfig string
	// BinDir holds etcd, kube-apiserver, kube-controller-manager and kubectl.
	BinDir string

	env *envtest.Environment
	kcm *Process
	dir string
}

// Start brings up the control plane and installs the CRDs.
func Start(opts Options) (*Cluster, error) {
	bin, err := BinDir(opts.RepoRoot)
	if err != nil {
		return nil, err
	}
	istioCRDs, err := IstioCRDs(opts.RepoRoot)
	if err != nil {
		return nil, err
	}
	grantCRD, err := ReferenceGrantCRD(opts.RepoRoot)
	if err != nil {
		return nil, err
	}
	env := &envtest.Environment{
		BinaryAssetsDirectory: bin,
		CRDInstallOptions: envtest.CRDInstallOptions{
			Paths:              []string{filepath.Join(opts.RepoRoot, "config", "crd", "bases"), istioCRDs, grantCRD},
			ErrorIfPathMissing: true,
		},
	}
	if opts.ServiceCIDR != "" {
		env.ControlPlane.GetAPIServer().Configure().Set("service-cluster-ip-range", opts.ServiceCIDR)
	}
	if opts.Log != nil {
		env.ControlPlane.GetAPIServer().Out, env.ControlPlane.GetAPIServer().Err = opts.Log, opts.Log
	}
	cfg, err := env.Start()
	if err != nil {
		return nil, fmt.Errorf("starting etcd and kube-apiserver from %s: %w", bin, err)
	}
	c := &Cluster{Config: cfg, BinDir: bin, env: env}
	if err := c.writeKubeconfig(); err != nil {
		_ = c.Stop()
		return nil, err
	}
	if opts.ControllerManager {
		if err := c.startControllerManager(opts.Log); err != nil {
			_ = c.Stop()
			return nil, err
		}
	}
	return c, nil
}

func (c *Cluster) writeKubeconfig() error {
	user, err := c.env.AddUser(envtest.User{Name: "admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return fmt.Errorf("creating an admin user: %w", err)
	}
	raw, err := user.KubeConfig()
	if err != nil {
		return err
	}
	c.dir, err = os.MkdirTemp("", "meshalias-cluster-")
	if err != nil {
		return err
	}
	c.Kubeconfig = filepath.Join(c.dir, "kubeconfig")
	return os.WriteFile(c.Kubeconfig, raw, 0o600)
}

// startControllerManager runs kube-controller-manager with just the garbage collector, the
// namespace controller and the admission policies' type checker: envtest runs none, so
// ownerReferences would never be collected.
func (c *Cluster) startControllerManager(log *os.File) (err error) {
	c.kcm, err = StartProcess(log, nil, filepath.Join(c.BinDir, "kube-controller-manager"),
		"--kubeconfig="+c.Kubeconfig,
		"--authentication-kubeconfig="+c.Kubeconfig,
		"--authorization-kubeconfig="+c.Kubeconfig,
		"--controllers=garbage-collector-controller,namespace-controller,validatingadmissionpolicy-status-controller",
		"--leader-elect=false",
		"--secure-port=0",
		"--use-service-account-credentials=false",
	)
	return err
}

// Stop stops everything Start started and removes its files.
func (c *Cluster) Stop() error {
	var errs []error
	if c.kcm != nil {
		_ = c.kcm.Stop(10 * time.Second)
	}
	if err := c.env.Stop(); err != nil {
		errs = append(errs, err)
	}
	if c.dir != "" {
		_ = os.RemoveAll(c.dir)
	}
	return errors.Join(errs...)
}

// BinDir builds, once per machine, and returns the folder of the control-plane binaries.
// KUBEBUILDER_ASSETS, when set, wins.
func BinDir(repoRoot string) (string, error) {
	if dir := os.Getenv("KUBEBUILDER_ASSETS"); dir != "" {
		return dir, nil
	}
	cmd := exec.CommandContext(context.Background(), filepath.Join(repoRoot, "hack", "build-control-plane.sh"))
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("building the control plane with hack/build-control-plane.sh: %w", err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	return lines[len(lines)-1], nil
}

// IstioCRDs is the file of Istio's CRDs that ships in the istio.io/api module.
func IstioCRDs(repoRoot string) (string, error) {
	return moduleFile(repoRoot, "istio.io/api", "kubernetes", "customresourcedefinitions.gen.yaml")
}

// ReferenceGrantCRD is the file of Gateway API's ReferenceGrant CRD, which ships in the
// sigs.k8s.io/gateway-api module: cross-namespace ServiceAliases need it.
func ReferenceGrantCRD(repoRoot string) (string, error) {
	return moduleFile(repoRoot, "sigs.k8s.io/gateway-api", "config", "crd", "standard", "gateway.networking.k8s.io_referencegrants.yaml")
}

// moduleFile is a file of a module that meshalias's go.mod requires, in the module cache.
func moduleFile(repoRoot, module string, path ...string) (string, error) {
	cmd := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", module)
	cmd.Dir = repoRoot
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("locating the %s module: %w: %s", module, err, stderr.String())
	}
	file := filepath.Join(append([]string{strings.TrimSpace(string(out))}, path...)...)
	if _, err := os.Stat(file); err != nil {
		return "", fmt.Errorf("%s's CRDs: %w", module, err)
	}
	return file, nil
}

// RepoRoot walks up from dir to the folder holding meshalias's go.mod.
func RepoRoot(dir string) (string, error) {
	for d := dir; ; d = filepath.Dir(d) {
		if raw, err := os.ReadFile(filepath.Join(d, "go.mod")); err == nil && bytes.Contains(raw, []byte("module github.com/meshalias/meshalias\n")) {
			return d, nil
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("no meshalias checkout above %s", dir)
		}
	}
}

// AddUser provisions credentials for a user and groups, such as the operator's own
// ServiceAccount identity, so that it runs under RBAC rather than as admin.
func (c *Cluster) AddUser(u envtest.User) (*envtest.AuthenticatedUser, error) {
	return c.env.AddUser(u, nil)
}
