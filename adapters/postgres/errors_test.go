package postgres_test

import (
	"context"
	"testing"

	"github.com/google/uuid"

	"github.com/sessiond/sessiond/adapters/postgres"
	"github.com/sessiond/sessiond/adapters/postgres/pgtest"
	"github.com/sessiond/sessiond/core"
)

// Text PostgreSQL cannot store (NUL; SQLSTATE 22021) is the client's
// mistake, not an internal error: it maps to validation_failed (422), on
// the pre-tenant lookups and inside tenant transactions alike. Found by
// FuzzRequestBodies, where a NUL in a login email or a name gave a 500.
func TestMapErr_NULInText_IsValidationNotInternal(t *testing.T) {
	db := pgtest.Shared(t)
	store := postgres.NewStore(db.AppPool(t, 2))
	ctx := context.Background()

	_, err := store.UserForLogin(ctx, "nul\x00@example.com")
	if code := core.ErrorCode(err); code != core.CodeValidation {
		t.Fatalf("UserForLogin with NUL: %v (code %q), want %q", err, code, core.CodeValidation)
	}
	acct := uuid.New()
	err = store.InTenantTx(ctx, acct, func(tx core.TenantTx) error {
		return tx.AccountCreate(ctx, core.Account{ID: acct, Name: "acme\x00", CreatedAt: now})
	})
	if code := core.ErrorCode(err); code != core.CodeValidation {
		t.Fatalf("AccountCreate with NUL: %v (code %q), want %q", err, code, core.CodeValidation)
	}
}
