package postgres_test

import (
	"context"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/sessiond/sessiond/adapters/postgres"
	"github.com/sessiond/sessiond/adapters/postgres/pgtest"
)

// The purge of migrations/00016 (docs/session-rules.md §9 "Expiry";
// docs/security-checklist.md VER-09): unverified registrations that can no
// longer be verified, and second-factor challenges used or expired more
// than the retention ago. Each test has a database of its own: the purge
// is global and the tests count what it removed.

// registration inserts, as the superuser, what core.Register writes for a
// registration under EMAIL_VERIFICATION=required: the account, its owner
// (verified at verifiedAt, nil: unverified), the email key, one
// verification token per expiry given and the account.created event.
func registration(t *testing.T, admin *pgx.Conn, created time.Time, verifiedAt *time.Time, tokenExpiries ...time.Time) tenant {
	t.Helper()
	ctx := context.Background()
	tn := tenant{AccountID: uuid.New(), UserID: uuid.New()}
	email := uuid.NewString() + "@purge.test"
	for _, q := range []struct {
		sql  string
		args []any
	}{
		{`INSERT INTO accounts (id, name, created_at, updated_at) VALUES ($1, 'registration', $2, $2)`, []any{tn.AccountID, created}},
		{`INSERT INTO users (account_id, id, email, name, password_hash, account_role, created_at, updated_at, email_verified_at)
			VALUES ($1, $2, $3, 'U', 'x', 'owner', $4, $4, $5)`, []any{tn.AccountID, tn.UserID, email, created, verifiedAt}},
		{`INSERT INTO user_emails (email, account_id, user_id) VALUES ($1, $2, $3)`, []any{email, tn.AccountID, tn.UserID}},
		// The audit table is partitioned by week around now: the event
		// is placed now (what matters is that it goes with the account).
		{`INSERT INTO audit_events (account_id, id, actor_user_id, action, resource_type, resource_id, created_at)
			VALUES ($1, $2, $3, 'account.created', 'account', $4, now())`, []any{tn.AccountID, uuid.New(), tn.UserID, tn.AccountID.String()}},
	} {
		if _, err := admin.Exec(ctx, q.sql, q.args...); err != nil {
			t.Fatalf("%s: %v", q.sql, err)
		}
	}
	for _, exp := range tokenExpiries {
		if _, err := admin.Exec(ctx, `INSERT INTO email_verification_tokens (account_id, token_hash, user_id, expires_at, created_at)
			VALUES ($1, $2, $3, $4, $5)`, tn.AccountID, randomHash(), tn.UserID, exp, created); err != nil {
			t.Fatal(err)
		}
	}
	return tn
}

// accountRows counts the rows a registration owns, across its tables.
func accountRows(t *testing.T, admin *pgx.Conn, tn tenant) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, tbl := range []string{"accounts", "users", "user_emails", "email_verification_tokens", "audit_events"} {
		col := "account_id"
		if tbl == "accounts" {
			col = "id"
		}
		out[tbl] = count(t, admin, `SELECT count(*) FROM `+tbl+` WHERE `+col+` = $1`, tn.AccountID)
	}
	return out
}

