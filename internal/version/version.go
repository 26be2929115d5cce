// Package version says which build of meshalias is running, from what the Go toolchain
// stamped into the binary: the main module's version and the commit it was built from. No
// linker flags are needed, so `go build`, `go install` and the release image all report it.
package version

import (
	"runtime/debug"
	"strings"
)

// String is the running binary's version, such as "v0.3.0 (commit 2559a13abcde)" or, built
// from a tree with uncommitted changes, "v0.0.0-20261128082500-2559a13abcde+dirty (commit
// 2559a13abcde, dirty)". A binary built without module or VCS information (go test, or
// -buildvcs=false) is "(devel)".
func String() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "(devel)"
	}
	return fromBuildInfo(info)
}

func fromBuildInfo(info *debug.BuildInfo) string {
	v := info.Main.Version
	if v == "" {
		v = "(devel)"
	}
	var revision string
	var modified bool
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			revision = s.Value
		case "vcs.modified":
			modified = s.Value == "true"
		}
	}
	var detail []string
	if revision != "" {
		// Twelve digits, as Go's pseudo-versions abbreviate a commit.
		detail = append(detail, "commit "+revision[:min(12, len(revision))])
	}
	if modified {
		detail = append(detail, "dirty")
	}
	if len(detail) == 0 {
		return v
	}
	return v + " (" + strings.Join(detail, ", ") + ")"
}
