package reliability

import (
	"slices"
	"time"
)

// Quantile returns the q-quantile (0..1) of ds by the nearest-rank method, or 0 for none.
func Quantile(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(q*float64(len(s))+0.999999) - 1
	return s[max(0, min(i, len(s)-1))]
}
