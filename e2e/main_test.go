package e2e_test

import (
	"os"
	"sync"
	"testing"

	"github.com/meshalias/meshalias/e2e/internal/binaries"
	"github.com/meshalias/meshalias/e2e/internal/controlplane"
)

// binDir holds the binaries built for this test run; TestMain removes it.
var binDir string

var (
	buildOnce sync.Once
	built     binaries.Set
	buildErr  error
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "meshalias-e2e-bin-")
	if err != nil {
		panic(err)
	}
	binDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// buildBinaries builds the operator and the kubectl plugin from the repository root, once per
// test run.
func buildBinaries(t *testing.T) binaries.Set {
	t.Helper()
	buildOnce.Do(func() {
		built, buildErr = binaries.Build(controlplane.RepoRoot(), binDir)
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return built
}
