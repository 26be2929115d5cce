#!/usr/bin/env bash
# Builds etcd, kube-apiserver, kube-controller-manager and kubectl from the Go module proxy
# into bin/k8s/<version>/, once per machine. The sources are pinned by hack/controlplane/go.mod;
# nothing is downloaded from anywhere else. Prints the folder on its last line.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
version="$(cd "$root/hack/controlplane" && go list -m -f '{{.Version}}' k8s.io/kubernetes)"
out="$root/bin/k8s/$version"
mkdir -p "$out"

build() { # name package
	local name="$1" pkg="$2" start
	if [[ -x "$out/$name" ]]; then
		echo "control plane: $name $version already built" >&2
		return
	fi
	echo "control plane: building $name ($pkg)..." >&2
	start=$(date +%s)
	# Build to a temporary name of this run's own, so that an interrupted build never leaves a
	# half-written binary and two builds at once never take each other's file.
	(cd "$root/hack/controlplane" && CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o "$out/.$name.tmp.$$" "$pkg")
	mv "$out/.$name.tmp.$$" "$out/$name"
	echo "control plane: built $name in $(( $(date +%s) - start ))s" >&2
}

build etcd go.etcd.io/etcd/server/v3
build kube-apiserver k8s.io/kubernetes/cmd/kube-apiserver
build kube-controller-manager k8s.io/kubernetes/cmd/kube-controller-manager
build kubectl k8s.io/kubernetes/cmd/kubectl
echo "$out"
