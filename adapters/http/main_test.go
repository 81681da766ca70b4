package http_test

import (
	"os"
	"testing"

	"github.com/sessiond/sessiond/adapters/postgres/pgtest"
)

// TestMain gives a plain `go test` its own PostgreSQL cluster (or skips the
// database tests where there are no server binaries): pgtest.Main.
func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }
