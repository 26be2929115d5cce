// Command bench measures meshalias at scale on a local control plane and writes
// BENCHMARKS.md: how long the operator takes to converge compared with the writes no
// implementation can avoid, whether it writes when nothing changed (idle, and across a
// restart), how fast a re-created Service's new ClusterIP reaches its ServiceEntry (idle and
// behind a backlog), how much memory it holds, how long one NamespaceAlias over N Services
// takes and whether its status stays bounded, each judged against its target. It
// writes the figures as JSON too, for hack/plot to draw, and profiles of the operator.
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
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	"golang.org/x/sync/errgroup"
	"k8s.io/apimachinery/pkg/util/wait"
	crlog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/meshalias/meshalias/internal/localcluster"
)

func main() {
	var s settings
	sizes := flag.String("n", "1000,5000,10000,20000", "Comma-separated sizes: the number of Services and aliases of each run.")
	flag.IntVar(&s.FollowSamples, "follow-samples", 200, "Idle follow-latency samples per size.")
	flag.DurationVar(&s.Idle, "idle", 30*time.Second, "How long to watch for writes when nothing changes.")
	flag.IntVar(&s.BriefAbove, "brief-above", 10000, "Sizes above this run briefly, to keep the whole run short: a third of -idle, a quarter of -follow-samples, no start-up backlog step.")
	profile := flag.String("profile-n", "10000", "Comma-separated sizes at which to profile the operator: CPU over the converge step, heap after the idle period; empty for none.")
	flag.IntVar(&s.Workers, "workers", 8, "Workers of the bench's own client, for the floor and the set-up.")
	out := flag.String("out", "BENCHMARKS.md", "The report; a relative path is taken from the repository root.")
	assets := flag.String("assets", "", "Where results.json and the profiles go, and where the report expects hack/plot's SVGs; docs/bench beside the report by default, so that a report elsewhere leaves the repository's alone.")
	gobench := flag.String("gobench", "", "A file with the output of `go test -bench` over internal/desired, for the report.")
	opArgs := flag.String("operator-args", "", "Extra flags for the operator, space-separated, such as --max-concurrent-reconciles=4.")
	// The operator runs as the shipped Deployment runs it: config/manager passes its 256Mi
	// memory limit to the Go runtime as GOMEMLIMIT.
	opEnv := flag.String("operator-env", "GOMEMLIMIT=256MiB", "Environment for the operator, space-separated: the Deployment's GOMEMLIMIT by default.")
	flag.Parse()
	s.OperatorArgs, s.OperatorEnv = strings.Fields(*opArgs), strings.Fields(*opEnv)
	// The bench's own informers log through controller-runtime; their chatter is not wanted.
	crlog.SetLogger(logr.Discard())
	defer func() {
		if err := recovered(recover()); err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
	}()
	s.ProfileN = parseSizes("-profile-n", *profile)
	run(parseSizes("-n", *sizes), s, *out, *assets, *gobench)
}

func parseSizes(flagName, list string) []int {
	var sizes []int
	for f := range strings.FieldsFuncSeq(list, func(r rune) bool { return r == ',' || r == ' ' }) {
		n, err := strconv.Atoi(f)
		if err == nil && n < 1 {
			err = fmt.Errorf("size %d in %s: at least 1", n, flagName)
		}
		sizes = append(sizes, must(n, err))
	}
	return sizes
}

func run(sizes []int, s settings, out, assets, gobench string) {
	s.root = must(localcluster.RepoRoot(must(os.Getwd())))
	// envtest finds the control plane's binaries through KUBEBUILDER_ASSETS.
	s.ControlPlane = must(localcluster.BinDir(s.root))
	check(os.Setenv("KUBEBUILDER_ASSETS", s.ControlPlane))
	rep := report{Written: time.Now().UTC(), path: fromRoot(s.root, out), assets: fromRoot(s.root, assets)}
	if assets == "" {
		rep.assets = filepath.Join(filepath.Dir(rep.path), "docs", "bench")
	}
	s.assets = rep.assets
	check(os.MkdirAll(rep.assets, 0o755))
	if gobench != "" {
		rep.GoBench = string(must(os.ReadFile(fromRoot(s.root, gobench))))
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	say("building the operator")
	s.operatorBin = must(buildOperator(s.root))
	rep.Settings = s
	var failed []string
	for _, n := range sizes {
		r := runSize(ctx, s, n)
		if rep.Results = append(rep.Results, r); r.Err != "" {
			failed = append(failed, strconv.Itoa(n))
		}
		// Written after every size, so that a long run that is cut short still leaves a report.
		check(rep.write())
		say("wrote %s and %s", rep.path, filepath.Join(rep.assets, "results.json"))
		check(ctx.Err())
	}
	if len(failed) > 0 {
		check(fmt.Errorf("N=%s did not complete; see %s", strings.Join(failed, ", "), rep.path))
	}
}

func fromRoot(root, path string) string {
	if filepath.IsAbs(path) {
		return path
	}
	return filepath.Join(root, path)
}

// failure carries an error from the bench's sequential steps up to the size's run, which
// records it, or to main: the steps then read as the script they are, as Effective Go's
// regexp parser does with its errors. Only those steps raise one; polls and workers, which
// run elsewhere, return errors.
type failure struct{ err error }

func check(err error) {
	if err != nil {
		panic(failure{err})
	}
}

func must[T any](v T, err error) T {
	check(err)
	return v
}

// recovered is the error of a failure that check raised, for a deferred recover(); any other
// panic is a bug and goes on.
func recovered(p any) error {
	if p == nil {
		return nil
	}
	f, ok := p.(failure)
	if !ok {
		panic(p)
	}
	return f.err
}

// forEach calls fn for every i in [0, n) on the given number of workers, prints a progress
// line every tenth of the way (label takes the done and total counts), and returns the first
// error. The set-up of 10k objects takes a while; a silent bench looks hung.
func forEach(ctx context.Context, n, workers int, label string, fn func(ctx context.Context, i int) error) error {
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(workers)
	var done atomic.Int64
	for i := 0; i < n && ctx.Err() == nil; i++ {
		g.Go(func() error {
			err := fn(ctx, i)
			if d := int(done.Add(1)); err == nil && (d%max(n/10, 1) == 0 || d == n) {
				say("  "+label, d, n)
			}
			return err
		})
	}
	return g.Wait()
}

// poll calls check every period until it reports done or fails, printing its status every
// five seconds, and on a timeout says what it was waiting for. Most checks read the tracker's
// counters, which cost nothing, so a fine period only sharpens the timing.
func poll(ctx context.Context, every, timeout time.Duration, check func() (bool, string, error)) error {
	var status string
	printed := time.Now()
	err := wait.PollUntilContextTimeout(ctx, every, timeout, true, func(context.Context) (bool, error) {
		done, s, err := check()
		if status = s; !done && err == nil && time.Since(printed) >= 5*time.Second {
			say("  %s", s)
			printed = time.Now()
		}
		return done, err
	})
	if err != nil && ctx.Err() == nil && wait.Interrupted(err) {
		return fmt.Errorf("timed out after %s: %s", timeout, status)
	}
	return err
}

func sleep(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}

var benchStart = time.Now()

func say(format string, args ...any) {
	fmt.Printf("[%8s] %s\n", time.Since(benchStart).Round(time.Second), fmt.Sprintf(format, args...))
}
