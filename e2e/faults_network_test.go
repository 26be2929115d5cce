package e2e_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/meshalias/meshalias/e2e/internal/operator"
	"github.com/meshalias/meshalias/e2e/internal/poll"
	"github.com/meshalias/meshalias/e2e/internal/reliability"
	"github.com/meshalias/meshalias/e2e/internal/tcpproxy"
)

// The faults of this file take the apiserver away from the operator: a network partition
// between them, and the apiserver itself restarting.

// outage is how long the partition lasts: longer than the renew deadline, so that a leader
// cannot keep its Lease through it, and than client-go's first retries.
const outage = 10 * time.Second

// kubeletDelay is how long the test's kubelet waits before restarting an exited replica.
const kubeletDelay = time.Second

func partitionOneReplica(t *testing.T, s *faultSuite, ns string, row *reliability.Row) []*operator.Operator {
	proxy := tcpproxy.Start(t, s.apiserverAddr(t))
	// A lone replica with leader election loses its Lease in any outage longer than the
	// renew deadline and exits on purpose; that is the next case. This one asks whether a
	// process that stays up catches up.
	op := s.replica(t, viaProxy(t, s.kubeconfig, proxy.Addr), "--leader-elect=false")
	op.Start(t)
	entry, ip := s.baseline(t, ns, op.Alive)

	start := time.Now()
	proxy.Cut()
	s.disturb(t, ns, entry)
	time.Sleep(outage - time.Since(start))
	if err := op.Alive(); err != nil {
		t.Fatalf("the operator did not survive %s without the apiserver: %v", outage, err)
	}
	back := time.Now()
	proxy.Restore(t)
	took, err := poll.Measure(start, outage+poll.Timeout, 50*time.Millisecond, func() error {
		if err := op.Alive(); err != nil {
			return err
		}
		return s.settled(ns, entry, ip)
	})
	must(t, err)
	catchUp := start.Add(took).Sub(back)
	row.Recovery, row.Floor, row.FloorWhat = took, outage, "the outage"
	row.RecoveryNote = "caught up " + reliability.Duration(catchUp) + " after the network returned"
	t.Logf("apiserver unreachable for %s: converged %s after the cut, %s after the network returned", outage, took.Round(time.Millisecond), catchUp.Round(time.Millisecond))
	return []*operator.Operator{op}
}

func partitionTwoReplicas(t *testing.T, s *faultSuite, ns string, row *reliability.Row) []*operator.Operator {
	proxy := tcpproxy.Start(t, s.apiserverAddr(t))
	kubeconfig := viaProxy(t, s.kubeconfig, proxy.Addr)
	a, b := s.replica(t, kubeconfig), s.replica(t, kubeconfig)
	a.Start(t)
	b.Start(t)
	stopA, stopB := a.KeepRunning(t, kubeletDelay), b.KeepRunning(t, kubeletDelay)
	leader(t, a, b)
	entry, ip := s.baseline(t, ns, anyAlive(a, b))

	start := time.Now()
	proxy.Cut()
	s.disturb(t, ns, entry)
	time.Sleep(outage - time.Since(start))
	back := time.Now()
	proxy.Restore(t)
	took, err := poll.Measure(start, outage+poll.Timeout, 50*time.Millisecond, func() error {
		return s.settled(ns, entry, ip)
	})
	must(t, err)
	catchUp := start.Add(took).Sub(back)
	leader(t, a, b)
	stopA()
	stopB()
	exited := a.Runs() + b.Runs() - 2
	row.Recovery, row.Floor, row.FloorWhat = took, outage, "the outage"
	row.RecoveryNote = fmt.Sprintf("caught up %s after the network returned; %s", reliability.Duration(catchUp), restarts(exited))
	t.Logf("apiserver unreachable for %s, two replicas: converged %s after the cut, %s after the network returned; the kubelet restarted %d processes:\n  %s",
		outage, took.Round(time.Millisecond), catchUp.Round(time.Millisecond), exited, strings.Join(append(a.Exits(), b.Exits()...), "\n  "))
	return []*operator.Operator{a, b}
}

func apiserverRestarted(t *testing.T, s *faultSuite, ns string, row *reliability.Row) []*operator.Operator {
	op := s.replica(t, s.kubeconfig)
	op.Start(t)
	stop := op.KeepRunning(t, kubeletDelay)
	leader(t, op)
	entry, ip := s.baseline(t, ns, op.Alive)

	start := time.Now()
	down, ready := s.cluster.RestartAPIServer(t)
	op.ExcuseRefusalsBefore(ready)
	refused := s.disturb(t, ns, entry)
	admitted := time.Now()
	took, err := poll.Measure(start, down+poll.Timeout, 50*time.Millisecond, func() error {
		return s.settled(ns, entry, ip)
	})
	must(t, err)
	leader(t, op)
	stop()
	row.Recovery, row.Floor, row.FloorWhat = took, down, "the apiserver's downtime"
	row.RecoveryNote = restarts(op.Runs() - 1)
	if refused == 0 {
		row.RecoveryNote += "; the change was admitted at once"
	} else {
		row.RecoveryNote += fmt.Sprintf("; the admission policy refused every alias write for %s after the apiserver was back, the operator converged %s after the change was admitted",
			reliability.Duration(refused), reliability.Duration(start.Add(took).Sub(admitted)))
	}
	t.Logf("kube-apiserver down for %s: converged %s after the stop; the kubelet restarted the operator %d times:\n  %s",
		down.Round(time.Millisecond), took.Round(time.Millisecond), op.Runs()-1, strings.Join(op.Exits(), "\n  "))
	return []*operator.Operator{op}
}

// restarts says how many processes the kubelet restarted.
func restarts(n int) string {
	if n == 1 {
		return "1 restart"
	}
	return fmt.Sprintf("%d restarts", n)
}
