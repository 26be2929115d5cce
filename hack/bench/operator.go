package main

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/meshalias/meshalias/internal/localcluster"
)

// buildOperator builds cmd/manager the way a release does, so that the bench measures the
// binary people run and not an in-process copy sharing the bench's heap.
func buildOperator(root string) (string, error) {
	bin := filepath.Join(root, "bin", "manager")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/manager")
	cmd.Dir, cmd.Stdout, cmd.Stderr = root, os.Stdout, os.Stderr
	return bin, cmd.Run()
}

// operator is the meshalias process under test. While it runs, a sampler reads its metrics
// once a second and keeps the peaks that the steps' own readings would miss.
type operator struct {
	bin, kubeconfig string
	args, env       []string
	log             *os.File

	proc       *localcluster.Process
	metricsURL string
	stopSample context.CancelFunc
	mu         sync.Mutex
	peakRSS    float64 // since the first start
	peakDepth  float64 // of the ServiceAlias queue, since the last peaks(true)
}

// start runs the operator as admin, with plain-HTTP metrics on a loopback port and its
// probes off: nothing here reads them.
func (o *operator) start() error {
	port, err := localcluster.FreePort()
	if err != nil {
		return err
	}
	args := append([]string{"--kubeconfig=" + o.kubeconfig, "--metrics-bind-address=127.0.0.1:" + strconv.Itoa(port), "--metrics-secure=false",
		"--health-probe-bind-address=0", "--leader-elect=false", "--cluster-domain=" + clusterDomain}, o.args...)
	fmt.Fprintf(o.log, "\n==== %s starting %s %s %s\n", time.Now().Format(time.RFC3339Nano), strings.Join(o.env, " "), o.bin, strings.Join(args, " "))
	if o.proc, err = localcluster.StartProcess(o.log, o.env, o.bin, args...); err != nil {
		return err
	}
	o.metricsURL = "http://127.0.0.1:" + strconv.Itoa(port) + "/metrics"
	ctx, cancel := context.WithCancel(context.Background())
	o.stopSample = cancel
	go func() {
		for sleep(ctx, time.Second) == nil {
			if m, err := o.scrapeOnce(); err == nil {
				o.mu.Lock()
				o.peakRSS = max(o.peakRSS, m.sum("process_resident_memory_bytes", nil))
				o.peakDepth = max(o.peakDepth, m.sum("workqueue_depth", label("name", "servicealias")))
				o.mu.Unlock()
			}
		}
	}()
	return nil
}

// stop sends SIGTERM, as the kubelet does, and kills the process if it lingers.
func (o *operator) stop() error {
	if o.proc == nil {
		return nil
	}
	o.stopSample()
	defer func() { o.proc = nil }()
	return o.proc.Stop(30 * time.Second)
}

// exited reports whether the process has died, e.g. crashed.
func (o *operator) exited() error {
	if err := o.proc.Exited(); err != nil {
		return fmt.Errorf("%w (see %s)", err, o.log.Name())
	}
	return nil
}

// peaks returns the sampler's largest resident set and ServiceAlias queue depth so far.
func (o *operator) peaks(resetDepth bool) (rss int64, depth int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	rss, depth = int64(o.peakRSS), int(o.peakDepth)
	if resetDepth {
		o.peakDepth = 0
	}
	return rss, depth
}

// logMentions counts the mentions of s, in any case, in the operator's log.
func (o *operator) logMentions(s string) int {
	raw, _ := os.ReadFile(o.log.Name())
	return strings.Count(strings.ToLower(string(raw)), strings.ToLower(s))
}

// scrape reads the operator's /metrics, retrying while the endpoint comes up.
func (o *operator) scrape(ctx context.Context) (metrics, error) {
	var m metrics
	err := poll(ctx, 100*time.Millisecond, 30*time.Second, func() (done bool, status string, err error) {
		if m, err = o.scrapeOnce(); err != nil {
			return false, fmt.Sprintf("reading the operator's metrics: %v", err), o.exited()
		}
		return true, "", nil
	})
	return m, err
}

var metricsClient = &http.Client{Timeout: 10 * time.Second}

// scrapeOnce reads the metrics as the text format shows them: a histogram's count and sum are
// samples of their own, name_count and name_sum.
func (o *operator) scrapeOnce() (metrics, error) {
	resp, err := metricsClient.Get(o.metricsURL)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %s: %w", o.metricsURL, resp.Status, err)
	}
	var m metrics
	for name, f := range families {
		for _, s := range f.GetMetric() {
			l := map[string]string{}
			for _, p := range s.GetLabel() {
				l[p.GetName()] = p.GetValue()
			}
			if h := s.GetHistogram(); h != nil {
				m = append(m, sample{name + "_count", l, float64(h.GetSampleCount())}, sample{name + "_sum", l, h.GetSampleSum()})
			} else {
				m = append(m, sample{name, l, s.GetCounter().GetValue() + s.GetGauge().GetValue() + s.GetUntyped().GetValue()})
			}
		}
	}
	return m, nil
}

// metrics is a scrape of the operator's /metrics: one sample per series.
type metrics []sample

type sample struct {
	name   string
	labels map[string]string
	value  float64
}

// sum adds the samples of a metric whose labels pass keep (nil keeps all).
func (m metrics) sum(name string, keep func(map[string]string) bool) float64 {
	var total float64
	for _, s := range m {
		if s.name == name && (keep == nil || keep(s.labels)) {
			total += s.value
		}
	}
	return total
}

func label(key, value string) func(map[string]string) bool {
	return func(l map[string]string) bool { return l[key] == value }
}

// writes counts the operator's writes to the API server since it started: every resource,
// ServiceEntries, statuses and Events alike.
func (m metrics) writes() int {
	return int(m.sum("rest_client_requests_total", func(l map[string]string) bool {
		return slices.Contains([]string{"POST", "PUT", "PATCH", "DELETE"}, l["method"])
	}))
}

// requests breaks the operator's requests down by method and response code, such as
// "PATCH 200: 1000, POST 201: 1000".
func (m metrics) requests() string {
	by := map[string]int{}
	for _, s := range m {
		if s.name == "rest_client_requests_total" && s.value > 0 {
			by[s.labels["method"]+" "+s.labels["code"]] += int(s.value)
		}
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(by)) {
		parts = append(parts, fmt.Sprintf("%s: %d", k, by[k]))
	}
	return strings.Join(parts, ", ")
}
