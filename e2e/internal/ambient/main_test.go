package ambient_test

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"testing"
)

// ambientEnv is the variable that switches istiod's ambient mode on. istiod reads it, and the
// ambient flags whose defaults depend on it (waypoints, HBONE sending, ambient status), once,
// when its features package initialises: before any test code runs. Setting
// features.EnableAmbient from a test would leave those derived flags at their non-ambient
// defaults, which is not what an ambient istiod runs with. So the test binary runs itself again
// with the variable set, exactly as an ambient install starts istiod.
const ambientEnv = "PILOT_ENABLE_AMBIENT"

func TestMain(m *testing.M) {
	if os.Getenv(ambientEnv) == "true" {
		os.Exit(m.Run())
	}
	self, err := os.Executable()
	if err != nil {
		fmt.Fprintln(os.Stderr, "cannot find the test binary to run it with", ambientEnv+"=true:", err)
		os.Exit(2)
	}
	cmd := exec.Command(self, os.Args[1:]...)
	cmd.Env = append(os.Environ(), ambientEnv+"=true")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	err = cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
		os.Exit(0)
	case errors.As(err, &exit):
		os.Exit(exit.ExitCode())
	default:
		fmt.Fprintln(os.Stderr, "running the tests with", ambientEnv+"=true:", err)
		os.Exit(2)
	}
}
