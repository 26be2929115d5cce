package desired

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	networkingapi "istio.io/api/networking/v1alpha3"
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	meshaliasv1 "github.com/meshalias/meshalias/api/v1alpha1"
	"github.com/meshalias/meshalias/internal/hostpolicy"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func intent(hosts ...string) Intent {
	in := Intent{
		Owner: Owner{Kind: meshaliasv1.KindServiceAlias, Namespace: "abc", Name: "traefik", UID: "uid-1"},
		Claim: Claim{Kind: meshaliasv1.KindServiceAlias, Namespace: "abc", Name: "traefik", Created: t0},

		ServiceNamespace: "abc",
	}
	for _, h := range hosts {
		in.Targets = append(in.Targets, Target{Host: h, ServiceName: "traefik"})
	}
	return in
}

func ownedEntry(host string) *networkingv1.ServiceEntry {
	return &networkingv1.ServiceEntry{
		ObjectMeta: metav1.ObjectMeta{Namespace: "abc", Name: EntryName(host)},
		Spec:       networkingapi.ServiceEntry{Hosts: []string{host}},
	}
}

func TestMakePlan(t *testing.T) {
	svc := map[string]*corev1.Service{"traefik": testService(nil)}
	cases := []struct {
		name        string
		in          Intent
		facts       Facts
		wantEntries []string
		wantPrune   []string
		wantReasons []string // per target, "" when served
		wantAdopted bool
	}{
		{
			name: "two hosts, two entries", in: intent("a.x", "b.x"), facts: Facts{Services: svc},
			wantEntries: []string{EntryName("a.x"), EntryName("b.x")}, wantReasons: []string{"", ""},
		},
		{
			name: "a host that left is pruned", in: intent("a.x"), facts: Facts{Services: svc, Owned: []*networkingv1.ServiceEntry{ownedEntry("a.x"), ownedEntry("gone.x")}},
			wantEntries: []string{EntryName("a.x")}, wantPrune: []string{EntryName("gone.x")}, wantReasons: []string{""},
		},
		{
			name: "an older rival wins; our entry for the host goes", in: intent("a.x", "b.x"),
			facts: Facts{Services: svc, Owned: []*networkingv1.ServiceEntry{ownedEntry("a.x")}, Rivals: map[string][]Claim{
				"a.x": {{Kind: meshaliasv1.KindNamespaceAlias, Namespace: "zzz", Name: "old", Created: t0.Add(-time.Hour)}},
			}},
			wantEntries: []string{EntryName("b.x")}, wantPrune: []string{EntryName("a.x")}, wantReasons: []string{meshaliasv1.ReasonHostConflict, ""},
		},
		{
			name: "a tie goes to the namespace that sorts first", in: intent("a.x"),
			facts:       Facts{Services: svc, Rivals: map[string][]Claim{"a.x": {{Kind: meshaliasv1.KindServiceAlias, Namespace: "aaa", Name: "z", Created: t0}}}},
			wantReasons: []string{meshaliasv1.ReasonHostConflict},
		},
		{
			name: "a younger rival loses", in: intent("a.x"),
			facts:       Facts{Services: svc, Rivals: map[string][]Claim{"a.x": {{Kind: meshaliasv1.KindServiceAlias, Namespace: "aaa", Name: "z", Created: t0.Add(time.Second)}}}},
			wantEntries: []string{EntryName("a.x")}, wantReasons: []string{""},
		},
		{
			name: "an unmanaged entry declares the host", in: intent("a.x"),
			facts:       Facts{Services: svc, Foreign: map[string][]string{"a.x": {"abc/legacy"}}},
			wantReasons: []string{meshaliasv1.ReasonHostConflict},
		},
		{
			name: "an unmanaged entry holds our name", in: intent("a.x"),
			facts:       Facts{Services: svc, Occupied: map[string]bool{EntryName("a.x"): true}},
			wantReasons: []string{meshaliasv1.ReasonHostConflict},
		},
		{
			name: "an adoptable entry is taken over under its own name", in: intent("a.x"),
			facts:       Facts{Services: svc, Adoptable: map[string]*networkingv1.ServiceEntry{"a.x": {ObjectMeta: metav1.ObjectMeta{Namespace: "abc", Name: "legacy"}}}},
			wantEntries: []string{"legacy"}, wantReasons: []string{""}, wantAdopted: true,
		},
		{
			name: "a missing Service: no entry, and the old one goes", in: intent("a.x"),
			facts:       Facts{Services: map[string]*corev1.Service{}, Owned: []*networkingv1.ServiceEntry{ownedEntry("a.x")}},
			wantPrune:   []string{EntryName("a.x")},
			wantReasons: []string{meshaliasv1.ReasonServiceNotFound},
		},
		{
			name: "a host under the configured cluster domain", in: intent("a.abc.svc.cluster.local"), facts: Facts{Services: svc},
			wantReasons: []string{meshaliasv1.ReasonInvalidSpec},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			plan := MakePlan(tc.in, tc.facts, "cluster.local")
			var entries, prune, reasons []string
			for _, se := range plan.Entries {
				entries = append(entries, se.Name)
				if len(se.Spec.Addresses) == 0 {
					t.Errorf("entry %s without addresses", se.Name)
				}
				if (se.Labels[meshaliasv1.LabelAdopted] == "true") != tc.wantAdopted {
					t.Errorf("entry %s adopted label %q", se.Name, se.Labels[meshaliasv1.LabelAdopted])
				}
			}
			for _, se := range plan.Prune {
				prune = append(prune, se.Name)
			}
			for _, r := range plan.Results {
				reason := ""
				if r.Problem != nil {
					reason = r.Problem.Reason
				}
				reasons = append(reasons, reason)
			}
			if !slices.Equal(entries, tc.wantEntries) || !slices.Equal(prune, tc.wantPrune) || !slices.Equal(reasons, tc.wantReasons) {
				t.Errorf("entries %v prune %v reasons %v; want %v %v %v", entries, prune, reasons, tc.wantEntries, tc.wantPrune, tc.wantReasons)
			}
		})
	}
}

