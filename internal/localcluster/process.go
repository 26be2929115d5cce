package localcluster

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// Process is a child process that cannot outlive this one: a benchmark, a demo or a test that
// is killed takes it along instead of leaving it running against a control plane that is gone.
type Process struct {
	cmd  *exec.Cmd
	log  string
	done chan struct{}
	err  error
}

// StartProcess runs bin with args, its output to log (nil discards it) and env added to this
// process's environment. A line in log first says when and how, so that the runs of a process
// that is restarted read apart.
func StartProcess(log *os.File, env []string, bin string, args ...string) (*Process, error) {
	cmd := exec.Command(bin, args...)
	if log != nil {
		fmt.Fprintf(log, "\n==== %s starting %s %s %s\n", time.Now().Format(time.RFC3339Nano), strings.Join(env, " "), bin, strings.Join(args, " "))
		cmd.Stdout, cmd.Stderr = log, log
	}
	cmd.Env = append(os.Environ(), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", bin, err)
	}
	p := &Process{cmd: cmd, log: "no log", done: make(chan struct{})}
	if log != nil {
		p.log = log.Name()
	}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// Exited is nil while the process runs, and says how it ended, and where it logged, once it
// has.
func (p *Process) Exited() error {
	select {
	case <-p.done:
		return fmt.Errorf("%s exited: %v (see %s)", p.cmd.Path, p.err, p.log)
	default:
		return nil
	}
}

// Stop sends SIGTERM, as the kubelet does, and kills the process if it has not exited after
// grace.
func (p *Process) Stop(grace time.Duration) error {
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return err
	}
	select {
	case <-p.done:
		return nil
	case <-time.After(grace):
		_ = p.cmd.Process.Kill()
		<-p.done
		return fmt.Errorf("%s ignored SIGTERM for %s and was killed", p.cmd.Path, grace)
	}
}

// FreeAddrs are n addresses on the loopback interface, such as 127.0.0.1:41234, that nothing
// listens on now, for a child's listeners; all n are held open together, so they differ.
func FreeAddrs(n int) ([]string, error) {
	var addrs []string
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		defer l.Close()
		addrs = append(addrs, l.Addr().String())
	}
	return addrs, nil
}
