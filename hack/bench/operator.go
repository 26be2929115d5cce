package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// buildOperator builds cmd/manager the way a release does, so that the bench measures the
// binary people run and not an in-process copy sharing the bench's heap.
func buildOperator(root string) (string, error) {
	bin := filepath.Join(root, "bin", "manager")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/manager")
	cmd.Dir = root
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("building the operator: %w", err)
	}
	return bin, nil
}

// operator is the meshalias process under test.
type operator struct {
	bin        string
	kubeconfig string
	extraArgs  []string
	extraEnv   []string
	log        *os.File

	cmd        *exec.Cmd
	done       chan error
	metricsURL string
}

// start runs the operator as admin, with plain-HTTP metrics on a loopback port.
func (o *operator) start() error {
	metricsPort, err := freePort()
	if err != nil {
		return err
	}
	probePort, err := freePort()
	if err != nil {
		return err
	}
	args := append([]string{
		"--kubeconfig=" + o.kubeconfig,
		"--metrics-bind-address=127.0.0.1:" + strconv.Itoa(metricsPort),
		"--metrics-secure=false",
		"--health-probe-bind-address=127.0.0.1:" + strconv.Itoa(probePort),
		"--leader-elect=false",
		"--cluster-domain=" + clusterDomain,
	}, o.extraArgs...)
	fmt.Fprintf(o.log, "\n==== %s starting %s %s %s\n", time.Now().Format(time.RFC3339Nano), strings.Join(o.extraEnv, " "), o.bin, strings.Join(args, " "))
	o.cmd = exec.Command(o.bin, args...)
	o.cmd.Stdout, o.cmd.Stderr = o.log, o.log
	o.cmd.Env = append(os.Environ(), o.extraEnv...)
	// The operator must not outlive an interrupted bench.
	o.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := o.cmd.Start(); err != nil {
		return fmt.Errorf("starting the operator: %w", err)
	}
	o.done = make(chan error, 1)
	go func() { o.done <- o.cmd.Wait() }()
	o.metricsURL = "http://127.0.0.1:" + strconv.Itoa(metricsPort) + "/metrics"
	return nil
}

// stop sends SIGTERM, as the kubelet does, and kills the process if it lingers.
func (o *operator) stop() error {
	if o.cmd == nil {
		return nil
	}
	defer func() { o.cmd = nil }()
	_ = o.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-o.done:
		return nil
	case <-time.After(30 * time.Second):
		_ = o.cmd.Process.Kill()
		<-o.done
		return fmt.Errorf("the operator ignored SIGTERM for 30s and was killed")
	}
}

// exited reports whether the process has died, e.g. crashed.
func (o *operator) exited() error {
	select {
	case err := <-o.done:
		o.done <- err
		return fmt.Errorf("the operator exited: %v (see %s)", err, o.log.Name())
	default:
		return nil
	}
}

// scrape reads the operator's /metrics, retrying while the endpoint comes up.
func (o *operator) scrape(ctx context.Context) (metrics, error) {
	var lastErr error
	for range 100 {
		if err := o.exited(); err != nil {
			return nil, err
		}
		m, err := o.scrapeOnce(ctx)
		if err == nil {
			return m, nil
		}
		lastErr = err
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return nil, fmt.Errorf("scraping the operator's metrics: %w", lastErr)
}

func (o *operator) scrapeOnce(ctx context.Context) (metrics, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, o.metricsURL, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", o.metricsURL, resp.Status)
	}
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	return parseMetrics(string(raw))
}

// memory reads the process's resident set now and at its peak (VmRSS, VmHWM), in bytes.
func (o *operator) memory() (rss, peak int64, err error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", o.cmd.Process.Pid))
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		key, val, ok := strings.Cut(sc.Text(), ":")
		if !ok || (key != "VmRSS" && key != "VmHWM") {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(val), " kB"), 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("reading %s: %w", key, err)
		}
		if key == "VmRSS" {
			rss = kb << 10
		} else {
			peak = kb << 10
		}
	}
	return rss, peak, sc.Err()
}

// cpu is the CPU time the process has used so far, user and system, from /proc/<pid>/stat.
func (o *operator) cpu() (time.Duration, error) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", o.cmd.Process.Pid))
	if err != nil {
		return 0, err
	}
	// The command name, in parentheses, may hold spaces: count fields after it.
	s := string(raw)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(fields) < 13 {
		return 0, fmt.Errorf("short /proc stat line")
	}
	utime, err1 := strconv.ParseInt(fields[11], 10, 64)
	stime, err2 := strconv.ParseInt(fields[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("parsing /proc stat: %v %v", err1, err2)
	}
	// Linux reports in clock ticks of 1/100 s (USER_HZ) on every architecture Go supports here.
	return time.Duration(utime+stime) * 10 * time.Millisecond, nil
}

// logMentions counts the mentions of s, in any case, in the operator's log.
func (o *operator) logMentions(s string) int {
	raw, err := os.ReadFile(o.log.Name())
	if err != nil {
		return 0
	}
	return strings.Count(strings.ToLower(string(raw)), strings.ToLower(s))
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
