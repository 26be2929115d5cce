package controllers

import (
	"context"
	"fmt"
	"slices"

	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gatewayv1beta1 "sigs.k8s.io/gateway-api/apis/v1beta1"

	meshaliasv1 "github.com/meshalias/meshalias/api/v1alpha1"
	"github.com/meshalias/meshalias/internal/desired"
	"github.com/meshalias/meshalias/internal/hostpolicy"
)

// gatherer reads, from the cache, the Facts that bear on an Intent.
type gatherer struct {
	reader client.Reader
	// adopt selects the unmanaged entries that may be taken over; nil takes none.
	adopt         labels.Selector
	clusterDomain string
	// requireAliasDomain is --require-alias-domain.
	requireAliasDomain bool
	// grantsOn is false when the ReferenceGrant CRD was not installed at start.
	grantsOn bool
	// ambientMesh is --ambient-mesh: every namespace runs in ambient mode.
	ambientMesh bool
	// istioNamespace holds the mesh config; allNamespacesInMesh counts every namespace as
	// one whose pods have sidecars.
	istioNamespace      string
	allNamespacesInMesh bool
}

// serviceAlias reads what bears on a ServiceAlias: its one Service, once the reference to it
// is permitted, and the rest of the Facts.
func (g gatherer) serviceAlias(ctx context.Context, alias *meshaliasv1.ServiceAlias) (desired.Intent, desired.Facts, error) {
	in := desired.ServiceAliasIntent(alias)
	ref, services, err := g.referencedService(ctx, alias.Namespace, in.ServiceNamespace, alias.Spec.Service.Name)
	if err != nil {
		return in, desired.Facts{}, err
	}
	facts, err := g.facts(ctx, in, desired.Facts{Reference: ref, Services: services})
	return in, facts, err
}

// namespaceAlias reads what bears on a NamespaceAlias: the Services of its namespace that it
// selects, from the cache, and the rest of the Facts.
func (g gatherer) namespaceAlias(ctx context.Context, alias *meshaliasv1.NamespaceAlias) (desired.Intent, desired.Facts, error) {
	services := map[string]*corev1.Service{}
	if selector, err := desired.ServiceSelector(alias); err == nil {
		var list corev1.ServiceList
		if err := g.reader.List(ctx, &list, client.InNamespace(alias.Namespace), client.MatchingLabelsSelector{Selector: selector}); err != nil {
			return desired.Intent{}, desired.Facts{}, fmt.Errorf("listing the Services of %s: %w", alias.Namespace, err)
		}
		for i := range list.Items {
			services[list.Items[i].Name] = &list.Items[i]
		}
	}
	in := desired.NamespaceAliasIntent(alias, services)
	facts, err := g.facts(ctx, in, desired.Facts{Services: services})
	return in, facts, err
}

// referencedService reads the one Service a ServiceAlias names, but only once the reference
// is permitted: a Service in another namespace stays unread until a ReferenceGrant allows it.
func (g gatherer) referencedService(ctx context.Context, aliasNamespace, namespace, name string) (desired.Reference, map[string]*corev1.Service, error) {
	ref, err := g.reference(ctx, aliasNamespace, namespace, name)
	if err != nil || !ref.Permitted() {
		return ref, nil, err
	}
	services := map[string]*corev1.Service{}
	svc := &corev1.Service{}
	err = g.reader.Get(ctx, types.NamespacedName{Namespace: namespace, Name: name}, svc)
	switch {
	case err == nil:
		services[name] = svc
	case !apierrors.IsNotFound(err):
		return ref, nil, fmt.Errorf("reading Service %s/%s: %w", namespace, name, err)
	}
	return ref, services, nil
}

func (g gatherer) reference(ctx context.Context, aliasNamespace, namespace, name string) (desired.Reference, error) {
	switch {
	case namespace == aliasNamespace:
		return desired.ReferenceLocal, nil
	case !g.grantsOn:
		return desired.ReferenceGrantsOff, nil
	}
	var grants gatewayv1beta1.ReferenceGrantList
	if err := g.reader.List(ctx, &grants, client.InNamespace(namespace)); err != nil {
		return desired.ReferenceNotGranted, fmt.Errorf("listing ReferenceGrants in %s: %w", namespace, err)
	}
	if desired.GrantAllows(grants.Items, aliasNamespace, name) {
		return desired.ReferenceGranted, nil
	}
	return desired.ReferenceNotGranted, nil
}

