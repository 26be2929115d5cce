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

	meshaliasv1 "github.com/meshalias/meshalias/api/v1alpha1"
)

// gatherer reads, from the cache, the Facts that bear on an Intent.
type gatherer struct {
	reader client.Reader
	// adopt selects the unmanaged entries that may be taken over; nil takes none.
	adopt labels.Selector
}

// facts fills everything but Services, which each kind of alias reads its own way.
func (g gatherer) facts(ctx context.Context, in Intent, services map[string]*corev1.Service) (Facts, error) {
	f := Facts{
		Services:  services,
		Rivals:    map[string][]Claim{},
		Foreign:   map[string][]string{},
		Occupied:  map[string]bool{},
		Adoptable: map[string]*networkingv1.ServiceEntry{},
	}

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

	for _, t := range in.Targets {
		rivals, err := g.rivals(ctx, t.Host, in.Claim)
		if err != nil {
			return f, err
		}
		f.Rivals[t.Host] = rivals

		var declaring networkingv1.ServiceEntryList
		if err := g.reader.List(ctx, &declaring, client.MatchingFields{indexEntryHost: t.Host}); err != nil {
			return f, fmt.Errorf("listing ServiceEntries for host %s: %w", t.Host, err)
		}
		for _, se := range declaring.Items {
			switch {
			case isManaged(se):
			case g.adoptable(se, in.Owner.Namespace) && f.Adoptable[t.Host] == nil:
				f.Adoptable[t.Host] = se
			default:
				f.Foreign[t.Host] = append(f.Foreign[t.Host], se.Namespace+"/"+se.Name)
			}
		}

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
		if c := claimOf(KindServiceAlias, &sa.ObjectMeta); sa.DeletionTimestamp.IsZero() && !c.same(mine) {
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
		claim := claimOf(KindNamespaceAlias, &na.ObjectMeta)
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
