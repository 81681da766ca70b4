package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/sessiond/sessiond/adapters/postgres"
	"github.com/sessiond/sessiond/adapters/postgres/pgtest"
	"github.com/sessiond/sessiond/core"
)

// SET LOCAL in a pipelined batch (extended protocol, one Sync, so one
// implicit transaction) scopes the statement sent with it, and is gone once
// the batch ends: the same pooled connection then sees no tenant and no
// rows (RLS-02/RLS-03 for the one-round-trip path).
func TestSetLocal_InBatch_ScopesTheStatement_AndEndsWithIt(t *testing.T) {
	db := pgtest.Shared(t)
	pool := db.AppPool(t, 1) // one connection: what follows reuses it
	store := postgres.NewStore(pool)
	a := seedTenant(t, store)
	ctx := context.Background()

	u, err := store.UserIfSessionLive(ctx, a.account, a.session, a.user, now)
	if err != nil || u.ID != a.user || u.AccountID != a.account {
		t.Fatalf("one-shot read under the tenant: %+v, %v", u, err)
	}
	// Another tenant's scope sees nothing of a's.
	if _, err := store.UserIfSessionLive(ctx, uuid.New(), a.session, a.user, now); err != core.ErrNotFound {
		t.Fatalf("read under another tenant: %v", err)
	}
	var setting string
	var users, sessions int
	if err := pool.QueryRow(ctx, `SELECT coalesce(current_setting('app.account_id', true), ''),
		(SELECT count(*) FROM users), (SELECT count(*) FROM sessions)`).Scan(&setting, &users, &sessions); err != nil {
		t.Fatal(err)
	}
	if setting != "" || users != 0 || sessions != 0 {
		t.Fatalf("after the batch the connection has setting %q and sees %d users, %d sessions", setting, users, sessions)
	}
	// The same for a rotation that did not match and one that did.
	g := core.RotationGuard{SessionID: a.session, UserID: a.user, PresentedHash: []byte("not current"), Now: now}
	if _, ok, err := store.RotateIfCurrent(ctx, a.account, g, core.Rotation{Now: now, IdleExpiresAt: now.Add(time.Hour)}); err != nil || ok {
		t.Fatalf("rotation against a wrong hash: ok=%v err=%v", ok, err)
	}
	if err := pool.QueryRow(ctx, `SELECT coalesce(current_setting('app.account_id', true), '')`).Scan(&setting); err != nil || setting != "" {
		t.Fatalf("setting after the rotation batch: %q %v", setting, err)
	}
}
