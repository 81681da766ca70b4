package postgres_test

import (
	"testing"

	"github.com/sessiond/sessiond/adapters/postgres"
	"github.com/sessiond/sessiond/adapters/postgres/pgtest"
	"github.com/sessiond/sessiond/adapters/storetest"
)

// TestConformance runs the store conformance suite (adapters/storetest)
// against the PostgreSQL store as the runtime role, on the package's shared
// database (on Citus too under make test-citus, where it is distributed):
// every sub-test makes its own tenants and keys.
func TestConformance(t *testing.T) {
	db := pgtest.Shared(t)
	storetest.Exercise(t, func(t *testing.T) storetest.Harness {
		return storetest.Harness{Store: postgres.NewStore(db.AppPool(t, 4))}
	})
}
