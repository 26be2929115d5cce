#!/usr/bin/env bash
# Builds Prometheus's promtool from the Go module proxy into bin/promtool/<version>/promtool,
# once per machine. The sources are pinned by hack/promtool/go.mod, a module of its own, so
# that Prometheus never enters the operator's go.mod; nothing is downloaded from anywhere else.
# Prints the folder on its last line.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
version="$(cd "$root/hack/promtool" && go list -m -f '{{.Version}}' github.com/prometheus/prometheus)"
out="$root/bin/promtool/$version"
mkdir -p "$out"

if [[ -x "$out/promtool" ]]; then
	echo "promtool: $version already built" >&2
else
	echo "promtool: building promtool $version (hack/promtool)..." >&2
	start=$(date +%s)
	# Build to a temporary name of this run's own, so that an interrupted build never leaves a
	# half-written binary and two builds at once never take each other's file.
	# remove_all_sd leaves out Prometheus's service-discovery plugins (cloud SDKs, most of the
	# build): rule checks and rule unit tests never discover targets.
	(cd "$root/hack/promtool" && CGO_ENABLED=0 go build -trimpath -tags remove_all_sd -ldflags='-s -w' -o "$out/.promtool.tmp.$$" github.com/prometheus/prometheus/cmd/promtool)
	mv "$out/.promtool.tmp.$$" "$out/promtool"
	echo "promtool: built promtool in $(( $(date +%s) - start ))s" >&2
fi
echo "$out"
