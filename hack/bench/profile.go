package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"
)

// cpuChunk is the length of each CPU profile asked of the operator: pprof's endpoint profiles
// for a length given in advance, and a step's is not known, so the bench asks for short ones
// back to back and merges them. The last one runs past the step by less than this.
const cpuChunk = 2 * time.Second

// profileCPU profiles the operator until the returned function is called, which writes the
// merged profile to file. The few milliseconds between chunks go unrecorded.
func (o *operator) profileCPU(ctx context.Context, file string) (finish func() error) {
	dir := must(os.MkdirTemp("", "meshalias-cpu-"))
	var stop atomic.Bool
	done := make(chan error, 1)
	// The pprof listener comes up with the manager, a moment after the exec.
	check(poll(ctx, 20*time.Millisecond, time.Minute, func() (bool, string, error) {
		err := o.get(ctx, o.pprofURL, io.Discard)
		return err == nil, fmt.Sprintf("waiting for the operator's pprof endpoint: %v", err), o.exited()
	}))
	go func() {
		var chunks []string
		for i := 0; !stop.Load(); i++ {
			chunks = append(chunks, filepath.Join(dir, fmt.Sprintf("%04d.pprof", i)))
			if err := o.save(ctx, fmt.Sprintf("profile?seconds=%d", int(cpuChunk.Seconds())), chunks[i]); err != nil {
				done <- err
				return
			}
		}
		_, err := pprof(append([]string{"-proto", "-output=" + file}, chunks...)...)
		done <- err
	}()
	return func() error {
		stop.Store(true)
		defer os.RemoveAll(dir)
		return <-done
	}
}

// save writes one of the operator's pprof profiles to file.
func (o *operator) save(ctx context.Context, profile, file string) error {
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	if err := o.get(ctx, o.pprofURL+profile, f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// profileSummary writes the top of the CPU and heap profiles as `go tool pprof` prints them,
// for readers without the tool at hand.
func profileSummary(file, cpu, heap string) error {
	var b bytes.Buffer
	for _, p := range []struct{ title, file, flags string }{
		{"CPU over the converge step", cpu, "-top -nodecount=20"},
		{"Heap in use after the idle period", heap, "-top -nodecount=20 -sample_index=inuse_space"},
	} {
		out, err := pprof(append(strings.Fields(p.flags), p.file)...)
		if err != nil {
			return err
		}
		fmt.Fprintf(&b, "# %s: go tool pprof %s %s\n\n%s\n", p.title, p.flags, filepath.Base(p.file), out)
	}
	return os.WriteFile(file, b.Bytes(), 0o644)
}

// pprof runs `go tool pprof` and returns what it prints.
func pprof(args ...string) ([]byte, error) {
	var stderr bytes.Buffer
	cmd := exec.Command("go", append([]string{"tool", "pprof"}, args...)...)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("go tool pprof %s: %w: %s", strings.Join(args, " "), err, stderr.String())
	}
	return out, nil
}