func TestOutcomes(t *testing.T) {
	served := HostResult{Target: Target{Host: "a.x", ServiceName: "a"}, Entry: "a-x"}
	headless := HostResult{Target: Target{Host: "db.x", ServiceName: "db"}, Problem: &Problem{Reason: meshaliasv1.ReasonNoClusterIP, Message: "Service abc/db has no ClusterIP", Unservable: true}}
	conflict := HostResult{Target: Target{Host: "c.x", ServiceName: "c"}, Problem: &Problem{Reason: meshaliasv1.ReasonHostConflict, Message: "host c.x is already claimed"}}
	invalid := HostResult{Target: Target{Host: "d.x", ServiceName: "d"}, Problem: &Problem{Reason: meshaliasv1.ReasonInvalidSpec, Message: "port 1 is not a TCP port"}}

	cases := []struct {
		name    string
		got     Outcome
		ready   bool
		reason  string
		stalled bool
		message string
	}{
		{"ServiceAlias served", ServiceAliasOutcome(Plan{Results: []HostResult{served}}), true, meshaliasv1.ReasonSynced, false, "1 ServiceEntry in place."},
		{"ServiceAlias on a headless Service fails", ServiceAliasOutcome(Plan{Results: []HostResult{headless}}), false, meshaliasv1.ReasonNoClusterIP, true, "no ClusterIP"},
		{"the spec error is reported first", ServiceAliasOutcome(Plan{Results: []HostResult{conflict, invalid}}), false, meshaliasv1.ReasonInvalidSpec, true, "port 1"},
		{"NamespaceAlias skips the headless Service", NamespaceAliasOutcome(Plan{Results: []HostResult{served, headless}}), true, meshaliasv1.ReasonSynced, false, "Skipped 1 Service(s) that cannot be aliased: db (NoClusterIP)."},
		{"NamespaceAlias with a conflict", NamespaceAliasOutcome(Plan{Results: []HostResult{served, conflict}}), false, meshaliasv1.ReasonHostConflict, true, "already claimed"},
		{"an API error is retried, not stalled", RetryOutcome(errString("etcd is down")), false, meshaliasv1.ReasonRetrying, false, "etcd is down"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.got.Ready != tc.ready || tc.got.Reason != tc.reason || tc.got.Stalled != tc.stalled || !strings.Contains(tc.got.Message, tc.message) {
				t.Errorf("got %+v, want ready=%v reason=%s stalled=%v message containing %q", tc.got, tc.ready, tc.reason, tc.stalled, tc.message)
			}
		})
	}
}

type errString string

func (e errString) Error() string { return string(e) }

