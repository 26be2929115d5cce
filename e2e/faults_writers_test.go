package e2e_test

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/meshalias/meshalias/e2e/internal/live"
	"github.com/meshalias/meshalias/e2e/internal/operator"
	"github.com/meshalias/meshalias/e2e/internal/poll"
	"github.com/meshalias/meshalias/e2e/internal/reliability"
)

// The faults of this file are other writers: a legacy controller that keeps stripping what
// the operator wrote, and a GitOps tool that keeps re-applying what it owns.

// The other writers' field managers, as the real tools name themselves.
const (
	legacyManager = "dns-controller"
	gitopsManager = "argocd-controller"
)

// legacyVersion is what the legacy controller writes back: the entry as it made it, with a TCP
// port and no addresses, the incident's catch-all.
var legacyVersion = client.RawPatch(types.JSONPatchType, []byte(`[{"op":"remove","path":"/spec/addresses"},{"op":"replace","path":"/spec/ports","value":[{"number":80,"name":"tcp-80","protocol":"TCP"}]}]`))

func legacyWriter(t *testing.T, s *faultSuite, ns string, row *reliability.Row) []*operator.Operator {
	const period, duration = 250 * time.Millisecond, 4 * time.Second
	ctx := context.Background()
	op := s.replica(t, s.kubeconfig)
	op.Start(t)
	leader(t, op)
	entry, ip := s.baseline(t, ns, op.Alive)
	seen := watchEntry(t, s, ns, entry.GetName())

	var trips, repairs []time.Duration
	var afterStrip string // who managedFields says wrote the entry, right after the first strip
	tick := time.NewTicker(period)
	defer tick.Stop()
	for end := time.Now().Add(duration); time.Now().Before(end); <-tick.C {
		se := &unstructured.Unstructured{}
		se.SetAPIVersion("networking.istio.io/v1")
		se.SetKind("ServiceEntry")
		se.SetNamespace(ns)
		se.SetName(entry.GetName())
		sent := time.Now()
		must(t, s.c.Patch(ctx, se, legacyVersion, client.FieldOwner(legacyManager)))
		trips = append(trips, time.Since(sent))
		rv := resourceVersion(t, se)
		if afterStrip == "" {
			afterStrip = managers(se)
		}
		// The repair is the first later version with the address back. Both the strip and the
		// repair are timed as the same watch delivers them, so that its delay cancels out.
		var strippedSeen time.Time
		for repaired := false; !repaired; {
			select {
			case v := <-seen:
				switch {
				case v.rv == rv:
					strippedSeen = v.at
				case v.rv > rv && slices.Equal(v.addresses, []string{ip}) && !strippedSeen.IsZero():
					repairs = append(repairs, v.at.Sub(strippedSeen))
					repaired = true
				case v.rv > rv && slices.Equal(v.addresses, []string{ip}):
					t.Fatalf("the repair of write %d arrived before the write itself", len(trips))
				}
			case <-time.After(poll.Timeout):
				t.Fatalf("write %d of %s (resourceVersion %d) was not repaired within %s", len(trips), legacyManager, rv, poll.Timeout)
			}
		}
	}
	p50, p99 := reliability.Quantile(repairs, 0.5), reliability.Quantile(repairs, 0.99)
	floor := reliability.Quantile(trips, 0.5)
	t.Logf("%d writes by %s, each repaired: p50 %s, p99 %s; the write's own round trip p50 %s", len(trips), legacyManager, p50, p99, floor)

	// The operator names the writer from managedFields, read before its repair.
	err := poll.Wait(10*time.Second, func() error {
		e, err := findEvent(s.c, ns, "DriftRepaired", "ServiceAlias", "before")
		if err != nil {
			return err
		}
		if !strings.Contains(e.Note, "changed by "+legacyManager) {
			return fmt.Errorf("DriftRepaired event does not name %s: %q", legacyManager, e.Note)
		}
		t.Logf("event %s %s: %s", e.Type, e.Reason, e.Note)
		return nil
	})
	if err != nil {
		t.Errorf("%d writes by %s repaired without a DriftRepaired event naming it: %v; the entry's managedFields after the first write: %s",
			len(trips), legacyManager, err, afterStrip)
	}
	row.Recovery, row.Floor, row.FloorWhat = p50, floor, "one write round trip (p50)"
	row.RecoveryNote = fmt.Sprintf("p50 of %d repairs; p99 %s", len(repairs), reliability.Duration(p99))
	return []*operator.Operator{op}
}

