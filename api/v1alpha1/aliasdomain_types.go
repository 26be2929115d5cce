package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// AliasDomainSpec says which namespaces may claim a domain as alias hosts.
type AliasDomainSpec struct {
	// Domain is claimed with every name under it: "payments.internal" covers
	// "payments.internal" and "api.payments.internal". For a host, the longest AliasDomain
	// that covers it decides.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`
	// +kubebuilder:validation:XValidation:rule="!self.matches('^[0-9.]+$')",message="a domain must be a DNS name, not an IP address"
	// +kubebuilder:validation:XValidation:rule="self.split('.').all(l, l.size() <= 63)",message="each label of a domain is at most 63 characters"
	// +kubebuilder:validation:XValidation:rule="self != 'svc' && !self.endsWith('.svc') && self != 'svc.cluster.local' && !self.endsWith('.svc.cluster.local')",message="names under .svc are Services' own and can never be aliases"
	Domain string `json:"domain"`

	// NamespaceSelector selects, by label, the namespaces whose aliases may claim the domain.
	// An empty selector ({}) selects every namespace.
	// +required
	NamespaceSelector metav1.LabelSelector `json:"namespaceSelector"`
}

// AliasDomainStatus is what meshalias keeps for the admission policy.
type AliasDomainStatus struct {
	// Domains lists, sorted, the domain of every AliasDomain in the cluster. The
	// ValidatingAdmissionPolicy sees one AliasDomain at a time; with this list it can tell
	// whether a longer AliasDomain decides a host instead, or whether none covers it.
	// +optional
	// +listType=atomic
	Domains []string `json:"domains,omitempty"`
}

// AliasDomain lets the namespaces it selects claim a domain, and every name under it, as
// alias hosts. Once any AliasDomain exists (or the operator runs with --require-alias-domain),
// a host that no AliasDomain allows is refused with Ready=False, reason HostNotAllowed.
// An AliasDomain is named after its domain, so that one policy decides each domain.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Cluster,categories=meshalias
// +kubebuilder:validation:XValidation:rule="self.metadata.name == self.spec.domain",message="an AliasDomain is named after its domain: metadata.name must equal spec.domain"
// +kubebuilder:printcolumn:name="Domain",type=string,JSONPath=`.spec.domain`
// +kubebuilder:printcolumn:name="Namespaces",type=string,JSONPath=`.spec.namespaceSelector`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type AliasDomain struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   AliasDomainSpec   `json:"spec"`
	Status AliasDomainStatus `json:"status,omitempty"`
}

// AliasDomainList is a list of AliasDomain.
// +kubebuilder:object:root=true
type AliasDomainList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []AliasDomain `json:"items"`
}

func init() {
	SchemeBuilder.Register(&AliasDomain{}, &AliasDomainList{})
}
