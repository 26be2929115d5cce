#!/usr/bin/env bash
# Builds etcd, kube-apiserver, kube-controller-manager and kubectl from the Go module proxy
# into bin/k8s/<version>/, once per machine. The sources are pinned by hack/controlplane/go.mod;
# nothing is downloaded from anywhere else. Prints the folder on its last line.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$root/hack/lib/build-once.sh"
version="$(cd "$root/hack/controlplane" && go list -m -f '{{.Version}}' k8s.io/kubernetes)"
out="$root/bin/k8s/$version"

for bin in etcd:go.etcd.io/etcd/server/v3 \
	kube-apiserver:k8s.io/kubernetes/cmd/kube-apiserver \
	kube-controller-manager:k8s.io/kubernetes/cmd/kube-controller-manager \
	kubectl:k8s.io/kubernetes/cmd/kubectl; do
	build_once "control plane" "$root/hack/controlplane" "$out" "${bin%%:*}" "${bin#*:}"
done
echo "$out"
