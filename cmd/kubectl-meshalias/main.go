// Command kubectl-meshalias is a kubectl plugin: `kubectl meshalias audit` finds the
// ServiceEntries that hijack sidecars' outbound traffic, `kubectl meshalias migrate` turns a
// legacy controller's entries into alias manifests for Git, and `kubectl meshalias dns
// --coredns` renders the aliases as CoreDNS rewrites.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"

	meshaliasv1 "github.com/meshalias/meshalias/api/v1alpha1"
	"github.com/meshalias/meshalias/internal/version"
)

// Exit codes: 0 clean, 1 an error, 3 findings.
const (
	exitError    = 1
	exitFindings = 3
)

// errFindings makes the command exit 3 after printing its findings.
var errFindings = errors.New("findings")

// options are the flags every subcommand shares: kubectl's own, and -A.
type options struct {
	kube          *genericclioptions.ConfigFlags
	allNamespaces bool
	output        string
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run executes the plugin and returns its exit code.
func run(args []string, stdout, stderr io.Writer) int {
	opts := &options{kube: genericclioptions.NewConfigFlags(true)}
	root := &cobra.Command{
		Use:           "kubectl-meshalias",
		Short:         "Find ServiceEntries that hijack outbound traffic, migrate legacy ones to meshalias aliases, and render aliases for CoreDNS",
		SilenceUsage:  true,
		SilenceErrors: true,
		// --version prints "kubectl-meshalias version <version>" and exits 0.
		Version: version.String(),
	}
	opts.kube.AddFlags(root.PersistentFlags())
	root.PersistentFlags().BoolVarP(&opts.allNamespaces, "all-namespaces", "A", false, "Look in every namespace, not just the current one.")
	root.AddCommand(newAuditCommand(opts), newMigrateCommand(opts), newDNSCommand(opts), newExplainCommand(opts))
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)

	err := root.Execute()
	switch {
	case err == nil:
		return 0
	case errors.Is(err, errFindings):
		return exitFindings
	default:
		fmt.Fprintln(stderr, "error:", err)
		return exitError
	}
}

// connect builds a client from kubectl's flags, and the namespace scope to list in.
func (o *options) connect() (client.Client, client.ListOption, string, error) {
	c, err := o.client()
	if err != nil {
		return nil, nil, "", err
	}
	scope, where, err := o.scope()
	return c, scope, where, err
}

func (o *options) client() (client.Client, error) {
	cfg, err := o.kube.ToRESTConfig()
	if err != nil {
		return nil, err
	}
	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{clientgoscheme.AddToScheme, networkingv1.AddToScheme, meshaliasv1.AddToScheme} {
		if err := add(scheme); err != nil {
			return nil, err
		}
	}
	return client.New(cfg, client.Options{Scheme: scheme})
}

// scope is the namespace to list in: all with -A, else -n or the kubeconfig's.
func (o *options) scope() (client.ListOption, string, error) {
	if o.allNamespaces {
		return client.InNamespace(""), "all namespaces", nil
	}
	ns, _, err := o.kube.ToRawKubeConfigLoader().Namespace()
	if err != nil {
		return nil, "", err
	}
	return client.InNamespace(ns), "namespace " + ns, nil
}
