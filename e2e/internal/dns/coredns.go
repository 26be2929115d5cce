// Package dns answers "does an alias name resolve?" the two ways a pod can resolve one: through
// a real CoreDNS, built from the Go module proxy and loaded with the rules of `kubectl
// meshalias dns --coredns`, and through Istio's DNS proxy, with the name table pilot builds for
// a DNS-capturing sidecar and the agent's own DNS server. It also runs pilot for a dual-stack
// sidecar, which the pilot package's single-stack Mesh does not.
package dns

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	mdns "github.com/miekg/dns"

	"github.com/meshalias/meshalias/e2e/internal/proc"
)

// BuildCoreDNS runs hack/build-coredns.sh, which compiles CoreDNS once per machine into
// bin/coredns/<version>/, and returns the binary's path. Each progress line of the script is
// handed to progress as it comes, so that a cold build (a minute or two) is not silent.
func BuildCoreDNS(repoRoot string, progress func(line string)) (string, error) {
	cmd := exec.Command(filepath.Join(repoRoot, "hack", "build-coredns.sh"))
	cmd.Dir = repoRoot
	var stdout bytes.Buffer
	cmd.Stdout = &stdout
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return "", err
	}
	if err := cmd.Start(); err != nil {
		return "", fmt.Errorf("hack/build-coredns.sh: %w", err)
	}
	var tail []string
	sc := bufio.NewScanner(stderr)
	for sc.Scan() {
		progress(sc.Text())
		tail = append(tail, sc.Text())
		if len(tail) > 30 {
			tail = tail[1:]
		}
	}
	if err := cmd.Wait(); err != nil {
		return "", fmt.Errorf("hack/build-coredns.sh: %w\n%s", err, strings.Join(tail, "\n"))
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	bin := filepath.Join(lines[len(lines)-1], "coredns")
	if _, err := os.Stat(bin); err != nil {
		return "", fmt.Errorf("hack/build-coredns.sh printed %q, where there is no coredns: %w", lines[len(lines)-1], err)
	}
	return bin, nil
}

// Corefile is a CoreDNS configuration as a cluster runs it, cut down to what a test needs: one
// server block for the root zone on 127.0.0.1, the operator's rules imported from files the way
// the coredns-custom ConfigMap's keys are (`import /etc/coredns/custom/*.override`), the
// kubernetes plugin for the cluster domain, and everything else forwarded upstream.
type Corefile struct {
	// Port is the DNS port, UDP and TCP; ReadyPort serves the ready plugin's /ready.
	Port, ReadyPort int
	// Import is a glob of files whose text is placed in the server block.
	Import string
	// Kubeconfig is the kubernetes plugin's credentials for the cluster's apiserver.
	Kubeconfig string
	// ClusterDomain is the kubernetes plugin's zone, cluster.local by default.
	ClusterDomain string
	// Upstream is where names outside the cluster domain go, as host:port.
	Upstream string
}

// String renders the Corefile. The order of the plugins in the block does not matter: CoreDNS
// runs them in its build's directive order (hack/coredns/main.go), rewrite before kubernetes.
func (c Corefile) String() string {
	domain := c.ClusterDomain
	if domain == "" {
		domain = "cluster.local"
	}
	return fmt.Sprintf(`.:%d {
    bind 127.0.0.1
    ready 127.0.0.1:%d
    errors
    log
    import %s
    kubernetes %s {
        kubeconfig %s
    }
    forward . %s
}
`, c.Port, c.ReadyPort, c.Import, domain, c.Kubeconfig, c.Upstream)
}

// Server is a running CoreDNS.
type Server struct {
	// Addr is where it answers, UDP and TCP.
	Addr string
	// Process is the coredns process; its log is the log plugin's, one line per query.
	Process *proc.Process
}

