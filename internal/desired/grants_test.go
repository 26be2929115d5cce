package desired

import (
	"testing"

	"k8s.io/utils/ptr"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"
	gatewayv1beta1 "sigs.k8s.io/gateway-api/apis/v1beta1"
)

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
