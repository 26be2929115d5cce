package main

import (
	"bufio"
	"fmt"
	"strconv"
	"strings"
)

// sample is one line of the Prometheus text format.
type sample struct {
	name   string
	labels map[string]string
	value  float64
}

// metrics is a scrape of the operator's /metrics endpoint.
type metrics []sample

// parseMetrics reads the Prometheus text format: a few lines of code spare the bench a
// dependency on the exposition parser and its validation-scheme settings.
func parseMetrics(text string) (metrics, error) {
	var out metrics
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		s := sample{labels: map[string]string{}}
		rest := line
		if i := strings.IndexAny(line, "{ "); i >= 0 && line[i] == '{' {
			s.name = line[:i]
			end, err := parseLabels(line[i+1:], s.labels)
			if err != nil {
				return nil, fmt.Errorf("metrics line %q: %w", line, err)
			}
			rest = line[i+1+end:]
		} else if i >= 0 {
			s.name, rest = line[:i], line[i:]
		}
		fields := strings.Fields(rest)
		if len(fields) == 0 {
			return nil, fmt.Errorf("metrics line %q has no value", line)
		}
		v, err := strconv.ParseFloat(fields[0], 64)
		if err != nil {
			return nil, fmt.Errorf("metrics line %q: %w", line, err)
		}
		s.value = v
		out = append(out, s)
	}
	return out, sc.Err()
}

// parseLabels reads `a="x",b="y"}` into labels and returns the index just past the brace.
func parseLabels(s string, labels map[string]string) (int, error) {
	i := 0
	for {
		for i < len(s) && (s[i] == ',' || s[i] == ' ') {
			i++
		}
		if i < len(s) && s[i] == '}' {
			return i + 1, nil
		}
		eq := strings.IndexByte(s[i:], '=')
		if eq < 0 || i+eq+1 >= len(s) || s[i+eq+1] != '"' {
			return 0, fmt.Errorf("bad label at %q", s[i:])
		}
		key := s[i : i+eq]
		i += eq + 2
		var val strings.Builder
		for ; i < len(s) && s[i] != '"'; i++ {
			if s[i] == '\\' && i+1 < len(s) {
				i++
				switch s[i] {
				case 'n':
					val.WriteByte('\n')
				default:
					val.WriteByte(s[i])
				}
				continue
			}
			val.WriteByte(s[i])
		}
		if i >= len(s) {
			return 0, fmt.Errorf("unterminated label value")
		}
		i++
		labels[key] = val.String()
	}
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

// isWrite tells a request that changes something on the API server.
func isWrite(method string) bool {
	switch method {
	case "POST", "PUT", "PATCH", "DELETE":
		return true
	}
	return false
}

// writes counts the operator's writes to the API server since it started: every resource,
// ServiceEntries, statuses and Events alike.
func (m metrics) writes() int {
	return int(m.sum("rest_client_requests_total", func(l map[string]string) bool { return isWrite(l["method"]) }))
}

// requestsBy breaks the operator's requests down by method and response code, e.g.
// "PATCH 200" or "POST 201".
func (m metrics) requestsBy() map[string]int {
	out := map[string]int{}
	for _, s := range m {
		if s.name == "rest_client_requests_total" && s.value > 0 {
			out[s.labels["method"]+" "+s.labels["code"]] += int(s.value)
		}
	}
	return out
}

// mean is sum/count of a histogram or summary, in its unit; 0 when it has no observations.
func (m metrics) mean(name string, keep func(map[string]string) bool) float64 {
	n := m.sum(name+"_count", keep)
	if n == 0 {
		return 0
	}
	return m.sum(name+"_sum", keep) / n
}
