// Package poll waits for the cluster to reach a state, and reports the last reason it had not
// when time runs out.
package poll

import (
	"fmt"
	"testing"
	"time"
)

// Timeout is how long a test waits for the operator or the garbage collector to act.
const Timeout = 60 * time.Second

const interval = 250 * time.Millisecond

// Until calls check until it returns nil, or fails the test with check's last error after
// timeout.
func Until(t *testing.T, timeout time.Duration, what string, check func() error) {
	t.Helper()
	if err := Wait(timeout, check); err != nil {
		t.Fatalf("waiting for %s: %v", what, err)
	}
}

// Wait calls check until it returns nil, or returns check's last error after timeout.
func Wait(timeout time.Duration, check func() error) error {
	deadline := time.Now().Add(timeout)
	for {
		err := check()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("after %s: %w", timeout, err)
		}
		time.Sleep(interval)
	}
}

// Measure calls check every step until it returns nil and returns how long that took from
// start, or check's last error after timeout. A step finer than Wait's serves a test whose
// figure is the time itself.
func Measure(start time.Time, timeout, step time.Duration, check func() error) (time.Duration, error) {
	deadline := start.Add(timeout)
	for {
		err := check()
		if err == nil {
			return time.Since(start), nil
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("after %s: %w", timeout, err)
		}
		time.Sleep(step)
	}
}
