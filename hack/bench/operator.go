package main

import (
	"context"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
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

	proc                 *localcluster.Process
	metricsURL, pprofURL string
	stopSampler          context.CancelFunc
	mu                   sync.Mutex
	peakRSS              float64 // since the first start
	peakDepth            float64 // of the ServiceAlias queue, since the last peaks(true)
}

// The series the bench reads by these labels are the ServiceAlias controller's and queue's.
var (
	aliasController = model.LabelSet{"controller": "servicealias"}
	aliasQueue      = model.LabelSet{"name": "servicealias"}
)

// start runs the operator as admin, with plain-HTTP metrics and pprof on loopback ports and
// its probes off: nothing here reads them. An idle pprof listener costs nothing; the bench
// asks it for a GC before it reads the live heap, and for the profiles.
func (o *operator) start() error {
	addrs, err := localcluster.FreeAddrs(2)
	if err != nil {
		return err
	}
	o.metricsURL, o.pprofURL = "http://"+addrs[0]+"/metrics", "http://"+addrs[1]+"/debug/pprof/"
	args := append([]string{
		"--kubeconfig=" + o.kubeconfig, "--cluster-domain=" + clusterDomain, "--leader-elect=false",
		"--metrics-bind-address=" + addrs[0], "--metrics-secure=false",
		"--pprof-bind-address=" + addrs[1], "--health-probe-bind-address=0",
	}, o.args...)
	if o.proc, err = localcluster.StartProcess(o.log, o.env, o.bin, args...); err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	o.stopSampler = cancel
	go func() {
		for sleep(ctx, time.Second) == nil {
			if m, err := o.scrape(); err == nil {
				o.mu.Lock()
				o.peakRSS = max(o.peakRSS, float64(m.bytes("process_resident_memory_bytes")))
				o.peakDepth = max(o.peakDepth, m.sum("workqueue_depth", aliasQueue))
				o.mu.Unlock()
			}
		}
	}()
	return nil
}

func (o *operator) stop() error {
	if o.proc == nil {
		return nil
	}
	o.stopSampler()
	defer func() { o.proc = nil }()
	return o.proc.Stop(30 * time.Second)
}

// exited says whether the process died, for the polls that would otherwise wait it out.
func (o *operator) exited() error {
	if o.proc == nil {
		return nil
	}
	return o.proc.Exited()
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

// The pprof endpoints take as long as the profile asked of them.
var httpClient = &http.Client{Timeout: time.Minute}

func (o *operator) get(ctx context.Context, url string, w io.Writer) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	_, err = io.Copy(w, resp.Body)
	return err
}

// metrics is a scrape of the operator's /metrics as flat samples: a histogram's count and sum
// are the series name_count and name_sum, as the text format shows them.
type metrics model.Vector

func (o *operator) scrape() (metrics, error) {
	var text strings.Builder
	if err := o.get(context.Background(), o.metricsURL, &text); err != nil {
		return nil, err
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(strings.NewReader(text.String()))
	if err != nil {
		return nil, err
	}
	samples, err := expfmt.ExtractSamples(&expfmt.DecodeOptions{}, slices.Collect(maps.Values(families))...)
	return metrics(samples), err
}

// sum adds the series of a metric whose labels include match (nil for all).
func (m metrics) sum(name string, match model.LabelSet) (total float64) {
	m.each(name, func(labels model.Metric, v float64) {
		for k, want := range match {
			if labels[k] != want {
				return
			}
		}
		total += v
	})
	return total
}

func (m metrics) each(name string, fn func(labels model.Metric, v float64)) {
	for _, s := range m {
		if s.Metric[model.MetricNameLabel] == model.LabelValue(name) {
			fn(s.Metric, float64(s.Value))
		}
	}
}

func (m metrics) bytes(name string) int64 { return int64(m.sum(name, nil)) }

// writes counts the operator's writes to the API server since it started: every resource,
// ServiceEntries, statuses and Events alike.
func (m metrics) writes() (n int) {
	m.each("rest_client_requests_total", func(labels model.Metric, v float64) {
		if slices.Contains([]model.LabelValue{"POST", "PUT", "PATCH", "DELETE"}, labels["method"]) {
			n += int(v)
		}
	})
	return n
}

// requests breaks the operator's requests down by method and response code, such as
// "PATCH 200: 1000, POST 201: 1000".
func (m metrics) requests() string {
	by := map[string]int{}
	m.each("rest_client_requests_total", func(labels model.Metric, v float64) {
		by[fmt.Sprintf("%s %s", labels["method"], labels["code"])] += int(v)
	})
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(by)) {
		if by[k] > 0 {
			parts = append(parts, fmt.Sprintf("%s: %d", k, by[k]))
		}
	}
	return strings.Join(parts, ", ")
}
