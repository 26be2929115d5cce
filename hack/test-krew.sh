#!/usr/bin/env bash
# Checks the release that make dist wrote (into $DIST, dist/ by default) with krew itself:
# checksums.txt matches the files, the krew manifest's sha256 values match the archives, krew
# installs every platform's archive from that manifest (its own schema validation and sha256
# check, no index, no network) and refuses an archive that is not the one the manifest names,
# the installed plugin's --version is the manifest's version, and install.yaml pins the image
# by the digest make image wrote. Prints a --- PASS or --- FAIL line per check.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
dist="$(cd "${DIST:-dist}" && pwd)"
manifest="$dist/krew/meshalias.yaml"
krew="$(hack/build-krew.sh | tail -1)/krew"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
failed=0

pass() { echo "--- PASS: $1"; }
fail() {
	echo "--- FAIL: $1"
	shift
	printf '    %s\n' "$@"
	failed=1
}

if out="$(cd "$dist" && sha256sum --check --strict checksums.txt 2>&1)"; then
	pass "checksums.txt matches the archives and install.yaml"
else
	fail "checksums.txt matches the archives and install.yaml" "$out"
fi

# os arch archive sha256, one line per platform of the manifest.
platforms="$(awk '
	/^ +os: / { os = $2 }
	/^ +arch: / { arch = $2 }
	/^ +uri: / { n = split($2, parts, "/"); file = parts[n] }
	/^ +sha256: / { gsub(/"/, "", $2); print os, arch, file, $2 }
' "$manifest")"
for want in linux/amd64 linux/arm64 darwin/amd64 darwin/arm64; do
	if ! grep -q "^${want%/*} ${want#*/} " <<<"$platforms"; then
		fail "the manifest has a $want platform" "$(cat "$manifest")"
	fi
done

version="$(awk '/^  version: / { print $2 }' "$manifest")"
while read -r os arch file sum; do
	archive="$dist/$file"
	if [[ ! -f "$archive" ]]; then
		fail "$os/$arch: the archive exists" "$file is not in $dist"
		continue
	fi
	actual="$(sha256sum "$archive" | awk '{ print $1 }')"
	listed="$(awk -v f="$file" '$2 == f { print $1 }' "$dist/checksums.txt")"
	if [[ "$sum" == "$actual" && "$listed" == "$actual" ]]; then
		pass "$os/$arch: the manifest's and checksums.txt's sha256 are the archive's"
	else
		fail "$os/$arch: the manifest's and checksums.txt's sha256 are the archive's" "manifest $sum" "checksums.txt $listed" "$file $actual"
	fi
	contents="$(tar -tzf "$archive" 2>&1 | sort | tr '\n' ' ')" || true
	if [[ "$contents" == "README.md kubectl-meshalias " || "$contents" == "LICENSE kubectl-meshalias " ]]; then
		pass "$os/$arch: the archive holds the plugin and the LICENSE or README"
	else
		fail "$os/$arch: the archive holds the plugin and the LICENSE or README" "it holds: $contents"
	fi

	# krew installs from the manifest, as `kubectl krew install meshalias` would from an index.
	home="$work/krew-$os-$arch"
	if out="$(KREW_ROOT="$home" KREW_OS="$os" KREW_ARCH="$arch" KREW_NO_UPGRADE_CHECK=1 "$krew" install --manifest="$manifest" --archive="$archive" 2>&1)" &&
		[[ -x "$home/bin/kubectl-meshalias" ]]; then
		pass "$os/$arch: krew installs the archive from the manifest"
	else
		fail "$os/$arch: krew installs the archive from the manifest" "$out"
		continue
	fi
	if [[ "$os/$arch" == linux/amd64 ]]; then
		if got="$("$home/bin/kubectl-meshalias" --version 2>&1)" && [[ "$got" == "kubectl-meshalias version $version "* || "$got" == "kubectl-meshalias version $version" ]]; then
			pass "linux/amd64: the installed plugin's --version is the manifest's $version"
		else
			fail "linux/amd64: the installed plugin's --version is the manifest's $version" "$got"
		fi
		# Another platform's archive does not match this platform's sha256: krew must refuse it,
		# for that reason.
		other="$dist/kubectl-meshalias_linux_arm64.tar.gz"
		out="$(KREW_ROOT="$work/krew-wrong" KREW_OS=linux KREW_ARCH=amd64 KREW_NO_UPGRADE_CHECK=1 "$krew" install --manifest="$manifest" --archive="$other" 2>&1)" && refused=no || refused=yes
		if [[ "$refused" == yes && "$out" == *"checksum does not match"* ]]; then
			pass "krew refuses an archive whose sha256 the manifest does not name"
		else
			fail "krew refuses an archive whose sha256 the manifest does not name" "$out"
		fi
		# The template in plugins/ passes krew's own validation as it is: krew gets as far as
		# its placeholder sha256, which no archive has.
		out="$(KREW_ROOT="$work/krew-template" KREW_OS=linux KREW_ARCH=amd64 KREW_NO_UPGRADE_CHECK=1 "$krew" install --manifest="$root/plugins/meshalias.yaml" --archive="$archive" 2>&1)" && refused=no || refused=yes
		if [[ "$refused" == yes && "$out" == *"checksum does not match"* && "$out" != *"validation error"* ]]; then
			pass "plugins/meshalias.yaml is valid for krew's schema"
		else
			fail "plugins/meshalias.yaml is valid for krew's schema" "$out"
		fi
	fi
done <<<"$platforms"

digest="$(cat "$dist/image.digest")"
images="$(grep -E '^[[:space:]]+image:' "$dist/install.yaml" | awk '{ print $2 }' | sort -u)"
if [[ -n "$images" && "$(wc -l <<<"$images")" -eq 1 && "$images" == *"@$digest" ]]; then
	pass "install.yaml pins the image by make image's digest"
else
	fail "install.yaml pins the image by make image's digest" "images: $images" "digest: $digest"
fi

exit "$failed"
