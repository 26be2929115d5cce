// Package proc runs the binaries under test as child processes, with their output kept in a
// file, so that a test can read the log, stop a process gracefully and judge its exit.
package proc

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Process is one running child process.
type Process struct {
	Name    string
	LogPath string

	cmd  *exec.Cmd
	log  *os.File
	done chan struct{}
	err  error
}

// Start runs bin with args. Its stdout and stderr go to a file in the test's temporary
// directory. A cleanup of t kills the process if it still runs, so that nothing outlives the
// test. Start does not fail t itself, so that a subtest may start a process its parent owns.
func Start(t testing.TB, name, bin string, args ...string) (*Process, error) {
	logFile, err := os.CreateTemp(t.TempDir(), name+"-*.log")
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	p := &Process{Name: name, LogPath: logFile.Name(), cmd: cmd, log: logFile, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		logFile.Close()
		close(p.done)
	}()
	t.Cleanup(func() {
		if p.Running() {
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	})
	return p, nil
}

// Running reports whether the process has not exited yet.
func (p *Process) Running() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// Exited is closed once the process has exited.
func (p *Process) Exited() <-chan struct{} { return p.done }

// Stop sends SIGTERM and waits up to timeout for the process to exit. It returns nil only for
// a graceful exit with code 0; on timeout it kills the process and says so.
func (p *Process) Stop(timeout time.Duration) error {
	if p.Running() {
		if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
			return fmt.Errorf("signalling %s: %w", p.Name, err)
		}
	}
	select {
	case <-p.done:
		return p.ExitError()
	case <-time.After(timeout):
		_ = p.cmd.Process.Kill()
		<-p.done
		return fmt.Errorf("%s did not exit within %s of SIGTERM and was killed", p.Name, timeout)
	}
}

// Kill sends SIGKILL, as the OOM killer or a node failure would, and waits for the exit. The
// process gets no chance to clean up: a leader keeps its Lease until the Lease expires.
func (p *Process) Kill() {
	if p.Running() {
		_ = p.cmd.Process.Signal(syscall.SIGKILL)
	}
	<-p.done
}

// Signal sends sig without waiting for the process to exit.
func (p *Process) Signal(sig os.Signal) error {
	if err := p.cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("signalling %s: %w", p.Name, err)
	}
	return nil
}

// ExitError is nil while the process runs or after it exited with code 0, else why it did not.
func (p *Process) ExitError() error {
	if p.Running() {
		return nil
	}
	if p.err != nil {
		return fmt.Errorf("%s exited: %w", p.Name, p.err)
	}
	return nil
}

// Log returns everything the process has written so far.
func (p *Process) Log() string {
	b, err := os.ReadFile(p.LogPath)
	if err != nil {
		return fmt.Sprintf("(reading %s: %v)", p.LogPath, err)
	}
	return string(b)
}

// Tail returns the last n lines of the log, for failure messages.
func (p *Process) Tail(n int) string {
	lines := strings.Split(strings.TrimRight(p.Log(), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// Grep returns the log lines that contain substr.
func (p *Process) Grep(substr string) []string {
	var out []string
	for _, line := range strings.Split(p.Log(), "\n") {
		if strings.Contains(line, substr) {
			out = append(out, line)
		}
	}
	return out
}
