package postgres_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"math"
	"net/url"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sessiond/sessiond/adapters/postgres"
	"github.com/sessiond/sessiond/adapters/postgres/pgtest"
	"github.com/sessiond/sessiond/core"
)

// userEmailRows returns the user_emails rows of one user (as the superuser).
func userEmailRows(t *testing.T, admin *pgx.Conn, accountID, userID uuid.UUID) []string {
	t.Helper()
	rows, err := admin.Query(context.Background(),
		`SELECT email FROM user_emails WHERE account_id = $1 AND user_id = $2`, accountID, userID)
	if err != nil {
		t.Fatal(err)
	}
	emails, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return emails
}

// RLS-05 (docs/security-checklist.md, product decisions): the global email key lives in user_emails, written with the
// user in one transaction and removed with them; sign-in finds the user
// through it.
func TestUserEmails_WrittenWithTheUser_RemovedWithTheUser(t *testing.T) {
	db := pgtest.Shared(t)
	store := newStore(t, db, 2)
	admin := db.Admin(t)
	ctx := context.Background()
	a := seedTenant(t, store)
	email := "u-" + a.user.String() + "@example.com"

	if got := userEmailRows(t, admin, a.account, a.user); len(got) != 1 || got[0] != email {
		t.Fatalf("user_emails of the new user: %v, want [%s]", got, email)
	}
	lu, err := store.UserForLogin(ctx, email)
	if err != nil || lu.UserID != a.user || lu.AccountID != a.account || !lu.Active || lu.Role != core.RoleOwner {
		t.Fatalf("sign-in lookup: %+v, %v", lu, err)
	}
	if _, err := store.UserForLogin(ctx, "nobody-"+uuid.NewString()+"@example.com"); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("unknown email: %v, want ErrNotFound", err)
	}

	// A duplicate, from another tenant or the same one, is a conflict, and
	// the transaction leaves no user row behind.
	b := seedTenant(t, store)
	for _, tn := range []seeded{b, a} {
		id := uuid.New()
		err := store.InTenantTx(ctx, tn.account, func(tx core.TenantTx) error {
			return tx.UserCreate(ctx, core.User{ID: id, Email: email, Name: "Dup", Role: core.RoleMember, Active: true, CreatedAt: now}, "$argon2id$x")
		})
		if !errors.Is(err, core.ErrConflict) {
			t.Fatalf("duplicate email in tenant %s: %v, want ErrConflict", tn.account, err)
		}
		if n := count(t, admin, `SELECT count(*) FROM users WHERE id = $1`, id); n != 0 {
			t.Fatalf("the refused user's row exists (%d)", n)
		}
	}

	// Removal frees the email in the same transaction.
	member := uuid.New()
	memberEmail := "m-" + member.String() + "@example.com"
	err = store.InTenantTx(ctx, a.account, func(tx core.TenantTx) error {
		return tx.UserCreate(ctx, core.User{ID: member, Email: memberEmail, Name: "M", Role: core.RoleMember, Active: true, CreatedAt: now}, "$argon2id$x")
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := store.InTenantTx(ctx, a.account, func(tx core.TenantTx) error { return tx.UserDelete(ctx, member) }); err != nil {
		t.Fatal(err)
	}
	if got := userEmailRows(t, admin, a.account, member); len(got) != 0 {
		t.Fatalf("user_emails of the removed user: %v", got)
	}
	if _, err := store.UserForLogin(ctx, memberEmail); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("sign-in lookup of the removed user: %v", err)
	}
	// Tenant B cannot remove A's user (nor, so, A's email).
	if err := store.InTenantTx(ctx, b.account, func(tx core.TenantTx) error { return tx.UserDelete(ctx, a.user) }); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("B removing A's user: %v", err)
	}
	if got := userEmailRows(t, admin, a.account, a.user); len(got) != 1 {
		t.Fatalf("A's email after B's attempt: %v", got)
	}
	// The freed email can be taken by another tenant.
	err = store.InTenantTx(ctx, b.account, func(tx core.TenantTx) error {
		return tx.UserCreate(ctx, core.User{ID: uuid.New(), Email: memberEmail, Name: "M2", Role: core.RoleMember, Active: true, CreatedAt: now}, "$argon2id$x")
	})
	if err != nil {
		t.Fatalf("re-using a freed email in another tenant: %v", err)
	}
}

