package e2e_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/meshalias/meshalias/e2e/internal/aliasdomain"
	"github.com/meshalias/meshalias/e2e/internal/controlplane"
	"github.com/meshalias/meshalias/e2e/internal/operator"
	"github.com/meshalias/meshalias/e2e/internal/poll"
)

// waitingForIstio is the one line the operator logs while Istio's CRDs are missing.
const waitingForIstio = "Istio's ServiceEntry CRD (networking.istio.io/v1) is not installed; waiting for it"

// TestInstalledBeforeIstio installs meshalias on a cluster without Istio, as a GitOps tool that
// applies both at once may: the operator stays up, not ready, says once what it waits for,
// and serves the alias applied meanwhile as soon as Istio's CRDs arrive, with no restart.
func TestInstalledBeforeIstio(t *testing.T) {
	ctx := context.Background()
	bins := buildBinaries(t)
	cluster := controlplane.Run(t, controlplane.WithoutIstioCRDs())
	c := cluster.Client
	installDefault(t, cluster)
	probes := freeAddress(t)
	op := operator.New(t, bins.Manager, operatorKubeconfig(t, cluster), append(slices.Clone(shippedFlags),
		"--leader-election-namespace="+operatorNamespace,
		"--metrics-bind-address=0",
		"--health-probe-bind-address="+probes,
	)...)
	op.Start(t)
	step := steps(t)
	alive := func(check func() error) func() error { return whileAlive(op, check) }
	const namespace, service, host = "early", "web", "web.early-name"

	step("without Istio the operator stays up, not ready, and says why once", func(t *testing.T) {
		poll.Until(t, poll.Timeout, "/readyz to say what the operator waits for", alive(func() error {
			return probe(probes, "/readyz", http.StatusServiceUnavailable, waitingForIstio)
		}))
		if err := probe(probes, "/healthz", http.StatusOK, "ok"); err != nil {
			t.Errorf("a waiting operator is alive: %v", err)
		}
		// What a GitOps tool applies with meshalias, before Istio is there.
		must(t, c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}}))
		must(t, c.Create(ctx, httpService(namespace, service)))
		must(t, c.Create(ctx, aliasdomain.ForNamespaces("early-name", namespace)))
		create(t, c, `
apiVersion: meshalias.io/v1alpha1
kind: ServiceAlias
metadata: {name: `+service+`, namespace: `+namespace+`}
spec:
  service: {name: `+service+`}
  hosts: [`+host+`]
`)
		// Several of its polls later, it still waits, quietly.
		time.Sleep(3 * 2 * time.Second)
		if err := op.Alive(); err != nil {
			t.Fatal(err)
		}
		if lines := op.Grep(waitingForIstio); len(lines) != 1 {
			t.Errorf("the operator logged %q %d times, want once:\n%s", waitingForIstio, len(lines), strings.Join(lines, "\n"))
		}
		alias, err := serviceAlias(c, namespace, service)
		must(t, err)
		if conds := condition(alias, "Ready"); conds != nil {
			t.Errorf("a waiting operator wrote the alias' status: %s", describe(conds))
		}
	})

	step("once Istio's CRDs are installed, the same process becomes ready and serves the alias", func(t *testing.T) {
		cluster.InstallIstioCRDs(t)
		poll.Until(t, poll.Timeout, "/readyz to pass", alive(func() error {
			return probe(probes, "/readyz", http.StatusOK, "ok")
		}))
		waitPublished(t, c, op)
		poll.Until(t, poll.Timeout, "the alias Ready", alive(func() error {
			alias, err := serviceAlias(c, namespace, service)
			if err != nil {
				return err
			}
			return readyNow(alias)
		}))
		alias, err := serviceAlias(c, namespace, service)
		must(t, err)
		svc := &corev1.Service{}
		must(t, c.Get(ctx, client.ObjectKey{Namespace: namespace, Name: service}, svc))
		se, err := serviceEntry(c, namespace, entryName(host))
		must(t, err)
		checkEntry(t, se, host, "ServiceAlias", alias, svc.Spec.ClusterIP, service, httpPort, "HTTP")
		if lines := op.Grep("Istio's ServiceEntry CRD is installed; starting"); len(lines) != 1 {
			t.Errorf("the operator logged its start %d times, want once", len(lines))
		}
	})
}

// probe GETs a health endpoint and checks its status code and that its body says want.
func probe(addr, path string, code int, want string) error {
	resp, err := http.Get("http://" + addr + path)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != code || !strings.Contains(string(body), want) {
		return fmt.Errorf("GET %s: %d %q, want %d and %q", path, resp.StatusCode, strings.TrimSpace(string(body)), code, want)
	}
	return nil
}

// freeAddress is a loopback address with a port nothing listens on.
func freeAddress(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	defer ln.Close()
	return ln.Addr().String()
}
