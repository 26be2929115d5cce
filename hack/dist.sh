#!/usr/bin/env bash
# Writes a release's files into dist/, after make image has written dist/image.digest:
#   dist/kubectl-meshalias_<os>_<arch>.tar.gz  the plugin, static, with the LICENSE (the README
#                                              while there is none), for linux and darwin
#   dist/install.yaml                          config/default, its image pinned by digest
#   dist/checksums.txt                         sha256 of the archives and install.yaml
#   dist/krew/meshalias.yaml                   plugins/meshalias.yaml with this release's
#                                              version, URLs and sha256 values
# Usage: hack/dist.sh IMAGE_REPOSITORY (a tag or digest on it is dropped: the pin is the
# digest). RELEASE_URL overrides where the archives will be downloaded from; DIST writes them
# somewhere else than dist/, as hack/test-release.sh does.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
repo="${1:?usage: hack/dist.sh IMAGE_REPOSITORY}"
repo="${repo%@*}"
if [[ "${repo##*/}" == *:* ]]; then repo="${repo%:*}"; fi
dist="$(mkdir -p "${DIST:-dist}" && cd "${DIST:-dist}" && pwd)"
digest="$(cat "$dist/image.digest" 2>/dev/null || true)"
if [[ ! "$digest" =~ ^sha256:[0-9a-f]{64}$ ]]; then
	echo "dist: $dist/image.digest holds no digest: run make image first" >&2
	exit 1
fi

stage="$(mktemp -d)"
overlay="$dist/.install.$$"
trap 'rm -rf "$stage" "$overlay"' EXIT
extra=LICENSE
[[ -f LICENSE ]] || extra=README.md
# Archive entries carry the commit's time, so the same commit gives the same archives.
epoch="$(git log -1 --format=%ct)"

for platform in linux/amd64 linux/arm64 darwin/amd64 darwin/arm64; do
	os="${platform%/*}" arch="${platform#*/}"
	dir="$stage/${os}_$arch"
	mkdir -p "$dir"
	echo "dist: building kubectl-meshalias $platform..." >&2
	start=$(date +%s)
	# -buildvcs=true: --version reads the version from the VCS stamp, whatever GOFLAGS says.
	CGO_ENABLED=0 GOOS="$os" GOARCH="$arch" go build -buildvcs=true -trimpath -ldflags='-s -w' -o "$dir/kubectl-meshalias" ./cmd/kubectl-meshalias
	install -m 0644 "$extra" "$dir/$extra"
	chmod 0755 "$dir/kubectl-meshalias"
	archive="$dist/kubectl-meshalias_${os}_$arch.tar.gz"
	tar --sort=name --owner=0 --group=0 --numeric-owner --mtime="@$epoch" -C "$dir" -cf - kubectl-meshalias "$extra" | gzip -9n > "$archive.tmp.$$"
	mv "$archive.tmp.$$" "$archive"
	echo "dist: wrote ${archive#$root/} in $(( $(date +%s) - start ))s" >&2
done
# The version krew shows is the one the plugin's --version prints: the Go module version of
# the commit, v1.2.3 on a tag.
version="$(go version -m "$stage/linux_amd64/kubectl-meshalias" | awk '$1 == "mod" { print $3 }')"
base="${RELEASE_URL:-https://github.com/meshalias/meshalias/releases/download/$version}"

# config/manager names the image meshalias/meshalias:dev; an overlay pins it by digest.
mkdir -p "$overlay"
cat > "$overlay/kustomization.yaml" <<YAML
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
- $(realpath --relative-to="$overlay" "$root/config/default")
images:
- name: meshalias/meshalias
  newName: $repo
  digest: $digest
YAML
go run ./hack/render "$overlay" > "$dist/install.yaml.tmp.$$"
images="$(grep -E '^[[:space:]]+image:' "$dist/install.yaml.tmp.$$" | awk '{ print $2 }' | sort -u)"
if [[ "$images" != "$repo@$digest" ]]; then
	rm -f "$dist/install.yaml.tmp.$$"
	echo "dist: install.yaml names the images [$images], want only $repo@$digest" >&2
	exit 1
fi
mv "$dist/install.yaml.tmp.$$" "$dist/install.yaml"
echo "dist: wrote ${dist#$root/}/install.yaml ($repo@$digest)" >&2

(cd "$dist" && sha256sum kubectl-meshalias_*.tar.gz install.yaml > "checksums.txt.tmp.$$" && mv "checksums.txt.tmp.$$" checksums.txt)
echo "dist: wrote ${dist#$root/}/checksums.txt" >&2

mkdir -p "$dist/krew"
awk -v version="$version" -v base="$base" -v sums="$dist/checksums.txt" '
	BEGIN { while ((getline line < sums) > 0) { split(line, f, "  "); sum[f[2]] = f[1] } }
	/^  version: / { print "  version: " version; next }
	/^    uri: / { n = split($2, parts, "/"); file = parts[n]; print "    uri: " base "/" file; next }
	/^    sha256: / {
		if (!(file in sum)) { print "dist: no archive for " file > "/dev/stderr"; exit 1 }
		print "    sha256: \"" sum[file] "\""; next
	}
	{ print }
' plugins/meshalias.yaml > "$dist/krew/meshalias.yaml.tmp.$$"
mv "$dist/krew/meshalias.yaml.tmp.$$" "$dist/krew/meshalias.yaml"
echo "dist: wrote ${dist#$root/}/krew/meshalias.yaml ($version)" >&2
