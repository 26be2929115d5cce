package v1alpha1

// TLSMode says how sidecars talk to the Service behind an alias. Its values are those of
// Istio's own endpoint label security.istio.io/tlsMode.
// +kubebuilder:validation:Enum=istio;disabled
type TLSMode string

const (
	// TLSModeIstio marks the backend as part of the mesh: sidecars use Istio mutual TLS, which a
	// backend under STRICT PeerAuthentication requires.
	TLSModeIstio TLSMode = "istio"
	// TLSModeDisabled is for backends without a sidecar: sidecars send plain traffic.
	TLSModeDisabled TLSMode = "disabled"
)

// Istio's ambient mode enrols a namespace, or a pod, with this label and value. meshalias
// writes no entry where it is set (ReasonAmbientUnsupported).
const (
	LabelIstioDataplaneMode = "istio.io/dataplane-mode"
	DataplaneModeAmbient    = "ambient"
)

// Condition types and reasons. They are part of the API: tools and people match on them.
const (
	// ConditionReady is True when every ServiceEntry the alias asks for exists and is current.
	ConditionReady = "Ready"
	// ConditionReconciling is True while meshalias is still working towards the desired state.
	ConditionReconciling = "Reconciling"
	// ConditionStalled is True when meshalias cannot make progress without a change by a person.
	ConditionStalled = "Stalled"

	// ConditionVisible is True when the sidecars of every mesh namespace see the alias's
	// entries. It never gates Ready: an alias can be served and still hidden by a Sidecar.
	ConditionVisible = "Visible"
	// ReasonExported: every mesh namespace sees the entries.
	ReasonExported = "Exported"
	// ReasonSidecarScoped: the Sidecar that applies to some mesh namespace does not import
	// the entries; the message names it and the egress host to add.
	ReasonSidecarScoped = "SidecarScoped"
	// ReasonNotExported: exportTo, or the mesh's defaultServiceExportTo, leaves some mesh
	// namespace out.
	ReasonNotExported = "NotExported"

	// ReasonSynced: every ServiceEntry is in place and current.
	ReasonSynced = "Synced"
	// ReasonServiceNotFound: the named Service does not exist.
	ReasonServiceNotFound = "ServiceNotFound"
	// ReasonNoClusterIP: the Service is headless or of type ExternalName, so there is no address
	// to give the ServiceEntry, and an address-less ServiceEntry would hijack traffic.
	ReasonNoClusterIP = "NoClusterIP"
	// ReasonHostConflict: the host is a Kubernetes Service's own name, or another alias older
	// than this one, or a ServiceEntry that meshalias does not manage, already declares it.
	ReasonHostConflict = "HostConflict"
	// ReasonRefNotPermitted: the alias names a Service in another namespace, and no
	// ReferenceGrant there allows it.
	ReasonRefNotPermitted = "RefNotPermitted"
	// ReasonHostNotAllowed: no AliasDomain allows the alias's namespace to claim the host.
	ReasonHostNotAllowed = "HostNotAllowed"
	// ReasonAmbientUnsupported: the alias's namespace, or the Service's pods, run in Istio's
	// ambient mode, where an entry that shares the Service's VIP can take the Service's slot in
	// ztunnel. No entry is written there until a shape is proven safe.
	ReasonAmbientUnsupported = "AmbientUnsupported"
	// ReasonInvalidSpec: the spec cannot be served as written.
	ReasonInvalidSpec = "InvalidSpec"
	// ReasonProgressing: meshalias is applying the ServiceEntries.
	ReasonProgressing = "Progressing"
	// ReasonRetrying: a call to the API server failed; meshalias retries with backoff.
	ReasonRetrying = "Retrying"
)

// HiddenFrom says which mesh namespaces' pods do not see an alias's entries.
type HiddenFrom struct {
	// Count is how many mesh namespaces miss an entry of the alias.
	Count int32 `json:"count"`
	// Namespaces are the first 10 of them, sorted.
	// +optional
	// +kubebuilder:validation:MaxItems=10
	Namespaces []string `json:"namespaces,omitempty"`
	// Sidecars are the Sidecars that hide an entry, as namespace/name, sorted: the first 10.
	// +optional
	// +kubebuilder:validation:MaxItems=10
	Sidecars []string `json:"sidecars,omitempty"`
}
