package desired

import (
	meshaliasv1 "github.com/meshalias/meshalias/api/v1alpha1"
)

// Ambient is where Istio's ambient mode bears on an alias. In ambient, istiod sends ztunnel
// the alias's entry and the Service as two services with one VIP, ztunnel keeps one of them
// per namespace, and when it keeps the entry every ambient client of the Service loses HBONE,
// its identity and its waypoint (docs/ambient.md). So meshalias writes no entry there.
type Ambient struct {
	// Namespace, when set, says why the whole alias is in ambient mode.
	Namespace string
	// Services says, by Service name, why one Service's pods are.
	Services map[string]string
}

func ambientProblem(why string) *Problem {
	return &Problem{Reason: meshaliasv1.ReasonAmbientUnsupported, Message: why + ": meshalias writes no ServiceEntry there, since one that shares the Service's VIP can take the Service's place in ztunnel and strip its clients' mutual TLS (see docs/ambient.md)"}
}
