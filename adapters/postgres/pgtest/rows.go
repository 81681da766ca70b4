package pgtest

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// Rows behind the API's back. Tests of other packages (adapters/http)
// assert on what the store keeps — a hash stored instead of a token, a
// session's revocation reason, one audit row per event — and set up states
// no request can reach (a deadline in the database clock's past, a lock
// held by another transaction). They do it through these named helpers,
// over a superuser connection (row-level security does not apply), so that
// the schema's SQL stays in the store's packages.

// SessionRow is a session as tests assert on it.
type SessionRow struct {
	ID, AccountID, UserID            uuid.UUID
	IdleSeconds, AbsoluteSeconds     int32
	IdleExpiresAt, AbsoluteExpiresAt time.Time
	RevokedAt                        *time.Time
	RevokeReason                     *string
	Generation                       int32
	HasPrevious                      bool // a previous token's hash is kept (the grace window)
	UserAgent, DeviceID              *string
}

const sessionColumns = `id, account_id, user_id, idle_seconds, absolute_seconds, idle_expires_at, absolute_expires_at,
	revoked_at, revoke_reason, generation, previous_jti_hash IS NOT NULL, user_agent, device_id`

func scanSession(r pgx.Row) (SessionRow, error) {
	var s SessionRow
	err := r.Scan(&s.ID, &s.AccountID, &s.UserID, &s.IdleSeconds, &s.AbsoluteSeconds, &s.IdleExpiresAt, &s.AbsoluteExpiresAt,
		&s.RevokedAt, &s.RevokeReason, &s.Generation, &s.HasPrevious, &s.UserAgent, &s.DeviceID)
	return s, err
}

// Session reads one session.
func (d *DB) Session(t testing.TB, id uuid.UUID) SessionRow {
	t.Helper()
	c := d.admin(t)
	defer func() { _ = c.Close(context.Background()) }()
	s, err := scanSession(c.QueryRow(context.Background(), `SELECT `+sessionColumns+` FROM sessions WHERE id = $1`, id))
	if err != nil {
		t.Fatalf("session %s: %v", id, err)
	}
	return s
}

