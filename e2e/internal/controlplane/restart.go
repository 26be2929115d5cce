package controlplane

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/meshalias/meshalias/e2e/internal/poll"
)

// RestartAPIServer stops kube-apiserver, as a control-plane upgrade or a crash would, and
// starts it again on the same address, with the same certificates (run with CertDir) and the
// same etcd. It returns how long the apiserver was out of reach (from the stop until the
// admin's client reads through it again) and when it was ready again: its /readyz passes
// only once its RBAC informers have synced, and until then its authorizer may refuse
// requests that RBAC allows.
func (c *Cluster) RestartAPIServer(t *testing.T) (down time.Duration, ready time.Time) {
	t.Helper()
	api := c.env.ControlPlane.GetAPIServer()
	before := api.SecureServing.Port
	start := time.Now()
	if err := api.Stop(); err != nil {
		t.Fatalf("stopping kube-apiserver: %v", err)
	}
	if err := api.Start(); err != nil {
		t.Fatalf("starting kube-apiserver again: %v", err)
	}
	if after := api.SecureServing.Port; after != before {
		t.Fatalf("kube-apiserver came back on port %s, was %s: every client would have lost it", after, before)
	}
	poll.Until(t, poll.Timeout, "the restarted kube-apiserver to serve the admin", func() error {
		return c.Client.List(context.Background(), &corev1.NamespaceList{})
	})
	down = time.Since(start)
	raw, err := kubernetes.NewForConfig(c.Config)
	if err != nil {
		t.Fatal(err)
	}
	poll.Until(t, poll.Timeout, "the restarted kube-apiserver's /readyz", func() error {
		return raw.Discovery().RESTClient().Get().AbsPath("/readyz").Do(context.Background()).Error()
	})
	return down, time.Now()
}
