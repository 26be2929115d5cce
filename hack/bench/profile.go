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
	// The pprof listener comes up with the manager, a moment after the exec.
	check(poll(ctx, 20*time.Millisecond, time.Minute, func() (bool, string, error) {
		err := o.get(ctx, o.pprofURL, io.Discard)
		return err == nil, fmt.Sprintf("waiting for the operator's pprof endpoint: %v", err), o.exited()
	}))
	var stop atomic.Bool
	merged := make(chan error, 1)
	go func() {
		var chunks []string
		for !stop.Load() {
			chunks = append(chunks, filepath.Join(dir, fmt.Sprintf("%04d.pprof", len(chunks))))
			if err := o.save(ctx, fmt.Sprintf("profile?seconds=%d", int(cpuChunk.Seconds())), chunks[len(chunks)-1]); err != nil {
				merged <- err
				return
			}
		}
		_, err := pprof(append([]string{"-proto", "-output=" + file}, chunks...)...)
		merged <- err
	}()
	return func() error {
		stop.Store(true)
		defer os.RemoveAll(dir)
		return <-merged
	}
}

// profileFile is where a profile of this size goes, beside results.json.
func (r *sizeRun) profileFile(kind, ext string) string {
	return filepath.Join(r.assets, fmt.Sprintf("%s-%d.%s", kind, r.n, ext))
}

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
