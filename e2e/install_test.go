package e2e_test

import (
	"context"
	"path/filepath"
	"slices"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/kustomize/kyaml/filesys"

	"github.com/meshalias/meshalias/e2e/internal/aliasdomain"
	"github.com/meshalias/meshalias/e2e/internal/binaries"
	"github.com/meshalias/meshalias/e2e/internal/controlplane"
	"github.com/meshalias/meshalias/e2e/internal/identity"
	"github.com/meshalias/meshalias/e2e/internal/install"
	"github.com/meshalias/meshalias/e2e/internal/operator"
	"github.com/meshalias/meshalias/e2e/internal/poll"
	"github.com/meshalias/meshalias/e2e/internal/render"
)

// The install's names, after config/default's namespace and name prefix.
const (
	operatorNamespace      = "meshalias-system"
	operatorServiceAccount = "meshalias-controller-manager"
	leaseName              = "meshalias.meshalias.io"
)

// installDefault renders config/default as `kubectl apply -k` would and applies all of it but
// the Deployment (there is no kubelet to run it; the test runs the binary instead), then waits
// for every CRD in it to be served.
func installDefault(t *testing.T, cluster *controlplane.Cluster) {
	t.Helper()
	ctx := context.Background()
	objs, err := render.Kustomize(filesys.MakeFsOnDisk(), filepath.Join(controlplane.RepoRoot(), "config", "default"))
	must(t, err)
	applied, err := install.Apply(ctx, cluster.Client, objs, func(u *unstructured.Unstructured) bool {
		return u.GetKind() == "Deployment"
	})
	must(t, err)
	for _, o := range applied {
		if o.GetKind() == "CustomResourceDefinition" {
			poll.Until(t, poll.Timeout, "CRD "+o.GetName()+" established", func() error {
				return install.Established(ctx, cluster.Client, o.GetName())
			})
		}
	}
	t.Logf("applied %d objects of config/default (all but the Deployment)", len(applied))
}

// operatorKubeconfig writes a kubeconfig with the identity the Deployment's pods would have:
// a bound token of the operator's ServiceAccount from the TokenRequest API. It checks, with a
// SelfSubjectReview, that the apiserver sees the ServiceAccount and its groups.
func operatorKubeconfig(t *testing.T, cluster *controlplane.Cluster) string {
	t.Helper()
	ctx := context.Background()
	wantUser := "system:serviceaccount:" + operatorNamespace + ":" + operatorServiceAccount
	cfg := cluster.Config
	token, err := identity.ServiceAccountToken(ctx, cfg, operatorNamespace, operatorServiceAccount)
	if err == nil {
		cfg = identity.TokenConfig(cluster.Config, token)
		t.Logf("operator credentials: TokenRequest for ServiceAccount %s/%s", operatorNamespace, operatorServiceAccount)
	} else {
		// The same identity through envtest's client CA, for an apiserver without TokenRequest.
		t.Logf("TokenRequest unavailable (%v); using a client certificate for %s", err, wantUser)
		cfg = cluster.AddUser(t, envtest.User{Name: wantUser, Groups: []string{
			"system:serviceaccounts", "system:serviceaccounts:" + operatorNamespace, "system:authenticated",
		}})
	}
	who, err := identity.WhoAmI(ctx, cfg)
	must(t, err)
	t.Logf("the operator authenticates as %s, groups %v", who.Username, who.Groups)
	if who.Username != wantUser {
		t.Fatalf("operator credentials authenticate as %q, want %q", who.Username, wantUser)
	}
	path := filepath.Join(t.TempDir(), "operator.kubeconfig")
	must(t, identity.WriteKubeconfig(cfg, operatorServiceAccount, path))
	return path
}

