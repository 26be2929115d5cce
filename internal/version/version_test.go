package version

import (
	"runtime/debug"
	"testing"
)

func TestFromBuildInfo(t *testing.T) {
	for _, tc := range []struct {
		name     string
		version  string
		settings map[string]string
		want     string
	}{
		{
			name:     "a release, built from its tag",
			version:  "v0.3.0",
			settings: map[string]string{"vcs.revision": "2559a13bcde0f1234567890abcdef0123456789a", "vcs.modified": "false"},
			want:     "v0.3.0 (commit 2559a13bcde0)",
		},
		{
			name:     "a checkout with uncommitted changes",
			version:  "v0.0.0-20261128082500-2559a13bcde0+dirty",
			settings: map[string]string{"vcs.revision": "2559a13bcde0f1234567890abcdef0123456789a", "vcs.modified": "true"},
			want:     "v0.0.0-20261128082500-2559a13bcde0+dirty (commit 2559a13bcde0, dirty)",
		},
		{
			name:    "go test, or -buildvcs=false",
			version: "(devel)",
			want:    "(devel)",
		},
		{
			name: "no module version at all",
			want: "(devel)",
		},
		{
			name:     "a short revision is kept whole",
			version:  "v1.0.0",
			settings: map[string]string{"vcs.revision": "abc"},
			want:     "v1.0.0 (commit abc)",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			info := &debug.BuildInfo{Main: debug.Module{Path: "github.com/meshalias/meshalias", Version: tc.version}}
			for k, v := range tc.settings {
				info.Settings = append(info.Settings, debug.BuildSetting{Key: k, Value: v})
			}
			if got := fromBuildInfo(info); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

// A test binary has build information but no version: it must still say something.
func TestStringInATestBinary(t *testing.T) {
	if got := String(); got == "" {
		t.Fatal("String() is empty")
	}
}