// StartCoreDNS writes corefile (its Port and ReadyPort are filled in with free ports) into the
// test's temporary directory, runs bin on it, and waits until the ready plugin says every
// plugin is ready: for the kubernetes plugin, that its informers have synced with the
// apiserver. CoreDNS is killed when the test ends.
func StartCoreDNS(t *testing.T, bin string, corefile Corefile) *Server {
	t.Helper()
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		ports, err := freePorts(2)
		if err != nil {
			t.Fatal(err)
		}
		corefile.Port, corefile.ReadyPort = ports[0], ports[1]
		path := filepath.Join(t.TempDir(), "Corefile")
		if err := os.WriteFile(path, []byte(corefile.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		p, err := proc.Start(t, "coredns", bin, "-conf", path)
		if err != nil {
			t.Fatal(err)
		}
		ready := fmt.Sprintf("http://127.0.0.1:%d/ready", corefile.ReadyPort)
		if lastErr = waitReady(p, ready, 30*time.Second); lastErr == nil {
			t.Logf("coredns answers on 127.0.0.1:%d (log %s) with Corefile:\n%s", corefile.Port, p.LogPath, corefile)
			return &Server{Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(corefile.Port)), Process: p}
		}
		_ = p.Stop(5 * time.Second)
		// A port taken between freePorts and coredns' bind is worth another try; anything
		// else will fail the same way again.
		if !strings.Contains(p.Log(), "address already in use") {
			break
		}
	}
	t.Fatalf("coredns did not become ready: %v", lastErr)
	return nil
}

func waitReady(p *proc.Process, url string, timeout time.Duration) error {
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(timeout)
	for {
		if !p.Running() {
			return fmt.Errorf("coredns exited (%v):\n%s", p.ExitError(), p.Tail(30))
		}
		resp, err := client.Get(url)
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("%s: %s %s", url, resp.Status, strings.TrimSpace(string(body)))
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("after %s: %w\n%s", timeout, err, p.Tail(30))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// freePorts returns n ports that were free, for TCP and UDP alike, on 127.0.0.1 a moment ago.
func freePorts(n int) ([]int, error) {
	var ports []int
	var closers []io.Closer
	defer func() {
		for _, c := range closers {
			c.Close()
		}
	}()
	for tries := 0; len(ports) < n && tries < 50; tries++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		port := l.Addr().(*net.TCPAddr).Port
		u, err := net.ListenPacket("udp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err != nil {
			l.Close()
			continue
		}
		closers = append(closers, l, u)
		ports = append(ports, port)
	}
	if len(ports) < n {
		return nil, errors.New("no free port for both TCP and UDP on 127.0.0.1")
	}
	return ports, nil
}

// Upstream stands in for the resolver a cluster's CoreDNS forwards to: it answers NXDOMAIN for
// every name, as the internet does for a made-up one, and remembers what it was asked, so that
// a test can tell which names the cluster's DNS answered itself.
type Upstream struct {
	Addr string

	mu    sync.Mutex
	asked []string
}

// StartUpstream serves on a free UDP and TCP port of 127.0.0.1 until the test ends.
func StartUpstream(t *testing.T) *Upstream {
	t.Helper()
	u := &Upstream{}
	handler := mdns.HandlerFunc(func(w mdns.ResponseWriter, r *mdns.Msg) {
		m := new(mdns.Msg)
		m.SetRcode(r, mdns.RcodeNameError)
		if len(r.Question) > 0 {
			u.mu.Lock()
			u.asked = append(u.asked, r.Question[0].Name)
			u.mu.Unlock()
		}
		_ = w.WriteMsg(m)
	})
	for attempt := 0; ; attempt++ {
		ports, err := freePorts(1)
		if err != nil {
			t.Fatal(err)
		}
		u.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[0]))
		servers, err := serve(u.Addr, handler)
		if err == nil {
			t.Cleanup(func() {
				for _, s := range servers {
					_ = s.Shutdown()
				}
			})
			return u
		}
		if attempt == 2 {
			t.Fatalf("starting the upstream resolver: %v", err)
		}
	}
}

func serve(addr string, handler mdns.Handler) ([]*mdns.Server, error) {
	var servers []*mdns.Server
	for _, network := range []string{"udp", "tcp"} {
		started := make(chan error, 1)
		s := &mdns.Server{Addr: addr, Net: network, Handler: handler, NotifyStartedFunc: func() { started <- nil }}
		go func() {
			if err := s.ListenAndServe(); err != nil {
				started <- err
			}
		}()
		if err := <-started; err != nil {
			for _, s := range servers {
				_ = s.Shutdown()
			}
			return nil, err
		}
		servers = append(servers, s)
	}
	return servers, nil
}

// Asked returns the names the upstream has been asked, in order.
func (u *Upstream) Asked() []string {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]string(nil), u.asked...)
}
