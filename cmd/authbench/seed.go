package main

import (
	"context"
	"fmt"
	"log/slog"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sessiond/sessiond/adapters/argon2"
	"github.com/sessiond/sessiond/core"
)

// Seeded rows have ids derived from their numbers, so that the pgbench
// floor scripts can address any of them without a lookup:
//
//	tenant j                 md5('bench-t-' || j)::uuid
//	user k of tenant j       md5('bench-u-' || j || '-' || k)::uuid, email u{k}@t{j}.bench
//	background session i     md5('bench-s-' || i)::uuid, tenant i % T, user (i / T) % M
type seedSpec struct {
	tenants, users, sessions int
	password                 string
	// auditEvents: audit rows spread over auditTenants tenants (round
	// robin; each with auditUsers users, u0 the owner) and the last
	// auditDays days, in their weekly partitions (migrations/00013).
	auditEvents, auditTenants, auditUsers, auditDays int
	// auditSeedSeconds: how long the audit rows took (reported).
	auditSeedSeconds *float64
}

// seed creates the tenants, users and background sessions as the superuser
// (which bypasses row-level security), with one argon2id hash (production
// parameters) shared by every user, so that real sign-ins work. Foreign-key
// triggers are skipped (session_replication_role = replica): the rows are
// consistent by construction. Idempotent: existing rows are kept.
func seed(ctx context.Context, dsn string, s seedSpec, log *slog.Logger) error {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return fmt.Errorf("seed: connect: %w", err)
	}
	defer func() { _ = conn.Close(context.Background()) }()

	h, err := argon2.New(argon2.OWASPParams())
	if err != nil {
		return err
	}
	hash, err := h.Hash(s.password)
	if err != nil {
		return err
	}
	pol := core.DefaultPolicySettings()
	idle, abs := pol.IdleDefault*60, pol.AbsoluteDefault*60

	t0 := time.Now()
	if _, err := conn.Exec(ctx, "SET session_replication_role = replica"); err != nil {
		return fmt.Errorf("seed: %w (the seeding role must be a superuser)", err)
	}
	if err := seedPeople(ctx, conn, s.tenants, s.users, hash, log); err != nil {
		return err
	}
	if err := seedSessions(ctx, dsn, s, idle, abs, log); err != nil {
		return err
	}
	if s.auditEvents > 0 && s.auditTenants > 0 {
		// The audit tenants and their users (owner u0): real sign-ins, and
		// the actors and subjects of the seeded events.
		if err := seedPeople(ctx, conn, s.auditTenants, s.auditUsers, hash, log); err != nil {
			return fmt.Errorf("audit tenants: %w", err)
		}
	}
	if err := seedAudit(ctx, dsn, conn, s, log); err != nil {
		return err
	}
	if _, err := conn.Exec(ctx, "VACUUM (ANALYZE) accounts, users, user_emails, sessions, audit_events"); err != nil {
		return fmt.Errorf("seed: vacuum: %w", err)
	}
	log.Info("seed done", "tenants", s.tenants, "users", s.tenants*s.users, "sessions", s.sessions, "took", time.Since(t0).Round(time.Millisecond))
	return nil
}

// seedPeople creates tenants 0 … tenants−1 and users 0 … users−1 of each
// (u0 the owner), every one with hash as password hash, and their email
// keys; rows that exist are kept.
func seedPeople(ctx context.Context, conn *pgx.Conn, tenants, users int, hash string, log *slog.Logger) error {
	for _, st := range []struct {
		what string
		sql  string
		args []any
	}{
		{"tenants", `INSERT INTO accounts (id, name, created_at, updated_at)
			SELECT md5('bench-t-' || j)::uuid, 'Bench tenant ' || j, now(), now()
			FROM generate_series(0, $1::int - 1) j
			ON CONFLICT DO NOTHING`, []any{tenants}},
		// Verified emails (migrations/00014): the bench server runs with
		// the production default EMAIL_VERIFICATION=required.
		{"users", `INSERT INTO users (account_id, id, email, name, password_hash, account_role, is_active, created_at, updated_at, email_verified_at)
			SELECT md5('bench-t-' || j)::uuid, md5('bench-u-' || j || '-' || k)::uuid,
			       'u' || k || '@t' || j || '.bench', 'Bench user ' || k, $3::text,
			       CASE WHEN k = 0 THEN 'owner' ELSE 'member' END, true, now(), now(), now()
			FROM generate_series(0, $1::int - 1) j, generate_series(0, $2::int - 1) k
			ON CONFLICT DO NOTHING`, []any{tenants, users, hash}},
		// The global email key of each user (migrations/00007), which
		// sign-in looks up first.
		{"user_emails", `INSERT INTO user_emails (email, account_id, user_id)
			SELECT 'u' || k || '@t' || j || '.bench', md5('bench-t-' || j)::uuid, md5('bench-u-' || j || '-' || k)::uuid
			FROM generate_series(0, $1::int - 1) j, generate_series(0, $2::int - 1) k
			ON CONFLICT DO NOTHING`, []any{tenants, users}},
	} {
		t := time.Now()
		tag, err := conn.Exec(ctx, st.sql, st.args...)
		if err != nil {
			return fmt.Errorf("seed %s: %w", st.what, err)
		}
		log.Info("seeded", "what", st.what, "rows", tag.RowsAffected(), "took", time.Since(t).Round(time.Millisecond))
	}
	return nil
}

