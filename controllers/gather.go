package controllers

import (
	"context"
	"fmt"

	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gatewayv1beta1 "sigs.k8s.io/gateway-api/apis/v1beta1"

	meshaliasv1 "github.com/meshalias/meshalias/api/v1alpha1"
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
}

// referencedService reads the one Service a ServiceAlias names, but only once the reference
// is permitted: a Service in another namespace stays unread until a ReferenceGrant allows it.
func (g gatherer) referencedService(ctx context.Context, aliasNamespace, namespace, name string) (Reference, map[string]*corev1.Service, error) {
	ref, err := g.reference(ctx, aliasNamespace, namespace, name)
	if err != nil || !ref.permitted() {
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

func (g gatherer) reference(ctx context.Context, aliasNamespace, namespace, name string) (Reference, error) {
	switch {
	case namespace == aliasNamespace:
		return ReferenceLocal, nil
	case !g.grantsOn:
		return ReferenceGrantsOff, nil
	}
	var grants gatewayv1beta1.ReferenceGrantList
	if err := g.reader.List(ctx, &grants, client.InNamespace(namespace)); err != nil {
		return ReferenceNotGranted, fmt.Errorf("listing ReferenceGrants in %s: %w", namespace, err)
	}
	if GrantAllows(grants.Items, aliasNamespace, name) {
		return ReferenceGranted, nil
	}
	return ReferenceNotGranted, nil
}

// facts fills in everything that f, which holds the Services the alias's kind read, lacks.
func (g gatherer) facts(ctx context.Context, in Intent, f Facts) (Facts, error) {
	f.Rivals = map[string][]Claim{}
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
	if !f.Reference.permitted() {
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
		var holder Claim
		for _, se := range declaring.Items {
			switch {
			case isManaged(se):
				holder = Claim{Kind: se.Labels[meshaliasv1.LabelOwnerKind], Namespace: se.Namespace, Name: se.Labels[meshaliasv1.LabelOwnerName]}
			case g.adoptable(se, in.Owner.Namespace) && f.Adoptable[t.Host] == nil:
				f.Adoptable[t.Host] = se
			default:
				f.Foreign[t.Host] = append(f.Foreign[t.Host], se.Namespace+"/"+se.Name)
			}
		}

		rivals, err := g.rivals(ctx, t.Host, in.Claim)
		if err != nil {
			return f, err
		}
		for i := range rivals {
			rivals[i].Holds = rivals[i].same(holder)
		}
		f.Rivals[t.Host] = rivals

		name := EntryName(t.Host)
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

// rivals returns every other alias, of either kind, that claims a host.
func (g gatherer) rivals(ctx context.Context, host string, mine Claim) ([]Claim, error) {
	var claims []Claim
	var sas meshaliasv1.ServiceAliasList
	if err := g.reader.List(ctx, &sas, client.MatchingFields{indexAliasHost: host}); err != nil {
		return nil, fmt.Errorf("listing ServiceAliases for host %s: %w", host, err)
	}
	for _, sa := range sas.Items {
		if c := claimOf(meshaliasv1.KindServiceAlias, &sa.ObjectMeta); sa.DeletionTimestamp.IsZero() && !c.same(mine) {
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
		claim := claimOf(meshaliasv1.KindNamespaceAlias, &na.ObjectMeta)
		if !na.DeletionTimestamp.IsZero() || claim.same(mine) {
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
		selector, err := serviceSelector(&na)
		if err != nil || !selector.Matches(labels.Set(svc.Labels)) {
			continue
		}
		claims = append(claims, claim)
	}
	return claims, nil
}

func claimOf(kind string, m *metav1.ObjectMeta) Claim {
	return Claim{Kind: kind, Namespace: m.Namespace, Name: m.Name, Created: m.CreationTimestamp.Time}
}

// serviceSelector is a NamespaceAlias's Service selector; absent selects everything.
func serviceSelector(na *meshaliasv1.NamespaceAlias) (labels.Selector, error) {
	if na.Spec.Selector == nil {
		return labels.Everything(), nil
	}
	return metav1.LabelSelectorAsSelector(na.Spec.Selector)
}

// ownerStub carries just what metav1.IsControlledBy compares: the UID.
func ownerStub(o Owner) *metav1.ObjectMeta {
	return &metav1.ObjectMeta{UID: o.UID}
}
