#!/usr/bin/env bash
# Builds Prometheus's promtool from the Go module proxy into bin/promtool/<version>/promtool,
# once per machine. The sources are pinned by hack/promtool/go.mod, a module of its own, so
# that Prometheus never enters the operator's go.mod; nothing is downloaded from anywhere else.
# Prints the folder on its last line.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$root/hack/lib/build-once.sh"
version="$(cd "$root/hack/promtool" && go list -m -f '{{.Version}}' github.com/prometheus/prometheus)"
out="$root/bin/promtool/$version"
# remove_all_sd leaves out Prometheus's service-discovery plugins (cloud SDKs, most of the
# build): rule checks and rule unit tests never discover targets.
build_once promtool "$root/hack/promtool" "$out" promtool github.com/prometheus/prometheus/cmd/promtool -tags remove_all_sd
echo "$out"
