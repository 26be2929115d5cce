package controllers_test

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/zap/zapcore"
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	gatewayv1beta1 "sigs.k8s.io/gateway-api/apis/v1beta1"
	"sigs.k8s.io/yaml"

	meshaliasv1 "github.com/meshalias/meshalias/api/v1alpha1"
	"github.com/meshalias/meshalias/controllers"
	"github.com/meshalias/meshalias/internal/localcluster"
)

// The suite runs one real control plane, with the garbage collector, and one operator that
// runs as its own identity under exactly the generated RBAC.
var (
	cluster     *localcluster.Cluster
	k8s         client.Client // admin, for the tests' own reads and writes
	operator    *rest.Config  // the operator's identity
	scheme      = runtime.NewScheme()
	stopManager context.CancelFunc
	// managerConfig is the operator's configuration; a test that changes it restarts the
	// manager with restartManager, which restores it afterwards.
	managerConfig = controllers.Config{
		ClusterDomain:           "cluster.local",
		MaxConcurrentReconciles: 2,
		AdoptSelector:           labels.SelectorFromSet(labels.Set{"app.kubernetes.io/managed-by": "dns-controller"}),
	}
)

const operatorUser = "system:serviceaccount:meshalias-system:meshalias-controller-manager"

func TestMain(m *testing.M) {
	ctrl.SetLogger(zap.New(zap.UseDevMode(true), zap.Level(zapLevel())))
	for _, add := range []func(*runtime.Scheme) error{clientgoscheme.AddToScheme, apiextensionsv1.AddToScheme, networkingv1.AddToScheme, gatewayv1beta1.Install, meshaliasv1.AddToScheme} {
		if err := add(scheme); err != nil {
			panic(err)
		}
	}
	flag.Parse()
	os.Exit(run(m))
}

// zapLevel shows the operator's info logs only when MESHALIAS_TEST_LOG is set.
func zapLevel() zapcore.Level {
	if os.Getenv("MESHALIAS_TEST_LOG") != "" {
		return zapcore.DebugLevel
	}
	return zapcore.ErrorLevel
}

func run(m *testing.M) int {
	wd, _ := os.Getwd()
	root, err := localcluster.RepoRoot(wd)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	cluster, err = localcluster.Start(localcluster.Options{RepoRoot: root, ControllerManager: true, ServiceCIDR: "10.0.0.0/16"})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer cluster.Stop()

	k8s, err = client.New(cluster.Config, client.Options{Scheme: scheme})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	operator, err = operatorConfig(filepath.Join(root, "config", "rbac", "role.yaml"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if err := startManager(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer func() { stopManager() }()
	return m.Run()
}

// operatorConfig binds the generated ClusterRole to the operator's identity and returns
// credentials for it: a missing RBAC rule fails the tests as it would fail in a cluster.
func operatorConfig(rolePath string) (*rest.Config, error) {
	raw, err := os.ReadFile(rolePath)
	if err != nil {
		return nil, err
	}
	var role rbacv1.ClusterRole
	if err := yaml.Unmarshal(raw, &role); err != nil {
		return nil, err
	}
	ctx := context.Background()
	if err := k8s.Create(ctx, &role); err != nil {
		return nil, err
	}
	binding := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: role.Name},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role.Name},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: operatorUser}},
	}
	if err := k8s.Create(ctx, binding); err != nil {
		return nil, err
	}
	user, err := cluster.AddUser(envtest.User{Name: operatorUser, Groups: []string{"system:serviceaccounts", "system:authenticated"}})
	if err != nil {
		return nil, err
	}
	cfg := user.Config()
	// As ctrl.GetConfig does for cmd/manager: no client-side throttling, API Priority and
	// Fairness on the server decides.
	cfg.QPS = -1
	return cfg, nil
}

// startManager starts the operator as cmd/manager would, with its cache options.
func startManager() error {
	mgr, err := ctrl.NewManager(operator, ctrl.Options{
		Scheme:  scheme,
		Cache:   controllers.CacheOptions(managerConfig),
		Metrics: metricsserver.Options{BindAddress: "0"},
		// The quiet test restarts the operator in this process; its controllers keep their names.
		Controller: config.Controller{SkipNameValidation: ptr.To(true)},
	})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	if err := controllers.Setup(ctx, mgr, managerConfig); err != nil {
		cancel()
		return err
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := mgr.Start(ctx); err != nil {
			fmt.Fprintln(os.Stderr, "manager:", err)
		}
	}()
	stopManager = func() { cancel(); <-done }
	if !mgr.GetCache().WaitForCacheSync(ctx) {
		return fmt.Errorf("the manager's cache did not sync")
	}
	return nil
}

// repoRoot is the meshalias checkout the tests run in.
func repoRoot(t *testing.T) string {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	root, err := localcluster.RepoRoot(wd)
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// restartManager restarts the operator with a changed configuration, as a new rollout of the
// Deployment would, and restores the usual one when the test ends.
func restartManager(t *testing.T, change func(*controllers.Config)) {
	t.Helper()
	saved := managerConfig
	stopManager()
	change(&managerConfig)
	t.Cleanup(func() {
		stopManager()
		managerConfig = saved
		if err := startManager(); err != nil {
			t.Fatalf("restarting the operator: %v", err)
		}
	})
	if err := startManager(); err != nil {
		t.Fatalf("restarting the operator: %v", err)
	}
}

// eventually polls cond until it returns nil, or fails the test with its last error. It is
// the tests' one way to wait.
func eventually(t *testing.T, what string, cond func() error) {
	t.Helper()
	var last error
	err := wait.PollUntilContextTimeout(context.Background(), 100*time.Millisecond, 30*time.Second, true, func(context.Context) (bool, error) {
		last = cond()
		return last == nil, nil
	})
	if err != nil {
		t.Fatalf("%s: %v", what, last)
	}
}

// newNamespace creates a namespace for one test.
func newNamespace(t *testing.T) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "t-"}}
	if err := k8s.Create(context.Background(), ns); err != nil {
		t.Fatal(err)
	}
	return ns.Name
}
