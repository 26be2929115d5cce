#!/usr/bin/env bash
# Builds krew from the Go module proxy into bin/krew/<version>/krew, once per machine, for
# hack/test-krew.sh: krew itself validates the plugin manifest and installs the release
# archives. The sources are pinned by hack/krew/go.mod, a module of its own; nothing is
# downloaded from anywhere else. Prints the folder on its last line.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$root/hack/lib/build-once.sh"
version="$(cd "$root/hack/krew" && go list -m -f '{{.Version}}' sigs.k8s.io/krew)"
out="$root/bin/krew/$version"
build_once krew "$root/hack/krew" "$out" krew sigs.k8s.io/krew/cmd/krew
echo "$out"
