#!/usr/bin/env bash
# Checks the alerts and the dashboard in config/components/prometheus with Prometheus's own
# code: promtool check rules and promtool test rules on the PrometheusRule's rule groups, and
# the PromQL parser on every dashboard query (hack/promtool/alerts_test.go). Builds promtool
# first, once per machine.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PROMTOOL="$("$root/hack/build-promtool.sh" | tail -1)/promtool"
export PROMTOOL
cd "$root/hack/promtool"
go test -count=1 -v ./...