// facts fills in everything that f, which holds the Services the alias's kind read, lacks.
func (g gatherer) facts(ctx context.Context, in desired.Intent, f desired.Facts) (desired.Facts, error) {
	f.Rivals = map[string][]desired.Claim{}
	f.Foreign = map[string][]string{}
	f.Occupied = map[string]bool{}
	f.Adoptable = map[string]*networkingv1.ServiceEntry{}
	f.Shadowed = map[string]string{}

	var owned networkingv1.ServiceEntryList
	if err := g.reader.List(ctx, &owned, client.InNamespace(in.Owner.Namespace),
		client.MatchingFields{indexEntryOwner: ownerKey(in.Owner.Kind, in.Owner.Name)}); err != nil {
		return f, fmt.Errorf("listing owned ServiceEntries: %w", err)
	}
	for _, se := range owned.Items {
		// An entry left by an earlier alias of the same name is not ours to keep.
		if metav1.IsControlledBy(se, ownerStub(in.Owner)) {
			f.Owned = append(f.Owned, se)
		}
	}
	if !f.Reference.Permitted() || in.Invalid != nil {
		// The alias serves nothing; what else the cluster holds does not matter.
		return f, nil
	}

	var err error
	if f.Policy, f.NamespaceLabels, err = g.policy(ctx, in.Owner.Namespace); err != nil {
		return f, err
	}
	if f.Ambient, err = g.ambient(ctx, in.Owner.Namespace, in.ServiceNamespace, f.Services); err != nil {
		return f, err
	}
	if f.Mesh, f.MeshNamespaces, f.Sidecars, err = g.visibilityFacts(ctx); err != nil {
		return f, err
	}
	if in.Domain != "" {
		var ns corev1.Namespace
		err := g.reader.Get(ctx, types.NamespacedName{Name: in.Domain}, &ns)
		switch {
		case err == nil:
			f.DomainIsNamespace = true
		case !apierrors.IsNotFound(err):
			return f, fmt.Errorf("reading Namespace %s: %w", in.Domain, err)
		}
	}

	for _, t := range in.Targets {
		if svc, err := g.shadowed(ctx, t.Host); err != nil {
			return f, err
		} else if svc != "" {
			f.Shadowed[t.Host] = svc
		}

		var declaring networkingv1.ServiceEntryList
		if err := g.reader.List(ctx, &declaring, client.MatchingFields{indexEntryHost: t.Host}); err != nil {
			return f, fmt.Errorf("listing ServiceEntries for host %s: %w", t.Host, err)
		}
		var holder desired.Claim
		for _, se := range declaring.Items {
			switch {
			case isManaged(se):
				holder = desired.Claim{Kind: se.Labels[meshaliasv1.LabelOwnerKind], Namespace: se.Namespace, Name: se.Labels[meshaliasv1.LabelOwnerName]}
			case g.adoptable(se, in.Owner.Namespace) && f.Adoptable[t.Host] == nil:
				f.Adoptable[t.Host] = se
			default:
				f.Foreign[t.Host] = append(f.Foreign[t.Host], se.Namespace+"/"+se.Name)
			}
		}

		rivals, err := g.rivals(ctx, t.Host, in.Claim, f.Policy)
		if err != nil {
			return f, err
		}
		for i := range rivals {
			rivals[i].Holds = rivals[i].Same(holder)
		}
		f.Rivals[t.Host] = rivals

		name := desired.EntryName(t.Host)
		var existing networkingv1.ServiceEntry
		err = g.reader.Get(ctx, types.NamespacedName{Namespace: in.Owner.Namespace, Name: name}, &existing)
		switch {
		case err == nil:
			f.Occupied[name] = !isManaged(&existing)
		case !apierrors.IsNotFound(err):
			return f, fmt.Errorf("reading ServiceEntry %s: %w", name, err)
		}
	}
	return f, nil
}

// policy reads the AliasDomains and the labels of the alias's namespace, which their
// selectors match.
func (g gatherer) policy(ctx context.Context, namespace string) (hostpolicy.Policy, map[string]string, error) {
	p := hostpolicy.Policy{Required: g.requireAliasDomain}
	var domains meshaliasv1.AliasDomainList
	if err := g.reader.List(ctx, &domains); err != nil {
		return p, nil, fmt.Errorf("listing AliasDomains: %w", err)
	}
	for _, d := range domains.Items {
		selector, err := metav1.LabelSelectorAsSelector(&d.Spec.NamespaceSelector)
		if err != nil {
			// The API server validates selectors; one that slips through selects nothing,
			// which refuses rather than allows.
			selector = labels.Nothing()
		}
		p.Rules = append(p.Rules, hostpolicy.DomainRule{Domain: d.Spec.Domain, Selector: selector})
	}
	var ns corev1.Namespace
	if err := g.reader.Get(ctx, types.NamespacedName{Name: namespace}, &ns); err != nil && !apierrors.IsNotFound(err) {
		return p, nil, fmt.Errorf("reading Namespace %s: %w", namespace, err)
	}
	return p, ns.Labels, nil
}

// shadowed returns "ns/name" of the existing Service whose own name host is, or "".
func (g gatherer) shadowed(ctx context.Context, host string) (string, error) {
	namespace, name, ok := hostpolicy.ShadowedService(host, g.clusterDomain)
	if !ok {
		return "", nil
	}
	var svc corev1.Service
	err := g.reader.Get(ctx, types.NamespacedName{Namespace: namespace, Name: name}, &svc)
	switch {
	case err == nil:
		return namespace + "/" + name, nil
	case apierrors.IsNotFound(err):
		return "", nil
	default:
		return "", fmt.Errorf("reading Service %s/%s: %w", namespace, name, err)
	}
}