// Sessions reads the sessions of an account, or of one user when user is
// not Nil, in no particular order.
func (d *DB) Sessions(t testing.TB, account, user uuid.UUID) []SessionRow {
	t.Helper()
	c := d.admin(t)
	defer func() { _ = c.Close(context.Background()) }()
	rows, err := c.Query(context.Background(), `SELECT `+sessionColumns+` FROM sessions
		WHERE ($1::uuid = '00000000-0000-0000-0000-000000000000' OR account_id = $1)
		  AND ($2::uuid = '00000000-0000-0000-0000-000000000000' OR user_id = $2)`, account, user)
	if err != nil {
		t.Fatal(err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (SessionRow, error) { return scanSession(r) })
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// Unrevoked counts the sessions not revoked among ss.
func Unrevoked(ss []SessionRow) int {
	n := 0
	for _, s := range ss {
		if s.RevokedAt == nil {
			n++
		}
	}
	return n
}

// SessionChange is a change made to a session row behind the API's back.
type SessionChange struct {
	RevokedAt         *time.Time // with RevokeReason
	RevokeReason      string
	IdleExpiresAt     *time.Time
	AbsoluteExpiresAt *time.Time
}

// ChangeSession applies c to one session.
func (d *DB) ChangeSession(t testing.TB, id uuid.UUID, c SessionChange) {
	t.Helper()
	d.exec(t, `UPDATE sessions SET
		revoked_at = coalesce($2, revoked_at), revoke_reason = CASE WHEN $2::timestamptz IS NULL THEN revoke_reason ELSE $3 END,
		idle_expires_at = coalesce($4, idle_expires_at), absolute_expires_at = coalesce($5, absolute_expires_at)
		WHERE id = $1`, id, c.RevokedAt, c.RevokeReason, c.IdleExpiresAt, c.AbsoluteExpiresAt)
}

// ExpireSessionsOfUser moves the deadlines of a user's sessions into the
// database clock's past (idle by idleAgo, absolute by absoluteAgo): the
// purge judges expiry by that clock, not by a test's fake one.
func (d *DB) ExpireSessionsOfUser(t testing.TB, user uuid.UUID, idleAgo, absoluteAgo time.Duration) {
	t.Helper()
	d.exec(t, `UPDATE sessions SET idle_expires_at = now() - make_interval(secs => $2), absolute_expires_at = now() - make_interval(secs => $3)
		WHERE user_id = $1`, user, idleAgo.Seconds(), absoluteAgo.Seconds())
}

// SessionsPastAbsoluteBy counts every session whose absolute deadline
// passed more than by ago by the database clock (what the purge may
// delete).
func (d *DB) SessionsPastAbsoluteBy(t testing.TB, by time.Duration) int64 {
	t.Helper()
	c := d.admin(t)
	defer func() { _ = c.Close(context.Background()) }()
	var n int64
	if err := c.QueryRow(context.Background(),
		`SELECT count(*) FROM sessions WHERE absolute_expires_at < now() - make_interval(secs => $1)`, by.Seconds()).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// UserRow is a user as tests assert on it.
type UserRow struct {
	ID, AccountID   uuid.UUID
	Email, Name     string
	PasswordHash    string
	Role            string
	Active          bool
	EmailVerifiedAt *time.Time
	UpdatedAt       time.Time
}

const userColumns = `id, account_id, email, name, password_hash, account_role, is_active, email_verified_at, updated_at`

func scanUser(r pgx.Row) (UserRow, error) {
	var u UserRow
	err := r.Scan(&u.ID, &u.AccountID, &u.Email, &u.Name, &u.PasswordHash, &u.Role, &u.Active, &u.EmailVerifiedAt, &u.UpdatedAt)
	return u, err
}

// User reads one user.
func (d *DB) User(t testing.TB, id uuid.UUID) UserRow {
	t.Helper()
	c := d.admin(t)
	defer func() { _ = c.Close(context.Background()) }()
	u, err := scanUser(c.QueryRow(context.Background(), `SELECT `+userColumns+` FROM users WHERE id = $1`, id))
	if err != nil {
		t.Fatalf("user %s: %v", id, err)
	}
	return u
}

// Users reads the users of an account, or with one email in any account
// when account is Nil, in no particular order.
func (d *DB) Users(t testing.TB, account uuid.UUID, email string) []UserRow {
	t.Helper()
	c := d.admin(t)
	defer func() { _ = c.Close(context.Background()) }()
	rows, err := c.Query(context.Background(), `SELECT `+userColumns+` FROM users
		WHERE ($1::uuid = '00000000-0000-0000-0000-000000000000' OR account_id = $1) AND ($2 = '' OR email = $2)`, account, email)
	if err != nil {
		t.Fatal(err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (UserRow, error) { return scanUser(r) })
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// UserByEmail reads the user with email (in whichever account).
func (d *DB) UserByEmail(t testing.TB, email string) UserRow {
	t.Helper()
	us := d.Users(t, uuid.Nil, email)
	if len(us) != 1 {
		t.Fatalf("%d users with email %q, want 1", len(us), email)
	}
	return us[0]
}

// UserChange is a change made to a user row behind the API's back.
type UserChange struct {
	Role            string // "" keeps it
	Active          *bool
	EmailUnverified bool // clears email_verified_at
}

// ChangeUser applies c to one user.
func (d *DB) ChangeUser(t testing.TB, id uuid.UUID, c UserChange) {
	t.Helper()
	d.exec(t, `UPDATE users SET account_role = coalesce(nullif($2, ''), account_role), is_active = coalesce($3, is_active),
		email_verified_at = CASE WHEN $4 THEN NULL ELSE email_verified_at END WHERE id = $1`, id, c.Role, c.Active, c.EmailUnverified)
}

// AccountPolicyMinutes reads an account's stored session policy override
// (nil: none).
func (d *DB) AccountPolicyMinutes(t testing.TB, account uuid.UUID) (idle, absolute *int32) {
	t.Helper()
	c := d.admin(t)
	defer func() { _ = c.Close(context.Background()) }()
	if err := c.QueryRow(context.Background(),
		`SELECT session_idle_minutes, session_absolute_minutes FROM accounts WHERE id = $1`, account).Scan(&idle, &absolute); err != nil {
		t.Fatal(err)
	}
	return idle, absolute
}

// AccountsNamed counts the accounts with name.
func (d *DB) AccountsNamed(t testing.TB, name string) int {
	t.Helper()
	c := d.admin(t)
	defer func() { _ = c.Close(context.Background()) }()
	var n int
	if err := c.QueryRow(context.Background(), `SELECT count(*) FROM accounts WHERE name = $1`, name).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// AuditRow is an audit event as tests assert on it.
type AuditRow struct {
	ID           uuid.UUID
	Action       string
	ActorUserID  *uuid.UUID
	ResourceType string
	ResourceID   *string
	Details      string // JSON text
	IP           *string
	UserAgent    *string
	CreatedAt    time.Time
}

// AuditEvents reads an account's audit events created at or after since,
// oldest first (by created_at, then id).
func (d *DB) AuditEvents(t testing.TB, account uuid.UUID, since time.Time) []AuditRow {
	t.Helper()
	c := d.admin(t)
	defer func() { _ = c.Close(context.Background()) }()
	rows, err := c.Query(context.Background(),
		`SELECT id, action, actor_user_id, resource_type, resource_id, details::text, host(ip_address), user_agent, created_at
		 FROM audit_events WHERE account_id = $1 AND created_at >= $2 ORDER BY created_at, id`, account, since)
	if err != nil {
		t.Fatal(err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (AuditRow, error) {
		var a AuditRow
		err := r.Scan(&a.ID, &a.Action, &a.ActorUserID, &a.ResourceType, &a.ResourceID, &a.Details, &a.IP, &a.UserAgent, &a.CreatedAt)
		return a, err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// InsertAuditEvent stores an event without details or actor, as if
// written at at (a past no request can write into).
func (d *DB) InsertAuditEvent(t testing.TB, account uuid.UUID, action, resourceType string, at time.Time) {
	t.Helper()
	d.exec(t, `INSERT INTO audit_events (account_id, id, action, resource_type, created_at) VALUES ($1, $2, $3, $4, $5)`,
		account, uuid.New(), action, resourceType, at)
}

// ResetTokenRow is a stored password-reset token.
type ResetTokenRow struct {
	Hash      []byte
	ExpiresAt time.Time
}

// ResetTokens reads a user's stored reset tokens.
func (d *DB) ResetTokens(t testing.TB, user uuid.UUID) []ResetTokenRow {
	t.Helper()
	c := d.admin(t)
	defer func() { _ = c.Close(context.Background()) }()
	rows, err := c.Query(context.Background(), `SELECT token_hash, expires_at FROM password_reset_tokens WHERE user_id = $1`, user)
	if err != nil {
		t.Fatal(err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowToStructByPos[ResetTokenRow])
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// ThrottleWeight is, over the brute-force counters of keys, the rows
// plus their failures: zero when nothing was counted for any of them.
func (d *DB) ThrottleWeight(t testing.TB, keys [][]byte) int {
	t.Helper()
	c := d.admin(t)
	defer func() { _ = c.Close(context.Background()) }()
	var n int
	if err := c.QueryRow(context.Background(),
		`SELECT coalesce(sum(failures), 0) + count(*) FROM login_throttle WHERE key_hash = ANY($1)`, keys).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TenantText is the text of every row an account keeps in sessions,
// audit_events and users, to scan for what must never be stored in clear.
func (d *DB) TenantText(t testing.TB, account uuid.UUID) string {
	t.Helper()
	c := d.admin(t)
	defer func() { _ = c.Close(context.Background()) }()
	var dump string
	if err := c.QueryRow(context.Background(), `
		SELECT concat_ws('|',
			(SELECT string_agg(s::text, '|') FROM sessions s WHERE s.account_id = $1),
			(SELECT string_agg(a::text, '|') FROM audit_events a WHERE a.account_id = $1),
			(SELECT string_agg(u::text, '|') FROM users u WHERE u.account_id = $1))`, account).Scan(&dump); err != nil {
		t.Fatal(err)
	}
	return dump
}

// WebhookSecretsHolding counts the webhook endpoints whose stored secret
// contains b (a secret stored in clear).
func (d *DB) WebhookSecretsHolding(t testing.TB, b []byte) int {
	t.Helper()
	c := d.admin(t)
	defer func() { _ = c.Close(context.Background()) }()
	var n int
	if err := c.QueryRow(context.Background(),
		`SELECT count(*) FROM webhook_endpoints WHERE position($1::bytea IN secret_sealed) > 0`, b).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// LockedRows is a transaction holding row locks, as a slow or stuck
// writer elsewhere would; Release ends it.
type LockedRows struct {
	tx   pgx.Tx
	conn *pgx.Conn
}

// Release rolls the holding transaction back (again: a no-op).
func (l LockedRows) Release() {
	_ = l.tx.Rollback(context.Background())
	_ = l.conn.Close(context.Background())
}

// LockUser holds a user's row FOR UPDATE until Release (or the test's end).
func (d *DB) LockUser(t testing.TB, account, user uuid.UUID) LockedRows {
	t.Helper()
	return d.lock(t, `SELECT 1 FROM users WHERE account_id = $1 AND id = $2 FOR UPDATE`, account, user)
}

// LockActiveOwners holds an account's active owners' rows FOR NO KEY
// UPDATE (as the last-owner rule locks them) until Release (or the test's
// end).
func (d *DB) LockActiveOwners(t testing.TB, account uuid.UUID) LockedRows {
	t.Helper()
	return d.lock(t, `SELECT id FROM users WHERE account_id = $1 AND account_role = 'owner' AND is_active FOR NO KEY UPDATE`, account)
}

func (d *DB) lock(t testing.TB, sql string, args ...any) LockedRows {
	t.Helper()
	ctx := context.Background()
	c := d.admin(t)
	tx, err := c.Begin(ctx)
	if err != nil {
		_ = c.Close(ctx)
		t.Fatal(err)
	}
	l := LockedRows{tx: tx, conn: c}
	t.Cleanup(l.Release)
	if _, err := tx.Exec(ctx, sql, args...); err != nil {
		t.Fatal(err)
	}
	return l
}

// CheckConstraints reads every CHECK constraint of the schema's tables
// (not partitions; a Citus shard's name keeps its suffix) as (table,
// definition) pairs.
func (d *DB) CheckConstraints(t testing.TB) [][2]string {
	t.Helper()
	c := d.admin(t)
	defer func() { _ = c.Close(context.Background()) }()
	rows, err := c.Query(context.Background(), `
		SELECT r.relname, pg_get_constraintdef(c.oid)
		FROM pg_constraint c JOIN pg_class r ON r.oid = c.conrelid
		WHERE c.contype = 'c' AND r.relnamespace = 'public'::regnamespace AND NOT r.relispartition`)
	if err != nil {
		t.Fatal(err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) ([2]string, error) {
		var p [2]string
		err := r.Scan(&p[0], &p[1])
		return p, err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// ColumnType is a column's SQL type as format_type writes it.
func (d *DB) ColumnType(t testing.TB, table, column string) string {
	t.Helper()
	c := d.admin(t)
	defer func() { _ = c.Close(context.Background()) }()
	var typ string
	if err := c.QueryRow(context.Background(), `SELECT format_type(atttypid, atttypmod) FROM pg_attribute
		WHERE attrelid = $1::regclass AND attname = $2 AND NOT attisdropped`, table, column).Scan(&typ); err != nil {
		t.Fatalf("column %s.%s: %v", table, column, err)
	}
	return typ
}

// VolatileFunctions names the schema's VOLATILE functions.
func (d *DB) VolatileFunctions(t testing.TB) []string {
	t.Helper()
	c := d.admin(t)
	defer func() { _ = c.Close(context.Background()) }()
	rows, err := c.Query(context.Background(),
		`SELECT p.proname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
		 WHERE n.nspname = 'public' AND p.provolatile = 'v'`)
	if err != nil {
		t.Fatal(err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// admin is a superuser connection closed when the calling helper returns
// (tests call these helpers in loops: a connection each, kept to the
// test's end, would pile up).
func (d *DB) admin(t testing.TB) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), d.AdminURL)
	if err != nil {
		t.Fatalf("admin connect: %v", err)
	}
	return conn
}

func (d *DB) exec(t testing.TB, sql string, args ...any) {
	t.Helper()
	c := d.admin(t)
	defer func() { _ = c.Close(context.Background()) }()
	if _, err := c.Exec(context.Background(), sql, args...); err != nil {
		t.Fatal(err)
	}
}
