package controllers

// Labels and names that meshalias puts on the ServiceEntries it owns. They are part of the
// contract in DESIGN.md: audits and people select on them.
const (
	// LabelManagedBy marks an entry as meshalias's own.
	LabelManagedBy = "app.kubernetes.io/managed-by"
	// ManagedByValue is the value of LabelManagedBy on meshalias's entries.
	ManagedByValue = "meshalias"
	// LabelOwnerKind is the kind of the alias that owns the entry.
	LabelOwnerKind = "meshalias.io/owner-kind"
	// LabelOwnerName is the name of the alias that owns the entry, in the entry's namespace.
	LabelOwnerName = "meshalias.io/owner-name"

	// LabelAdopted marks an entry that meshalias took over from another controller, in place.
	LabelAdopted = "meshalias.io/adopted"

	// FieldManager is the one server-side apply field manager meshalias writes with.
	FieldManager = "meshalias"

	// LabelTLSMode is Istio's endpoint label that tells sidecars whether to use mutual TLS.
	LabelTLSMode = "security.istio.io/tlsMode"

	// KindServiceAlias and KindNamespaceAlias are the kinds of alias.
	KindServiceAlias   = "ServiceAlias"
	KindNamespaceAlias = "NamespaceAlias"
)
