// Command manager runs the meshalias operator: it keeps one correct Istio ServiceEntry per
// alias host, always with the backing Service's ClusterIP.
package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"time"

	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/controller-runtime/pkg/metrics/filters"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	gatewayv1beta1 "sigs.k8s.io/gateway-api/apis/v1beta1"

	meshaliasv1 "github.com/meshalias/meshalias/api/v1alpha1"
	"github.com/meshalias/meshalias/controllers"
	"github.com/meshalias/meshalias/internal/version"
)

func main() {
	var (
		metricsAddr   string
		secureMetrics bool
		probeAddr     string
		leaderElect   bool
		leaderNS      string
		enableHTTP2   bool
		pprofAddr     string
		cfg           controllers.Config
	)
	flag.StringVar(&metricsAddr, "metrics-bind-address", ":8443", "Address the metrics endpoint binds to; \"0\" turns it off.")
	flag.BoolVar(&secureMetrics, "metrics-secure", true, "Serve metrics over HTTPS, with authentication and authorization through the API server.")
	flag.StringVar(&probeAddr, "health-probe-bind-address", ":8081", "Address the liveness and readiness probes bind to.")
	flag.BoolVar(&leaderElect, "leader-elect", false, "Elect a leader, so that only one replica writes.")
	flag.StringVar(&leaderNS, "leader-election-namespace", "", "Namespace of the leader election Lease; the pod's own namespace by default.")
	flag.StringVar(&pprofAddr, "pprof-bind-address", "0", "Address to serve Go's pprof profiles on, for performance work; \"0\" turns it off.")
	flag.BoolVar(&enableHTTP2, "enable-http2", false, "Serve metrics over HTTP/2 too. Off by default: HTTP/2 Rapid Reset and Stream Cancellation.")
	flag.StringVar(&cfg.ClusterDomain, "cluster-domain", "cluster.local", "The cluster's DNS domain, used in the endpoint names <service>.<namespace>.svc.<domain>.")
	flag.IntVar(&cfg.MaxConcurrentReconciles, "max-concurrent-reconciles", 8, "Workers per controller. Each spends most of its time waiting on the API server.")
	flag.BoolVar(&cfg.RequireAliasDomain, "require-alias-domain", false, "Refuse every alias host that no AliasDomain allows, even while there is no AliasDomain. Without it, hosts are unchecked until the first AliasDomain exists: fine for a single-tenant cluster, not for a shared one.")
	flag.BoolVar(&cfg.AmbientMesh, "ambient-mesh", false, "The whole mesh runs in Istio's ambient mode: write no ServiceEntry for any alias (see docs/ambient.md). Namespaces and pods labelled istio.io/dataplane-mode=ambient are found without it.")
	flag.StringVar(&cfg.IstioNamespace, "istio-namespace", "istio-system", "Istio's namespace: its ConfigMap \"istio\" holds the mesh config, and it is the root namespace of Sidecars unless the mesh config names another.")
	flag.BoolVar(&cfg.AllNamespacesInMesh, "all-namespaces-in-mesh", false, "Count every namespace as having sidecars for the Visible condition, not only those labelled istio-injection=enabled or istio.io/rev.")
	var leaseDuration, renewDeadline, retryPeriod time.Duration
	flag.DurationVar(&leaseDuration, "leader-election-lease-duration", 15*time.Second, "How long a leader's lease lasts without renewal: the longest a crashed leader's replica waits before taking over.")
	flag.DurationVar(&renewDeadline, "leader-election-renew-deadline", 10*time.Second, "How long the leader keeps trying to renew before it gives up leading.")
	flag.DurationVar(&retryPeriod, "leader-election-retry-period", 2*time.Second, "How often candidates try to take, and the leader to renew, the lease.")
	var shutdownTimeout time.Duration
	flag.DurationVar(&shutdownTimeout, "graceful-shutdown-timeout", 7*time.Second, "How long, after SIGTERM, in-flight reconciles may run before they are abandoned. Keep it below the pod's termination grace period (10 s in config/manager), so that the lease is released before the kubelet kills the process and the other replica takes over at once.")
	var adoptSelector string
	flag.StringVar(&adoptSelector, "adopt-selector", "", "Label selector of unmanaged ServiceEntries that an alias may take over in place when it claims one of their hosts, such as app.kubernetes.io/managed-by=dns-controller. Empty adopts nothing.")
	showVersion := flag.Bool("version", false, "Print the version and exit.")
	zapOpts := zap.Options{}
	zapOpts.BindFlags(flag.CommandLine)
	flag.Parse()
	if *showVersion {
		fmt.Println("manager", version.String())
		return
	}
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&zapOpts)))
	log := ctrl.Log.WithName("setup")
	if adoptSelector != "" {
		selector, err := labels.Parse(adoptSelector)
		if err != nil {
			log.Error(err, "Parsing --adopt-selector")
			os.Exit(1)
		}
		cfg.AdoptSelector = selector
	}

	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{clientgoscheme.AddToScheme, networkingv1.AddToScheme, gatewayv1beta1.Install, meshaliasv1.AddToScheme} {
		if err := add(scheme); err != nil {
			log.Error(err, "Building the scheme")
			os.Exit(1)
		}
	}

	var tlsOpts []func(*tls.Config)
	if !enableHTTP2 {
		tlsOpts = append(tlsOpts, func(c *tls.Config) { c.NextProtos = []string{"http/1.1"} })
	}
	metricsOpts := metricsserver.Options{BindAddress: metricsAddr, SecureServing: secureMetrics, TLSOpts: tlsOpts}
	if secureMetrics {
		metricsOpts.FilterProvider = filters.WithAuthenticationAndAuthorization
	}

	restConfig := ctrl.GetConfigOrDie()
	ctx := ctrl.SetupSignalHandler()
	if err := awaitServiceEntries(ctx, restConfig, probeAddr, log); err != nil {
		if ctx.Err() != nil {
			log.Info("Stopped while waiting for Istio")
			return
		}
		log.Error(err, "Waiting for Istio's ServiceEntry CRD")
		os.Exit(1)
	}
	mgr, err := ctrl.NewManager(restConfig, ctrl.Options{
		Scheme:                        scheme,
		Cache:                         controllers.CacheOptions(cfg),
		Metrics:                       metricsOpts,
		HealthProbeBindAddress:        probeAddr,
		PprofBindAddress:              pprofAddr,
		LeaderElection:                leaderElect,
		LeaderElectionID:              "meshalias.meshalias.io",
		LeaderElectionNamespace:       leaderNS,
		LeaderElectionReleaseOnCancel: true,
		GracefulShutdownTimeout:       &shutdownTimeout,
		LeaseDuration:                 &leaseDuration,
		RenewDeadline:                 &renewDeadline,
		RetryPeriod:                   &retryPeriod,
	})
	if err != nil {
		log.Error(err, "Creating the manager")
		os.Exit(1)
	}
	if err := controllers.Setup(ctx, mgr, cfg); err != nil {
		log.Error(err, "Setting up the controllers")
		os.Exit(1)
	}
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		log.Error(err, "Adding the liveness check")
		os.Exit(1)
	}
	// Ready once the caches have synced: a replica that says ready sooner would take traffic,
	// or a rollout's next step, with nothing to serve from.
	if err := mgr.AddReadyzCheck("readyz", cachesSynced(mgr)); err != nil {
		log.Error(err, "Adding the readiness check")
		os.Exit(1)
	}
	log.Info("Starting meshalias", "version", version.String(), "clusterDomain", cfg.ClusterDomain, "leaderElection", leaderElect, "adoptSelector", adoptSelector, "requireAliasDomain", cfg.RequireAliasDomain)
	if err := mgr.Start(ctx); err != nil {
		log.Error(err, "Running the manager")
		os.Exit(1)
	}
	log.Info("Stopped")
}

// cachesSynced is ready once every informer the controllers started has synced.
func cachesSynced(mgr ctrl.Manager) healthz.Checker {
	return func(req *http.Request) error {
		ctx, cancel := context.WithTimeout(req.Context(), time.Second)
		defer cancel()
		if !mgr.GetCache().WaitForCacheSync(ctx) {
			return errors.New("the caches have not synced yet")
		}
		return nil
	}
}
