package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/rest"
)

// istioPollInterval is how often a waiting operator asks whether Istio's CRDs are there yet:
// the longest it takes to start once they are.
const istioPollInterval = 2 * time.Second

// What the operator waits for before it starts, as it logs it and /readyz answers it.
var (
	notInstalled = fmt.Sprintf("Istio's ServiceEntry CRD (%s) is not installed; waiting for it", networkingv1.SchemeGroupVersion)
	unreachable  = "Cannot ask the API server whether it serves Istio's ServiceEntries; retrying"
)

// awaitServiceEntries returns once the API server serves Istio's ServiceEntries. A GitOps tool
// applies meshalias and Istio in whatever order it likes, and an API server may be out of reach
// as the pod starts. Rather than exit and crash-loop, the operator says once what it waits for,
// answers /healthz but not /readyz on probeAddr meanwhile, and goes on when the CRD is served,
// without a restart.
func awaitServiceEntries(ctx context.Context, cfg *rest.Config, probeAddr string, log logr.Logger) error {
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return fmt.Errorf("building a discovery client: %w", err)
	}
	ok, err := servesServiceEntries(dc)
	if ok {
		return nil
	}
	var waitingFor atomic.Pointer[string]
	// say logs what the operator waits for when that changes, not at every poll.
	var said string
	say := func(err error) {
		why := notInstalled
		if err != nil {
			why = unreachable
		}
		if why == said {
			return
		}
		said = why
		if err != nil {
			log.Error(err, unreachable)
			why = fmt.Sprintf("%s: %v", unreachable, err)
		} else {
			log.Info(notInstalled)
		}
		waitingFor.Store(&why)
	}
	say(err)
	stop, err := serveNotReady(probeAddr, &waitingFor)
	if err != nil {
		return err
	}
	defer stop()
	err = wait.PollUntilContextCancel(ctx, istioPollInterval, false, func(context.Context) (bool, error) {
		ok, err := servesServiceEntries(dc)
		if !ok {
			say(err)
		}
		return ok, nil
	})
	if err != nil {
		return err
	}
	log.Info("Istio's ServiceEntry CRD is installed; starting")
	return nil
}

// servesServiceEntries asks the API server's discovery whether networking.istio.io/v1 has
// ServiceEntries.
func servesServiceEntries(dc discovery.DiscoveryInterface) (bool, error) {
	resources, err := dc.ServerResourcesForGroupVersion(networkingv1.SchemeGroupVersion.String())
	switch {
	case apierrors.IsNotFound(err):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("discovering %s: %w", networkingv1.SchemeGroupVersion, err)
	}
	for _, r := range resources.APIResources {
		if r.Kind == "ServiceEntry" {
			return true, nil
		}
	}
	return false, nil
}

// serveNotReady answers the probes while the manager, which serves them later on the same
// address, does not exist yet: alive, not ready, and why. The returned stop frees the address.
func serveNotReady(addr string, why *atomic.Pointer[string]) (stop func(), err error) {
	if addr == "" || addr == "0" {
		return func() {}, nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("serving the health probes on %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, *why.Load(), http.StatusServiceUnavailable)
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
			_ = srv.Close()
		}
	}, nil
}
