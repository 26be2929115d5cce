package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// userHZ is the unit of /proc's CPU times: USER_HZ, 100 per second on every Linux the bench
// runs on.
const userHZ = 100

// cpuUse is CPU time used so far, all cores summed: the machine's busy time, and that of the
// bench's own kube-apiserver and etcd and of the bench itself. Over a step, it says whether
// the step ran the machine to its limit, and which process took how much. Parts that /proc
// cannot tell are 0.
type cpuUse map[string]time.Duration

// The parts of a cpuUse, in the order the report gives them.
var cpuParts = []string{"machine", "kube-apiserver", "etcd", "bench"}

// readCPU reads the machine's busy time from /proc/stat (its first line less idle and iowait),
// and each process's user and system time from /proc/<pid>/stat. The control plane's
// processes are the bench's children, so another kube-apiserver on the machine is not counted.
func readCPU() cpuUse {
	use := cpuUse{"machine": machineBusy()}
	if _, self, _, ok := processCPU("self"); ok {
		use["bench"] = self
	}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		name, cpu, parent, ok := processCPU(e.Name())
		if ok && parent == os.Getpid() && (name == "kube-apiserver" || name == "etcd") {
			use[name] += cpu
		}
	}
	return use
}

// since is the CPU time used between before and u.
func (u cpuUse) since(before cpuUse) cpuUse {
	d := cpuUse{}
	for part, t := range u {
		d[part] = t - before[part]
	}
	return d
}

// cpuPerAlias writes each part's time per alias, floor / converge, with the operator's own
// beside them: "machine 5.7 / 8.7 ms, kube-apiserver …, operator – / 1.2 ms".
func cpuPerAlias(floor, converge cpuUse, operator time.Duration, n int) string {
	per := func(d time.Duration) string {
		return fmt.Sprintf("%.1f", float64(d)/float64(n)/float64(time.Millisecond))
	}
	var parts []string
	for _, part := range cpuParts {
		parts = append(parts, fmt.Sprintf("%s %s / %s ms", part, per(floor[part]), per(converge[part])))
	}
	return strings.Join(append(parts, fmt.Sprintf("operator – / %s ms", per(operator))), "; ")
}

// machineBusy is the time the machine's CPUs have spent busy since boot, all of them summed.
func machineBusy() time.Duration {
	raw, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(raw), "\n")
	fields := strings.Fields(line)
	if len(fields) < 9 || fields[0] != "cpu" {
		return 0
	}
	var busy int64
	// user nice system idle iowait irq softirq steal; guest time is inside user already.
	for _, i := range []int{1, 2, 3, 6, 7, 8} {
		v, err := strconv.ParseInt(fields[i], 10, 64)
		if err != nil {
			return 0
		}
		busy += v
	}
	return time.Duration(busy) * time.Second / userHZ
}

// processCPU is a process's command name, user and system time, and its parent's PID.
func processCPU(pid string) (name string, cpu time.Duration, parent int, ok bool) {
	raw, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return "", 0, 0, false
	}
	// The command name, in parentheses, may hold spaces and parentheses: the fields count
	// from after its last one.
	start, end := strings.IndexByte(string(raw), '('), strings.LastIndexByte(string(raw), ')')
	if start < 0 || end < start {
		return "", 0, 0, false
	}
	fields := strings.Fields(string(raw)[end+1:])
	if len(fields) < 13 {
		return "", 0, 0, false
	}
	parent, err1 := strconv.Atoi(fields[1])
	user, err2 := strconv.ParseInt(fields[11], 10, 64)
	system, err3 := strconv.ParseInt(fields[12], 10, 64)
	if err1 != nil || err2 != nil || err3 != nil {
		return "", 0, 0, false
	}
	return string(raw)[start+1 : end], time.Duration(user+system) * time.Second / userHZ, parent, true
}
