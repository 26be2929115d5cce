package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// NamespaceAliasSpec makes every selected Service x of the namespace also answer as x.<domain>.
type NamespaceAliasSpec struct {
	// Domain is appended to each Service name to form its extra host. A lowercase DNS name,
	// not under svc.cluster.local.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=189
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`
	// +kubebuilder:validation:XValidation:rule="self != 'svc.cluster.local' && !self.endsWith('.svc.cluster.local')",message="a domain under svc.cluster.local would shadow Services' own names"
	// +kubebuilder:validation:XValidation:rule="!self.matches('^[0-9.]+$')",message="a domain must be a DNS name, not an IP address"
	// +kubebuilder:validation:XValidation:rule="self.split('.').all(l, l.size() <= 63)",message="each label of a domain is at most 63 characters"
	// +kubebuilder:validation:XValidation:rule="self != 'svc' && !self.endsWith('.svc')",message="a domain ending in .svc would shadow Services' own names (<service>.<namespace>.svc)"
	Domain string `json:"domain"`

	// Selector picks the Services, by label. Empty or absent selects every Service of the
	// namespace.
	// +optional
	Selector *metav1.LabelSelector `json:"selector,omitempty"`

	// ExportTo is copied to the ServiceEntries: the namespaces whose sidecars see them. "."
	// is the alias's own namespace, "*" every namespace and "~" none; each of the last two
	// stands alone. Empty means Istio's default, every namespace. The alias's namespace
	// given by name is written as ".", since Istio refuses an entry that names it both ways.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:MaxLength=63
	// +kubebuilder:validation:items:Pattern=`^(\.|\*|~|[a-z0-9]([-a-z0-9]*[a-z0-9])?)$`
	// +kubebuilder:validation:XValidation:rule="!self.exists(e, e == '*') || self.size() == 1",message="exportTo \"*\" exports to every namespace and cannot be combined with other values"
	// +kubebuilder:validation:XValidation:rule="!self.exists(e, e == '~') || self.size() == 1",message="exportTo \"~\" hides the entries from every namespace and cannot be combined with other values"
	ExportTo []string `json:"exportTo,omitempty"`

	// TLSMode says whether sidecars reach the Services with Istio mutual TLS ("istio", the
	// default, needed under STRICT PeerAuthentication) or in plain text ("disabled", for
	// backends outside the mesh).
	// +optional
	// +kubebuilder:default=istio
	TLSMode TLSMode `json:"tlsMode,omitempty"`
}

// NamespaceAliasStatus is what meshalias observed and did.
type NamespaceAliasStatus struct {
	// ObservedGeneration is the generation of the spec that was last fully handled; 0 until
	// the first is.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration"`

	// Conditions: Ready, Reconciling and Stalled, in the kstatus convention, and Visible.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// Services is how many Services are aliased: they have a ServiceEntry.
	// +optional
	Services int32 `json:"services"`

	// ServiceEntries are the names of the ServiceEntries this alias owns, in its namespace:
	// the first 100, sorted. Services gives the count.
	// +optional
	// +kubebuilder:validation:MaxItems=100
	ServiceEntries []string `json:"serviceEntries,omitempty"`

	// Adopted are the ServiceEntries, among ServiceEntries, that meshalias took over in place
	// from another controller (see the operator's --adopt-selector): the first 100, sorted.
	// +optional
	// +kubebuilder:validation:MaxItems=100
	Adopted []string `json:"adopted,omitempty"`

	// HiddenFrom says which mesh namespaces' pods do not see the entries, when some do not:
	// see the Visible condition for why, and what to add to their Sidecars.
	// +optional
	HiddenFrom *HiddenFrom `json:"hiddenFrom,omitempty"`
}

// NamespaceAlias makes every selected Service x of its namespace also answer as x.<domain>,
// each through a ServiceEntry that always carries the Service's ClusterIP.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=nsalias,categories=meshalias
// +kubebuilder:printcolumn:name="Domain",type=string,JSONPath=`.spec.domain`
// +kubebuilder:printcolumn:name="Services",type=integer,JSONPath=`.status.services`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type NamespaceAlias struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec NamespaceAliasSpec `json:"spec"`
	// Status is what meshalias observed and did. It starts at observedGeneration 0, so that
	// kstatus (Flux, Argo CD) reads a new alias as InProgress until meshalias has handled it.
	// +kubebuilder:default={observedGeneration: 0}
	Status NamespaceAliasStatus `json:"status,omitempty"`
}

// NamespaceAliasList is a list of NamespaceAlias.
// +kubebuilder:object:root=true
type NamespaceAliasList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []NamespaceAlias `json:"items"`
}

func init() {
	SchemeBuilder.Register(&NamespaceAlias{}, &NamespaceAliasList{})
}
