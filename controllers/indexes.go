package controllers

import (
	"context"
	"slices"
	"strings"

	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	meshaliasv1 "github.com/meshalias/meshalias/api/v1alpha1"
	"github.com/meshalias/meshalias/internal/desired"
	"github.com/meshalias/meshalias/internal/hostpolicy"
)

// Cache indexes. Every lookup that a watch event or a reconcile needs goes through one of
// them, so no event lists all aliases, Services or entries.
const (
	// indexAliasServices: ServiceAlias by every Service ("ns/name") whose changes bear on
	// it: the one it names, and those whose own names its hosts are.
	indexAliasServices = "meshalias.services"
	// indexAliasTargetNamespace: ServiceAlias by the other namespace its Service is in, where
	// a ReferenceGrant decides.
	indexAliasTargetNamespace = "spec.service.namespace"
	// indexAliasHostSuffix: ServiceAlias by each host and every domain above it: the aliases
	// of a host, and those an AliasDomain or a NamespaceAlias of a domain bears on. One index
	// serves all three, to keep the cache small; a lookup by host also finds the aliases of
	// names under it, which the callers tell apart or harmlessly wake.
	indexAliasHostSuffix = "spec.hosts.suffixes"
	// indexNamespaceAliasDomain: NamespaceAlias by its domain.
	indexNamespaceAliasDomain = "spec.domain"
	// indexNamespaceAliasDomainSuffix: NamespaceAlias by its domain and every domain above it,
	// where an AliasDomain bears on it.
	indexNamespaceAliasDomainSuffix = "spec.domain.suffixes"
	// indexEntryHost: ServiceEntry by each host it declares.
	indexEntryHost = "spec.hosts"
	// indexEntryOwner: ServiceEntry by the alias that owns it, as "Kind/name" (namespaced).
	indexEntryOwner = "meshalias.owner"
)

// parentDomain is a host less its first label: "traefik.custom-name" is under "custom-name".
func parentDomain(host string) (first, domain string, ok bool) {
	return strings.Cut(host, ".")
}

func ownerKey(kind, name string) string { return kind + "/" + name }

// SetupIndexes registers every index the controllers use.
func SetupIndexes(ctx context.Context, indexer client.FieldIndexer, clusterDomain string) error {
	indexes := []struct {
		obj   client.Object
		field string
		fn    client.IndexerFunc
	}{
		{&meshaliasv1.ServiceAlias{}, indexAliasServices, func(o client.Object) []string {
			alias := o.(*meshaliasv1.ServiceAlias)
			keys := []string{desired.ServiceNamespace(alias) + "/" + alias.Spec.Service.Name}
			for _, h := range alias.Spec.Hosts {
				if ns, name, ok := hostpolicy.ShadowedService(h, clusterDomain); ok {
					keys = append(keys, ns+"/"+name)
				}
			}
			return keys
		}},
		{&meshaliasv1.ServiceAlias{}, indexAliasTargetNamespace, func(o client.Object) []string {
			if alias := o.(*meshaliasv1.ServiceAlias); desired.ServiceNamespace(alias) != alias.Namespace {
				return []string{desired.ServiceNamespace(alias)}
			}
			return nil
		}},
		{&meshaliasv1.ServiceAlias{}, indexAliasHostSuffix, func(o client.Object) []string {
			var keys []string
			for _, h := range o.(*meshaliasv1.ServiceAlias).Spec.Hosts {
				keys = append(keys, hostpolicy.Suffixes(h)...)
			}
			slices.Sort(keys)
			return slices.Compact(keys)
		}},
		{&meshaliasv1.NamespaceAlias{}, indexNamespaceAliasDomain, func(o client.Object) []string {
			return []string{o.(*meshaliasv1.NamespaceAlias).Spec.Domain}
		}},
		{&meshaliasv1.NamespaceAlias{}, indexNamespaceAliasDomainSuffix, func(o client.Object) []string {
			return hostpolicy.Suffixes(o.(*meshaliasv1.NamespaceAlias).Spec.Domain)
		}},
		{&networkingv1.ServiceEntry{}, indexEntryHost, func(o client.Object) []string {
			return o.(*networkingv1.ServiceEntry).Spec.Hosts
		}},
		{&networkingv1.ServiceEntry{}, indexEntryOwner, func(o client.Object) []string {
			labels := o.GetLabels()
			if labels[meshaliasv1.LabelManagedBy] != meshaliasv1.ManagedByValue || labels[meshaliasv1.LabelOwnerKind] == "" {
				return nil
			}
			return []string{ownerKey(labels[meshaliasv1.LabelOwnerKind], labels[meshaliasv1.LabelOwnerName])}
		}},
	}
	for _, ix := range indexes {
		if err := indexer.IndexField(ctx, ix.obj, ix.field, ix.fn); err != nil {
			return err
		}
	}
	return nil
}

// isManaged tells whether meshalias manages an entry.
func isManaged(se *networkingv1.ServiceEntry) bool {
	return se.Labels[meshaliasv1.LabelManagedBy] == meshaliasv1.ManagedByValue
}

// ownedBy tells whether an entry is the named alias's own, by the contract's labels.
func ownedBy(se *networkingv1.ServiceEntry, kind, namespace, name string) bool {
	return isManaged(se) && se.Namespace == namespace && se.Labels[meshaliasv1.LabelOwnerKind] == kind && se.Labels[meshaliasv1.LabelOwnerName] == name
}
