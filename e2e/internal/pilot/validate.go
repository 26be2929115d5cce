package pilot

import (
	"errors"
	"fmt"

	"istio.io/istio/pilot/pkg/config/kube/crd"
	"istio.io/istio/pkg/config/schema/gvk"
	"istio.io/istio/pkg/config/validation"
)

// ValidateConfig parses Istio config YAML the way the fake istiod does and runs Istio's own
// ServiceEntry validation on every ServiceEntry in it. The CRDs accept far more than istiod
// does (a wildcard host with DNS resolution, for one), so passing the apiserver proves little;
// this is the check istiod's webhook would make. Parsing already rejects invalid config but
// drops warnings; the explicit call below keeps them, and warnings count as failures: an entry
// that istiod warns about is not one meshalias should write. A document of a kind Istio does not
// know is an error too, because the fake istiod would silently drop it.
func ValidateConfig(config string) error {
	cfgs, unknown, err := crd.ParseInputs(config)
	if err != nil {
		return err
	}
	var errs []error
	for _, u := range unknown {
		errs = append(errs, fmt.Errorf("%s %s/%s is not Istio config", u.Kind, u.Namespace, u.Name))
	}
	for _, c := range cfgs {
		// Compare group and kind only: older API versions parse into the same spec.
		if c.GroupVersionKind.Group != gvk.ServiceEntry.Group || c.GroupVersionKind.Kind != gvk.ServiceEntry.Kind {
			continue
		}
		warning, err := validation.ValidateServiceEntry(c)
		if err != nil {
			errs = append(errs, fmt.Errorf("ServiceEntry %s/%s: %w", c.Namespace, c.Name, err))
		}
		if warning != nil {
			errs = append(errs, fmt.Errorf("ServiceEntry %s/%s: warning: %w", c.Namespace, c.Name, warning))
		}
	}
	return errors.Join(errs...)
}