// seedSessions inserts the background sessions in batches of 100k rows
// (one statement each), on as many connections as there are cores.
func seedSessions(ctx context.Context, dsn string, s seedSpec, idle, abs int, log *slog.Logger) error {
	const batch = 100_000
	const q = `INSERT INTO sessions (account_id, id, user_id, device_name, ip_address, user_agent,
			auth_time, idle_seconds, absolute_seconds, created_at, last_used_at, idle_expires_at, absolute_expires_at,
			current_jti_hash, generation)
		SELECT md5('bench-t-' || (i % $3::int))::uuid, md5('bench-s-' || i)::uuid,
		       md5('bench-u-' || (i % $3::int) || '-' || ((i / $3::int) % $4::int))::uuid,
		       'authbench', '127.0.0.1', 'authbench',
		       now(), $5::int, $6::int, now(), now(),
		       now() + make_interval(secs => $5::int), now() + make_interval(secs => $6::int),
		       sha256(uuid_send(gen_random_uuid())), 0
		FROM generate_series($1::int, $2::int) i
		ON CONFLICT DO NOTHING`
	t0 := time.Now()
	rows, err := inBatches(ctx, dsn, s.sessions, batch, func(ctx context.Context, conn *pgx.Conn, lo, hi int) (int64, error) {
		tag, err := conn.Exec(ctx, q, lo, hi, s.tenants, s.users, idle, abs)
		if err != nil {
			return 0, fmt.Errorf("seed sessions %d-%d: %w", lo, hi, err)
		}
		return tag.RowsAffected(), nil
	})
	if err != nil {
		return err
	}
	log.Info("seeded", "what", "sessions", "rows", rows, "took", time.Since(t0).Round(time.Millisecond))
	return nil
}

// inBatches runs fn over [0, total) in batches of batch rows (lo … hi
// inclusive), on as many connections as there are cores (no more than
// there are batches), each a superuser's with foreign-key triggers off
// (session_replication_role = replica). The first error stops the
// batches not yet started and is returned; the rows are fn's counts
// summed.
func inBatches(ctx context.Context, dsn string, total, batch int, fn func(ctx context.Context, conn *pgx.Conn, lo, hi int) (int64, error)) (int64, error) {
	batches := make(chan int)
	go func() {
		defer close(batches)
		for lo := 0; lo < total; lo += batch {
			select {
			case batches <- lo:
			case <-ctx.Done():
				return
			}
		}
	}()
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
		rows  int64
	)
	fail := func(err error) bool {
		mu.Lock()
		defer mu.Unlock()
		if first == nil && err != nil {
			first = err
		}
		return first != nil
	}
	work := func() {
		defer wg.Done()
		conn, err := pgx.Connect(ctx, dsn)
		if err == nil {
			defer func() { _ = conn.Close(context.Background()) }()
			_, err = conn.Exec(ctx, "SET session_replication_role = replica")
		}
		fail(err)
		for lo := range batches { // drained to the end, so the producer never blocks
			if fail(nil) {
				continue
			}
			n, err := fn(ctx, conn, lo, min(lo+batch, total)-1)
			if fail(err) {
				continue
			}
			mu.Lock()
			rows += n
			mu.Unlock()
		}
	}
	for range max(1, min(runtime.NumCPU(), (total+batch-1)/batch)) {
		wg.Add(1)
		go work()
	}
	wg.Wait()
	return rows, first
}

// dbFacts reads settings worth recording next to the figures.
func dbFacts(ctx context.Context, dsn string) (fsync, version string, err error) {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return "", "", err
	}
	defer func() { _ = conn.Close(context.Background()) }()
	if err := conn.QueryRow(ctx, "SELECT current_setting('fsync'), current_setting('server_version')").Scan(&fsync, &version); err != nil {
		return "", "", err
	}
	return fsync, version, nil
}

// auditActions is the seeded action mix: percent ranges [lo, hi) of a
// row's hash, the resource type, and who acted (self: the user the event is
// about; owner: the tenant's owner; none: nobody signed in). Roughly what a
// live tenant's trail holds: sign-ins and sign-outs dominate, failures and
// administration are rarer.
var auditActions = []struct {
	lo, hi        int
	action, rtype string
	actor         string
}{
	{0, 40, "auth.login_succeeded", "session", "self"},
	{40, 55, "auth.logout", "session", "self"},
	{55, 67, "auth.login_failed", "user", "none"},
	{67, 75, "session.revoked", "session", "self"},
	{75, 80, "session.evicted", "session", "none"},
	{80, 84, "auth.reauthenticated", "session", "self"},
	{84, 87, "auth.password_changed", "user", "self"},
	{87, 90, "member.updated", "user", "owner"},
	{90, 92, "member.created", "user", "owner"},
	{92, 94, "auth.mfa_failed", "user", "none"},
	{94, 96, "auth.refresh_reuse_detected", "session", "none"},
	{96, 98, "account.session_policy_update", "account", "owner"},
	{98, 99, "webhook.updated", "webhook", "owner"},
	{99, 100, "member.removed", "user", "owner"},
}

