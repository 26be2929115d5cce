package hostpolicy

import (
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/labels"
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

// The Service mapper finds shadowing aliases by ServiceNames, the policy refuses hosts by
// ShadowedService: a name one knows and the other does not would let an alias keep a name a
// Service created later should take back.
func TestServiceNamesAreTheShadowedOnes(t *testing.T) {
	names := ServiceNames("prod", "payments", "cluster.local")
	if want := []string{"payments.prod", "payments.prod.svc", "payments.prod.svc.cluster.local"}; !slices.Equal(names, want) {
		t.Errorf("ServiceNames(prod, payments) = %v, want %v", names, want)
	}
	for _, host := range names {
		if ns, name, ok := ShadowedService(host, "cluster.local"); !ok || ns != "prod" || name != "payments" {
			t.Errorf("ShadowedService(%s) = %s/%s %t, want prod/payments", host, ns, name, ok)
		}
	}
}

func TestSuffixes(t *testing.T) {
	if got := Suffixes("a.b.c"); !slices.Equal(got, []string{"a.b.c", "b.c", "c"}) {
		t.Errorf("Suffixes(a.b.c) = %v", got)
	}
}
