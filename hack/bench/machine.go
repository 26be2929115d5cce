package main

import (
	"os"
	"strconv"
	"strings"
	"time"
)

// userHZ is the unit of /proc/stat's times: USER_HZ, 100 per second on every Linux the bench
// runs on.
const userHZ = 100

// machineBusy is the time the machine's CPUs have spent busy since boot, summed over all of
// them: /proc/stat's first line less idle and iowait. Over a step, it says whether the step
// ran the machine to its limit, and how much of that the operator took; 0 where /proc/stat
// cannot be read.
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
