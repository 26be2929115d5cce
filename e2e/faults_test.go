package e2e_test

import (
	"context"
	"fmt"
	"maps"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/meshalias/meshalias/e2e/internal/aliasdomain"
	"github.com/meshalias/meshalias/e2e/internal/binaries"
	"github.com/meshalias/meshalias/e2e/internal/controlplane"
	"github.com/meshalias/meshalias/e2e/internal/operator"
	"github.com/meshalias/meshalias/e2e/internal/poll"
	"github.com/meshalias/meshalias/e2e/internal/reliability"
)

// Leader election runs with short timings, so that a dead leader's Lease expires in seconds:
// what is reported is each recovery as a multiple of these, which holds at the defaults too.
const (
	leaseDuration = 4 * time.Second
	renewDeadline = 3 * time.Second
	retryPeriod   = 1 * time.Second
)

// faultDomain is the one AliasDomain of the suite: every case's hosts are under it, and every
// case's namespace may claim it, so a case's verdicts are the operator's, not the policy's.
const faultDomain = "fault"

// writeReliabilityEnv names the file TestFaults writes its figures to, when set. `make faults`
// sets it to RELIABILITY.md; a plain `go test` leaves the tree alone.
const writeReliabilityEnv = "MESHALIAS_WRITE_RELIABILITY"

// faultSuite is what the cases share: one control plane, installed once.
type faultSuite struct {
	bins    binaries.Set
	cluster *controlplane.Cluster
	c       client.Client
	// kubeconfig is the operator's own: its ServiceAccount's token, straight to the apiserver.
	kubeconfig string
}

// faultCase is one fault: its namespace, and the play that fills its row of the report.
type faultCase struct {
	name      string
	namespace string
	// play plays the fault, fills the row, and returns the replicas that must still run: the
	// checks after it are made while they do, and the test's cleanup stops them gracefully.
	play func(t *testing.T, s *faultSuite, ns string, row *reliability.Row) []*operator.Operator
}

var faultCases = []faultCase{
	{"leader SIGKILL, 2 replicas", "f-leader-kill", leaderKilled},
	{"apiserver unreachable 10 s, 1 replica", "f-partition", partitionOneReplica},
	{"apiserver unreachable 10 s, 2 replicas restarted by a kubelet", "f-partition-ha", partitionTwoReplicas},
	{"kube-apiserver restarted", "f-apiserver-restart", apiserverRestarted},
	{"SIGKILL converging 200 ServiceAliases", "f-kill-200", killDuring200Aliases},
	{"SIGKILL converging a NamespaceAlias over 1,000 Services", "f-kill-namespace", killDuringNamespaceAlias},
	{"SIGTERM hand-over, 2 replicas", "f-handover", sigtermHandover},
	{"legacy writer writes its catch-all back every 250 ms", "f-legacy-writer", legacyWriter},
	{"GitOps re-applies 5 aliases every second", "f-gitops", gitopsReapply},
	{"300 odd alias specs", "f-odd", oddSpecs},
}

