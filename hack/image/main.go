// Command image builds meshalias's release image without a Docker engine: the manager,
// compiled statically for each platform, alone on an empty base, as user 65532:65532, with no
// shell. It writes a multi-arch OCI layout and the index's digest, and pushes the index when
// asked. `make image` runs it; `make image PUSH=registry/repo:tag` also pushes.
//
// It is a module of its own so that go-containerregistry never enters the operator's go.mod.
package main

import (
	"archive/tar"
	"bytes"
	"context"
	"debug/buildinfo"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// The image's contract, as the Dockerfile has it: entrypoint /manager, nonroot.
const (
	entrypoint = "/manager"
	user       = "65532:65532"
)

// platforms are the ones the release image carries.
var platforms = []v1.Platform{
	{OS: "linux", Architecture: "amd64"},
	{OS: "linux", Architecture: "arm64"},
}

func main() {
	// $DIST moves the release's files out of dist/, as hack/test-release.sh does.
	dist := os.Getenv("DIST")
	if dist == "" {
		dist = "dist"
	}
	var (
		root       = flag.String("root", "../..", "The meshalias checkout to build from.")
		out        = flag.String("out", filepath.Join(dist, "image"), "The OCI layout to write, relative to -root; replaced whole.")
		digestFile = flag.String("digest-file", filepath.Join(dist, "image.digest"), "Where to write the index's digest, relative to -root.")
		push       = flag.String("push", "", "Push the index to this reference too, such as registry.example/meshalias/meshalias:v0.1.0.")
	)
	flag.Parse()
	if err := run(context.Background(), *root, *out, *digestFile, *push); err != nil {
		fmt.Fprintln(os.Stderr, "image:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, root, out, digestFile, push string) error {
	root, err := filepath.Abs(root)
	if err != nil {
		return err
	}
	start := time.Now()
	idx, err := build(ctx, root, progress)
	if err != nil {
		return err
	}
	digest, err := idx.Digest()
	if err != nil {
		return err
	}
	out, digestFile = under(root, out), under(root, digestFile)
	if err := writeLayout(out, idx); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(digestFile), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(digestFile, []byte(digest.String()+"\n"), 0o644); err != nil {
		return err
	}
	progress("wrote %s and %s in %s", rel(root, out), rel(root, digestFile), time.Since(start).Round(time.Second))
	if push != "" {
		ref, err := pushIndex(ctx, idx, push, remote.WithAuthFromKeychain(authn.DefaultKeychain))
		if err != nil {
			return err
		}
		progress("pushed %s", ref)
	}
	// The digest alone, last, for scripts.
	fmt.Println(digest)
	return nil
}

func progress(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "image: "+format+"\n", args...)
}

// under resolves a path relative to the checkout.
func under(root, path string) string {
	if filepath.IsAbs(path) {
		return path
	}
	return filepath.Join(root, path)
}

// rel shortens a path inside the checkout for the progress lines.
func rel(root, path string) string {
	if r, err := filepath.Rel(root, path); err == nil && !strings.HasPrefix(r, "..") {
		return r
	}
	return path
}

// build compiles the manager for every platform and assembles the multi-arch index.
func build(ctx context.Context, root string, logf func(string, ...any)) (v1.ImageIndex, error) {
	tmp, err := os.MkdirTemp("", "meshalias-image-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)

	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	var version, revision string
	for _, p := range platforms {
		bin := filepath.Join(tmp, p.OS+"_"+p.Architecture, "manager")
		logf("building manager %s...", p)
		start := time.Now()
		if err := compile(ctx, root, p, bin); err != nil {
			return nil, err
		}
		logf("built manager %s in %s", p, time.Since(start).Round(time.Second))
		img, v, r, err := image(bin, p)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		version, revision = v, r
		platform := p
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: &platform}})
	}
	annotations := map[string]string{"org.opencontainers.image.title": "meshalias", "org.opencontainers.image.version": version}
	if revision != "" {
		annotations["org.opencontainers.image.revision"] = revision
	}
	return mutate.Annotations(idx, annotations).(v1.ImageIndex), nil
}

