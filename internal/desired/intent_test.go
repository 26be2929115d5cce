package desired

import (
	"slices"
	"testing"
)

func TestExportToNamesTheOwnNamespaceOnce(t *testing.T) {
	for _, tc := range []struct {
		in, want []string
	}{
		{nil, nil},
		{[]string{"*"}, []string{"*"}},
		{[]string{"."}, []string{"."}},
		// Istio refuses "duplicate entries in exportTo: . and current namespace abc".
		{[]string{"abc", "."}, []string{"."}},
		{[]string{"abc"}, []string{"."}},
		{[]string{"istio-demo", "abc", "web", "."}, []string{"istio-demo", ".", "web"}},
	} {
		if got := exportTo("abc", tc.in); !slices.Equal(got, tc.want) || (got == nil) != (tc.want == nil) {
			t.Errorf("exportTo(abc, %q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
