package hostpolicy

import "strings"

// ShadowedService returns the Service whose own name a host is, whether or not that Service
// exists: Istio gives every Service the names <svc>.<ns> and <svc>.<ns>.svc besides its FQDN,
// and routes them to the Service, so an entry for one of them would take its traffic.
func ShadowedService(host, clusterDomain string) (namespace, name string, ok bool) {
	if prefix, found := strings.CutSuffix(host, ".svc."+clusterDomain); found {
		host = prefix
	}
	labels := strings.Split(host, ".")
	switch {
	case len(labels) == 2, len(labels) == 3 && labels[2] == "svc":
		return labels[1], labels[0], true
	}
	return "", "", false
}

// ServiceNames are the names Istio gives a Service: <svc>.<ns>, <svc>.<ns>.svc and its FQDN,
// each of which ShadowedService maps back to it.
func ServiceNames(namespace, name, clusterDomain string) []string {
	short := name + "." + namespace
	return []string{short, short + ".svc", short + ".svc." + clusterDomain}
}
