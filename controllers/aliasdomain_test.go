package controllers_test

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	meshaliasv1 "github.com/meshalias/meshalias/api/v1alpha1"
	"github.com/meshalias/meshalias/controllers"
)

// policyDomain creates an AliasDomain for the length of a test. Once any exists the policy is
// in force for the whole cluster, so it is deleted, and waited for, before the next test.
func policyDomain(t *testing.T, domain string, matchLabels map[string]string) *meshaliasv1.AliasDomain {
	t.Helper()
	d := aliasDomainSelecting(domain, metav1.LabelSelector{MatchLabels: matchLabels})
	create(t, d)
	t.Cleanup(func() { deleteAndWait(t, d) })
	return d
}

func labelledNamespace(t *testing.T, labels map[string]string) string {
	t.Helper()
	ns := newNamespace(t)
	relabelNamespace(t, ns, labels)
	return ns
}

func relabelNamespace(t *testing.T, ns string, labels map[string]string) {
	t.Helper()
	obj := &corev1.Namespace{}
	if err := k8s.Get(ctx, clientKey("", ns), obj); err != nil {
		t.Fatal(err)
	}
	obj.Labels = labels
	if err := k8s.Update(ctx, obj); err != nil {
		t.Fatal(err)
	}
}

func readyMessage(conds []metav1.Condition) string {
	if c := meta.FindStatusCondition(conds, meshaliasv1.ConditionReady); c != nil {
		return c.Message
	}
	return ""
}

// A platform team hands each team a domain. The longest AliasDomain covering a host decides,
// a host none covers is refused once any exists, and a change to a policy or to a namespace's
// labels is followed without touching the aliases.
func TestAliasDomainDecidesWhoMayClaimAHost(t *testing.T) {
	teamA := labelledNamespace(t, map[string]string{"team": "a"})
	teamB := labelledNamespace(t, map[string]string{"team": "b"})
	domain := teamA + ".teams"
	policyDomain(t, domain, map[string]string{"team": "a"})

	create(t, service(teamA, "app"), service(teamB, "app"),
		serviceAlias(teamA, "mine", "app", "app."+domain),
		serviceAlias(teamB, "squat", "app", "squat."+domain),
		serviceAlias(teamA, "stray", "app", "app."+teamA+".uncovered"))
	waitServiceAlias(t, teamA, "mine", metav1.ConditionTrue, meshaliasv1.ReasonSynced)
	squat := waitServiceAlias(t, teamB, "squat", metav1.ConditionFalse, meshaliasv1.ReasonHostNotAllowed)
	if msg := readyMessage(squat.Status.Conditions); !strings.Contains(msg, "AliasDomain "+domain) || !strings.Contains(msg, teamB) {
		t.Errorf("message %q should name the deciding AliasDomain and the namespace", msg)
	}
	stray := waitServiceAlias(t, teamA, "stray", metav1.ConditionFalse, meshaliasv1.ReasonHostNotAllowed)
	if msg := readyMessage(stray.Status.Conditions); !strings.Contains(msg, "no AliasDomain covers") {
		t.Errorf("message %q should say no AliasDomain covers the host", msg)
	}
	for _, a := range []struct{ ns, name string }{{teamB, "squat"}, {teamA, "stray"}} {
		if got := entriesOf(t, a.ns, "ServiceAlias", a.name); len(got) != 0 {
			t.Errorf("denied alias %s/%s has %d entries", a.ns, a.name, len(got))
		}
	}

	// A longer domain, handed to team b, decides for the names under it.
	policyDomain(t, "b."+domain, map[string]string{"team": "b"})
	create(t, serviceAlias(teamB, "delegated", "app", "api.b."+domain), serviceAlias(teamA, "under-b", "app", "x.b."+domain))
	waitServiceAlias(t, teamB, "delegated", metav1.ConditionTrue, meshaliasv1.ReasonSynced)
	waitServiceAlias(t, teamA, "under-b", metav1.ConditionFalse, meshaliasv1.ReasonHostNotAllowed)

	// Team b joins team a by label: its squat becomes allowed.
	relabelNamespace(t, teamB, map[string]string{"team": "a"})
	waitServiceAlias(t, teamB, "squat", metav1.ConditionTrue, meshaliasv1.ReasonSynced)

	// The policy changes: team a loses the domain, and its entry goes.
	var d meshaliasv1.AliasDomain
	if err := k8s.Get(ctx, clientKey("", domain), &d); err != nil {
		t.Fatal(err)
	}
	d.Spec.NamespaceSelector = metav1.LabelSelector{MatchLabels: map[string]string{"team": "nobody"}}
	if err := k8s.Update(ctx, &d); err != nil {
		t.Fatal(err)
	}
	waitServiceAlias(t, teamA, "mine", metav1.ConditionFalse, meshaliasv1.ReasonHostNotAllowed)
	eventually(t, "the entry of the host no longer allowed is gone", func() error {
		if _, err := entryFor(teamA, "app."+domain); !apierrors.IsNotFound(err) {
			return fmt.Errorf("entry: %v", err)
		}
		return nil
	})
}

