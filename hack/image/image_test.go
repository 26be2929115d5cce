package main

import (
	"archive/tar"
	"context"
	"debug/buildinfo"
	"debug/elf"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// The release image, end to end: built from this checkout, pushed to a registry, pulled back
// by digest as a node would, and its amd64 manager run with --version.
func TestImageRoundTrip(t *testing.T) {
	ctx := context.Background()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	idx, err := build(ctx, root, t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	digest, err := idx.Digest()
	if err != nil {
		t.Fatal(err)
	}

	// The layout that make image writes names the same index.
	dir := filepath.Join(t.TempDir(), "image")
	if err := writeLayout(dir, idx); err != nil {
		t.Fatal(err)
	}
	written, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		t.Fatal(err)
	}
	top, err := written.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(top.Manifests) != 1 || top.Manifests[0].Digest != digest {
		t.Fatalf("the layout's index.json names %+v, want only the index %s", top.Manifests, digest)
	}

	server := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	defer server.Close()
	host := strings.TrimPrefix(server.URL, "http://")
	pushed, err := pushIndex(ctx, idx, host+"/meshalias/meshalias:test")
	if err != nil {
		t.Fatal(err)
	}
	if pushed.DigestStr() != digest.String() {
		t.Fatalf("pushed %s, want digest %s", pushed, digest)
	}

	// Pull by digest only: what install.yaml pins.
	ref, err := name.NewDigest(host + "/meshalias/meshalias@" + digest.String())
	if err != nil {
		t.Fatal(err)
	}
	pulled, err := remote.Index(ref, remote.WithContext(ctx))
	if err != nil {
		t.Fatal(err)
	}
	manifest, err := pulled.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	images := map[string]v1.Hash{}
	for _, m := range manifest.Manifests {
		if m.Platform == nil {
			t.Fatalf("index entry %s has no platform", m.Digest)
		}
		images[m.Platform.String()] = m.Digest
	}
	for _, want := range []string{"linux/amd64", "linux/arm64"} {
		if _, ok := images[want]; !ok {
			t.Errorf("the index has no %s image; it has %v", want, images)
		}
	}
	if len(images) != 2 {
		t.Errorf("the index has %d images, want 2: %v", len(images), images)
	}
	if t.Failed() {
		t.FailNow()
	}

	want := map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64}
	var amd64Manager string
	for _, p := range platforms {
		img, err := pulled.Image(images[p.String()])
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := img.ConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		if cfg.OS != p.OS || cfg.Architecture != p.Architecture {
			t.Errorf("%s: config says %s/%s", p, cfg.OS, cfg.Architecture)
		}
		if got := strings.Join(cfg.Config.Entrypoint, " "); got != "/manager" {
			t.Errorf("%s: entrypoint %q, want /manager", p, got)
		}
		if cfg.Config.User != "65532:65532" {
			t.Errorf("%s: user %q, want 65532:65532", p, cfg.Config.User)
		}
		dir := filepath.Join(t.TempDir(), p.Architecture)
		files := unpack(t, img, dir)
		// One file: no shell, no package manager, nothing to exec into.
		if len(files) != 1 || files[0] != "manager" {
			t.Errorf("%s: the image holds %v, want only manager", p, files)
		}
		bin := filepath.Join(dir, "manager")
		f, err := elf.Open(bin)
		if err != nil {
			t.Fatal(err)
		}
		if f.Machine != want[p.Architecture] {
			t.Errorf("%s: the manager is built for %s", p, f.Machine)
		}
		if interp := f.Section(".interp"); interp != nil {
			t.Errorf("%s: the manager is dynamically linked; an empty base has no loader", p)
		}
		f.Close()
		if p.Architecture == "amd64" {
			amd64Manager = bin
		}
	}
	if amd64Manager == "" {
		t.Fatal("no amd64 manager")
	}

	out, err := exec.Command(amd64Manager, "--version").CombinedOutput()
	if err != nil {
		t.Fatalf("manager --version: %v\n%s", err, out)
	}
	got := strings.TrimSpace(string(out))
	info, err := buildinfo.ReadFile(amd64Manager)
	if err != nil {
		t.Fatal(err)
	}
	head, err := exec.Command("git", "-C", root, "rev-parse", "HEAD").Output()
	if err != nil {
		t.Fatal(err)
	}
	revision := strings.TrimSpace(string(head))
	for _, part := range []string{"manager ", info.Main.Version, "commit " + revision[:12]} {
		if !strings.Contains(got, part) {
			t.Errorf("manager --version printed %q; it does not name %q", got, part)
		}
	}
	if info.Main.Version == "" || info.Main.Version == "(devel)" {
		t.Errorf("the manager has no module version (%q): the build lost its VCS stamp", info.Main.Version)
	}
	t.Logf("pushed %s; the image's manager says %q", pushed, got)
}

// unpack extracts the image's layers under dir and returns the paths they hold.
func unpack(t *testing.T, img v1.Image, dir string) []string {
	t.Helper()
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	var files []string
	for _, l := range layers {
		rc, err := l.Uncompressed()
		if err != nil {
			t.Fatal(err)
		}
		tr := tar.NewReader(rc)
		for {
			h, err := tr.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			files = append(files, h.Name)
			if h.Typeflag != tar.TypeReg {
				continue
			}
			path := filepath.Join(dir, filepath.FromSlash(h.Name))
			if !strings.HasPrefix(path, dir+string(filepath.Separator)) {
				t.Fatalf("layer entry %q leaves the folder", h.Name)
			}
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				t.Fatal(err)
			}
			f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, os.FileMode(h.Mode)&0o777)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := io.Copy(f, tr); err != nil {
				t.Fatal(err)
			}
			f.Close()
		}
		rc.Close()
	}
	return files
}
