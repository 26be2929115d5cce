package controllers

import (
	"slices"
	"strings"
	"testing"

	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/utils/ptr"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"
	gatewayv1beta1 "sigs.k8s.io/gateway-api/apis/v1beta1"

	meshaliasv1 "github.com/meshalias/meshalias/api/v1alpha1"
)

func rule(domain string, matchLabels map[string]string) DomainRule {
	return DomainRule{Domain: domain, Selector: labels.SelectorFromSet(matchLabels)}
}

func TestPolicyAllows(t *testing.T) {
	payments := map[string]string{"team": "payments"}
	platform := map[string]string{"team": "platform"}
	rules := []DomainRule{rule("internal", platform), rule("payments.internal", payments), rule("shared", nil)}
	cases := []struct {
		name     string
		policy   Policy
		host     string
		labels   map[string]string
		allowed  bool
		mentions string
	}{
		{"no AliasDomain at all: open", Policy{}, "example.org", nil, true, ""},
		{"required and none at all: closed", Policy{Required: true}, "example.org", nil, false, "no AliasDomain covers host example.org"},
		{"the domain itself", Policy{Rules: rules}, "payments.internal", payments, true, ""},
		{"a name under the domain", Policy{Rules: rules}, "api.payments.internal", payments, true, ""},
		{"the longest domain decides, against the shorter", Policy{Rules: rules}, "api.payments.internal", platform, false, "AliasDomain payments.internal does not allow namespace web"},
		{"the shorter domain decides where no longer one covers", Policy{Rules: rules}, "billing.internal", platform, true, ""},
		{"the shorter domain refuses another team", Policy{Rules: rules}, "billing.internal", payments, false, "AliasDomain internal"},
		{"a name that only ends like the domain is not under it", Policy{Rules: rules}, "xinternal", platform, false, "no AliasDomain covers"},
		{"once any AliasDomain exists, uncovered names are refused", Policy{Rules: rules}, "example.org", platform, false, "no AliasDomain covers host example.org"},
		{"an empty selector allows every namespace", Policy{Rules: rules}, "a.shared", nil, true, ""},
		{"two AliasDomains of one domain: either allows", Policy{Rules: append(slices.Clone(rules), rule("internal", payments))}, "billing.internal", payments, true, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ok, why := tc.policy.Allows(tc.host, "web", tc.labels)
			if ok != tc.allowed || !strings.Contains(why, tc.mentions) {
				t.Errorf("Allows(%s) = %v, %q; want %v, mentioning %q", tc.host, ok, why, tc.allowed, tc.mentions)
			}
		})
	}
}

func TestShadowedService(t *testing.T) {
	cases := map[string]string{
		"payments.prod":                   "prod/payments",
		"payments.prod.svc":               "prod/payments",
		"payments.prod.svc.cluster.local": "prod/payments",
		"x.svc":                           "svc/x",
		"traefik.custom.name":             "",
		"payments.prod.svc.other.domain":  "",
		"payments":                        "",
	}
	for host, want := range cases {
		ns, name, ok := ShadowedService(host, "cluster.local")
		got := ""
		if ok {
			got = ns + "/" + name
		}
		if got != want {
			t.Errorf("ShadowedService(%s) = %q, want %q", host, got, want)
		}
	}
}

func TestGrantAllows(t *testing.T) {
	grant := func(fromGroup, fromKind, fromNS, toKind string, toName *string) gatewayv1beta1.ReferenceGrant {
		to := gatewayv1beta1.ReferenceGrantTo{Group: "", Kind: gatewayv1.Kind(toKind)}
		if toName != nil {
			to.Name = ptr.To(gatewayv1.ObjectName(*toName))
		}
		return gatewayv1beta1.ReferenceGrant{Spec: gatewayv1beta1.ReferenceGrantSpec{
			From: []gatewayv1beta1.ReferenceGrantFrom{{Group: gatewayv1.Group(fromGroup), Kind: gatewayv1.Kind(fromKind), Namespace: gatewayv1.Namespace(fromNS)}},
			To:   []gatewayv1beta1.ReferenceGrantTo{to},
		}}
	}
	cases := []struct {
		name   string
		grants []gatewayv1beta1.ReferenceGrant
		want   bool
	}{
		{"no grant", nil, false},
		{"every Service, for edge's ServiceAliases", []gatewayv1beta1.ReferenceGrant{grant("meshalias.io", "ServiceAlias", "edge", "Service", nil)}, true},
		{"that one Service", []gatewayv1beta1.ReferenceGrant{grant("meshalias.io", "ServiceAlias", "edge", "Service", ptr.To("traefik"))}, true},
		{"another Service", []gatewayv1beta1.ReferenceGrant{grant("meshalias.io", "ServiceAlias", "edge", "Service", ptr.To("db"))}, false},
		{"another namespace", []gatewayv1beta1.ReferenceGrant{grant("meshalias.io", "ServiceAlias", "web", "Service", nil)}, false},
		{"a grant for HTTPRoutes", []gatewayv1beta1.ReferenceGrant{grant("gateway.networking.k8s.io", "HTTPRoute", "edge", "Service", nil)}, false},
		{"a grant for NamespaceAliases", []gatewayv1beta1.ReferenceGrant{grant("meshalias.io", "NamespaceAlias", "edge", "Service", nil)}, false},
		{"a grant to Secrets", []gatewayv1beta1.ReferenceGrant{grant("meshalias.io", "ServiceAlias", "edge", "Secret", nil)}, false},
	}
	for _, tc := range cases {
		if got := GrantAllows(tc.grants, "edge", "traefik"); got != tc.want {
			t.Errorf("%s: GrantAllows = %v, want %v", tc.name, got, tc.want)
		}
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
		{"domain not allowed", withDomain(intent("a.x"), "x"), Facts{Services: svc, Owned: owned, Policy: Policy{Required: true}}, meshaliasv1.ReasonHostNotAllowed},
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
	rival := map[string][]Claim{"payments.prod": {{Kind: KindServiceAlias, Namespace: "a", Name: "old", Created: t0.Add(-1)}}, "app.denied": {{Kind: KindServiceAlias, Namespace: "a", Name: "old", Created: t0.Add(-1)}}}
	plan := MakePlan(intent("payments.prod", "app.denied", "app.allowed"), Facts{
		Services: svc,
		Shadowed: map[string]string{"payments.prod": "prod/payments"},
		Policy:   Policy{Rules: []DomainRule{rule("allowed", nil)}},
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

func TestSuffixes(t *testing.T) {
	if got := suffixes("a.b.c"); !slices.Equal(got, []string{"a.b.c", "b.c", "c"}) {
		t.Errorf("suffixes(a.b.c) = %v", got)
	}
}
