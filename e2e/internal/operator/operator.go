// Package operator runs the built meshalias manager as a child process, the way a Deployment
// would run it, and judges what it leaves in its log and how it exits.
package operator

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/meshalias/meshalias/e2e/internal/proc"
)

// stopTimeout bounds a graceful shutdown. The manager's own default for its runnables is 30 s;
// with nothing in flight it takes well under a second.
const stopTimeout = 40 * time.Second

// forbidden is in what the apiserver answers, and the operator logs, when RBAC refuses a
// request ("... is forbidden: User ... cannot ...").
const forbidden = "forbidden"

// Operator is one installation of the operator: the same binary, credentials and flags each
// time it is (re)started.
type Operator struct {
	// owner is the test the processes belong to: they outlive the subtests that (re)start
	// them, and their logs stay readable until it ends.
	owner *testing.T
	bin   string
	args  []string
	// mu guards runs: a kubelet (KeepRunning) may restart the process from its own goroutine.
	mu sync.Mutex
	// runs are every process started so far, the current one last.
	runs []*proc.Process
	// keeping stops the kubelet of KeepRunning, if one runs.
	keeping func()
	// checked are the runs whose logs CheckLogs has judged already.
	checked map[*proc.Process]bool
	// authorizerReady is when the apiserver last became ready after a restart: refusals
	// logged before it are the restarted authorizer's, not the operator's RBAC.
	authorizerReady time.Time
}

// New describes an operator run as bin --kubeconfig=kubeconfig args..., for the test owner
// and its subtests.
func New(owner *testing.T, bin, kubeconfig string, args ...string) *Operator {
	return &Operator{owner: owner, bin: bin, args: append([]string{"--kubeconfig=" + kubeconfig}, args...)}
}

// Start runs a new operator process. When the owning test ends, a cleanup stops it if it still
// runs, and fails the test if the process logged an RBAC refusal.
func (o *Operator) Start(t *testing.T) {
	t.Helper()
	p, err := o.start()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("started %s %s (log %s)", o.bin, strings.Join(o.args, " "), p.LogPath)
}

// start runs a new process, unless one runs already. It does not fail a test, so that a
// kubelet's goroutine may call it.
func (o *Operator) start() (*proc.Process, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if p := o.currentLocked(); p != nil && p.Running() {
		return nil, fmt.Errorf("operator already running (log %s)", p.LogPath)
	}
	p, err := proc.Start(o.owner, fmt.Sprintf("meshalias-%d", len(o.runs)+1), o.bin, o.args...)
	if err != nil {
		return nil, err
	}
	o.runs = append(o.runs, p)
	o.owner.Cleanup(func() {
		// A kubelet must not restart what the end of the test stops.
		o.stopKeeping()
		if p.Running() {
			if err := p.Stop(stopTimeout); err != nil {
				o.owner.Errorf("stopping the operator at the end: %v\n%s", err, p.Tail(30))
			}
		}
		if !o.checked[p] {
			o.checkLog(o.owner, p)
		}
	})
	return p, nil
}

// CheckLogs fails t for every log line, of every run so far, in which the apiserver refused
// the operator something. Stop the operator first to judge a whole run.
func (o *Operator) CheckLogs(t *testing.T) {
	t.Helper()
	if o.checked == nil {
		o.checked = map[*proc.Process]bool{}
	}
	for _, p := range o.processes() {
		o.checkLog(t, p)
		o.checked[p] = true
	}
}

// Stop sends SIGTERM to the running operator and fails the test unless it exits with code 0.
func (o *Operator) Stop(t *testing.T) {
	t.Helper()
	p := o.running(t)
	start := time.Now()
	if err := p.Stop(stopTimeout); err != nil {
		t.Fatalf("graceful shutdown: %v\n%s", err, p.Tail(30))
	}
	t.Logf("operator stopped on SIGTERM with exit code 0 in %s", time.Since(start).Round(time.Millisecond))
}

// running returns the current process, and fails t if none runs.
func (o *Operator) running(t *testing.T) *proc.Process {
	t.Helper()
	p := o.current()
	if p == nil || !p.Running() {
		t.Fatalf("operator is not running: %v", o.Alive())
	}
	return p
}

// Alive returns an error, with the end of the log, once the current operator has exited.
func (o *Operator) Alive() error {
	p := o.current()
	if p == nil {
		return fmt.Errorf("operator never started")
	}
	if !p.Running() {
		return fmt.Errorf("operator exited (%v):\n%s", p.ExitError(), p.Tail(30))
	}
	return nil
}

// Grep returns the log lines, of every run so far, that contain substr.
func (o *Operator) Grep(substr string) []string {
	var lines []string
	for _, p := range o.processes() {
		lines = append(lines, p.Grep(substr)...)
	}
	return lines
}

func (o *Operator) current() *proc.Process {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.currentLocked()
}

// processes returns every run so far, the current one last.
func (o *Operator) processes() []*proc.Process {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]*proc.Process(nil), o.runs...)
}

func (o *Operator) currentLocked() *proc.Process {
	if len(o.runs) == 0 {
		return nil
	}
	return o.runs[len(o.runs)-1]
}

// ExcuseRefusalsBefore tells the log checks that the apiserver restarted and became ready
// at ready. Until its RBAC informers have synced, a restarted apiserver refuses requests that
// RBAC allows, and the operator rightly logs and retries them; refusals logged after ready
// still fail the test.
func (o *Operator) ExcuseRefusalsBefore(ready time.Time) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.authorizerReady = ready
}

func (o *Operator) checkLog(t *testing.T, p *proc.Process) {
	t.Helper()
	o.mu.Lock()
	ready := o.authorizerReady
	o.mu.Unlock()
	lines, excused := refusalsAfter(p, ready)
	if excused > 0 {
		t.Logf("%d refusals in %s were logged before the restarted apiserver was ready (%s): not counted", excused, p.LogPath, ready.Format(time.RFC3339Nano))
	}
	if len(lines) > 0 {
		t.Errorf("the operator's RBAC is missing something: %d log lines of %s say forbidden:\n%s", len(lines), p.LogPath, strings.Join(lines, "\n"))
	}
}

// refusalsAfter returns the log lines of p that say forbidden, except those logged before
// ready. The log's timestamps have whole seconds, so a line in ready's own second counts as
// before it.
func refusalsAfter(p *proc.Process, ready time.Time) (lines []string, excused int) {
	for _, line := range p.Grep(forbidden) {
		var entry struct {
			TS time.Time `json:"ts"`
		}
		if json.Unmarshal([]byte(line), &entry) == nil && !entry.TS.IsZero() && !entry.TS.After(ready) {
			excused++
			continue
		}
		lines = append(lines, line)
	}
	return lines, excused
}
