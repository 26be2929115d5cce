// Command bench measures meshalias at scale on a local control plane and writes
// BENCHMARKS.md: how long the operator takes to converge compared with the writes no
// implementation can avoid, whether it writes when nothing changed (idle, and across a
// restart), how fast a re-created Service's new ClusterIP reaches its ServiceEntry (idle and
// behind a backlog), how much memory it holds, and how long one NamespaceAlias over N
// Services takes.
//
// The operator runs as its own process, built from ./cmd/manager, so that its memory and its
// request counters are its own. Run it with `make bench`, or `go run ./hack/bench -n=1000`.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	crlog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/meshalias/meshalias/internal/localcluster"
)

func main() {
	sizes := flag.String("n", "1000,5000,10000", "Comma-separated sizes: the number of Services and aliases of each run.")
	followSamples := flag.Int("follow-samples", 200, "Idle follow-latency samples per size.")
	idle := flag.Duration("idle", 30*time.Second, "How long to watch for writes when nothing changes.")
	workers := flag.Int("workers", 8, "Workers of the bench's own client, for the floor and the set-up.")
	out := flag.String("out", "BENCHMARKS.md", "The report; a relative path is taken from the repository root.")
	operatorArgs := flag.String("operator-args", "", "Extra flags for the operator, space-separated, such as --max-concurrent-reconciles=8.")
	operatorEnv := flag.String("operator-env", "", "Extra environment for the operator, space-separated, such as GOMEMLIMIT=100MiB.")
	flag.Parse()
	// The bench's own informers log through controller-runtime; their chatter is not wanted.
	crlog.SetLogger(logr.Discard())

	if err := run(*sizes, settings{
		operatorArgs:  strings.Fields(*operatorArgs),
		operatorEnv:   strings.Fields(*operatorEnv),
		workers:       *workers,
		followSamples: *followSamples,
		idle:          *idle,
	}, *out); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(sizeList string, s settings, out string) error {
	sizes, err := parseSizes(sizeList)
	if err != nil {
		return err
	}
	wd, err := os.Getwd()
	if err != nil {
		return err
	}
	if s.root, err = localcluster.RepoRoot(wd); err != nil {
		return err
	}
	bin, err := localcluster.BinDir(s.root)
	if err != nil {
		return err
	}
	// The report names the control plane's version from this folder.
	if err := os.Setenv("KUBEBUILDER_ASSETS", bin); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	say("building the operator")
	if s.operatorBin, err = buildOperator(s.root); err != nil {
		return err
	}
	report := out
	if !filepath.IsAbs(report) {
		report = filepath.Join(s.root, out)
	}
	var results []*result
	failed := false
	for _, n := range sizes {
		r := runSize(ctx, s, n)
		results = append(results, r)
		failed = failed || r.Err != nil
		// Written after every size, so that a long run that is cut short still leaves a report.
		if err := writeReport(report, s, results); err != nil {
			return err
		}
		say("wrote %s", report)
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	if failed {
		return fmt.Errorf("some sizes did not complete; see %s", report)
	}
	return nil
}
