//go:build tools

// Package promtool only records the command that hack/build-promtool.sh builds, so that
// go.mod and go.sum pin it.
package promtool

import (
	_ "github.com/prometheus/prometheus/cmd/promtool"
)