// adoptable tells whether an unmanaged entry may be taken over in place: the selector matches
// it, and it lives in the alias's namespace, since an owner reference cannot cross namespaces.
func (g gatherer) adoptable(se *networkingv1.ServiceEntry, namespace string) bool {
	return g.adopt != nil && !g.adopt.Empty() && se.Namespace == namespace && g.adopt.Matches(labels.Set(se.Labels))
}

// rivals returns every other alias, of either kind, that claims a host and may claim it. An
// alias that the policy, a missing grant or ambient mode keeps from serving the host has no
// claim on it: otherwise an AliasDomain handed to a new team would stay blocked by the old
// team's refused alias.
func (g gatherer) rivals(ctx context.Context, host string, mine desired.Claim, policy hostpolicy.Policy) ([]desired.Claim, error) {
	var claims []desired.Claim
	var sas meshaliasv1.ServiceAliasList
	if err := g.reader.List(ctx, &sas, client.MatchingFields{indexAliasHostSuffix: host}); err != nil {
		return nil, fmt.Errorf("listing ServiceAliases for host %s: %w", host, err)
	}
	for _, sa := range sas.Items {
		c := desired.ClaimOf(meshaliasv1.KindServiceAlias, &sa.ObjectMeta)
		if !sa.DeletionTimestamp.IsZero() || c.Same(mine) || !slices.Contains(sa.Spec.Hosts, host) {
			continue
		}
		ok, err := g.mayClaim(ctx, policy, sa.Namespace, host, desired.ServiceNamespace(&sa), sa.Spec.Service.Name)
		if err != nil {
			return nil, err
		}
		if ok {
			claims = append(claims, c)
		}
	}

	svcName, domain, ok := parentDomain(host)
	if !ok {
		return claims, nil
	}
	var nas meshaliasv1.NamespaceAliasList
	if err := g.reader.List(ctx, &nas, client.MatchingFields{indexNamespaceAliasDomain: domain}); err != nil {
		return nil, fmt.Errorf("listing NamespaceAliases for domain %s: %w", domain, err)
	}
	for _, na := range nas.Items {
		claim := desired.ClaimOf(meshaliasv1.KindNamespaceAlias, &na.ObjectMeta)
		if !na.DeletionTimestamp.IsZero() || claim.Same(mine) {
			continue
		}
		// A NamespaceAlias claims x.<domain> only while it selects a Service x.
		var svc corev1.Service
		err := g.reader.Get(ctx, types.NamespacedName{Namespace: na.Namespace, Name: svcName}, &svc)
		if apierrors.IsNotFound(err) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("reading Service %s/%s: %w", na.Namespace, svcName, err)
		}
		selector, err := desired.ServiceSelector(&na)
		if err != nil || !selector.Matches(labels.Set(svc.Labels)) {
			continue
		}
		ok, err := g.mayClaim(ctx, policy, na.Namespace, host, na.Namespace, svcName)
		if err == nil && ok {
			ok, err = g.mayClaimDomain(ctx, policy, na.Namespace, domain)
		}
		if err != nil {
			return nil, err
		}
		if ok {
			claims = append(claims, claim)
		}
	}
	return claims, nil
}

// mayClaim tells whether an alias in namespace could serve host for a Service: the policy
// allows its namespace the host, the Service is its own or granted to it, and neither
// namespace runs in ambient mode.
func (g gatherer) mayClaim(ctx context.Context, policy hostpolicy.Policy, namespace, host, serviceNamespace, service string) (bool, error) {
	var ns corev1.Namespace
	if err := g.reader.Get(ctx, types.NamespacedName{Name: namespace}, &ns); client.IgnoreNotFound(err) != nil {
		return false, fmt.Errorf("reading Namespace %s: %w", namespace, err)
	}
	if ok, _ := policy.Allows(host, namespace, ns.Labels); !ok {
		return false, nil
	}
	ambient, err := g.ambient(ctx, namespace, serviceNamespace, nil)
	if err != nil || ambient.Namespace != "" {
		return false, err
	}
	ref, err := g.reference(ctx, namespace, serviceNamespace, service)
	return ref.Permitted(), err
}

// mayClaimDomain tells whether a NamespaceAlias could serve its domain at all: it is no
// namespace's name, and the policy allows it.
func (g gatherer) mayClaimDomain(ctx context.Context, policy hostpolicy.Policy, namespace, domain string) (bool, error) {
	var ns corev1.Namespace
	err := g.reader.Get(ctx, types.NamespacedName{Name: domain}, &ns)
	switch {
	case err == nil:
		return false, nil
	case !apierrors.IsNotFound(err):
		return false, fmt.Errorf("reading Namespace %s: %w", domain, err)
	}
	if err := g.reader.Get(ctx, types.NamespacedName{Name: namespace}, &ns); client.IgnoreNotFound(err) != nil {
		return false, fmt.Errorf("reading Namespace %s: %w", namespace, err)
	}
	ok, _ := policy.Allows(domain, namespace, ns.Labels)
	return ok, nil
}

// ownerStub carries just what metav1.IsControlledBy compares: the UID.
func ownerStub(o desired.Owner) *metav1.ObjectMeta {
	return &metav1.ObjectMeta{UID: o.UID}
}
