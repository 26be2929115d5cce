package desired

import (
	"fmt"
	"net"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"
)

// validateHost checks an alias host again, against the configured cluster domain. Admission
// already refuses most bad hosts, but its CEL rules only know the default "cluster.local", and
// objects written before a rule existed never passed it.
func validateHost(host, clusterDomain string) error {
	switch {
	case host == "":
		return fmt.Errorf("host is empty")
	case strings.Contains(host, "*"):
		return fmt.Errorf("host %q is a wildcard; an alias names exactly one host", host)
	case net.ParseIP(host) != nil:
		return fmt.Errorf("host %q is an IP address, not a DNS name", host)
	case host != strings.ToLower(host):
		return fmt.Errorf("host %q has upper-case letters; Istio matches hosts in lower case", host)
	}
	if errs := validation.IsDNS1123Subdomain(host); len(errs) > 0 {
		return fmt.Errorf("host %q is not a DNS name: %s", host, strings.Join(errs, "; "))
	}
	for _, label := range strings.Split(host, ".") {
		if len(label) > validation.DNS1123LabelMaxLength {
			return fmt.Errorf("host %q has a label longer than %d characters", host, validation.DNS1123LabelMaxLength)
		}
	}
	svcDomain := "svc." + clusterDomain
	if host == svcDomain || strings.HasSuffix(host, "."+svcDomain) {
		return fmt.Errorf("host %q is under %s, where Services have their own names", host, svcDomain)
	}
	return nil
}
