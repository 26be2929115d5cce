// Package pilot runs Istio's own sidecar configuration generation in-process, so a test can ask
// "where would a sidecar send this connection?" for a given set of Kubernetes Services and Istio
// config, without a cluster or an istiod. It is the oracle the end-to-end tests compare the
// operator's ServiceEntries against: the answer comes from the same code istiod runs.
package pilot
