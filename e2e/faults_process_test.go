package e2e_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/meshalias/meshalias/e2e/internal/operator"
	"github.com/meshalias/meshalias/e2e/internal/poll"
	"github.com/meshalias/meshalias/e2e/internal/reliability"
)

// The faults of this file happen to the operator's processes: SIGKILL, as the OOM killer or a
// lost node deals it, and SIGTERM, as a rollout sends it.

// baseline creates the alias "before" for web and waits until it is Ready; it returns the
// alias's entry, which a case deletes during its fault, and web's ClusterIP.
func (s *faultSuite) baseline(t *testing.T, ns string, alive func() error) (*unstructured.Unstructured, string) {
	t.Helper()
	host := faultHost(ns, "before")
	must(t, s.c.Create(context.Background(), serviceAliasObject(ns, "before", "web", host)))
	poll.Until(t, poll.Timeout, "the alias before the fault to be Ready", func() error {
		if err := alive(); err != nil {
			return err
		}
		return aliasReadyNow(s.c, ns, "before")
	})
	se, err := serviceEntry(s.c, ns, entryName(host))
	must(t, err)
	var web corev1.Service
	must(t, s.c.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: "web"}, &web))
	return se, web.Spec.ClusterIP
}

// disturb makes the changes a fault must not lose: a new alias, "after", and the deletion of
// the baseline's entry.
// It returns how long the apiserver refused them: right after a restart, the admission
// policy cannot resolve its AliasDomain parameters for a while and refuses every alias, and a
// user retries as this does.
func (s *faultSuite) disturb(t *testing.T, ns string, entry *unstructured.Unstructured) time.Duration {
	t.Helper()
	start := time.Now()
	var refusals []string
	err := poll.Wait(poll.Timeout, func() error {
		err := s.c.Create(context.Background(), serviceAliasObject(ns, "after", "web", faultHost(ns, "after")))
		if err != nil && !apierrors.IsAlreadyExists(err) {
			if len(refusals) == 0 || refusals[len(refusals)-1] != err.Error() {
				refusals = append(refusals, err.Error())
			}
			return err
		}
		err = s.c.Delete(context.Background(), entry)
		if apierrors.IsNotFound(err) {
			return nil
		}
		return err
	})
	must(t, err)
	if len(refusals) == 0 {
		return 0
	}
	refused := time.Since(start)
	t.Logf("the apiserver refused the changes for %s: %s", refused.Round(time.Millisecond), strings.Join(refusals, "; "))
	return refused
}

// settled returns nil once both changes of disturb have converged.
func (s *faultSuite) settled(ns string, entry *unstructured.Unstructured, ip string) error {
	if err := aliasReadyNow(s.c, ns, "after"); err != nil {
		return err
	}
	return recreated(s.c, ns, entry.GetName(), entry, ip)
}

// anyAlive is nil while at least one replica runs: a poll check's guard where one replica
// is expected to die.
func anyAlive(replicas ...*operator.Operator) func() error {
	return func() error {
		var errs []error
		for _, r := range replicas {
			err := r.Alive()
			if err == nil {
				return nil
			}
			errs = append(errs, err)
		}
		return fmt.Errorf("no replica runs: %v", errs)
	}
}

func leaderKilled(t *testing.T, s *faultSuite, ns string, row *reliability.Row) []*operator.Operator {
	a, b := s.replica(t, s.kubeconfig), s.replica(t, s.kubeconfig)
	a.Start(t)
	b.Start(t)
	lead, others := leader(t, a, b)
	survivor := others[0]
	entry, ip := s.baseline(t, ns, anyAlive(a, b))

	start := time.Now()
	lead.Kill(t)
	s.disturb(t, ns, entry)
	took, err := poll.Measure(start, poll.Timeout, 50*time.Millisecond, func() error {
		if err := survivor.Alive(); err != nil {
			return err
		}
		return s.settled(ns, entry, ip)
	})
	must(t, err)
	if !survivor.Leading() {
		t.Errorf("the changes converged, yet %s has not logged taking the Lease", survivor.Name())
	}
	row.Recovery, row.Floor, row.FloorWhat = took, leaseDuration, "the lease duration"
	t.Logf("leader SIGKILLed: the survivor converged a new alias and re-created a deleted entry %s after the kill (lease %s)", took.Round(time.Millisecond), leaseDuration)
	return []*operator.Operator{survivor}
}

func sigtermHandover(t *testing.T, s *faultSuite, ns string, row *reliability.Row) []*operator.Operator {
	const target = 3 * time.Second
	a, b := s.replica(t, s.kubeconfig), s.replica(t, s.kubeconfig)
	a.Start(t)
	b.Start(t)
	lead, others := leader(t, a, b)
	standby := others[0]
	s.baseline(t, ns, anyAlive(a, b))

	p := lead.Terminate(t)
	start := time.Now()
	must(t, s.c.Create(context.Background(), serviceAliasObject(ns, "after", "web", faultHost(ns, "after"))))
	took, err := poll.Measure(start, poll.Timeout, 20*time.Millisecond, func() error {
		if err := standby.Alive(); err != nil {
			return err
		}
		return aliasReadyNow(s.c, ns, "after")
	})
	must(t, err)
	select {
	case <-p.Exited():
		if err := p.ExitError(); err != nil {
			t.Errorf("the old leader's graceful shutdown: %v\n%s", err, p.Tail(20))
		}
	case <-time.After(40 * time.Second):
		t.Errorf("the old leader still runs 40 s after SIGTERM")
	}
	poll.Until(t, poll.Timeout, "the standby to lead", func() error {
		if !standby.Leading() {
			return errString(standby.Name() + " has not taken the Lease")
		}
		return nil
	})
	row.Recovery, row.Floor, row.FloorWhat = took, retryPeriod, "the retry period"
	row.Verdict = fmt.Sprintf("met (≤ %s)", target)
	t.Logf("SIGTERM to the leader: an alias created at that moment was Ready after %s (target %s)", took.Round(time.Millisecond), target)
	if took > target {
		row.Verdict = fmt.Sprintf("missed: %s > %s", took.Round(time.Millisecond), target)
		t.Errorf("hand-over took %s from SIGTERM to a converged change, want ≤ %s", took.Round(time.Millisecond), target)
	}
	return []*operator.Operator{standby}
}

