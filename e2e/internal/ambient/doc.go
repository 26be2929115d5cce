// Package ambient runs istiod's ambient-mode code in-process, so a test can ask what istiod
// would send ztunnel (the workload discovery service, WDS) for a given set of Kubernetes
// objects and Istio config, next to what it would send a sidecar in the same mesh.
//
// It answers, for one alias shape at a time: which services istiod sends for a VIP, whether
// the workloads behind a service carry HBONE, what a client's DNS would answer for a host,
// and where a sidecar would send an unrelated TLS connection. ztunnel itself is not run: the
// choice ztunnel makes among the services istiod sends is modelled here from ztunnel's source
// (src/state/service.rs, src/dns/server.rs), and the functions that do so say so.
//
// The package needs istiod's ambient mode switched on before any istio package initialises
// (PILOT_ENABLE_AMBIENT=true, as an ambient install sets it); its TestMain takes care of that.
package ambient
