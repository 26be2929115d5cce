#!/usr/bin/env bash
# Runs every test of the project: unit, fuzz seeds, envtest integration against a real
# kube-apiserver, and the e2e module. Fails when a test is skipped or when nothing ran, so a
# missing binary can never turn into a green run that tested nothing.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
export KUBEBUILDER_ASSETS="${KUBEBUILDER_ASSETS:-$(hack/build-control-plane.sh | tail -1)}"
log="$(mktemp)"
trap 'rm -f "$log"' EXIT

run() { # dir, then go test arguments
	local dir="$1"; shift
	echo "== go test in ${dir#$root/}${dir#$root}" >&2
	(cd "$dir" && go test -count=1 -v "$@" 2>&1) | tee -a "$log" | grep -E '^(=== RUN|--- (PASS|FAIL|SKIP)|PASS|FAIL|ok|panic:|\s+\S+\.go:[0-9]+:)' | grep -v '^=== RUN' || true
}

status=0
run "$root" -timeout 30m ./... || status=1
if [[ -f "$root/e2e/go.mod" ]]; then
	run "$root/e2e" -timeout 45m ./... || status=1
fi

# The release: the image round trip, the alerts under promtool, and make dist checked by krew.
hack/test-release.sh 2>&1 | tee -a "$log" || status=1

passed=$(grep -cE '^\s*--- PASS' "$log" || true)
failed=$(grep -cE '^\s*--- FAIL' "$log" || true)
skipped=$(grep -cE '^\s*--- SKIP' "$log" || true)
if grep -qE '^(FAIL|panic:)' "$log"; then status=1; fi
if [[ "$skipped" -gt 0 ]]; then
	echo "tests were skipped; every test must run here:" >&2
	grep -E -A1 '^\s*--- SKIP' "$log" >&2
	status=1
fi
if [[ "$passed" -eq 0 ]]; then
	echo "no test ran" >&2
	status=1
fi
echo "$passed passed, $failed failed, $skipped skipped"
exit "$status"
