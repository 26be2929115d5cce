package controllers

// What meshalias writes with, besides the labels of api/v1alpha1.
const (
	// FieldManager is the one server-side apply field manager meshalias writes with.
	FieldManager = "meshalias"

	// LabelTLSMode is Istio's endpoint label that tells sidecars whether to use mutual TLS.
	LabelTLSMode = "security.istio.io/tlsMode"
)
