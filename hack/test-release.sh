#!/usr/bin/env bash
# Runs the release's tests: the image's round trip through a registry (hack/test-image.sh),
# the alerts and the dashboard under Prometheus's own promtool and parser
# (hack/test-alerts.sh), and make dist checked by krew (hack/test-krew.sh). make dist writes
# into a temporary folder, so a maintainer's dist/ is left as it was. Prints one line per test
# and `N passed, N failed` last; exits non-zero when anything failed.
set -uo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
log="$(mktemp)"
DIST="$(mktemp -d)"
export DIST
trap 'rm -rf "$log" "$DIST"' EXIT
status=0

# step NAME COMMAND...: runs a step, shows its test lines and its build progress, and counts a
# step that failed without a failing test (a build that broke) as one failure.
step() {
	local name="$1" before code
	shift
	echo "== $name" >&2
	before=$(grep -cE '^\s*--- FAIL' "$log")
	"$@" 2>&1 | tee -a "$log" | grep -E '^\s*--- (PASS|FAIL|SKIP)|^(FAIL|panic:)|^\s+\S+\.go:[0-9]+:|^(image|dist|promtool|krew): '
	code="${PIPESTATUS[0]}"
	if [[ "$code" -ne 0 ]]; then
		status=1
		if [[ "$(grep -cE '^\s*--- FAIL' "$log")" -eq "$before" ]]; then
			echo "--- FAIL: $name" | tee -a "$log"
			tail -20 "$log" | sed 's/^/    /'
		fi
	fi
}

step "the image: build, push, pull by digest, run" hack/test-image.sh
step "the alerts and the dashboard: promtool" hack/test-alerts.sh
step "make dist (into a temporary folder)" make --no-print-directory dist
step "the release: checksums, krew install" hack/test-krew.sh

passed=$(grep -cE '^\s*--- PASS' "$log")
failed=$(grep -cE '^\s*--- FAIL' "$log")
skipped=$(grep -cE '^\s*--- SKIP' "$log")
if [[ "$skipped" -gt 0 ]]; then
	echo "tests were skipped; every test must run here" >&2
	status=1
fi
echo "$passed passed, $failed failed"
exit "$status"
