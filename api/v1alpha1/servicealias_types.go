package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ServiceReference names a Service, in the alias's own namespace unless Namespace says
// otherwise.
type ServiceReference struct {
	// Name of the Service.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z]([-a-z0-9]*[a-z0-9])?$`
	Name string `json:"name"`

	// Namespace of the Service; empty means the alias's own namespace. A Service in another
	// namespace is used only while a Gateway API ReferenceGrant in that namespace allows
	// ServiceAliases of the alias's namespace to refer to it.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	Namespace string `json:"namespace,omitempty"`
}

// ServiceAliasSpec gives one Service extra mesh hosts.
type ServiceAliasSpec struct {
	// Service is the Service that the hosts lead to.
	// +required
	Service ServiceReference `json:"service"`

	// Hosts are the extra names the Service answers to in the mesh. Each one gets its own
	// ServiceEntry. Lowercase DNS names; no wildcards and no IP addresses.
	// +required
	// +listType=set
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:MaxLength=253
	// +kubebuilder:validation:items:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)+$`
	// +kubebuilder:validation:items:XValidation:rule="!self.matches('^[0-9.]+$')",message="a host must be a DNS name, not an IP address"
	// +kubebuilder:validation:items:XValidation:rule="self.split('.').all(l, l.size() <= 63)",message="each label of a host is at most 63 characters"
	// +kubebuilder:validation:items:XValidation:rule="self != 'svc.cluster.local' && !self.endsWith('.svc.cluster.local')",message="hosts under svc.cluster.local are Services' own names and cannot be aliases"
	// +kubebuilder:validation:items:XValidation:rule="!self.endsWith('.svc')",message="a host ending in .svc is a Service's own name (<service>.<namespace>.svc) and cannot be an alias"
	Hosts []string `json:"hosts"`

	// Ports limits the ServiceEntries to these port numbers of the Service. Empty means every
	// TCP port of the Service.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:Minimum=1
	// +kubebuilder:validation:items:Maximum=65535
	Ports []int32 `json:"ports,omitempty"`

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

	// TLSMode says whether sidecars reach the Service with Istio mutual TLS ("istio", the
	// default, needed under STRICT PeerAuthentication) or in plain text ("disabled", for a
	// backend outside the mesh).
	// +optional
	// +kubebuilder:default=istio
	TLSMode TLSMode `json:"tlsMode,omitempty"`
}

// ServiceAliasStatus is what meshalias observed and did.
type ServiceAliasStatus struct {
	// ObservedGeneration is the generation of the spec that was last fully handled; 0 until
	// the first is.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration"`

	// Conditions: Ready, Reconciling and Stalled, in the kstatus convention, and Visible.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// Addresses are the ClusterIPs of the Service that the ServiceEntries carry.
	// +optional
	Addresses []string `json:"addresses,omitempty"`

	// ServiceEntries are the names of the ServiceEntries this alias owns, in its namespace.
	// +optional
	ServiceEntries []string `json:"serviceEntries,omitempty"`

	// Adopted are the ServiceEntries, among ServiceEntries, that meshalias took over in place
	// from another controller (see the operator's --adopt-selector).
	// +optional
	Adopted []string `json:"adopted,omitempty"`

	// HiddenFrom says which mesh namespaces' pods do not see the entries, when some do not:
	// see the Visible condition for why, and what to add to their Sidecars.
	// +optional
	HiddenFrom *HiddenFrom `json:"hiddenFrom,omitempty"`
}

// ServiceAlias gives a Service extra mesh hosts, each served by a ServiceEntry that always
// carries the Service's ClusterIP.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=svcalias,categories=meshalias
// +kubebuilder:printcolumn:name="Hosts",type=string,JSONPath=`.spec.hosts`
// +kubebuilder:printcolumn:name="Service",type=string,JSONPath=`.spec.service.name`
// +kubebuilder:printcolumn:name="Service Namespace",type=string,JSONPath=`.spec.service.namespace`,priority=1
// +kubebuilder:printcolumn:name="Address",type=string,JSONPath=`.status.addresses[0]`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type ServiceAlias struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec ServiceAliasSpec `json:"spec"`
	// Status is what meshalias observed and did. It starts at observedGeneration 0, so that
	// kstatus (Flux, Argo CD) reads a new alias as InProgress until meshalias has handled it.
	// +kubebuilder:default={observedGeneration: 0}
	Status ServiceAliasStatus `json:"status,omitempty"`
}

// ServiceAliasList is a list of ServiceAlias.
// +kubebuilder:object:root=true
type ServiceAliasList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []ServiceAlias `json:"items"`
}

func init() {
	SchemeBuilder.Register(&ServiceAlias{}, &ServiceAliasList{})
}
