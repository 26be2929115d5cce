#!/usr/bin/env bash
# The release image's round trip (hack/image/image_test.go): built from this checkout for
# linux/amd64 and linux/arm64, pushed to go-containerregistry's in-process registry, pulled
# back by digest, and its amd64 manager run with --version. Its own module, so
# go-containerregistry never enters the operator's go.mod.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root/hack/image"
go test -count=1 -v -timeout 30m ./...