// newOperator describes the operator run as in production, with its ServiceAccount's
// credentials and leader election, adopting the legacy controller's entries. Like the shipped
// Deployment it requires an AliasDomain for every host, so the tests grant their hosts
// explicitly (allowDomains) and see the same verdicts a default install gives. Metrics and
// probes are off: nothing scrapes them here, and fixed ports would collide.
func newOperator(t *testing.T, bin string, cluster *controlplane.Cluster) *operator.Operator {
	t.Helper()
	args := append(slices.Clone(shippedFlags),
		"--leader-election-namespace="+operatorNamespace,
		"--metrics-bind-address=0",
		"--health-probe-bind-address=0",
		"--adopt-selector=app.kubernetes.io/managed-by=dns-controller",
	)
	return operator.New(t, bin, operatorKubeconfig(t, cluster), args...)
}

// shippedFlags are the flags of config/default's Deployment that change what the operator
// decides; the e2e operator runs with them so that its verdicts are a default install's.
var shippedFlags = []string{"--leader-elect", "--require-alias-domain"}

// TestOperatorFlagsAreTheShippedOnes keeps the e2e operator honest: each flag it runs with
// for being shipped must be in the rendered Deployment's args.
func TestOperatorFlagsAreTheShippedOnes(t *testing.T) {
	objs, err := render.Kustomize(filesys.MakeFsOnDisk(), filepath.Join(controlplane.RepoRoot(), "config", "default"))
	must(t, err)
	var args []string
	found := false
	for _, o := range objs {
		if o.GetKind() != "Deployment" {
			continue
		}
		found = true
		containers, _, _ := unstructured.NestedSlice(o.Object, "spec", "template", "spec", "containers")
		for _, raw := range containers {
			c, _ := raw.(map[string]any)
			if c["name"] == "manager" {
				args, _, _ = unstructured.NestedStringSlice(c, "args")
			}
		}
	}
	if !found {
		t.Fatal("config/default renders no Deployment")
	}
	t.Logf("the shipped operator runs with %v", args)
	for _, f := range shippedFlags {
		if !slices.Contains(args, f) {
			t.Errorf("the e2e operator runs with %s, the shipped Deployment's args %v lack it", f, args)
		}
	}
}

// allowDomains creates one AliasDomain per domain, each letting only namespace claim it, and
// waits until the operator has published all of them in every AliasDomain's status.domains.
// The admission policy judges a host by that list, so aliases are created only after it.
func allowDomains(t *testing.T, c client.Client, op *operator.Operator, namespace string, domains ...string) {
	t.Helper()
	ctx := context.Background()
	for _, d := range domains {
		if err := c.Create(ctx, aliasdomain.ForNamespaces(d, namespace)); err != nil {
			t.Fatalf("creating AliasDomain %s: %v", d, err)
		}
	}
	waitPublished(t, c, op)
	t.Logf("AliasDomains %v let namespace %s claim them", domains, namespace)
}

// waitPublished waits until every AliasDomain's status.domains lists every AliasDomain.
func waitPublished(t *testing.T, c client.Client, op *operator.Operator) {
	t.Helper()
	var published []string
	poll.Until(t, poll.Timeout, "the operator to publish the AliasDomains", whileAlive(op, func() (err error) {
		published, err = aliasdomain.Published(context.Background(), c)
		return err
	}))
	t.Logf("every AliasDomain's status.domains is %v", published)
}

// whileAlive wraps a poll check: once the operator has died, say so instead of waiting.
func whileAlive(op *operator.Operator, check func() error) func() error {
	return func() error {
		if err := op.Alive(); err != nil {
			return err
		}
		return check()
	}
}

// runOperator starts a control plane, installs config/default and runs the operator on it as
// the shipped Deployment does: where every story of the operator starts.
func runOperator(t *testing.T, opts ...controlplane.Option) (binaries.Set, *controlplane.Cluster, *operator.Operator) {
	t.Helper()
	bins := buildBinaries(t)
	cluster := controlplane.Run(t, opts...)
	installDefault(t, cluster)
	op := newOperator(t, bins.Manager, cluster)
	op.Start(t)
	return bins, cluster, op
}

// steps runs each step as a subtest and stops the test at the first that fails: every step
// builds on the ones before it.
func steps(t *testing.T) func(name string, f func(t *testing.T)) {
	return func(name string, f func(t *testing.T)) {
		if !t.Run(name, f) {
			t.FailNow()
		}
	}
}
