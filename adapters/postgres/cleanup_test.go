package postgres_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/sessiond/sessiond/adapters/postgres"
	"github.com/sessiond/sessiond/adapters/postgres/pgtest"
	"github.com/sessiond/sessiond/core"
)

// The purge is global (every tenant) and uses the database's clock
// (migrations/00004), so tests place rows relative to now; no other test of
// this package leaves sessions past their absolute deadline.
const retention = 7 * 24 * time.Hour

// tenant is an account with one user, created as the superuser.
type tenant struct {
	AccountID, UserID uuid.UUID
}

func newTenant(t *testing.T, admin *pgx.Conn, at time.Time) tenant {
	t.Helper()
	tn := tenant{AccountID: uuid.New(), UserID: uuid.New()}
	ctx := context.Background()
	if _, err := admin.Exec(ctx, `INSERT INTO accounts (id, name, created_at, updated_at) VALUES ($1, 'purge test', $2, $2)`, tn.AccountID, at); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Exec(ctx, `INSERT INTO users (account_id, id, email, name, password_hash, account_role, created_at, updated_at)
		VALUES ($1, $2, $3, 'U', 'x', 'owner', $4, $4)`, tn.AccountID, tn.UserID, uuid.NewString()+"@purge.test", at); err != nil {
		t.Fatal(err)
	}
	return tn
}

