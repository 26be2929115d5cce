package main

import (
	"context"
	"fmt"
	"io"
	"time"

	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/meshalias/meshalias/internal/audit"
)

// foughtOver finds the entries in scope that meshalias repaired more than threshold times
// within the window, from its DriftRepaired events. The API server keeps events for an hour
// unless its --event-ttl says otherwise, so a longer window sees no further back than that.
func foughtOver(ctx context.Context, c client.Client, scope client.ListOption, entries []*networkingv1.ServiceEntry, window time.Duration, threshold int, stderr io.Writer) ([]audit.Finding, error) {
	var events eventsv1.EventList
	switch err := c.List(ctx, &events, scope, client.MatchingFields{"reason": audit.EventReasonDriftRepaired}); {
	case apierrors.IsForbidden(err):
		fmt.Fprintln(stderr, "note: Events cannot be listed with these credentials; entries fought over by two writers are not looked for")
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("listing %s events: %w", audit.EventReasonDriftRepaired, err)
	}
	var repairs []audit.Repair
	for _, e := range events.Items {
		at := e.EventTime.Time
		if e.Series != nil {
			at = e.Series.LastObservedTime.Time
		}
		if r, ok := audit.ParseRepair(e.Namespace, e.Note, at); ok {
			repairs = append(repairs, r)
		}
	}
	hosts := map[string][]string{}
	for _, se := range entries {
		hosts[se.Namespace+"/"+se.Name] = se.Spec.Hosts
	}
	lookup := func(key string) []string { return hosts[key] }
	return audit.FoughtOver(repairs, time.Now().Add(-window), threshold, lookup), nil
}