// The last AliasDomain gone, the policy is lifted and every alias is served again.
func TestAliasDomainPolicyLifted(t *testing.T) {
	ns := newNamespace(t)
	create(t, service(ns, "app"), serviceAlias(ns, "free", "app", "app."+ns+".free"))
	waitServiceAlias(t, ns, "free", metav1.ConditionTrue, meshaliasv1.ReasonSynced)

	d := aliasDomainSelecting(ns+".elsewhere", metav1.LabelSelector{})
	create(t, d)
	waitServiceAlias(t, ns, "free", metav1.ConditionFalse, meshaliasv1.ReasonHostNotAllowed)
	deleteAndWait(t, d)
	waitServiceAlias(t, ns, "free", metav1.ConditionTrue, meshaliasv1.ReasonSynced)
}

// With --require-alias-domain, as config/default runs, nothing is allowed until an
// AliasDomain allows it.
func TestRequireAliasDomain(t *testing.T) {
	restartManager(t, func(c *controllers.Config) { c.RequireAliasDomain = true })
	ns := labelledNamespace(t, map[string]string{"team": "required"})
	host := "app." + ns + ".required"
	create(t, service(ns, "app"), serviceAlias(ns, "app", "app", host))
	alias := waitServiceAlias(t, ns, "app", metav1.ConditionFalse, meshaliasv1.ReasonHostNotAllowed)
	if msg := readyMessage(alias.Status.Conditions); !strings.Contains(msg, "no AliasDomain covers host "+host) {
		t.Errorf("message %q should say no AliasDomain covers the host", msg)
	}
	policyDomain(t, ns+".required", map[string]string{"team": "required"})
	waitServiceAlias(t, ns, "app", metav1.ConditionTrue, meshaliasv1.ReasonSynced)
	if _, err := entryFor(ns, host); err != nil {
		t.Fatalf("entry for the allowed host: %v", err)
	}
}