// compile builds a static manager. -buildvcs=true because the version that --version prints
// comes from the VCS stamp, and a GOFLAGS=-buildvcs=false in the environment would drop it.
func compile(ctx context.Context, root string, p v1.Platform, out string) error {
	cmd := exec.CommandContext(ctx, "go", "build", "-buildvcs=true", "-trimpath", "-ldflags=-s -w", "-o", out, "./cmd/manager")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+p.OS, "GOARCH="+p.Architecture)
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go build for %s: %w\n%s", p, err, stderr.String())
	}
	return nil
}

// image puts one platform's binary alone on an empty base. Timestamps are the commit's, so
// the same commit always gives the same digest.
func image(bin string, p v1.Platform) (v1.Image, string, string, error) {
	info, err := buildinfo.ReadFile(bin)
	if err != nil {
		return nil, "", "", err
	}
	version, revision, created := info.Main.Version, "", time.Unix(0, 0).UTC()
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			revision = s.Value
		case "vcs.time":
			if t, err := time.Parse(time.RFC3339, s.Value); err == nil {
				created = t.UTC()
			}
		}
	}
	content, err := os.ReadFile(bin)
	if err != nil {
		return nil, "", "", err
	}
	var layerTar bytes.Buffer
	tw := tar.NewWriter(&layerTar)
	if err := tw.WriteHeader(&tar.Header{
		Typeflag: tar.TypeReg,
		Name:     strings.TrimPrefix(entrypoint, "/"),
		Mode:     0o755,
		Size:     int64(len(content)),
		ModTime:  created,
		Format:   tar.FormatPAX,
	}); err != nil {
		return nil, "", "", err
	}
	if _, err := tw.Write(content); err != nil {
		return nil, "", "", err
	}
	if err := tw.Close(); err != nil {
		return nil, "", "", err
	}
	layerBytes := layerTar.Bytes()
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerBytes)), nil
	}, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return nil, "", "", err
	}

	img := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	img, err = mutate.Append(img, mutate.Addendum{
		Layer:   layer,
		History: v1.History{Created: v1.Time{Time: created}, CreatedBy: "hack/image: manager " + version, Comment: "static Go binary"},
	})
	if err != nil {
		return nil, "", "", err
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return nil, "", "", err
	}
	cfg = cfg.DeepCopy()
	cfg.OS, cfg.Architecture, cfg.Variant = p.OS, p.Architecture, p.Variant
	cfg.Created = v1.Time{Time: created}
	cfg.Config.Entrypoint = []string{entrypoint}
	cfg.Config.User = user
	cfg.Config.WorkingDir = "/"
	cfg.Config.Labels = map[string]string{"org.opencontainers.image.title": "meshalias", "org.opencontainers.image.version": version}
	if revision != "" {
		cfg.Config.Labels["org.opencontainers.image.revision"] = revision
	}
	img, err = mutate.ConfigFile(img, cfg)
	return img, version, revision, err
}

// writeLayout replaces dir with an OCI layout whose index.json names the multi-arch index.
func writeLayout(dir string, idx v1.ImageIndex) error {
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		return err
	}
	return p.AppendIndex(idx)
}

// pushIndex pushes the index and both images, and returns the reference by digest.
func pushIndex(ctx context.Context, idx v1.ImageIndex, to string, opts ...remote.Option) (name.Digest, error) {
	ref, err := name.ParseReference(to)
	if err != nil {
		return name.Digest{}, err
	}
	if err := remote.WriteIndex(ref, idx, append(opts, remote.WithContext(ctx))...); err != nil {
		return name.Digest{}, fmt.Errorf("pushing %s: %w", ref, err)
	}
	digest, err := idx.Digest()
	if err != nil {
		return name.Digest{}, err
	}
	return ref.Context().Digest(digest.String()), nil
}
