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

	dto "github.com/prometheus/client_model/go"
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
	stopSample           context.CancelFunc
	mu                   sync.Mutex
	peakRSS              float64 // since the first start
	peakDepth            float64 // of the ServiceAlias queue, since the last peaks(true)
}

// start runs the operator as admin, with plain-HTTP metrics and pprof on loopback ports and
// its probes off: nothing here reads them. An idle pprof listener costs nothing; the bench
// asks it for a GC before it reads the live heap, and for the profiles.
func (o *operator) start() error {
	addrs, err := localcluster.FreeAddrs(2)
	if err != nil {
		return err
	}
	o.metricsURL, o.pprofURL = "http://"+addrs[0]+"/metrics", "http://"+addrs[1]+"/debug/pprof/"
	args := append([]string{"--kubeconfig=" + o.kubeconfig, "--metrics-bind-address=" + addrs[0], "--metrics-secure=false", "--pprof-bind-address=" + addrs[1],
		"--health-probe-bind-address=0", "--leader-elect=false", "--cluster-domain=" + clusterDomain}, o.args...)
	fmt.Fprintf(o.log, "\n==== %s starting %s %s %s\n", time.Now().Format(time.RFC3339Nano), strings.Join(o.env, " "), o.bin, strings.Join(args, " "))
	if o.proc, err = localcluster.StartProcess(o.log, o.env, o.bin, args...); err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	o.stopSample = cancel
	go func() {
		for sleep(ctx, time.Second) == nil {
			if m, err := o.scrape(); err == nil {
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

var httpClient = &http.Client{Timeout: time.Minute}

// get reads one of the operator's endpoints into w; the pprof ones may take their time.
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

// scrape reads the operator's /metrics.
func (o *operator) scrape() (metrics, error) {
	var text strings.Builder
	if err := o.get(context.Background(), o.metricsURL, &text); err != nil {
		return nil, err
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	return parser.TextToMetricFamilies(strings.NewReader(text.String()))
}

// metrics is a scrape of the operator's /metrics, by metric name.
type metrics map[string]*dto.MetricFamily

// each calls fn with the labels and value of every series of a metric. A histogram's count
// and sum are named as the text format shows them: name_count and name_sum.
func (m metrics) each(name string, fn func(labels map[string]string, v float64)) {
	base, part := name, ""
	for _, suffix := range []string{"_count", "_sum"} {
		if b, ok := strings.CutSuffix(name, suffix); ok && m[name] == nil && m[b] != nil {
			base, part = b, suffix
		}
	}
	for _, s := range m[base].GetMetric() {
		l := map[string]string{}
		for _, p := range s.GetLabel() {
			l[p.GetName()] = p.GetValue()
		}
		v := s.GetCounter().GetValue() + s.GetGauge().GetValue() + s.GetUntyped().GetValue()
		if part == "_count" {
			v = float64(s.GetHistogram().GetSampleCount())
		} else if part == "_sum" {
			v = s.GetHistogram().GetSampleSum()
		}
		fn(l, v)
	}
}

// sum adds the series of a metric whose labels pass keep (nil keeps all).
func (m metrics) sum(name string, keep func(map[string]string) bool) (total float64) {
	m.each(name, func(l map[string]string, v float64) {
		if keep == nil || keep(l) {
			total += v
		}
	})
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
	m.each("rest_client_requests_total", func(l map[string]string, v float64) { by[l["method"]+" "+l["code"]] += int(v) })
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(by)) {
		if by[k] > 0 {
			parts = append(parts, fmt.Sprintf("%s: %d", k, by[k]))
		}
	}
	return strings.Join(parts, ", ")
}
