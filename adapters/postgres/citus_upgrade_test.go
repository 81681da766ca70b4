package postgres_test

import (
	"context"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/sessiond/sessiond/adapters/postgres"
	"github.com/sessiond/sessiond/adapters/postgres/pgtest"
	"github.com/sessiond/sessiond/core"
)

// Upgrading a database distributed on Citus (README "Scaling out on
// Citus", upgrading): migrations that Citus refuses on distributed tables
// (00013 turns the audit table into a partitioned one; 00013-00015 add
// tenant tables with foreign keys to accounts) run after
// migrations/citus/undistribute.sql, and distribute.sql then distributes
// the new schema. Here from a database distributed at migration 00012 by
// that day's script, with rows in it, to today's schema, and once more
// from today's (the partitioned audit table goes back and forth too).
func TestCitusUpgrade_DistributedDatabase_UndistributeMigrateDistribute(t *testing.T) {
	if !pgtest.Citus() {
		t.Skip("a Citus upgrade path: runs under make test-citus")
	}
	ctx := context.Background()
	db := pgtest.Empty(t)
	if err := postgres.MigrateUpTo(ctx, db.AdminURL, 12); err != nil {
		t.Fatal(err)
	}
	if err := pgtest.RunSQLFile(ctx, db.AdminURL, filepath.Join("testdata", "citus", "distribute-00012.sql")); err != nil {
		t.Fatal(err)
	}
	account, user := uuid.New(), uuid.New()
	email := "upgrade-" + user.String() + "@example.com"
	created := time.Now().Add(-30 * 24 * time.Hour).UTC()
	admin := db.Admin(t)
	for _, q := range []struct {
		sql  string
		args []any
	}{
		{`INSERT INTO accounts (id, name, created_at, updated_at) VALUES ($1, 'Before 00013', $2, $2)`, []any{account, created}},
		{`INSERT INTO users (account_id, id, email, name, password_hash, account_role, created_at, updated_at)
		  VALUES ($1, $2, $3, 'Owner', '$argon2id$x', 'owner', $4, $4)`, []any{account, user, email, created}},
		{`INSERT INTO user_emails (email, account_id, user_id) VALUES ($1, $2, $3)`, []any{email, account, user}},
		// Three weeks of audit rows: the rows 00013 keeps as its legacy partition.
		{`INSERT INTO audit_events (account_id, id, actor_user_id, action, resource_type, resource_id, created_at)
		  SELECT $1, gen_random_uuid(), $2, 'auth.login_succeeded', 'session', gen_random_uuid()::text, $3::timestamptz + g * interval '5 hours'
		  FROM generate_series(1, 100) AS g`, []any{account, user, created}},
	} {
		if _, err := admin.Exec(ctx, q.sql, q.args...); err != nil {
			t.Fatalf("seed at 00012: %v", err)
		}
	}

	upgrade := func(round string) {
		t.Helper()
		if err := pgtest.RunSQLFile(ctx, db.AdminURL, filepath.Join(repoRoot, "migrations", "citus", "undistribute.sql")); err != nil {
			t.Fatalf("%s: undistribute: %v", round, err)
		}
		var left int
		if err := admin.QueryRow(ctx, `SELECT count(*) FROM pg_dist_partition`).Scan(&left); err != nil || left != 0 {
			t.Fatalf("%s: %d tables still distributed (%v)", round, left, err)
		}
		if err := postgres.Migrate(ctx, db.AdminURL, slog.New(slog.DiscardHandler)); err != nil {
			t.Fatalf("%s: migrate: %v", round, err)
		}
		if err := pgtest.Distribute(ctx, db.AdminURL); err != nil {
			t.Fatalf("%s: distribute: %v", round, err)
		}
	}
	check := func(round string, wantEvents int) {
		t.Helper()
		var partitioned bool
		if err := admin.QueryRow(ctx, `SELECT c.relkind = 'p' FROM pg_dist_partition p JOIN pg_class c ON c.oid = p.logicalrelid
			WHERE p.logicalrelid = 'audit_events'::regclass AND p.partmethod = 'h'`).Scan(&partitioned); err != nil || !partitioned {
			t.Fatalf("%s: audit_events is not a distributed partitioned table (%v)", round, err)
		}
		// As the runtime role, through the store: sign-in's lookup finds the
		// old owner (verified: 00014 counts existing users as verified), the
		// tenant's old events are there, and new writes work.
		store := postgres.NewStore(db.AppPool(t, 2))
		lu, err := store.UserForLogin(ctx, email)
		if err != nil || lu.UserID != user || lu.AccountID != account || !lu.EmailVerified {
			t.Fatalf("%s: sign-in lookup of the old owner: %+v, %v", round, lu, err)
		}
		var events []core.AuditEvent
		err = store.InTenantTx(ctx, account, func(tx core.TenantTx) error {
			var err error
			events, err = tx.AuditList(ctx, core.AuditQuery{Limit: 200})
			return err
		})
		if err != nil || len(events) != wantEvents {
			t.Fatalf("%s: the tenant's audit events: %d, %v; want %d", round, len(events), err, wantEvents)
		}
		seedTenant(t, store)
	}

	upgrade("from 00012")
	check("from 00012", 100)
	// A new event in today's partitioned table, then the round again.
	if _, err := admin.Exec(ctx, `INSERT INTO audit_events (account_id, id, action, resource_type, created_at)
		VALUES ($1, gen_random_uuid(), 'session.revoked', 'session', now())`, account); err != nil {
		t.Fatal(err)
	}
	upgrade("from today")
	check("from today", 101)
}
