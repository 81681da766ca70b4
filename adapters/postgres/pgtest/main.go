package pgtest

// Main lets a plain `go test ./...` run the database tests: the test binary
// of a package that uses this package starts its own throwaway cluster
// (scripts/pg.sh, the same script `make test` uses), or, on a machine
// without PostgreSQL server binaries, the database tests skip with one line
// saying why. `make test` and `make test-citus` set TEST_DATABASE_URL and
// Main then only runs the tests.

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
)

// skipReason, when set by Main, makes every database test skip.
var skipReason string

// Main runs m (call it from the package's TestMain) with a database
// cluster: TEST_DATABASE_URL's, else one it starts for this test binary and
// removes afterwards. A watchdog process removes it also when the binary
// dies without returning (a test timeout's panic, a signal).
func Main(m *testing.M) int {
	if os.Getenv("TEST_DATABASE_URL") != "" {
		return m.Run()
	}
	root, err := RepoRoot()
	if err != nil {
		fmt.Fprintf(os.Stderr, "pgtest: %v\n", err)
		return 1
	}
	pgsh := filepath.Join(root, "scripts", "pg.sh")
	if exec.Command("bash", pgsh, "has-binaries").Run() != nil {
		skipReason = "no PostgreSQL server binaries (initdb, pg_ctl, postgres) on this machine: database tests skip (make test installs them)"
		fmt.Fprintln(os.Stderr, "pgtest: "+skipReason)
		return m.Run()
	}
	dir, err := os.MkdirTemp("", "sessiond-gotest-")
	if err == nil {
		// The postgres OS user (when the tests run as root) must reach it.
		err = os.Chmod(dir, 0o755)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "pgtest: %v\n", err)
		return 1
	}
	defer os.RemoveAll(dir)
	data := filepath.Join(dir, "data")
	destroy := func() { _ = exec.Command("bash", pgsh, "destroy", data).Run() }
	var port int
	for attempt := 1; ; attempt++ {
		port, err = freePort()
		if err == nil {
			start := exec.Command("bash", pgsh, "start", data, strconv.Itoa(port))
			start.Env = append(os.Environ(), "PG_FAST=1")
			var out []byte
			if out, err = start.CombinedOutput(); err != nil {
				err = fmt.Errorf("%w\n%s", err, out)
			}
		}
		if err == nil {
			break
		}
		destroy()
		if attempt == 5 {
			fmt.Fprintf(os.Stderr, "pgtest: could not start a cluster: %v\n", err)
			return 1
		}
	}
	defer destroy()
	watchdog(pgsh, data, dir)
	os.Setenv("TEST_DATABASE_URL", fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", port))
	return m.Run()
}

// watchdog starts a detached shell that removes the cluster once this
// process is gone, however it ends.
func watchdog(pgsh, data, dir string) {
	script := `while kill -0 "$0" 2>/dev/null; do sleep 1; done; bash "$1" destroy "$2" >/dev/null 2>&1; rm -rf -- "$3"`
	cmd := exec.Command("bash", "-c", script, strconv.Itoa(os.Getpid()), pgsh, data, dir)
	detach(cmd)
	if cmd.Start() == nil {
		_ = cmd.Process.Release()
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// ServerURL is the superuser URL of the test cluster (TEST_DATABASE_URL),
// for tests that create databases of their own; it skips the test where
// Main found no server binaries.
func ServerURL(t testing.TB) string {
	t.Helper()
	skipIfNoServer(t)
	base := os.Getenv("TEST_DATABASE_URL")
	if base == "" {
		t.Fatal("TEST_DATABASE_URL is not set: call pgtest.Main from the package's TestMain, or run `make test`")
	}
	return base
}

func skipIfNoServer(t testing.TB) {
	t.Helper()
	if skipReason != "" {
		t.Skip(skipReason)
	}
}