// SetConditions follows kstatus: Stalled only when stalled, Reconciling only while retrying,
// and an unchanged outcome leaves the conditions equal, so no status write follows.
func TestSetConditions(t *testing.T) {
	var conds []metav1.Condition
	SetConditions(&conds, 1, RetryOutcome(errString("timeout")))
	if !hasCondition(conds, meshaliasv1.ConditionReconciling, metav1.ConditionTrue) || hasCondition(conds, meshaliasv1.ConditionStalled, metav1.ConditionTrue) {
		t.Errorf("retrying: %v", conds)
	}
	SetConditions(&conds, 1, Outcome{Reason: meshaliasv1.ReasonServiceNotFound, Message: "gone", Stalled: true})
	if !hasCondition(conds, meshaliasv1.ConditionStalled, metav1.ConditionTrue) || hasCondition(conds, meshaliasv1.ConditionReconciling, metav1.ConditionTrue) {
		t.Errorf("stalled: %v", conds)
	}
	ready := Outcome{Ready: true, Reason: meshaliasv1.ReasonSynced, Message: "1 ServiceEntry in place."}
	SetConditions(&conds, 2, ready)
	if len(conds) != 1 || conds[0].Type != meshaliasv1.ConditionReady || conds[0].ObservedGeneration != 2 {
		t.Errorf("synced: %v", conds)
	}
	before := slices.Clone(conds)
	SetConditions(&conds, 2, ready)
	if !slices.Equal(before, conds) {
		t.Errorf("an unchanged outcome changed the conditions: %v -> %v", before, conds)
	}
}

func hasCondition(conds []metav1.Condition, typ string, status metav1.ConditionStatus) bool {
	for _, c := range conds {
		if c.Type == typ && c.Status == status {
			return true
		}
	}
	return false
}

func TestHostWinner(t *testing.T) {
	me := Claim{Kind: meshaliasv1.KindServiceAlias, Namespace: "b", Name: "x", Created: t0}
	if w, mine := HostWinner(me, []Claim{me}); !mine || w != me {
		t.Errorf("an alias is not its own rival")
	}
	older := Claim{Kind: meshaliasv1.KindNamespaceAlias, Namespace: "z", Name: "z", Created: t0.Add(-time.Second)}
	if w, mine := HostWinner(me, []Claim{older}); mine || w != older {
		t.Errorf("the older claim must win")
	}
	sameTimeSameName := Claim{Kind: meshaliasv1.KindNamespaceAlias, Namespace: "b", Name: "x", Created: t0}
	if w, mine := HostWinner(me, []Claim{sameTimeSameName}); mine || w != sameTimeSameName {
		t.Errorf("the kind breaks the last tie, NamespaceAlias before ServiceAlias; got %v", w)
	}

	// On an exact tie the holder keeps the host, whatever the names; names decide only
	// between claims that hold nothing.
	holder := Claim{Kind: meshaliasv1.KindServiceAlias, Namespace: "z", Name: "z", Created: t0, Holds: true}
	newcomer := Claim{Kind: meshaliasv1.KindServiceAlias, Namespace: "a", Name: "a", Created: t0}
	if _, mine := HostWinner(newcomer, []Claim{holder}); mine {
		t.Errorf("a newcomer with a smaller name took the host from its holder")
	}
	if _, mine := HostWinner(holder, []Claim{newcomer}); !mine {
		t.Errorf("the holder lost the host to a newcomer of the same second")
	}
	if _, mine := HostWinner(Claim{Kind: meshaliasv1.KindServiceAlias, Namespace: "z", Name: "z", Created: t0.Add(time.Second), Holds: true}, []Claim{newcomer}); mine {
		t.Errorf("holding a host must not beat an older claim")
	}
}

