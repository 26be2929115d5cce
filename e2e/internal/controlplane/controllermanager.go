package controlplane

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/meshalias/meshalias/e2e/internal/proc"
)

// StartControllerManager runs kube-controller-manager against the cluster with only the
// garbage collector and the namespace controller: envtest runs none, so ownerReferences would
// never be collected and namespaces never finish deleting. Start it after the CRDs are
// installed, so that its first discovery already sees them. It is stopped before the
// apiserver, and the test fails if it exits on its own meanwhile.
func (c *Cluster) StartControllerManager(t *testing.T) *proc.Process {
	t.Helper()
	p, err := proc.Start(t, "kube-controller-manager", filepath.Join(c.BinDir, "kube-controller-manager"),
		"--kubeconfig="+c.AdminKubeconfig,
		"--authentication-kubeconfig="+c.AdminKubeconfig,
		"--authorization-kubeconfig="+c.AdminKubeconfig,
		"--controllers=garbage-collector-controller,namespace-controller",
		"--leader-elect=false",
		"--secure-port=0",
		"--use-service-account-credentials=false",
	)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if !p.Running() {
			t.Errorf("kube-controller-manager exited early: %v\n%s", p.ExitError(), p.Tail(30))
			return
		}
		_ = p.Stop(10 * time.Second) // its exit code on SIGTERM is not what is tested
	})
	return p
}
