// Package binaries builds the operator and its kubectl plugin from the repository, the way a
// release would, so that the end-to-end tests run exactly what users run.
package binaries

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// Set is where the built binaries are.
type Set struct {
	// Manager is the operator, cmd/manager.
	Manager string
	// Plugin is the kubectl plugin, cmd/kubectl-meshalias.
	Plugin string
}

// Build compiles both commands of the module at repoRoot into dir.
func Build(repoRoot, dir string) (Set, error) {
	set := Set{Manager: filepath.Join(dir, "manager"), Plugin: filepath.Join(dir, "kubectl-meshalias")}
	for out, pkg := range map[string]string{set.Manager: "./cmd/manager", set.Plugin: "./cmd/kubectl-meshalias"} {
		cmd := exec.Command("go", "build", "-o", out, pkg)
		cmd.Dir = repoRoot
		cmd.Env = os.Environ()
		if b, err := cmd.CombinedOutput(); err != nil {
			return Set{}, fmt.Errorf("go build -o %s %s: %w\n%s", out, pkg, err, b)
		}
	}
	return set, nil
}
