#!/usr/bin/env bash
# Builds CoreDNS from the Go module proxy into bin/coredns/<version>/coredns, once per machine,
# with only the plugins the e2e tests use (hack/coredns/main.go). The sources are pinned by
# hack/coredns/go.mod, a module of its own: CoreDNS needs k8s.io v0.37.x, the e2e module's
# Istio pins v0.36.x. Nothing is downloaded from anywhere else. Prints the folder on its last
# line. The binary is kept by version only: after changing hack/coredns/main.go (its plugins),
# delete bin/coredns/<version>/ to rebuild.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$root/hack/lib/build-once.sh"
version="$(cd "$root/hack/coredns" && go list -m -f '{{.Version}}' github.com/coredns/coredns)"
out="$root/bin/coredns/$version"
build_once coredns "$root/hack/coredns" "$out" coredns .
echo "$out"