// An alias that may not use its Service, or whose domain is out of bounds, keeps no entry:
// the ones it owned are pruned, and nothing of the Service reaches its status.
func TestMakePlanStopsTheWholeAlias(t *testing.T) {
	svc := map[string]*corev1.Service{"traefik": {
		ObjectMeta: metav1.ObjectMeta{Namespace: "other", Name: "traefik"},
		Spec:       corev1.ServiceSpec{ClusterIP: "10.0.0.9", Ports: []corev1.ServicePort{{Name: "http", Port: 80}}},
	}}
	owned := []*networkingv1.ServiceEntry{ownedEntry("a.x")}
	cases := []struct {
		name   string
		in     Intent
		facts  Facts
		reason string
	}{
		{"no grant", intent("a.x"), Facts{Reference: ReferenceNotGranted, Services: svc, Owned: owned}, meshaliasv1.ReasonRefNotPermitted},
		{"grants off", intent("a.x"), Facts{Reference: ReferenceGrantsOff, Services: svc, Owned: owned}, meshaliasv1.ReasonRefNotPermitted},
		{"domain is a namespace", withDomain(intent("a.x"), "x"), Facts{Services: svc, Owned: owned, DomainIsNamespace: true}, meshaliasv1.ReasonHostConflict},
		{"domain not allowed", withDomain(intent("a.x"), "x"), Facts{Services: svc, Owned: owned, Policy: hostpolicy.Policy{Required: true}}, meshaliasv1.ReasonHostNotAllowed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			plan := MakePlan(tc.in, tc.facts, "cluster.local")
			if plan.Problem == nil || plan.Problem.Reason != tc.reason {
				t.Fatalf("problem %v, want reason %s", plan.Problem, tc.reason)
			}
			if len(plan.Entries) != 0 || len(plan.Prune) != 1 {
				t.Errorf("entries %d, prune %d: want none kept and the owned one pruned", len(plan.Entries), len(plan.Prune))
			}
			if o := ServiceAliasOutcome(plan); o.Ready || o.Reason != tc.reason || !o.Stalled || strings.Contains(o.Message, "10.0.0.9") {
				t.Errorf("outcome %+v", o)
			}
		})
	}
}

// Per host: a Service's own name is refused before the policy is even asked, and the policy
// before the other aliases' claims.
func TestMakePlanHostChecksInOrder(t *testing.T) {
	svc := map[string]*corev1.Service{"traefik": {
		ObjectMeta: metav1.ObjectMeta{Namespace: "abc", Name: "traefik"},
		Spec:       corev1.ServiceSpec{ClusterIP: "10.0.0.9", Ports: []corev1.ServicePort{{Name: "http", Port: 80}}},
	}}
	rival := map[string][]Claim{"payments.prod": {{Kind: meshaliasv1.KindServiceAlias, Namespace: "a", Name: "old", Created: t0.Add(-1)}}, "app.denied": {{Kind: meshaliasv1.KindServiceAlias, Namespace: "a", Name: "old", Created: t0.Add(-1)}}}
	plan := MakePlan(intent("payments.prod", "app.denied", "app.allowed"), Facts{
		Services: svc,
		Shadowed: map[string]string{"payments.prod": "prod/payments"},
		Policy:   hostpolicy.Policy{Rules: []hostpolicy.DomainRule{{Domain: "allowed", Selector: labels.Everything()}}},
		Rivals:   rival,
	}, "cluster.local")
	want := map[string]string{"payments.prod": meshaliasv1.ReasonHostConflict, "app.denied": meshaliasv1.ReasonHostNotAllowed, "app.allowed": ""}
	for _, r := range plan.Results {
		got := ""
		if r.Problem != nil {
			got = r.Problem.Reason
		}
		if got != want[r.Host] {
			t.Errorf("%s: reason %q, want %q", r.Host, got, want[r.Host])
		}
		if r.Host == "payments.prod" && !strings.Contains(r.Problem.Message, "Service prod/payments") {
			t.Errorf("the shadow message %q should name the Service", r.Problem.Message)
		}
	}
	if len(plan.Entries) != 1 || plan.Entries[0].Spec.Hosts[0] != "app.allowed" {
		t.Errorf("entries %v, want only app.allowed's", plan.Entries)
	}
}

func withDomain(in Intent, domain string) Intent {
	in.Domain = domain
	return in
}

func TestListedIsBounded(t *testing.T) {
	names := make([]string, 250)
	for i := range names {
		names[i] = fmt.Sprintf("entry-%03d", i)
	}
	got := Listed(names)
	if len(got) != MaxStatusNames || got[0] != "entry-000" || got[MaxStatusNames-1] != "entry-099" {
		t.Errorf("Listed kept %d names, from %s to %s; want the first %d", len(got), got[0], got[len(got)-1], MaxStatusNames)
	}
	if few := []string{"a", "b"}; !slices.Equal(Listed(few), few) {
		t.Errorf("a short list must be kept whole")
	}
}