// TestFaults plays, one after the other on one control plane, the faults a user's chaos test
// would: processes killed, the apiserver out of reach or restarted, other writers fighting the
// operator, and specs no one should write. After each it checks what the user would: every
// alias Ready at its generation, one entry per host, each entry right by the contract and by
// Istio's validation, no entry without its owner, and the operator up. The time each fault
// took to recover from, against the least it could take, goes to RELIABILITY.md.
func TestFaults(t *testing.T) {
	began := time.Now()
	s := &faultSuite{bins: buildBinaries(t)}
	// 1,000 Services need more ClusterIPs than envtest's /24; the certificates must outlive
	// an apiserver restart.
	s.cluster = controlplane.Run(t, controlplane.ServiceClusterIPRange("10.96.0.0/12"), controlplane.CertDir(t.TempDir()))
	s.c = s.cluster.Client
	installDefault(t, s.cluster)
	s.kubeconfig = operatorKubeconfig(t, s.cluster)
	s.allowFaultDomain(t)

	var rows []reliability.Row
	for _, fc := range faultCases {
		t.Run(fc.name, func(t *testing.T) {
			row := reliability.Row{Fault: fc.name, Verdict: "recovered"}
			// Registered first, so it runs last: after the cleanups that stop the case's
			// replicas and judge their logs, which can fail the case too.
			t.Cleanup(func() {
				if t.Failed() {
					row.Failed = true
					row.Verdict = "failed: see the test log"
				}
				rows = append(rows, row)
			})
			createNamespace(t, s.c, fc.namespace)
			up := fc.play(t, s, fc.namespace, &row)
			s.checkAll(t, fc.namespace, &row, up)
		})
	}
	wall := time.Since(began)
	t.Logf("the fault suite took %s", wall.Round(time.Second))
	for _, r := range rows {
		t.Logf("%-62s recovery %-10s floor %-10s ratio %5.2f lost %d doubled %d: %s", r.Fault, reliability.Duration(r.Recovery), reliability.Duration(r.Floor), r.Ratio(), r.Lost, r.Doubled, r.Verdict)
	}

	path := os.Getenv(writeReliabilityEnv)
	if path == "" {
		return
	}
	if len(rows) != len(faultCases) {
		t.Errorf("%s is set, but only %d of %d faults ran (a -run filter?): not writing %s", writeReliabilityEnv, len(rows), len(faultCases), path)
		return
	}
	report := reliability.Report{Wall: wall, Machine: reliability.ThisMachine(s.cluster.BinDir), Rows: rows, Notes: faultNotes}
	if err := report.Write(path); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote %s", path)
}

// allowFaultDomain creates the suite's AliasDomain for every case's namespace, with an
// operator running to publish it, which the admission policy waits for.
func (s *faultSuite) allowFaultDomain(t *testing.T) {
	t.Helper()
	var namespaces []string
	for _, fc := range faultCases {
		namespaces = append(namespaces, fc.namespace)
	}
	op := s.replica(t, s.kubeconfig)
	op.Start(t)
	if err := s.c.Create(context.Background(), aliasdomain.ForNamespaces(faultDomain, namespaces...)); err != nil {
		t.Fatal(err)
	}
	waitPublished(t, s.c, op)
	op.Stop(t)
}

// replica describes one operator replica as the shipped Deployment runs it, with the short
// leader election timings; extra flags come last and win.
func (s *faultSuite) replica(t *testing.T, kubeconfig string, extra ...string) *operator.Operator {
	t.Helper()
	args := append(slices.Clone(shippedFlags),
		"--leader-election-namespace="+operatorNamespace,
		"--leader-election-lease-duration="+leaseDuration.String(),
		"--leader-election-renew-deadline="+renewDeadline.String(),
		"--leader-election-retry-period="+retryPeriod.String(),
		"--metrics-bind-address=0",
		"--health-probe-bind-address=0",
	)
	return operator.New(t, s.bins.Manager, kubeconfig, append(args, extra...)...)
}

// leader waits until exactly one of the replicas leads and returns it and the others.
func leader(t *testing.T, replicas ...*operator.Operator) (*operator.Operator, []*operator.Operator) {
	t.Helper()
	var lead *operator.Operator
	var rest []*operator.Operator
	poll.Until(t, poll.Timeout, "one replica to lead", func() error {
		lead, rest = nil, nil
		for _, r := range replicas {
			switch {
			case r.Leading() && lead == nil:
				lead = r
			case r.Leading():
				return fmt.Errorf("both %s and %s say they lead", lead.Name(), r.Name())
			default:
				rest = append(rest, r)
			}
		}
		if lead == nil {
			return errString("no replica has acquired the Lease yet")
		}
		return nil
	})
	return lead, rest
}

// viaProxy writes a copy of kubeconfig whose server is addr (host:port) instead of the
// apiserver's own address: the same credentials and CA, through a proxy the test controls.
func viaProxy(t *testing.T, kubeconfig, addr string) string {
	t.Helper()
	cfg, err := clientcmd.LoadFromFile(kubeconfig)
	must(t, err)
	for _, cl := range cfg.Clusters {
		u, err := url.Parse(cl.Server)
		must(t, err)
		u.Host = addr
		cl.Server = u.String()
	}
	path := filepath.Join(t.TempDir(), "proxied.kubeconfig")
	must(t, clientcmd.WriteToFile(*cfg, path))
	return path
}