func TestPurge_VER09_UnverifiedRegistrations_OnlyDeadOnesGo(t *testing.T) {
	db := pgtest.Fresh(t)
	admin := db.Admin(t)
	store := newStore(t, db, 2)
	ctx := context.Background()
	now := time.Now()
	old := now.Add(-retention - 48*time.Hour)
	verifiedAt := old.Add(time.Hour)

	dead := []tenant{
		registration(t, admin, old, nil, old.Add(24*time.Hour)),
		// A resent link, expired as well.
		registration(t, admin, old, nil, old.Add(24*time.Hour), old.Add(30*time.Hour)),
	}
	verified := registration(t, admin, old, &verifiedAt, old.Add(24*time.Hour))
	withinTTL := registration(t, admin, now.Add(-time.Hour), nil, now.Add(23*time.Hour))
	// The link expired, but less than the retention ago: kept (the owner
	// may still ask for a new one).
	withinRetention := registration(t, admin, now.Add(-3*24*time.Hour), nil, now.Add(-2*24*time.Hour))
	// An old link expired, a resent one still works.
	resent := registration(t, admin, old, nil, old.Add(24*time.Hour), now.Add(time.Hour))
	// Unverified without any verification token (not made by the
	// verification flow): never a registration to purge.
	noToken := registration(t, admin, old, nil)
	// A dead registration whose account has another user (its owner signed
	// in and invited while EMAIL_VERIFICATION was off): kept, as the
	// reclaim keeps it.
	// The kept ones below are older than the dead ones: with batches of
	// one, a kept registration must not take a batch's place (the purge
	// would never get past it).
	older := old.Add(-time.Hour)
	shared := registration(t, admin, older, nil, old.Add(24*time.Hour))
	if _, err := admin.Exec(ctx, `INSERT INTO users (account_id, id, email, name, password_hash, account_role, created_at, updated_at, email_verified_at)
		VALUES ($1, $2, $3, 'M', 'x', 'member', $4, $4, $4)`, shared.AccountID, uuid.New(), uuid.NewString()+"@purge.test", old); err != nil {
		t.Fatal(err)
	}
	// A dead registration with a usable password-reset token: the owner
	// can still prove the mailbox with it (a reset verifies): kept.
	resettable := registration(t, admin, older, nil, old.Add(24*time.Hour))
	addResetToken(t, admin, resettable, now.Add(-time.Minute), now.Add(time.Hour), nil)
	kept := []tenant{verified, withinTTL, withinRetention, resent, noToken, shared, resettable}

	// Without the option (EMAIL_VERIFICATION=off) registrations stay.
	got, err := store.PurgeExpired(ctx, retention, 1)
	if err != nil {
		t.Fatal(err)
	}
	if got.UnverifiedRegistrations != 0 || count(t, admin, `SELECT count(*) FROM accounts`) != len(kept)+len(dead) {
		t.Fatalf("purge without the option: %+v", got)
	}

	got, err = store.PurgeExpired(ctx, retention, 1, postgres.WithUnverifiedRegistrations()) // batches of 1
	if err != nil {
		t.Fatal(err)
	}
	if got.UnverifiedRegistrations != int64(len(dead)) {
		t.Fatalf("purged %+v, want %d unverified registrations", got, len(dead))
	}
	for _, tn := range dead {
		for tbl, n := range accountRows(t, admin, tn) {
			if n != 0 {
				t.Errorf("dead registration %v: %d rows left in %s", tn.AccountID, n, tbl)
			}
		}
	}
	for _, tn := range kept {
		rows := accountRows(t, admin, tn)
		if rows["accounts"] != 1 || rows["users"] < 1 || rows["user_emails"] != 1 || rows["audit_events"] != 1 {
			t.Errorf("registration %v that is not dead lost rows: %v", tn.AccountID, rows)
		}
	}
	// Nothing left to do.
	again, err := store.PurgeExpired(ctx, retention, 10, postgres.WithUnverifiedRegistrations())
	if err != nil || again.UnverifiedRegistrations != 0 {
		t.Fatalf("second run: %+v, %v", again, err)
	}

	// The runtime role, calling the function with a retention of its
	// choosing, removes nothing that can still be verified: the retention
	// has its floor of a day (withinRetention, expired two days ago, may
	// go; a link expired hours ago stays).
	withinFloor := registration(t, admin, now.Add(-30*time.Hour), nil, now.Add(-6*time.Hour))
	app := appConn(t, db)
	for _, q := range []string{
		`SELECT maintenance_purge_unverified_registrations('-100 years'::interval, 100000)`,
		`SELECT maintenance_purge_unverified_registrations('0'::interval, 100000)`,
	} {
		if _, err := app.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	for _, tn := range []tenant{verified, withinTTL, withinFloor, resent, noToken, shared, resettable} {
		if n := count(t, admin, `SELECT count(*) FROM accounts WHERE id = $1`, tn.AccountID); n != 1 {
			t.Errorf("the runtime role's call purged registration %v, which is not dead", tn.AccountID)
		}
	}
}

// addChallenge inserts a second-factor challenge of tn.
func addChallenge(t *testing.T, admin *pgx.Conn, tn tenant, created, expires time.Time, used *time.Time) uuid.UUID {
	t.Helper()
	id := uuid.New()
	if _, err := admin.Exec(context.Background(), `INSERT INTO mfa_challenges (account_id, id, user_id, token_hash, expires_at, used_at, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`, tn.AccountID, id, tn.UserID, randomHash(), expires, used, created); err != nil {
		t.Fatal(err)
	}
	return id
}

func TestPurge_MFAChallenges_UsedOrExpiredPastRetentionGo(t *testing.T) {
	db := pgtest.Fresh(t)
	admin := db.Admin(t)
	store := newStore(t, db, 2)
	ctx := context.Background()
	now := time.Now()
	tn := newTenant(t, admin, now.AddDate(0, -1, 0))
	old := now.Add(-retention - time.Hour)
	usedOld, usedNow := old.Add(time.Minute), now.Add(-time.Minute)
	// fixture replaces tn's challenges: those the purge removes, and the
	// live or recent ones it keeps (the live one and the just-used one
	// first: inside even the floor of a day).
	fixture := func() (gone, kept []uuid.UUID) {
		if _, err := admin.Exec(ctx, `DELETE FROM mfa_challenges WHERE account_id = $1`, tn.AccountID); err != nil {
			t.Fatal(err)
		}
		gone = []uuid.UUID{
			addChallenge(t, admin, tn, old, old.Add(5*time.Minute), &usedOld), // used long ago
			addChallenge(t, admin, tn, old, old.Add(5*time.Minute), nil),      // expired long ago
			addChallenge(t, admin, tn, old.Add(-time.Hour), old.Add(-time.Hour+5*time.Minute), nil),
		}
		kept = []uuid.UUID{
			addChallenge(t, admin, tn, now.Add(-time.Minute), now.Add(4*time.Minute), nil),                // live
			addChallenge(t, admin, tn, now.Add(-2*time.Minute), now.Add(3*time.Minute), &usedNow),         // used, inside retention
			addChallenge(t, admin, tn, now.Add(-48*time.Hour), now.Add(-48*time.Hour+5*time.Minute), nil), // expired, inside retention
		}
		return gone, kept
	}

	// The runtime role with a retention of its choosing removes nothing
	// inside the floor of a day (the live one, the just-used one).
	_, kept := fixture()
	app := appConn(t, db)
	if _, err := app.Exec(ctx, `SELECT * FROM maintenance_purge_expired('-100 years'::interval, 100000)`); err != nil {
		t.Fatal(err)
	}
	if n := count(t, admin, `SELECT count(*) FROM mfa_challenges WHERE id = ANY($1)`, kept[:2]); n != 2 {
		t.Fatalf("the runtime role purged %d live or just-used challenges", 2-n)
	}

	gone, kept := fixture()
	got, err := store.PurgeExpired(ctx, retention, 2) // batches of 2: two rounds
	if err != nil {
		t.Fatal(err)
	}
	if got.MFAChallenges != int64(len(gone)) {
		t.Fatalf("purged %+v, want %d challenges", got, len(gone))
	}
	if n := count(t, admin, `SELECT count(*) FROM mfa_challenges WHERE id = ANY($1)`, gone); n != 0 {
		t.Errorf("%d used or expired challenges past the retention survived", n)
	}
	if n := count(t, admin, `SELECT count(*) FROM mfa_challenges WHERE account_id = $1`, tn.AccountID); n != len(kept) {
		t.Errorf("%d challenges left, want the %d live or recent ones", n, len(kept))
	}
}

// 00016 rolls back to 00015's purge and applies again (plain PostgreSQL:
// migrations are applied before distribute.sql, README "Scaling out on
// Citus").
func TestMigration00016_DownAndUpAgain(t *testing.T) {
	db := pgtest.FreshPlain(t)
	ctx := context.Background()
	admin := db.Admin(t)
	result := func() string {
		t.Helper()
		var r string
		if err := admin.QueryRow(ctx, `SELECT coalesce(string_agg(pg_get_function_result(p.oid), '; '), '') FROM pg_proc p WHERE p.proname = 'maintenance_purge_expired'`).Scan(&r); err != nil {
			t.Fatal(err)
		}
		return r
	}
	if err := postgres.MigrateDownTo(ctx, db.AdminURL, 15); err != nil {
		t.Fatalf("down: %v", err)
	}
	if r := result(); strings.Contains(r, "mfa_challenges") {
		t.Fatalf("after down: %s", r)
	}
	if n := count(t, admin, `SELECT count(*) FROM pg_proc WHERE proname = 'maintenance_purge_unverified_registrations'`); n != 0 {
		t.Fatal("after down, the registrations purge is still there")
	}
	if err := postgres.MigrateUpTo(ctx, db.AdminURL, 16); err != nil {
		t.Fatalf("up again: %v", err)
	}
	if r := result(); !strings.Contains(r, "purged_mfa_challenges") {
		t.Fatalf("after up: %s", r)
	}
	// The later migrations too: the store's statements call session_live
	// (migrations/00017).
	if err := postgres.MigrateUpTo(ctx, db.AdminURL, math.MaxInt64); err != nil {
		t.Fatalf("up to the latest: %v", err)
	}
	store := newStore(t, db, 1)
	if _, err := store.PurgeExpired(ctx, retention, 10, postgres.WithUnverifiedRegistrations()); err != nil {
		t.Fatal(err)
	}
}
