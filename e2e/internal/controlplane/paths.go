package controlplane

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
)

// RepoRoot is the meshalias repository root. It is found from this source file's location
// because go test runs each package in its own directory.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", "..", ".."))
}

// e2eRoot is the directory of the e2e module, whose go.mod pins the Istio API version.
func e2eRoot() string { return filepath.Join(RepoRoot(), "e2e") }

// IstioCRDs is Istio's CRD bundle shipped in the istio.io/api module, at the version this module
// builds against, so the apiserver and the in-process pilot agree on the schema.
func IstioCRDs() (string, error) {
	cmd := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "istio.io/api")
	cmd.Dir = e2eRoot()
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("locating istio.io/api: %w", err)
	}
	path := filepath.Join(strings.TrimSpace(string(out)), "kubernetes", "customresourcedefinitions.gen.yaml")
	if _, err := os.Stat(path); err != nil {
		return "", err
	}
	return path, nil
}

// assetsDir returns where etcd and kube-apiserver are: KUBEBUILDER_ASSETS when set (the repo's
// test script sets it), else the one version the repo has built under bin/k8s, so that a plain
// `go test ./...` in e2e/ works too.
func assetsDir() (string, error) {
	if dir := os.Getenv("KUBEBUILDER_ASSETS"); dir != "" {
		return dir, nil
	}
	found, _ := filepath.Glob(filepath.Join(RepoRoot(), "bin", "k8s", "*", "kube-apiserver"))
	if len(found) != 1 {
		return "", fmt.Errorf("KUBEBUILDER_ASSETS is unset and bin/k8s holds %d kube-apiserver builds; run hack/build-control-plane.sh", len(found))
	}
	return filepath.Dir(found[0]), nil
}