// apiserverAddr is the apiserver's host:port, for a proxy to forward to.
func (s *faultSuite) apiserverAddr(t *testing.T) string {
	t.Helper()
	u, err := url.Parse(s.cluster.Config.Host)
	must(t, err)
	return u.Host
}

// checkAll asserts, after a case, what a user would check, and counts what was lost and
// doubled into the row. The case's operators must have been left as the case wants them.
func (s *faultSuite) checkAll(t *testing.T, ns string, row *reliability.Row, up []*operator.Operator) {
	t.Helper()
	if t.Failed() {
		return // the case has said what is wrong; a second opinion would only repeat it
	}
	if len(up) == 0 {
		t.Fatal("the case left no operator running to check")
	}
	var j judgement
	err := poll.Wait(poll.Timeout, func() (err error) {
		for _, op := range up {
			if err := op.Alive(); err != nil {
				return err
			}
		}
		j, err = judge(s.c, ns == oddNamespace, ns)
		if err != nil {
			return err
		}
		return j.err()
	})
	row.Lost, row.Doubled = j.Lost, j.Doubled
	if err != nil {
		t.Errorf("after the fault: %v", err)
	}
	var inCase []*unstructured.Unstructured
	for _, se := range j.Entries {
		if se.GetNamespace() == ns {
			inCase = append(inCase, se)
		}
	}
	invalid := validateEach(inCase)
	for _, name := range slices.Sorted(maps.Keys(invalid)) {
		t.Errorf("Istio's validation rejects %s, which meshalias wrote: %v", name, invalid[name])
	}
	if t.Failed() {
		return
	}
	t.Logf("after the fault, %d replicas up: %d aliases Ready, %d not (%v), %d managed entries in the cluster, 0 lost, 0 doubled, 0 orphaned; Istio's validation passes %d of the %d in %s", len(up), j.Ready, j.NotReady, j.Reasons, len(j.Entries), len(inCase)-len(invalid), len(inCase), ns)
}

// createNamespace creates a namespace with one Service, web, on port 80.
func createNamespace(t *testing.T, c client.Client, ns string) {
	t.Helper()
	must(t, c.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}))
	must(t, c.Create(context.Background(), webService(ns, "web")))
}

// webService is a ClusterIP Service with one HTTP port.
func webService(ns, name string) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: corev1.ServiceSpec{
			Selector: map[string]string{"app": name},
			Ports:    []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromInt32(8080)}},
		},
	}
}

// aliasHost is a host under the suite's domain, for one case.
func faultHost(ns, name string) string {
	return name + "." + strings.TrimPrefix(ns, "f-") + "." + faultDomain
}

// serviceAliasObject is a ServiceAlias of the Service svc for hosts.
func serviceAliasObject(ns, name, svc string, hosts ...string) *unstructured.Unstructured {
	u := &unstructured.Unstructured{}
	u.SetAPIVersion("meshalias.io/v1alpha1")
	u.SetKind("ServiceAlias")
	u.SetNamespace(ns)
	u.SetName(name)
	hs := make([]any, 0, len(hosts))
	for _, h := range hosts {
		hs = append(hs, h)
	}
	u.Object["spec"] = map[string]any{"service": map[string]any{"name": svc}, "hosts": hs}
	return u
}

// createAll creates objs with a few requests in flight, as a CI job applying a folder would.
func createAll(c client.Client, objs []client.Object) error {
	var wg sync.WaitGroup
	errs := make(chan error, len(objs))
	work := make(chan client.Object)
	for range 4 {
		wg.Go(func() {
			for o := range work {
				if err := c.Create(context.Background(), o); err != nil {
					errs <- fmt.Errorf("creating %s/%s: %w", o.GetNamespace(), o.GetName(), err)
				}
			}
		})
	}
	for _, o := range objs {
		work <- o
	}
	close(work)
	wg.Wait()
	close(errs)
	return <-errs // the first error, or nil
}

// aliasReadyNow returns nil once the ServiceAlias is Ready at its generation.
func aliasReadyNow(c client.Client, ns, name string) error {
	u, err := serviceAlias(c, ns, name)
	if err != nil {
		return err
	}
	return readyNow(u)
}