func killDuring200Aliases(t *testing.T, s *faultSuite, ns string, row *reliability.Row) []*operator.Operator {
	const n, services = 200, 10
	for i := range services {
		must(t, s.c.Create(context.Background(), webService(ns, fmt.Sprintf("svc-%d", i))))
	}
	op := s.replica(t, s.kubeconfig)
	op.Start(t)
	leader(t, op)

	entries := countEntries(t, s, ns)
	var aliases []client.Object
	for i := range n {
		name := fmt.Sprintf("a%03d", i)
		aliases = append(aliases, serviceAliasObject(ns, name, fmt.Sprintf("svc-%d", i%services), faultHost(ns, name)))
	}
	created := make(chan error, 1)
	go func() { created <- createAll(s.c, aliases) }() // the kill lands while they are being created
	written := entries.waitFor(t, n/5, created)
	start := time.Now()
	op.Kill(t)
	t.Logf("SIGKILL after %d of %d entries were written", written, n)

	op.Start(t)
	must(t, <-created)
	took, err := poll.Measure(start, 2*poll.Timeout, 250*time.Millisecond, func() error {
		if err := op.Alive(); err != nil {
			return err
		}
		return allReady(s.c, ns, "ServiceAliasList", n)
	})
	must(t, err)
	row.Recovery, row.Floor, row.FloorWhat = took, leaseDuration, "the lease duration"
	row.RecoveryNote = fmt.Sprintf("killed at %d of %d entries", written, n)
	return []*operator.Operator{op}
}

func killDuringNamespaceAlias(t *testing.T, s *faultSuite, ns string, row *reliability.Row) []*operator.Operator {
	const n = 1000
	var svcs []client.Object
	for i := range n - 1 { // web is there already
		svcs = append(svcs, webService(ns, fmt.Sprintf("svc-%04d", i)))
	}
	must(t, createAll(s.c, svcs))
	op := s.replica(t, s.kubeconfig)
	op.Start(t)
	leader(t, op)

	entries := countEntries(t, s, ns)
	domain := "services." + faultDomain
	na := &unstructured.Unstructured{}
	na.SetAPIVersion("meshalias.io/v1alpha1")
	na.SetKind("NamespaceAlias")
	na.SetNamespace(ns)
	na.SetName("all")
	na.Object["spec"] = map[string]any{"domain": domain}
	must(t, s.c.Create(context.Background(), na))
	written := entries.waitFor(t, n/4, nil)
	start := time.Now()
	op.Kill(t)
	t.Logf("SIGKILL after %d of %d entries were written", written, n)

	op.Start(t)
	took, err := poll.Measure(start, 3*poll.Timeout, 250*time.Millisecond, func() error {
		if err := op.Alive(); err != nil {
			return err
		}
		u, err := namespaceAlias(s.c, ns, "all")
		if err != nil {
			return err
		}
		return readyNow(u)
	})
	must(t, err)
	row.Recovery, row.Floor, row.FloorWhat = took, leaseDuration, "the lease duration"
	row.RecoveryNote = fmt.Sprintf("killed at %d of %d entries", written, n)
	return []*operator.Operator{op}
}

// allReady returns nil once n aliases of the list kind exist in ns and all are Ready at their
// generation.
func allReady(c client.Client, ns, listKind string, n int) error {
	l := &unstructured.UnstructuredList{}
	l.SetAPIVersion("meshalias.io/v1alpha1")
	l.SetKind(listKind)
	if err := c.List(context.Background(), l, client.InNamespace(ns)); err != nil {
		return err
	}
	if len(l.Items) != n {
		return fmt.Errorf("%d aliases, want %d", len(l.Items), n)
	}
	notReady := 0
	var first error
	for i := range l.Items {
		if err := readyNow(&l.Items[i]); err != nil {
			notReady++
			if first == nil {
				first = err
			}
		}
	}
	if notReady > 0 {
		return fmt.Errorf("%d of %d not Ready, first: %w", notReady, n, first)
	}
	return nil
}

// entryCounter counts the ServiceEntries created in a namespace, from a watch: a kill
// "in the middle" must land at a known point, and a poll would see it too late.
type entryCounter struct {
	added chan struct{}
	count int
}

func countEntries(t *testing.T, s *faultSuite, ns string) *entryCounter {
	t.Helper()
	w := watchServiceEntries(t, s.cluster.Config, client.InNamespace(ns))
	e := &entryCounter{added: make(chan struct{}, 100000)}
	go func() {
		for ev := range w.ResultChan() {
			if ev.Type == watch.Added {
				e.added <- struct{}{}
			}
		}
	}()
	return e
}

// waitFor returns once at least n entries have been added since the watch began, with the
// count then. A creation that fails meanwhile (on created) fails the test at once.
func (e *entryCounter) waitFor(t *testing.T, n int, created chan error) int {
	t.Helper()
	timeout := time.After(2 * poll.Timeout)
	for e.count < n {
		select {
		case <-e.added:
			e.count++
		case err := <-created:
			must(t, err)
			created <- nil // for the case to read again
		case <-timeout:
			t.Fatalf("only %d of the %d entries awaited were created", e.count, n)
		}
	}
	return e.count
}
