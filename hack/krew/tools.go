//go:build tools

// Package krew only records the command that hack/build-krew.sh builds, so that go.mod and
// go.sum pin it.
package krew

import (
	_ "sigs.k8s.io/krew/cmd/krew"
)
