package v1alpha1

// Labels that meshalias puts on the ServiceEntries it owns, and the kinds they name. They are
// part of the contract in DESIGN.md: audits, scripts and people select on them.
const (
	// LabelManagedBy marks an entry as meshalias's own, with the value ManagedByValue.
	LabelManagedBy = "app.kubernetes.io/managed-by"
	ManagedByValue = "meshalias"
	// LabelOwnerKind is the kind of the alias that owns the entry.
	LabelOwnerKind = "meshalias.io/owner-kind"
	// LabelOwnerName is the name of the alias that owns the entry, in the entry's namespace.
	LabelOwnerName = "meshalias.io/owner-name"
	// LabelAdopted marks an entry that meshalias took over from another controller, in place.
	LabelAdopted = "meshalias.io/adopted"

	// KindServiceAlias and KindNamespaceAlias are the kinds of alias, as LabelOwnerKind holds
	// them.
	KindServiceAlias   = "ServiceAlias"
	KindNamespaceAlias = "NamespaceAlias"
)