// recreated returns nil once the entry exists again as a new object, with the contract's
// address.
func recreated(c client.Client, ns, name string, old *unstructured.Unstructured, clusterIP string) error {
	se, err := serviceEntry(c, ns, name)
	if err != nil {
		return err
	}
	if se.GetUID() == old.GetUID() {
		return errString("ServiceEntry " + name + " is still the deleted object")
	}
	if got := stringsAt(se, "spec", "addresses"); !slices.Equal(got, []string{clusterIP}) {
		return errString("ServiceEntry " + name + " addresses " + join(got))
	}
	return nil
}

// faultNotes explain in RELIABILITY.md how each fault is played and what its floor means.
var faultNotes = []string{
	"**Recovery** runs from the fault (the signal, the cut, the stop) until every check passes again: the change made during the fault converged, and every alias Ready at its generation. **Lost** counts hosts of a Ready alias without their entry, **doubled** hosts declared by two entries; both must be 0, and so must entries without a live owner. Every entry is checked against the contract (the Service's ClusterIP as the address, its DNS name as the one endpoint) and Istio's own validation after every fault.",
	"**Leader SIGKILL**: two replicas; the leader is killed, an alias is created and another's entry deleted at once. The survivor cannot lead before the dead leader's Lease expires: the floor is the lease duration.",
	"**apiserver unreachable**: a TCP proxy between the operator and the apiserver drops every connection and refuses new ones for 10 s, while an alias is created and another's entry deleted. One replica runs without leader election: with it, a lone replica loses its Lease after the renew deadline and exits, which the two-replica row covers with a kubelet that restarts exited processes after 1 s (a real kubelet backs off from 10 s). A replica started while the apiserver is out of reach does not exit: it waits, not ready, until it can ask the apiserver whether ServiceEntries are served; the standby replica, which never led, stays up through the outage. The floor is the outage; the catch-up after the network returns is given too. It is client-go's: each informer retries its list and watch with a jittered back-off (0.8 s doubling, up to 30 s), so after 10 s of refusals the next try can be seconds after the network is back; the operator logs nothing between the cut and its first write after it.",
	"**kube-apiserver restarted**: envtest's kube-apiserver is stopped and started on the same port with the same certificates and etcd; the operator (restarted by a kubelet if it exits) must follow a change made right after. The floor is how long the apiserver was down. Right after a restart the shipped ValidatingAdmissionPolicy (failurePolicy Fail) may not resolve its paramKind yet, AliasDomain, a CRD the new apiserver has not mapped, and then refuses every alias write (\"failed to find resource referenced by paramKind\"), for about 30 s whenever it happened here; the test retries as a user would, and the row says whether it happened and gives the operator's own share apart. Until its /readyz passes, a restarted apiserver's authorizer may also refuse what RBAC allows, before its RBAC informers have synced: the operator logs such a refusal and retries, and only refusals logged after /readyz passed count against its RBAC.",
	"**SIGKILL while converging**: the operator is killed once part of the work is done, then started again; the new process waits for the dead one's Lease (the floor), then must finish without losing, doubling or orphaning an entry.",
	"**SIGTERM hand-over**: the leader is sent SIGTERM and an alias created at the same moment; the other replica must converge it within 3 s (asserted: a user-visible contract). The floor is the retry period, how often a standby tries the Lease.",
	"**Legacy writer**: another field manager (`dns-controller`) writes its version of a managed entry back every 250 ms, a TCP port and no addresses: the incident's catch-all; recovery is the median time from its write to the repair, both as one watch delivers them, p99 beside it. The floor is the median round trip of that same write, measured in the same run. The operator's DriftRepaired event must name the writer.",
	"**GitOps**: a tool server-side-applies 5 aliases every second with force (`argocd-controller`); no alias or entry may change (resourceVersions) over 10 rounds.",
	"**Odd specs**: 300 deterministic specs (bad and borderline hosts, wildcards, IPs, ports, huge lists, unicode, empty fields, .svc names, missing and headless Services). Each is refused at admission, or gets a truthful status: Ready True with its entries, or Ready False with a reason and a message; every entry written passes the contract and Istio's validation.",
}
