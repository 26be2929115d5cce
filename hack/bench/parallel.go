package main

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// forEach calls fn for every i in [0, n) on the given number of workers, prints a progress
// line every tenth of the way (label takes the done and total counts), and returns the first
// error. The set-up of 10k objects takes a while; a silent bench looks hung.
func forEach(ctx context.Context, n, workers int, label string, fn func(ctx context.Context, i int) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		mu       sync.Mutex
		next     int
		done     int
		firstErr error
	)
	every := max(n/10, 1)
	take := func() (int, bool) {
		mu.Lock()
		defer mu.Unlock()
		if next >= n || firstErr != nil {
			return 0, false
		}
		next++
		return next - 1, true
	}
	finish := func(err error) {
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			if firstErr == nil {
				firstErr = err
				cancel()
			}
			return
		}
		done++
		if done%every == 0 || done == n {
			progress(label, done, n)
		}
	}
	var wg sync.WaitGroup
	for range min(workers, n) {
		wg.Go(func() {
			for {
				i, ok := take()
				if !ok {
					return
				}
				finish(fn(ctx, i))
			}
		})
	}
	wg.Wait()
	if firstErr == nil && ctx.Err() != nil {
		return ctx.Err()
	}
	return firstErr
}

// poll calls check every 10 ms until it reports done, printing its progress line every five
// seconds. Checks read the tracker's counters, which cost nothing, so a fine period only
// sharpens the timing.
func poll(ctx context.Context, timeout time.Duration, check func() (bool, string)) error {
	deadline := time.Now().Add(timeout)
	lastPrint := time.Now()
	for {
		ok, status := check()
		if ok {
			return nil
		}
		if time.Since(lastPrint) >= 5*time.Second {
			say("  %s", status)
			lastPrint = time.Now()
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("timed out after %s: %s", timeout, status)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
}

var benchStart = time.Now()

// say prints a line stamped with the time since the bench started.
func say(format string, args ...any) {
	el := time.Since(benchStart).Round(time.Second)
	fmt.Printf("[%8s] %s\n", el, fmt.Sprintf(format, args...))
}

func progress(label string, done, total int) {
	say("  "+label, done, total)
}
