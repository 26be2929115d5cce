package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/meshalias/meshalias/internal/localcluster"
)

// settings are the bench's flags.
type settings struct {
	root          string
	operatorBin   string
	operatorArgs  []string
	operatorEnv   []string
	workers       int
	followSamples int
	idle          time.Duration
}

// result is everything measured at one size.
type result struct {
	N int
	// Err is the step that failed, if one did; the figures before it stand.
	Err error
	// LogDir keeps the control plane's and the operator's logs.
	LogDir string

	// The floor: N ServiceEntry creates, then N status patches, by a plain client.
	FloorCreates, FloorStatus time.Duration
	// FloorLatency is the mean latency of one floor request.
	FloorLatency time.Duration

	// Converge runs from the operator's exec to the last alias Ready; FirstReady to the first.
	Converge, FirstReady time.Duration
	ConvergeRequests     map[string]int
	ConvergeCPU          time.Duration
	// Operator-side figures over the convergence: the mean reconcile and wait in the workqueue,
	// the total time spent reconciling ServiceAliases, and the entry applies it logged.
	ReconcileMean, QueueWaitMean, ReconcileBusy time.Duration
	// AliasWrites counts the changes the bench's watch saw to the aliases until convergence.
	AliasWrites int

	IdleWrites, IdleChanged       int
	RestartWrites, RestartChanged int
	// RestartSync runs from the restart's exec until the start-up backlog was worked off.
	RestartSync time.Duration

	FollowIdle []time.Duration
	// FollowIdleCreate is the part of each idle sample spent in the Service create request.
	FollowIdleCreate []time.Duration
	// Backlog is the number of aliases whose spec is bumped, first while the operator is down
	// (a start-up backlog), then back while it runs (a live one). The drains run from the
	// operator's start, or the live bump's, until every alias is handled at its generation.
	Backlog                   int
	FollowStartup, FollowLive []time.Duration
	StartupDrain, LiveDrain   time.Duration
	LiveMaxDepth              int

	// Memory after convergence and 30 s idle, with N aliases, Services and entries.
	RSS, PeakRSS, Heap int64
	// What the Go runtime holds besides: heap spans in use, free spans it has not returned to
	// the OS, and the heap size at which the next GC starts.
	HeapInuse, HeapUnreleased, NextGC int64
	// Memory at the end, with the NamespaceAlias's N more Services and entries as well.
	FinalRSS, FinalHeap int64

	NamespaceAlias time.Duration

	// ThrottleMentions counts client-side throttling messages in the operator's log.
	ThrottleMentions int
}

// Floor is the whole floor: every write the operator cannot avoid.
func (r *result) Floor() time.Duration { return r.FloorCreates + r.FloorStatus }

// sizeRun is one size's run on its own control plane.
type sizeRun struct {
	settings
	n   int
	c   client.Client
	tr  *tracker
	op  *operator
	ips ipPool
	res *result
}

// runSize measures everything at size n on a fresh control plane, which is simplest and fairest:
// no size inherits another's etcd history or watch caches.
func runSize(ctx context.Context, s settings, n int) *result {
	res := &result{N: n}
	res.Err = func() error {
		dir, err := os.MkdirTemp("", fmt.Sprintf("meshalias-bench-%d-", n))
		if err != nil {
			return err
		}
		res.LogDir = dir
		cpLog, err := os.Create(filepath.Join(dir, "control-plane.log"))
		if err != nil {
			return err
		}
		defer cpLog.Close()
		opLog, err := os.Create(filepath.Join(dir, "operator.log"))
		if err != nil {
			return err
		}
		defer opLog.Close()

		say("N=%d: starting etcd and kube-apiserver (Service range %s); logs in %s", n, serviceCIDR, dir)
		cluster, err := localcluster.Start(localcluster.Options{RepoRoot: s.root, ServiceCIDR: serviceCIDR, Log: cpLog})
		if err != nil {
			return err
		}
		defer func() {
			if err := cluster.Stop(); err != nil {
				say("stopping the control plane: %v", err)
			}
		}()

		// The bench's client is never the bottleneck: high limits, set the same for every
		// step. The operator uses controller-runtime's defaults, which turn the client-side
		// limiter off (QPS -1) and leave flow control to the API server.
		cfg := rest.CopyConfig(cluster.Config)
		cfg.QPS, cfg.Burst = 1000, 2000
		c, err := client.New(cfg, client.Options{Scheme: newScheme()})
		if err != nil {
			return err
		}
		trCtx, stopTracker := context.WithCancel(ctx)
		defer stopTracker()
		tr, err := startTracker(trCtx, cfg)
		if err != nil {
			return err
		}
		for _, ns := range []string{floorNS, benchNS, nsAliasNS} {
			if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
				return err
			}
		}
		r := &sizeRun{
			settings: s, n: n, c: c, tr: tr, res: res,
			op: &operator{bin: s.operatorBin, kubeconfig: cluster.Kubeconfig, extraArgs: s.operatorArgs, extraEnv: s.operatorEnv, log: opLog},
		}
		defer func() {
			if err := r.op.stop(); err != nil {
				say("stopping the operator: %v", err)
			}
			res.ThrottleMentions = r.op.logMentions("throttling")
		}()
		for _, step := range []struct {
			name string
			run  func(context.Context) error
		}{
			{"floor", r.floor},
			{"converge", r.converge},
			{"idle", r.idleWrites},
			{"restart", r.restartWrites},
			{"follow", r.followIdle},
			{"follow under a start-up backlog", r.followStartupBacklog},
			{"follow under a live backlog", r.followLiveBacklog},
			{"NamespaceAlias", r.namespaceAlias},
		} {
			if err := step.run(ctx); err != nil {
				return fmt.Errorf("%s: %w", step.name, err)
			}
		}
		return nil
	}()
	if res.Err != nil {
		say("N=%d failed: %v", n, res.Err)
	}
	return res
}

// parseSizes reads "1000,5000,10000".
func parseSizes(s string) ([]int, error) {
	var sizes []int
	for f := range strings.SplitSeq(s, ",") {
		var n int
		if _, err := fmt.Sscanf(strings.TrimSpace(f), "%d", &n); err != nil || n < 1 {
			return nil, fmt.Errorf("bad size %q in -n", f)
		}
		sizes = append(sizes, n)
	}
	return sizes, nil
}
