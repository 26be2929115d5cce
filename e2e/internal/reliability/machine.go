package reliability

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
)

// Machine is what the figures were measured on.
type Machine struct {
	CPUs         int
	CPUModel     string
	MemoryGiB    float64
	Go           string
	ControlPlane string
}

// ThisMachine reads the machine's CPUs and memory from /proc, and names the control plane by
// the folder its binaries are in (bin/k8s/<version>).
func ThisMachine(assets string) Machine {
	m := Machine{CPUs: runtime.NumCPU(), Go: runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH, ControlPlane: filepath.Base(assets)}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPUModel = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if f := strings.Fields(line); len(f) >= 2 && f[0] == "MemTotal:" {
				kib, _ := strconv.ParseFloat(f[1], 64)
				m.MemoryGiB = kib / (1 << 20)
			}
		}
	}
	return m
}

// Markdown is the machine as a bullet list.
func (m Machine) Markdown() string {
	return fmt.Sprintf("- CPUs: %d, %s\n- Memory: %.1f GiB\n- Go: %s\n- Control plane: etcd and kube-apiserver %s (envtest), no kube-controller-manager\n- Operator: the built `cmd/manager`, run as its own process under config/default's RBAC, with --leader-election-lease-duration=4s, --leader-election-renew-deadline=3s and --leader-election-retry-period=1s\n",
		m.CPUs, m.CPUModel, m.MemoryGiB, m.Go, m.ControlPlane)
}