// A NamespaceAlias's domain is judged as a whole, and each of its hosts as any host is.
func TestNamespaceAliasUnderThePolicy(t *testing.T) {
	ns := labelledNamespace(t, map[string]string{"team": "hello"})
	domain := ns + ".hello"
	policyDomain(t, ns+".other", map[string]string{"team": "hello"})
	create(t, service(ns, "a"), service(ns, "b"), namespaceAlias(ns, "hello", domain, nil))
	alias := waitNamespaceAlias(t, ns, "hello", metav1.ConditionFalse, meshaliasv1.ReasonHostNotAllowed)
	if msg := readyMessage(alias.Status.Conditions); !strings.Contains(msg, domain) {
		t.Errorf("message %q should name the domain", msg)
	}
	if got := entriesOf(t, ns, "NamespaceAlias", "hello"); len(got) != 0 {
		t.Errorf("a denied NamespaceAlias has %d entries", len(got))
	}

	policyDomain(t, domain, map[string]string{"team": "hello"})
	waitHosts(t, ns, "hello", "a."+domain, "b."+domain)
	// The status is written after the entries: wait for it, or the refusal awaited below
	// could be the first one, still in place.
	waitNamespaceAlias(t, ns, "hello", metav1.ConditionTrue, meshaliasv1.ReasonSynced)

	// A longer AliasDomain for one of its names, handed to nobody, takes that one host away.
	policyDomain(t, "b."+domain, map[string]string{"team": "nobody"})
	alias = waitNamespaceAlias(t, ns, "hello", metav1.ConditionFalse, meshaliasv1.ReasonHostNotAllowed)
	if msg := readyMessage(alias.Status.Conditions); !strings.Contains(msg, "b."+domain) {
		t.Errorf("message %q should name the host", msg)
	}
	waitHosts(t, ns, "hello", "a."+domain)
}

// Every AliasDomain lists every domain, for the admission policy; a list edited by hand is
// put right.
func TestAliasDomainStatusListsEveryDomain(t *testing.T) {
	ns := newNamespace(t)
	a, b := policyDomain(t, ns+".a", nil), policyDomain(t, ns+".b", nil)
	want := []string{ns + ".a", ns + ".b"}
	listed := func(d *meshaliasv1.AliasDomain) func() error {
		return func() error {
			if err := k8s.Get(ctx, clientKey("", d.Name), d); err != nil {
				return err
			}
			if !slices.Equal(d.Status.Domains, want) {
				return fmt.Errorf("AliasDomain %s lists %v, want %v", d.Name, d.Status.Domains, want)
			}
			return nil
		}
	}
	eventually(t, "both list both domains", func() error { return errors.Join(listed(a)(), listed(b)()) })

	patch := client.MergeFrom(a.DeepCopy())
	a.Status.Domains = []string{"wrong"}
	if err := k8s.Status().Patch(ctx, a, patch); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the edited list is put right", listed(a))
}

// A domain handed from one team to another moves its hosts: the old team's alias, now
// refused, no longer holds a claim, though it is older.
func TestAliasDomainHandedOver(t *testing.T) {
	oldTeam := labelledNamespace(t, map[string]string{"team": "old"})
	newTeam := labelledNamespace(t, map[string]string{"team": "new"})
	domain := oldTeam + ".handover"
	host := "web." + domain
	policyDomain(t, domain, map[string]string{"team": "old"})
	create(t, service(oldTeam, "web"), serviceAlias(oldTeam, "web", "web", host))
	waitServiceAlias(t, oldTeam, "web", metav1.ConditionTrue, meshaliasv1.ReasonSynced)
	time.Sleep(1100 * time.Millisecond) // the new team's alias is younger, without a tie
	create(t, service(newTeam, "web"), serviceAlias(newTeam, "web", "web", host))
	waitServiceAlias(t, newTeam, "web", metav1.ConditionFalse, meshaliasv1.ReasonHostNotAllowed)

	var d meshaliasv1.AliasDomain
	if err := k8s.Get(ctx, clientKey("", domain), &d); err != nil {
		t.Fatal(err)
	}
	d.Spec.NamespaceSelector = metav1.LabelSelector{MatchLabels: map[string]string{"team": "new"}}
	if err := k8s.Update(ctx, &d); err != nil {
		t.Fatal(err)
	}
	waitServiceAlias(t, oldTeam, "web", metav1.ConditionFalse, meshaliasv1.ReasonHostNotAllowed)
	waitServiceAlias(t, newTeam, "web", metav1.ConditionTrue, meshaliasv1.ReasonSynced)
	if _, err := entryFor(newTeam, host); err != nil {
		t.Errorf("the new team's entry: %v", err)
	}
}