// managers lists an object's managedFields as manager/operation[top-level fields].
func managers(u *unstructured.Unstructured) string {
	var out []string
	for _, mf := range u.GetManagedFields() {
		var top []string
		if mf.FieldsV1 != nil {
			var m map[string]any
			if json.Unmarshal(mf.FieldsV1.Raw, &m) == nil {
				top = slices.Sorted(maps.Keys(m))
			}
		}
		out = append(out, fmt.Sprintf("%s/%s%v", mf.Manager, mf.Operation, top))
	}
	return join(out)
}

// entryVersion is one version of an entry as a watch delivered it.
type entryVersion struct {
	at        time.Time
	rv        int64
	addresses []string
}

// watchEntry delivers every version of one ServiceEntry from now on, stamped on arrival.
func watchEntry(t *testing.T, s *faultSuite, ns, name string) <-chan entryVersion {
	t.Helper()
	w := watchServiceEntries(t, s.cluster.Config, client.InNamespace(ns), client.MatchingFieldsSelector{Selector: fields.OneTermEqualSelector("metadata.name", name)})
	out := make(chan entryVersion, 1024)
	go func() {
		for ev := range w.ResultChan() {
			u, ok := ev.Object.(*unstructured.Unstructured)
			if !ok || (ev.Type != watch.Added && ev.Type != watch.Modified) {
				continue
			}
			rv, _ := strconv.ParseInt(u.GetResourceVersion(), 10, 64)
			out <- entryVersion{at: time.Now(), rv: rv, addresses: stringsAt(u, "spec", "addresses")}
		}
	}()
	return out
}

// resourceVersion reads an object's resourceVersion as the number etcd's revisions are: the
// apiserver calls it opaque, but a test of one apiserver may order versions by it.
func resourceVersion(t *testing.T, u *unstructured.Unstructured) int64 {
	t.Helper()
	rv, err := strconv.ParseInt(u.GetResourceVersion(), 10, 64)
	must(t, err)
	return rv
}

func gitopsReapply(t *testing.T, s *faultSuite, ns string, row *reliability.Row) []*operator.Operator {
	const aliases, rounds = 5, 10
	ctx := context.Background()
	op := s.replica(t, s.kubeconfig)
	op.Start(t)
	leader(t, op)
	var desired []*unstructured.Unstructured
	for i := range aliases {
		name := fmt.Sprintf("g%d", i)
		desired = append(desired, serviceAliasObject(ns, name, "web", faultHost(ns, name)))
	}
	apply := func() {
		for _, u := range desired {
			must(t, s.c.Apply(ctx, client.ApplyConfigurationFromUnstructured(u.DeepCopy()), client.FieldOwner(gitopsManager), client.ForceOwnership))
		}
	}
	apply()
	poll.Until(t, poll.Timeout, "the applied aliases to be Ready", func() error {
		if err := op.Alive(); err != nil {
			return err
		}
		return allReady(s.c, ns, "ServiceAliasList", aliases)
	})
	time.Sleep(time.Second) // the last status write, if any, lands before the count starts

	before := versions(t, s.c, ns)
	for range rounds {
		time.Sleep(time.Second)
		apply()
	}
	time.Sleep(time.Second) // the operator's answer to the last round, if any, is counted
	after := versions(t, s.c, ns)
	var changed []string
	for k, rv := range before {
		if after[k] != rv {
			changed = append(changed, fmt.Sprintf("%s %s→%s", k, rv, after[k]))
		}
	}
	for k := range after {
		if _, ok := before[k]; !ok {
			changed = append(changed, k+" appeared")
		}
	}
	slices.Sort(changed)
	t.Logf("%d rounds of server-side apply by %s with force: %d of %d objects changed %v", rounds, gitopsManager, len(changed), len(before), changed)
	row.RecoveryNote = fmt.Sprintf("%d of %d objects changed over %d rounds", len(changed), len(before), rounds)
	row.Verdict = "met (0 changed)"
	if len(changed) > 0 {
		row.Verdict = fmt.Sprintf("missed: %d changed", len(changed))
		t.Errorf("re-applying the same aliases changed %d objects: %v", len(changed), changed)
	}
	return []*operator.Operator{op}
}

// versions maps "Kind name" to resourceVersion for the ServiceAliases and ServiceEntries of ns.
func versions(t *testing.T, c client.Client, ns string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, k := range []struct{ apiVersion, listKind string }{
		{"meshalias.io/v1alpha1", "ServiceAliasList"},
		{"networking.istio.io/v1", "ServiceEntryList"},
	} {
		objs, err := live.List(context.Background(), c, k.apiVersion, k.listKind, ns)
		must(t, err)
		for _, o := range objs {
			out[o.GetKind()+" "+o.GetName()] = o.GetResourceVersion()
		}
	}
	return out
}