func auditMixValues() string {
	var b strings.Builder
	for i, a := range auditActions {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "(%d, %d, '%s', '%s', '%s')", a.lo, a.hi, a.action, a.rtype, a.actor)
	}
	return b.String()
}

// seedAudit inserts s.auditEvents audit rows (skipped when the table
// already holds that many) over s.auditTenants tenants and the retention
// window (s.auditDays, newest now), so they land in the weekly partitions
// production rows would (audit_partition_create, migrations/00013). Row i
// belongs to tenant i mod T and is the (i div T)-th newest of that tenant,
// evenly spaced over the window; its hash picks the action (auditActions),
// the user (one of s.auditUsers: the actor or the subject, with the
// session of a session event in details.user_id as the server writes it)
// and a session id shared by 64 consecutive events of that user. Batches of
// 250k rows on one connection per core.
func seedAudit(ctx context.Context, dsn string, conn *pgx.Conn, s seedSpec, log *slog.Logger) error {
	if s.auditEvents <= 0 {
		return nil
	}
	var have int64
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM audit_events`).Scan(&have); err != nil {
		return fmt.Errorf("seed audit: %w", err)
	}
	if have >= int64(s.auditEvents) {
		log.Info("audit_events already seeded", "rows", have)
		return nil
	}
	t0 := time.Now()
	if _, err := conn.Exec(ctx, `SELECT audit_partition_create(w)
		FROM generate_series(date_trunc('week', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' - make_interval(weeks => ($1::int + 13) / 7),
		                     date_trunc('week', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC', interval '1 week') w`, s.auditDays); err != nil {
		return fmt.Errorf("seed audit partitions: %w", err)
	}
	perTenant := (s.auditEvents + s.auditTenants - 1) / s.auditTenants
	q := `INSERT INTO audit_events (account_id, id, actor_user_id, action, resource_type, resource_id, details, ip_address, user_agent, created_at)
		SELECT md5('bench-t-' || x.j)::uuid, gen_random_uuid(),
		       CASE m.actor WHEN 'self' THEN x.u WHEN 'owner' THEN x.o END,
		       m.action, m.rtype,
		       CASE m.rtype WHEN 'session' THEN md5('bench-as-' || x.j || '-' || x.k || '-' || (x.n / 64))::uuid::text
		                    WHEN 'user' THEN x.u::text
		                    WHEN 'account' THEN md5('bench-t-' || x.j)::uuid::text
		                    ELSE md5('bench-wh-' || x.j)::uuid::text END,
		       CASE WHEN m.rtype = 'session' THEN jsonb_build_object('user_id', x.u) ELSE '{}'::jsonb END,
		       ('203.0.113.' || (1 + x.r % 250))::inet, 'Mozilla/5.0 (X11; Linux x86_64) authbench',
		       now() - (x.n::float8 / $2::int * $5::int * 86400 + x.r % 1000 / 1000.0) * interval '1 second'
		FROM (SELECT i % $1::int AS j, i / $1::int AS n, h.r, h.r / 100 % $6::int AS k,
		             md5('bench-u-' || (i % $1::int) || '-' || (h.r / 100 % $6::int))::uuid AS u,
		             md5('bench-u-' || (i % $1::int) || '-0')::uuid AS o
		      FROM generate_series($3::bigint, $4::bigint) i,
		           LATERAL (SELECT hashint8(i) & 2147483647 AS r) h) x
		JOIN (VALUES ` + auditMixValues() + `) AS m(lo, hi, action, rtype, actor)
		  ON x.r % 100 >= m.lo AND x.r % 100 < m.hi`
	const batch = 250_000
	if _, err := inBatches(ctx, dsn, s.auditEvents, batch, func(ctx context.Context, c *pgx.Conn, lo, hi int) (int64, error) {
		if _, err := c.Exec(ctx, q, s.auditTenants, perTenant, lo, hi, s.auditDays, s.auditUsers); err != nil {
			return 0, fmt.Errorf("seed audit %d-%d: %w", lo, hi, err)
		}
		return 0, nil
	}); err != nil {
		return err
	}
	took := time.Since(t0)
	log.Info("seeded", "what", "audit_events", "rows", s.auditEvents, "tenants", s.auditTenants, "days", s.auditDays, "took", took.Round(time.Millisecond))
	if s.auditSeedSeconds != nil {
		*s.auditSeedSeconds = roundTo(took.Seconds(), 1)
	}
	return nil
}
