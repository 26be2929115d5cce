#!/usr/bin/env bash
# Builds krew from the Go module proxy into bin/krew/<version>/krew, once per machine, for
# hack/test-krew.sh: krew itself validates the plugin manifest and installs the release
# archives. The sources are pinned by hack/krew/go.mod, a module of its own; nothing is
# downloaded from anywhere else. Prints the folder on its last line.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
version="$(cd "$root/hack/krew" && go list -m -f '{{.Version}}' sigs.k8s.io/krew)"
out="$root/bin/krew/$version"
mkdir -p "$out"

if [[ -x "$out/krew" ]]; then
	echo "krew: $version already built" >&2
else
	echo "krew: building krew $version (hack/krew)..." >&2
	start=$(date +%s)
	# Build to a temporary name of this run's own, so that an interrupted build never leaves a
	# half-written binary and two builds at once never take each other's file.
	(cd "$root/hack/krew" && CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o "$out/.krew.tmp.$$" sigs.k8s.io/krew/cmd/krew)
	mv "$out/.krew.tmp.$$" "$out/krew"
	echo "krew: built krew in $(( $(date +%s) - start ))s" >&2
fi
echo "$out"
