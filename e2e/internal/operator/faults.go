package operator

import (
	"fmt"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/meshalias/meshalias/e2e/internal/proc"
)

// acquiredLease is in the line client-go's leader election logs when a replica becomes the
// leader ("successfully acquired lease <namespace>/<name>"); the case differs by version.
const acquiredLease = "acquired lease"

// Kill sends SIGKILL to the running operator and waits for it to exit: no graceful shutdown,
// so a leader leaves its Lease held until it expires.
func (o *Operator) Kill(t *testing.T) {
	t.Helper()
	o.running(t).Kill()
}

// Terminate sends SIGTERM to the running operator and returns at once, for a test that
// measures what happens while it shuts down. Exited tells when it is gone.
func (o *Operator) Terminate(t *testing.T) *proc.Process {
	t.Helper()
	p := o.running(t)
	if err := p.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	return p
}

// Leading reports whether the current process has logged becoming the leader.
func (o *Operator) Leading() bool {
	p := o.current()
	return p != nil && p.Running() && len(p.Grep(acquiredLease)) > 0
}

// Runs is how many processes have been started so far: restarts are Runs()-1.
func (o *Operator) Runs() int { return len(o.processes()) }

// Name says which operator this is in messages: its first log file.
func (o *Operator) Name() string {
	runs := o.processes()
	if len(runs) == 0 {
		return "operator (never started)"
	}
	return runs[0].Name
}

// KeepRunning plays the kubelet for a pod with restartPolicy Always: whenever the process
// exits (a replica that loses its Lease exits on purpose), it starts a new one after delay.
// Kubelet's back-off starts at 10 s; a shorter delay keeps the suite fast and changes nothing
// the operator can tell. The returned stop ends the supervision; a cleanup of the owning test
// calls it too, before the processes are stopped.
func (o *Operator) KeepRunning(t *testing.T, delay time.Duration) (stop func()) {
	t.Helper()
	quit, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		for {
			p := o.current()
			if p == nil {
				return
			}
			select {
			case <-quit:
				return
			case <-p.Exited():
			}
			select {
			case <-quit:
				return
			case <-time.After(delay):
			}
			if _, err := o.start(); err != nil {
				o.owner.Errorf("restarting the operator: %v", err)
				return
			}
		}
	}()
	stop = sync.OnceFunc(func() {
		close(quit)
		<-done
	})
	o.mu.Lock()
	o.keeping = stop
	o.mu.Unlock()
	o.owner.Cleanup(stop)
	return stop
}

// stopKeeping stops the kubelet of KeepRunning, if one runs.
func (o *Operator) stopKeeping() {
	o.mu.Lock()
	stop := o.keeping
	o.mu.Unlock()
	if stop != nil {
		stop()
	}
}

// Exits lists, for each process that has exited, why, with the log lines that say so: how a
// test reports what a kubelet had to restart.
func (o *Operator) Exits() []string {
	var out []string
	for _, p := range o.processes() {
		if p.Running() {
			continue
		}
		why := fmt.Sprint(p.ExitError())
		if lines := p.Grep(`"level":"error"`); len(lines) > 0 {
			why += ": " + strings.TrimSpace(lines[len(lines)-1])
		}
		out = append(out, p.Name+": "+why)
	}
	return out
}