// RLS for user_emails: the runtime role sees and deletes only its tenant's
// rows and cannot insert a row for another tenant.
func TestUserEmails_IsolatedByTenant(t *testing.T) {
	db := pgtest.Shared(t)
	store := newStore(t, db, 2)
	a, b := seedTenant(t, store), seedTenant(t, store)
	conn := appConn(t, db)
	ctx := context.Background()
	err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, postgres.SetLocalTenant(a.account)); err != nil {
			return err
		}
		var visible int
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM user_emails WHERE account_id <> $1`, a.account).Scan(&visible); err != nil {
			return err
		}
		if visible != 0 {
			t.Errorf("tenant A sees %d other tenants' emails", visible)
		}
		tag, err := tx.Exec(ctx, `DELETE FROM user_emails WHERE user_id = $1`, b.user)
		if err != nil {
			return err
		}
		if tag.RowsAffected() != 0 {
			t.Errorf("tenant A deleted %d of B's emails", tag.RowsAffected())
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	err = pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, postgres.SetLocalTenant(a.account)); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO user_emails (email, account_id, user_id) VALUES ($1, $2, $3)`,
			"x-"+uuid.NewString()+"@example.com", b.account, b.user)
		return err
	})
	if err == nil {
		t.Fatal("tenant A inserted an email row for tenant B")
	}
	var n int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM user_emails`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("no tenant: %d rows visible (%v)", n, err)
	}
}

// Migration 00007 backfills user_emails from the users that exist, and
// sign-in keeps finding them.
func TestMigration00007_BackfillsUserEmails(t *testing.T) {
	base := pgtest.ServerURL(t)
	ctx := context.Background()
	root, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close(ctx)
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	name := "test_m7_" + hex.EncodeToString(b)
	if _, err := root.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(base)
	u.Path = "/" + name
	if err := postgres.MigrateUpTo(ctx, u.String(), 6); err != nil {
		t.Fatal(err)
	}
	admin, err := pgx.Connect(ctx, u.String())
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	acct, user := uuid.New(), uuid.New()
	if _, err := admin.Exec(ctx, `INSERT INTO accounts (id, name, created_at, updated_at) VALUES ($1, 'old', now(), now())`, acct); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Exec(ctx, `INSERT INTO users (account_id, id, email, name, password_hash, account_role, created_at, updated_at)
		VALUES ($1, $2, 'old@example.com', 'Old', 'x', 'owner', now(), now())`, acct, user); err != nil {
		t.Fatal(err)
	}
	if err := postgres.MigrateUpTo(ctx, u.String(), 7); err != nil {
		t.Fatal(err)
	}
	if got := userEmailRows(t, admin, acct, user); len(got) != 1 || got[0] != "old@example.com" {
		t.Fatalf("backfilled rows: %v", got)
	}
	// Sign-in runs against the current schema: the later migrations keep
	// the backfilled user found (and, from 00014, verified).
	if err := postgres.MigrateUpTo(ctx, u.String(), math.MaxInt64); err != nil {
		t.Fatal(err)
	}
	u.User = url.User("sessiond_app")
	store := postgres.NewStore(mustPool(t, u.String()))
	lu, err := store.UserForLogin(ctx, "old@example.com")
	if err != nil || lu.UserID != user || lu.AccountID != acct || !lu.EmailVerified {
		t.Fatalf("sign-in lookup after the migration: %+v, %v", lu, err)
	}
}

func mustPool(t *testing.T, dsn string) *pgxpool.Pool {
	t.Helper()
	pool, cleanup, err := postgres.NewPool(context.Background(), dsn, 2)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cleanup)
	return pool
}

// Migration 00007 rolls back (the SQL-language functions and the global
// index on users.email return, with the emails intact) and applies again.
func TestMigration00007_DownAndUpAgain(t *testing.T) {
	ctx := context.Background()
	conn := freshUpTo(t, 7)
	dsn := conn.Config().ConnString()
	acct, user := uuid.New(), uuid.New()
	if _, err := conn.Exec(ctx, `INSERT INTO accounts (id, name, created_at, updated_at) VALUES ($1, 'a', now(), now())`, acct); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, `INSERT INTO users (account_id, id, email, name, password_hash, account_role, created_at, updated_at)
		VALUES ($1, $2, 'down@example.com', 'D', 'x', 'owner', now(), now())`, acct, user); err != nil {
		t.Fatal(err)
	}
	if err := postgres.MigrateDownTo(ctx, dsn, 6); err != nil {
		t.Fatalf("down: %v", err)
	}
	var lang string
	if err := conn.QueryRow(ctx, `SELECT l.lanname FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang WHERE p.proname = 'auth_user_for_login'`).Scan(&lang); err != nil || lang != "sql" {
		t.Fatalf("after down, auth_user_for_login is %q (%v)", lang, err)
	}
	if n := count(t, conn, `SELECT count(*) FROM pg_indexes WHERE indexname = 'users_email_key'`); n != 1 {
		t.Fatal("after down, users_email_key is missing")
	}
	if err := postgres.MigrateUpTo(ctx, dsn, 7); err != nil {
		t.Fatalf("up again: %v", err)
	}
	if got := userEmailRows(t, conn, acct, user); len(got) != 1 || got[0] != "down@example.com" {
		t.Fatalf("after up again: %v", got)
	}
}