// addSessions inserts n sessions of tn whose absolute deadline is abs and
// returns their ids.
func addSessions(t *testing.T, admin *pgx.Conn, tn tenant, n int, abs time.Time) []uuid.UUID {
	t.Helper()
	ctx := context.Background()
	start := abs.Add(-time.Hour)
	var ids []uuid.UUID
	for range n {
		id := uuid.New()
		if _, err := admin.Exec(ctx, `INSERT INTO sessions (account_id, id, user_id, auth_time, idle_seconds, absolute_seconds,
			created_at, last_used_at, idle_expires_at, absolute_expires_at, current_jti_hash)
			VALUES ($1, $2, $3, $4, 60, 3600, $4, $4, $5, $5, $6)`,
			tn.AccountID, id, tn.UserID, start, abs, randomHash()); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	return ids
}

// addResetToken inserts a reset token and returns its hash.
func addResetToken(t *testing.T, admin *pgx.Conn, tn tenant, created, expires time.Time, used *time.Time) []byte {
	t.Helper()
	h := randomHash()
	if _, err := admin.Exec(context.Background(), `INSERT INTO password_reset_tokens (account_id, token_hash, user_id, expires_at, used_at, created_at)
		VALUES ($1, $2, $3, $4, $5, $6)`, tn.AccountID, h, tn.UserID, expires, used, created); err != nil {
		t.Fatal(err)
	}
	return h
}

func randomHash() []byte {
	h := sha256.Sum256([]byte(uuid.NewString()))
	return h[:]
}

func count(t *testing.T, admin *pgx.Conn, query string, args ...any) int {
	t.Helper()
	var n int
	if err := admin.QueryRow(context.Background(), query, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func newStore(t *testing.T, db *pgtest.DB, conns int32) *postgres.Store {
	return postgres.NewStore(db.AppPool(t, conns))
}

func TestPurgeExpired_RemovesOnlyWhatIsPastDeadlinePlusRetention(t *testing.T) {
	db := pgtest.Shared(t)
	admin := db.Admin(t)
	store := newStore(t, db, 4)
	now := time.Now()
	tn := newTenant(t, admin, now.AddDate(0, -1, 0))

	expired := addSessions(t, admin, tn, 3, now.Add(-retention-time.Hour))
	withinRetention := addSessions(t, admin, tn, 1, now.Add(-retention+time.Hour))
	live := addSessions(t, admin, tn, 1, now.Add(time.Hour))
	usedAt := now.Add(-time.Minute)
	spentExpired := addResetToken(t, admin, tn, now.Add(-time.Hour), now.Add(-time.Minute), nil)
	spentUsed := addResetToken(t, admin, tn, now.Add(-10*time.Minute), now.Add(20*time.Minute), &usedAt)
	fresh := addResetToken(t, admin, tn, now.Add(-10*time.Minute), now.Add(20*time.Minute), nil)

	got, err := store.PurgeExpired(context.Background(), retention, 2) // batches of 2: several rounds
	if err != nil {
		t.Fatal(err)
	}
	want := postgres.PurgeCounts{Sessions: 3, ResetTokens: 2}
	if got != want {
		t.Fatalf("purged %+v, want %+v", got, want)
	}
	for _, id := range expired {
		if n := count(t, admin, `SELECT count(*) FROM sessions WHERE id = $1`, id); n != 0 {
			t.Errorf("expired session %s survived", id)
		}
	}
	kept := append(append([]uuid.UUID{}, withinRetention...), live...)
	if n := count(t, admin, `SELECT count(*) FROM sessions WHERE id = ANY($1)`, kept); n != len(kept) {
		t.Errorf("%d of %d sessions inside retention or live survived", n, len(kept))
	}
	if n := count(t, admin, `SELECT count(*) FROM password_reset_tokens WHERE token_hash = ANY($1)`, [][]byte{spentExpired, spentUsed}); n != 0 {
		t.Errorf("%d spent reset tokens survived", n)
	}
	if n := count(t, admin, `SELECT count(*) FROM password_reset_tokens WHERE token_hash = $1`, fresh); n != 1 {
		t.Error("an unused, unexpired reset token was purged")
	}

	// Nothing left to do: a second run removes nothing.
	again, err := store.PurgeExpired(context.Background(), retention, 2)
	if err != nil || again != (postgres.PurgeCounts{}) {
		t.Fatalf("second run: %+v, %v", again, err)
	}
}

// The runtime role must not be able to call the purge with times of its
// choosing, ('infinity', 'infinity', 100000), and delete every tenant's
// live sessions: the function takes no time from its caller and the retention has a floor: whatever the runtime role passes,
// live sessions (and sessions expired less than the floor ago) survive.
func TestPurge_RuntimeRoleCannotPurgeLiveSessions(t *testing.T) {
	db := pgtest.Shared(t)
	admin := db.Admin(t)
	now := time.Now()
	a, b := newTenant(t, admin, now.AddDate(0, -1, 0)), newTenant(t, admin, now.AddDate(0, -1, 0))
	live := append(addSessions(t, admin, a, 2, now.Add(time.Hour)), addSessions(t, admin, b, 2, now.Add(24*time.Hour))...)
	recent := addSessions(t, admin, a, 1, now.Add(-time.Hour)) // expired, but inside the floor

	app := appConn(t, db)
	ctx := context.Background()
	for _, q := range []string{
		`SELECT * FROM maintenance_purge_expired('infinity'::timestamptz, 'infinity'::timestamptz, 100000)`,
		`SELECT * FROM maintenance_purge_expired('-100 years'::interval, 100000)`,
		`SELECT * FROM maintenance_purge_expired('0'::interval, 100000)`,
	} {
		// The old signature no longer exists (an error is a fine answer);
		// the new one must not touch what is live.
		if _, err := app.Exec(ctx, q); err != nil {
			t.Logf("%s: %v", q, err)
		}
	}
	all := append(append([]uuid.UUID{}, live...), recent...)
	if n := count(t, admin, `SELECT count(*) FROM sessions WHERE id = ANY($1)`, all); n != len(all) {
		t.Fatalf("the runtime role purged %d of %d live or recently expired sessions", len(all)-n, len(all))
	}
}

func TestPurgeExpired_TwoConcurrentRuns_RemoveEachRowOnce(t *testing.T) {
	db := pgtest.Shared(t)
	admin := db.Admin(t)
	now := time.Now()
	tn := newTenant(t, admin, now.AddDate(-1, 0, 0))
	const sessions, resetTokens = 400, 150
	addSessions(t, admin, tn, sessions, now.Add(-retention-time.Hour))
	for range resetTokens {
		addResetToken(t, admin, tn, now.Add(-2*time.Hour), now.Add(-time.Hour), nil)
	}
	live := addSessions(t, admin, tn, 5, now.Add(time.Hour))

	// Two "instances": separate pools, started together.
	stores := []*postgres.Store{newStore(t, db, 2), newStore(t, db, 2)}
	results := make([]postgres.PurgeCounts, len(stores))
	errs := make([]error, len(stores))
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i, s := range stores {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			results[i], errs[i] = s.PurgeExpired(context.Background(), retention, 20)
		}()
	}
	close(start)
	wg.Wait()

	var total postgres.PurgeCounts
	for i, err := range errs {
		if err != nil {
			t.Fatalf("run %d: %v", i, err)
		}
		total.Sessions += results[i].Sessions
		total.ResetTokens += results[i].ResetTokens
	}
	want := postgres.PurgeCounts{Sessions: sessions, ResetTokens: resetTokens}
	if total != want {
		t.Fatalf("runs removed %+v and %+v, sum %+v; want each row once: %+v", results[0], results[1], total, want)
	}
	if n := count(t, admin, `SELECT count(*) FROM sessions WHERE account_id = $1`, tn.AccountID); n != len(live) {
		t.Errorf("%d sessions left, want the %d live ones", n, len(live))
	}
	if n := count(t, admin, `SELECT count(*) FROM password_reset_tokens WHERE account_id = $1`, tn.AccountID); n != 0 {
		t.Errorf("%d reset tokens left", n)
	}
}

func TestPurgeExpired_RejectsBadArguments(t *testing.T) {
	store := newStore(t, pgtest.Shared(t), 1)
	for _, batch := range []int{0, -1} {
		if _, err := store.PurgeExpired(context.Background(), retention, batch); err == nil {
			t.Errorf("batch %d accepted", batch)
		}
	}
	if _, err := store.PurgeExpired(context.Background(), -time.Hour, 10); err == nil {
		t.Error("negative retention accepted")
	}
}

// RLS-04 for the new table: a tenant transaction sees and consumes only its
// own reset tokens, and the runtime role without a tenant sees none.
func TestPasswordResetTokens_IsolatedByTenant(t *testing.T) {
	db := pgtest.Shared(t)
	admin := db.Admin(t)
	store := newStore(t, db, 2)
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Microsecond)
	a, b := newTenant(t, admin, now), newTenant(t, admin, now)
	hashA := addResetToken(t, admin, a, now, now.Add(time.Hour), nil)

	if id, err := store.PasswordResetAccount(ctx, hashA); err != nil || id != a.AccountID {
		t.Fatalf("pre-tenant lookup = %v, %v; want %v", id, err, a.AccountID)
	}
	if _, err := store.PasswordResetAccount(ctx, randomHash()); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("unknown hash: %v, want ErrNotFound", err)
	}
	err := store.InTenantTx(ctx, b.AccountID, func(tx core.TenantTx) error {
		if _, err := tx.PasswordResetTokenLock(ctx, hashA); !errors.Is(err, core.ErrNotFound) {
			return fmt.Errorf("tenant B locked A's token: %v", err)
		}
		n, err := tx.PasswordResetTokensConsume(ctx, a.UserID, now)
		if err != nil || n != 0 {
			return fmt.Errorf("tenant B consumed %d of A's tokens (%v)", n, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	conn, err := db.AppPool(t, 1).Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	var visible int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM password_reset_tokens`).Scan(&visible); err != nil {
		t.Fatal(err)
	}
	if visible != 0 {
		t.Errorf("runtime role without a tenant sees %d reset tokens", visible)
	}
	if _, err := conn.Exec(ctx, `DELETE FROM password_reset_tokens`); err == nil {
		t.Error("runtime role may delete reset tokens (only the purge should)")
	}
}
