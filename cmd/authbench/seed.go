package main

import (
	"context"
	"fmt"
	"log/slog"
	"runtime"
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
	// auditEvents: audit rows spread over the tenants (round robin) and the
	// last 8 weeks, in their weekly partitions (migrations/00013).
	auditEvents int
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
	for _, st := range []struct {
		what string
		sql  string
		args []any
	}{
		{"tenants", `INSERT INTO accounts (id, name, created_at, updated_at)
			SELECT md5('bench-t-' || j)::uuid, 'Bench tenant ' || j, now(), now()
			FROM generate_series(0, $1::int - 1) j
			ON CONFLICT DO NOTHING`, []any{s.tenants}},
		// Verified emails (migrations/00014): the bench server runs with
		// the production default EMAIL_VERIFICATION=required.
		{"users", `INSERT INTO users (account_id, id, email, name, password_hash, account_role, is_active, created_at, updated_at, email_verified_at)
			SELECT md5('bench-t-' || j)::uuid, md5('bench-u-' || j || '-' || k)::uuid,
			       'u' || k || '@t' || j || '.bench', 'Bench user ' || k, $3::text,
			       CASE WHEN k = 0 THEN 'owner' ELSE 'member' END, true, now(), now(), now()
			FROM generate_series(0, $1::int - 1) j, generate_series(0, $2::int - 1) k
			ON CONFLICT DO NOTHING`, []any{s.tenants, s.users, hash}},
		// The global email key of each user (migrations/00007), which
		// sign-in looks up first.
		{"user_emails", `INSERT INTO user_emails (email, account_id, user_id)
			SELECT 'u' || k || '@t' || j || '.bench', md5('bench-t-' || j)::uuid, md5('bench-u-' || j || '-' || k)::uuid
			FROM generate_series(0, $1::int - 1) j, generate_series(0, $2::int - 1) k
			ON CONFLICT DO NOTHING`, []any{s.tenants, s.users}},
	} {
		t := time.Now()
		tag, err := conn.Exec(ctx, st.sql, st.args...)
		if err != nil {
			return fmt.Errorf("seed %s: %w", st.what, err)
		}
		log.Info("seeded", "what", st.what, "rows", tag.RowsAffected(), "took", time.Since(t).Round(time.Millisecond))
	}
	if err := seedSessions(ctx, dsn, s, idle, abs, log); err != nil {
		return err
	}
	if err := seedAudit(ctx, conn, s, log); err != nil {
		return err
	}
	if _, err := conn.Exec(ctx, "VACUUM (ANALYZE) accounts, users, user_emails, sessions, audit_events"); err != nil {
		return fmt.Errorf("seed: vacuum: %w", err)
	}
	log.Info("seed done", "tenants", s.tenants, "users", s.tenants*s.users, "sessions", s.sessions, "took", time.Since(t0).Round(time.Millisecond))
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
	batches := make(chan int)
	go func() {
		defer close(batches)
		for lo := 0; lo < s.sessions; lo += batch {
			select {
			case batches <- lo:
			case <-ctx.Done():
				return
			}
		}
	}()
	t0 := time.Now()
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
		rows  int64
	)
	fail := func(err error) {
		mu.Lock()
		defer mu.Unlock()
		if first == nil {
			first = err
		}
	}
	for range max(1, min(runtime.NumCPU(), (s.sessions+batch-1)/batch)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			conn, err := pgx.Connect(ctx, dsn)
			if err != nil {
				fail(err)
				for range batches {
				}
				return
			}
			defer func() { _ = conn.Close(context.Background()) }()
			if _, err := conn.Exec(ctx, "SET session_replication_role = replica"); err != nil {
				fail(err)
			}
			for lo := range batches {
				mu.Lock()
				stop := first != nil
				mu.Unlock()
				if stop {
					continue
				}
				hi := min(lo+batch, s.sessions) - 1
				tag, err := conn.Exec(ctx, q, lo, hi, s.tenants, s.users, idle, abs)
				if err != nil {
					fail(fmt.Errorf("seed sessions %d-%d: %w", lo, hi, err))
					continue
				}
				mu.Lock()
				rows += tag.RowsAffected()
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if first != nil {
		return first
	}
	log.Info("seeded", "what", "sessions", "rows", rows, "took", time.Since(t0).Round(time.Millisecond))
	return nil
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

// seedAudit inserts s.auditEvents audit rows (skipped when the table
// already holds that many): event i belongs to tenant i mod T, is
// i div T steps of 8 weeks / (events / T) old, and has one of five
// actions. The weekly partitions of those 8 weeks are created first
// (audit_partition_create), so the rows land where production ones would.
func seedAudit(ctx context.Context, conn *pgx.Conn, s seedSpec, log *slog.Logger) error {
	if s.auditEvents <= 0 {
		return nil
	}
	var have int64
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM audit_events`).Scan(&have); err != nil {
		return fmt.Errorf("seed audit: %w", err)
	}
	if have >= int64(s.auditEvents) {
		return nil
	}
	t0 := time.Now()
	if _, err := conn.Exec(ctx, `SELECT audit_partition_create(w)
		FROM generate_series(date_trunc('week', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' - interval '9 weeks',
		                     date_trunc('week', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC', interval '1 week') w`); err != nil {
		return fmt.Errorf("seed audit partitions: %w", err)
	}
	perTenant := max(1, s.auditEvents/s.tenants)
	const batch = 500_000
	for lo := 0; lo < s.auditEvents; lo += batch {
		hi := min(lo+batch, s.auditEvents) - 1
		if _, err := conn.Exec(ctx, `INSERT INTO audit_events (account_id, id, actor_user_id, action, resource_type, resource_id, details, ip_address, user_agent, created_at)
			SELECT md5('bench-t-' || (i % $1))::uuid, gen_random_uuid(), md5('bench-u-' || (i % $1) || '-0')::uuid,
			       (ARRAY['auth.login_succeeded','auth.login_failed','auth.logout','session.revoked','auth.password_changed'])[1 + i % 5],
			       'session', gen_random_uuid()::text, '{"n":1}'::jsonb, '203.0.113.7'::inet, 'bench',
			       now() - ((i / $1)::float8 / $2 * 56 * 86400) * interval '1 second'
			FROM generate_series($3::bigint, $4::bigint) i`, s.tenants, perTenant, lo, hi); err != nil {
			return fmt.Errorf("seed audit %d-%d: %w", lo, hi, err)
		}
	}
	log.Info("seeded", "what", "audit_events", "rows", s.auditEvents, "took", time.Since(t0).Round(time.Millisecond))
	return nil
}
