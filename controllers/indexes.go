package controllers

import (
	"context"
	"fmt"
	"slices"
	"strings"

	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	meshaliasv1 "github.com/meshalias/meshalias/api/v1alpha1"
	"github.com/meshalias/meshalias/internal/desired"
	"github.com/meshalias/meshalias/internal/hostpolicy"
)

// Cache indexes. Every lookup that a watch event or a reconcile needs goes through one of
// them, so no event lists all aliases, Services or entries. Each is read across all
// namespaces, except indexEntryOwner, read within one (client.InNamespace): SetupIndexes
// stores each only that way, so a lookup the other way finds nothing.
const (
	// indexAliasServices: ServiceAlias by the Service ("ns/name") it names. The Services
	// whose own names its hosts are, it finds through indexAliasHostSuffix: one set less per
	// alias in the cache.
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
func SetupIndexes(ctx context.Context, indexer client.FieldIndexer) error {
	indexes := []struct {
		obj   client.Object
		field string
		// namespaced: the index is read within one namespace (client.InNamespace), else
		// across all of them.
		namespaced bool
		fn         client.IndexerFunc
	}{
		{&meshaliasv1.ServiceAlias{}, indexAliasServices, false, func(o client.Object) []string {
			alias := o.(*meshaliasv1.ServiceAlias)
			return []string{desired.ServiceNamespace(alias) + "/" + alias.Spec.Service.Name}
		}},
		{&meshaliasv1.ServiceAlias{}, indexAliasTargetNamespace, false, func(o client.Object) []string {
			if alias := o.(*meshaliasv1.ServiceAlias); desired.ServiceNamespace(alias) != alias.Namespace {
				return []string{desired.ServiceNamespace(alias)}
			}
			return nil
		}},
		{&meshaliasv1.ServiceAlias{}, indexAliasHostSuffix, false, func(o client.Object) []string {
			var keys []string
			for _, h := range o.(*meshaliasv1.ServiceAlias).Spec.Hosts {
				keys = append(keys, hostpolicy.Suffixes(h)...)
			}
			slices.Sort(keys)
			return slices.Compact(keys)
		}},
		{&meshaliasv1.NamespaceAlias{}, indexNamespaceAliasDomain, false, func(o client.Object) []string {
			return []string{o.(*meshaliasv1.NamespaceAlias).Spec.Domain}
		}},
		{&meshaliasv1.NamespaceAlias{}, indexNamespaceAliasDomainSuffix, false, func(o client.Object) []string {
			return hostpolicy.Suffixes(o.(*meshaliasv1.NamespaceAlias).Spec.Domain)
		}},
		{&networkingv1.ServiceEntry{}, indexEntryHost, false, func(o client.Object) []string {
			return o.(*networkingv1.ServiceEntry).Spec.Hosts
		}},
		{&networkingv1.ServiceEntry{}, indexEntryOwner, true, func(o client.Object) []string {
			labels := o.GetLabels()
			if labels[meshaliasv1.LabelManagedBy] != meshaliasv1.ManagedByValue || labels[meshaliasv1.LabelOwnerKind] == "" {
				return nil
			}
			return []string{ownerKey(labels[meshaliasv1.LabelOwnerKind], labels[meshaliasv1.LabelOwnerName])}
		}},
	}
	informers, direct := indexer.(informerSource)
	for _, ix := range indexes {
		var err error
		if direct {
			err = indexOneWay(ctx, informers, ix.obj, ix.field, ix.namespaced, ix.fn)
		} else {
			err = indexer.IndexField(ctx, ix.obj, ix.field, ix.fn)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// informerSource is the manager's cache, which is also its field indexer.
type informerSource interface {
	GetInformer(ctx context.Context, obj client.Object, opts ...cache.InformerGetOption) (cache.Informer, error)
}

// The names controller-runtime's cache reader looks an index up by: a field index is the
// informer's index "field:<field>", and its values are "<namespace>/<value>" for a lookup in
// one namespace and "__all_namespaces/<value>" for one across all. Its own IndexField stores
// every value of a namespaced object both ways; each index here is read only one of the two
// ways, so it stores only that one. At 10k aliases the unused half held 15 MiB: an index
// value that one object has alone costs a set of its own.
const (
	fieldIndexPrefix = "field:"
	allNamespaces    = "__all_namespaces"
)

// indexOneWay registers a field index that client.MatchingFields reads, as IndexField does,
// with the values of one way of reading it only.
func indexOneWay(ctx context.Context, informers informerSource, obj client.Object, field string, namespaced bool, fn client.IndexerFunc) error {
	informer, err := informers.GetInformer(ctx, obj, cache.BlockUntilSynced(false))
	if err != nil {
		return err
	}
	return informer.AddIndexers(toolscache.Indexers{fieldIndexPrefix + field: func(raw any) ([]string, error) {
		o, ok := raw.(client.Object)
		if !ok {
			return nil, fmt.Errorf("object of type %T is not an Object", raw)
		}
		scope := allNamespaces
		if namespaced {
			scope = o.GetNamespace()
		}
		values := fn(o)
		keys := make([]string, len(values))
		for i, v := range values {
			keys[i] = scope + "/" + v
		}
		return keys, nil
	}})
}

// isManaged tells whether meshalias manages an entry.
func isManaged(se *networkingv1.ServiceEntry) bool {
	return se.Labels[meshaliasv1.LabelManagedBy] == meshaliasv1.ManagedByValue
}

// ownedBy tells whether an entry is the named alias's own, by the contract's labels.
func ownedBy(se *networkingv1.ServiceEntry, kind, namespace, name string) bool {
	return isManaged(se) && se.Namespace == namespace && se.Labels[meshaliasv1.LabelOwnerKind] == kind && se.Labels[meshaliasv1.LabelOwnerName] == name
}
