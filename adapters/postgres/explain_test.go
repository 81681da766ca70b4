package postgres_test

import (
	"context"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/sessiond/sessiond/adapters/postgres"
	"github.com/sessiond/sessiond/adapters/postgres/internal/dbsqlc"
	"github.com/sessiond/sessiond/adapters/postgres/pgtest"
)

// Cost flat with data: every hot query is planned, as the runtime role
// with the tenant set and planner statistics over a few thousand rows of
// many tenants, as an index lookup of the tenant's rows: no sequential
// scan of a tenant table, and the primary key (account_id, id) wherever
// one session is meant (not the scan of a user's sessions).
//
// Citus variant (make test-citus): the coordinator's plan must route each
// query to exactly one shard (Task Count: 1, the tenant's), and the plan
// of that task, as the worker makes it over the shard (sessions_102008,
// sessions_pkey_102008, …), must keep to the same rules. A shard holds a
// few of the tenants, so the variant seeds four times the tenants (with a
// quarter of the audit events each): a shard's tables then have the size
// at which a plan is worth judging (over a handful of rows a sequential
// scan is the right plan).
func TestExplain_HotQueries_UseIndexes(t *testing.T) {
	db := pgtest.Fresh(t) // its own statistics
	ctx := context.Background()
	admin := db.Admin(t)
	now := time.Date(2031, 3, 1, 9, 0, 0, 0, time.UTC)

	// 40 tenants × 25 users × 5 sessions, and 40,000 audit events (Citus:
	// 160 tenants, 250 events each).
	tenants, auditPerTenant := 40, 1000
	if db.Citus {
		tenants, auditPerTenant = 160, 250
	}
	if _, err := admin.Exec(ctx, `
		INSERT INTO accounts (id, name, created_at, updated_at)
		SELECT gen_random_uuid(), 'a' || g, $1, $1 FROM generate_series(1, $2::int) g;
		`, now, tenants); err != nil {
		t.Fatal(err)
	}
	auditWeek(ctx, t, admin, now)
	for _, q := range []string{
		`INSERT INTO users (account_id, id, email, name, password_hash, account_role, created_at, updated_at)
		 SELECT a.id, gen_random_uuid(), gen_random_uuid() || '@x.test', 'U', 'x', 'member', $1, $1
		 FROM accounts a, generate_series(1, 25)`,
		`INSERT INTO sessions (account_id, id, user_id, auth_time, idle_seconds, absolute_seconds, created_at, last_used_at,
		   idle_expires_at, absolute_expires_at, current_jti_hash)
		 SELECT u.account_id, gen_random_uuid(), u.id, $1, 3600, 7200, $1, $1, $1::timestamptz + interval '1 hour',
		   $1::timestamptz + interval '2 hours', sha256(gen_random_uuid()::text::bytea)
		 FROM users u, generate_series(1, 5)`,
		`INSERT INTO audit_events (account_id, id, action, resource_type, created_at)
		 SELECT a.id, gen_random_uuid(), 'auth.login_succeeded', 'session', $1::timestamptz - g * interval '1 second'
		 FROM accounts a, generate_series(1, $2::int) g`,
	} {
		args := []any{now}
		if strings.Contains(q, "$2") {
			args = append(args, auditPerTenant)
		}
		if _, err := admin.Exec(ctx, q, args...); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := admin.Exec(ctx, `ANALYZE`); err != nil {
		t.Fatal(err)
	}
	var account, user, session uuid.UUID
	if err := admin.QueryRow(ctx, `SELECT account_id, user_id, id FROM sessions LIMIT 1`).Scan(&account, &user, &session); err != nil {
		t.Fatal(err)
	}

	h := []byte("0123456789abcdef0123456789abcdef")
	at := now.Add(time.Minute)
	sqls, args := postgres.RecordQueries(func(q *dbsqlc.Queries) {
		_, _ = q.SessionRotateIfCurrent(ctx, dbsqlc.SessionRotateIfCurrentParams{
			AccountID: account, SessionID: session, UserID: user, PresentedJtiHash: h, Now: at, AuthTime: now,
			IdleSeconds: 3600, AbsoluteSeconds: 7200, AbsoluteExpiresAt: now.Add(2 * time.Hour),
			NewJtiHash: h, NewJtiSealed: h, IdleExpiresAt: at.Add(time.Hour)})
		_, _ = q.SessionLockForRefresh(ctx, dbsqlc.SessionLockForRefreshParams{AccountID: account, SessionID: session})
		_, _ = q.SessionIsLive(ctx, dbsqlc.SessionIsLiveParams{AccountID: account, SessionID: session, Now: at})
		_, _ = q.UserGetIfSessionLive(ctx, dbsqlc.UserGetIfSessionLiveParams{AccountID: account, SessionID: session, UserID: user, Now: at})
		_, _ = q.SessionRotate(ctx, dbsqlc.SessionRotateParams{AccountID: account, SessionID: session, OldJtiHash: h, NewJtiHash: h, Now: at,
			AuthTime: now, IdleSeconds: 3600, AbsoluteSeconds: 7200, IdleExpiresAt: at, AbsoluteExpiresAt: at})
		_, _ = q.SessionRevoke(ctx, dbsqlc.SessionRevokeParams{AccountID: account, SessionID: session, Now: at, Reason: "logout"})
		_, _ = q.SessionListLiveByUser(ctx, dbsqlc.SessionListLiveByUserParams{AccountID: account, UserID: user, Now: at})
		notBefore := now.AddDate(0, 0, -90) // the default retention, as the service asks
		_, _ = q.AuditEventList(ctx, dbsqlc.AuditEventListParams{AccountID: account, NotBefore: notBefore, MaxRows: 51})
		before, id := now.Add(-time.Minute), uuid.New()
		_, _ = q.AuditEventList(ctx, dbsqlc.AuditEventListParams{AccountID: account, NotBefore: notBefore, MaxRows: 51, BeforeCreatedAt: &before, BeforeID: &id})
		_, _ = q.SessionRevokeLive(ctx, dbsqlc.SessionRevokeLiveParams{AccountID: account, UserID: &user, ExceptSessionID: &session, Now: at, Reason: "logout_all"})
		_, _ = q.SessionRevokeLive(ctx, dbsqlc.SessionRevokeLiveParams{AccountID: account, ExceptUserID: &user, Now: at, Reason: "bulk"})
		_, _ = q.SessionListLiveByAccount(ctx, dbsqlc.SessionListLiveByAccountParams{AccountID: account, Now: at, MaxRows: 51})
	})
	names := []string{"refresh fast-path write", "refresh slow-path read", "liveness", "/auth/me", "refresh slow-path write",
		"session revoke", "session list", "audit page", "audit page 2", "revoke a user's sessions", "revoke the account's sessions",
		"account session list"}
	// wantPK: one session is meant: a lookup by its id (the primary key, or
	// sessions_id, the same one row by the id alone), never the scan of a
	// user's sessions.
	wantPK := map[string]bool{"refresh fast-path write": true, "refresh slow-path read": true, "liveness": true, "/auth/me": true,
		"refresh slow-path write": true, "session revoke": true}

	app, err := pgx.Connect(ctx, db.AppURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = app.Close(context.Background()) })
	// A shard's relations and indexes carry its id as a suffix; audit_events
	// is partitioned by week (migrations/00013): a scan of any partition
	// counts, and a partition's index is named by its parent (partIndexes).
	onePerID := regexp.MustCompile(`Index Scan using (sessions_pkey|sessions_id)(_\d+)? on sessions(_\d+)?\b`)
	seq := regexp.MustCompile(`Seq Scan on (sessions|users|audit_events\w*|accounts|password_reset_tokens)(_\d+)?\b`)
	parents := partIndexes(ctx, t, admin)
	for i, sql := range sqls {
		name := names[i]
		tx, err := app.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tx.Exec(ctx, postgres.SetLocalTenant(account)); err != nil {
			t.Fatal(err)
		}
		rows, err := tx.Query(ctx, "EXPLAIN "+sql, args[i]...)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		var lines []string
		for rows.Next() {
			var l string
			if err := rows.Scan(&l); err != nil {
				t.Fatal(err)
			}
			lines = append(lines, l)
		}
		if err := rows.Err(); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		_ = tx.Rollback(ctx)
		plan := parents.Replace(strings.Join(lines, "\n"))
		t.Logf("%s:\n%s", name, plan)
		if db.Citus && !strings.Contains(plan, "Task Count: 1\n") {
			t.Errorf("%s: not routed to one shard\n%s", name, plan)
		}
		// The account's session list joins each session to its user: over
		// one tenant's few users (a Citus shard holds a handful) reading
		// users whole is the planner's right choice; what must not happen is
		// a scan of the sessions.
		if m := seqOnRows(ctx, t, admin, seq, plan); m != "" && (name != "account session list" || strings.Contains(m, "sessions")) {
			t.Errorf("%s: %s, want an index lookup\n%s", name, m, plan)
		}
		if wantPK[name] && (!onePerID.MatchString(plan) || strings.Contains(plan, "sessions_live_by_user") || strings.Contains(plan, "Bitmap Heap Scan on sessions")) {
			t.Errorf("%s: the session is not looked up by its id\n%s", name, plan)
		}
		// The bulk revocation is one query scoped by nullable parameters: with
		// a user it still reads that user's live sessions through the index.
		if (strings.HasPrefix(name, "revoke ") || name == "account session list") && !strings.Contains(plan, "sessions_live_by_user") {
			t.Errorf("%s: the live sessions are not read through sessions_live_by_user\n%s", name, plan)
		}
		if name == "revoke a user's sessions" && !strings.Contains(plan, "user_id = ") {
			t.Errorf("%s: the user is not an index condition\n%s", name, plan)
		}
		if strings.HasPrefix(name, "audit page") && (!strings.Contains(plan, "audit_events_listing") || bigSort(plan)) {
			t.Errorf("%s: the page does not walk audit_events_listing (newest first, LIMIT, no sort)\n%s", name, plan)
		}
	}
}

// The rotation's UPDATE stays a HOT update (migrations/00004): no index on
// sessions covers, or has in its predicate, a column the rotation writes.
// (An index on last_used_at or idle_expires_at would make every refresh
// write an entry in every index of the table.)
func TestSessionsIndexes_LeaveTheRotationHOT(t *testing.T) {
	admin := pgtest.Shared(t).Admin(t)
	rotated := []string{"previous_jti_hash", "current_jti_hash", "current_jti_sealed", "rotated_at", "last_used_at",
		"last_ip", "last_user_agent", "generation", "idle_expires_at"}
	rows, err := admin.Query(context.Background(), `
		SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid)
		FROM pg_index i WHERE i.indrelid = 'sessions'::regclass`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		var name, def string
		if err := rows.Scan(&name, &def); err != nil {
			t.Fatal(err)
		}
		n++
		for _, col := range rotated {
			if regexp.MustCompile(`\b` + col + `\b`).MatchString(def) {
				t.Errorf("index %s covers %s, which every rotation writes: %s", name, col, def)
			}
		}
	}
	if err := rows.Err(); err != nil || n == 0 {
		t.Fatalf("%d indexes, %v", n, err)
	}
	var fillfactor string
	if err := admin.QueryRow(context.Background(),
		`SELECT coalesce(array_to_string(reloptions, ','), '') FROM pg_class WHERE relname = 'sessions'`).Scan(&fillfactor); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(fillfactor, "fillfactor=80") {
		t.Errorf("sessions reloptions %q: want fillfactor=80 (room for HOT versions)", fillfactor)
	}
}

// The owner lists' filters (migrations/00012, docs/security-checklist.md
// ADM-03): planned as the adapter runs them (one custom plan per call,
// tenantTx.customPlans), each audit filter is an index condition of its own
// index, walked newest first under the LIMIT, and no member list reads a
// tenant table sequentially.
func TestExplain_OwnerListFilters_UseTheirIndexes(t *testing.T) {
	db := pgtest.Fresh(t) // its own statistics
	ctx := context.Background()
	admin := db.Admin(t)
	now := time.Date(2031, 3, 1, 9, 0, 0, 0, time.UTC)

	auditWeek(ctx, t, admin, now)
	// 40 tenants × 25 users, 40,000 audit events of five actions by every
	// user of the tenant, half on sessions, half on users.
	for _, q := range []string{
		`INSERT INTO accounts (id, name, created_at, updated_at)
		 SELECT gen_random_uuid(), 'a' || g, $1, $1 FROM generate_series(1, 40) g`,
		`INSERT INTO users (account_id, id, email, name, password_hash, account_role, created_at, updated_at)
		 SELECT a.id, gen_random_uuid(), gen_random_uuid() || '@x.test', 'U' || g, 'x', 'member', $1::timestamptz - g * interval '1 minute', $1
		 FROM accounts a, generate_series(1, 25) g`,
		`INSERT INTO audit_events (account_id, id, actor_user_id, action, resource_type, resource_id, details, created_at)
		 SELECT u.account_id, gen_random_uuid(), u.id,
		   (ARRAY['auth.login_succeeded', 'auth.logout', 'session.revoked', 'member.updated', 'auth.login_failed'])[1 + g % 5],
		   CASE WHEN g % 2 = 0 THEN 'session' ELSE 'user' END,
		   CASE WHEN g % 2 = 0 THEN gen_random_uuid()::text ELSE u.id::text END,
		   '{}'::jsonb, $1::timestamptz - g * interval '1 second'
		 FROM users u, generate_series(1, 40) g`,
	} {
		if _, err := admin.Exec(ctx, q, now); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := admin.Exec(ctx, `ANALYZE`); err != nil {
		t.Fatal(err)
	}
	var account, user uuid.UUID
	var session string
	if err := admin.QueryRow(ctx, `SELECT account_id, actor_user_id, resource_id FROM audit_events WHERE resource_type = 'session' LIMIT 1`).
		Scan(&account, &user, &session); err != nil {
		t.Fatal(err)
	}
	subject := user.String()
	since, until := now.Add(-10*time.Second), now.Add(-5*time.Second)
	before, id := now.Add(-time.Second), uuid.New()
	from, to, role, active := "u", "u\U0010FFFF", "member", true
	p := func(f func(*dbsqlc.AuditEventListParams)) dbsqlc.AuditEventListParams {
		a := dbsqlc.AuditEventListParams{AccountID: account, NotBefore: now.AddDate(0, 0, -90), MaxRows: 51}
		f(&a)
		return a
	}
	sqls, args := postgres.RecordQueries(func(q *dbsqlc.Queries) {
		_, _ = q.AuditEventList(ctx, p(func(a *dbsqlc.AuditEventListParams) { a.ActorUserID = &user }))
		_, _ = q.AuditEventList(ctx, p(func(a *dbsqlc.AuditEventListParams) { a.SubjectUserID = &subject }))
		_, _ = q.AuditEventList(ctx, p(func(a *dbsqlc.AuditEventListParams) { a.SessionID = &session }))
		exact := "member.updated"
		_, _ = q.AuditEventList(ctx, p(func(a *dbsqlc.AuditEventListParams) { a.Action = &exact }))
		_, _ = q.AuditEventList(ctx, p(func(a *dbsqlc.AuditEventListParams) {
			a.Actions = []string{"auth.login_succeeded", "auth.login_failed"}
		}))
		_, _ = q.AuditEventList(ctx, p(func(a *dbsqlc.AuditEventListParams) {
			a.ActorUserID, a.BeforeCreatedAt, a.BeforeID = &user, &before, &id
		}))
		_, _ = q.AuditEventList(ctx, p(func(a *dbsqlc.AuditEventListParams) { a.Since, a.Until = &since, &until }))
		_, _ = q.UserListByCreated(ctx, dbsqlc.UserListByCreatedParams{AccountID: account, MaxRows: 51})
		_, _ = q.UserListByCreatedDesc(ctx, dbsqlc.UserListByCreatedDescParams{AccountID: account, MaxRows: 51, AfterCreatedAt: &before, AfterID: &id})
		_, _ = q.UserListByName(ctx, dbsqlc.UserListByNameParams{AccountID: account, MaxRows: 51, Role: &role, Active: &active})
		_, _ = q.UserListByNameDesc(ctx, dbsqlc.UserListByNameDescParams{AccountID: account, MaxRows: 51, EmailFrom: &from, EmailTo: &to})
	})
	want := []struct{ name, index string }{
		{"audit by actor", "audit_events_by_actor"},
		{"audit by subject", "audit_events_by_subject"},
		{"audit by session", "audit_events_by_session"},
		{"audit by action", "audit_events_by_action"},
		// Several actions: by the action index (then sorted) when they are
		// rare, else the newest-first walk filtered; the planner picks.
		{"audit by action prefix", ""},
		{"audit by actor, page 2", "audit_events_by_actor"},
		{"audit in a time range", "audit_events_listing"},
		{"members oldest first", ""},
		{"members newest first, page 2", ""},
		{"members by name, role and active", ""},
		{"members by name desc, email prefix", "users_by_email"},
	}
	if len(sqls) != len(want) {
		t.Fatalf("%d queries recorded, want %d", len(sqls), len(want))
	}
	app, err := pgx.Connect(ctx, db.AppURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = app.Close(context.Background()) })
	seq := regexp.MustCompile(`Seq Scan on (users|audit_events\w*)\b`)
	parents := partIndexes(ctx, t, admin)
	for i, sql := range sqls {
		tx, err := app.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tx.Exec(ctx, postgres.SetLocalTenant(account)); err != nil {
			t.Fatal(err)
		}
		// QueryExecModeCacheDescribe, as tenantTx.customPlans runs them,
		// as the runtime role under row-level security: an index condition
		// must be leakproof there (migrations/00012).
		rows, err := tx.Query(ctx, "EXPLAIN "+sql, append([]any{pgx.QueryExecModeCacheDescribe}, args[i]...)...)
		if err != nil {
			t.Fatalf("%s: %v", want[i].name, err)
		}
		var lines []string
		for rows.Next() {
			var l string
			if err := rows.Scan(&l); err != nil {
				t.Fatal(err)
			}
			lines = append(lines, l)
		}
		if err := rows.Err(); err != nil {
			t.Fatalf("%s: %v", want[i].name, err)
		}
		_ = tx.Rollback(ctx)
		plan := parents.Replace(strings.Join(lines, "\n"))
		t.Logf("%s:\n%s", want[i].name, plan)
		if m := seqOnRows(ctx, t, admin, seq, plan); m != "" {
			t.Errorf("%s: %s, want an index plan\n%s", want[i].name, m, plan)
		}
		// On Citus a shard's planner may pick another of these indexes for
		// its few rows; the index plan (no Seq Scan, above) is checked there,
		// the exact index on one node.
		if want[i].index != "" && !pgtest.Citus() && !strings.Contains(plan, want[i].index) {
			t.Errorf("%s: the plan does not use %s\n%s", want[i].name, want[i].index, plan)
		}
		// On Citus each shard holds an eighth of the seeded rows, so a shard's
		// planner rightly sorts its handful of matches: there the index
		// condition above is what this test can hold (CIT-01).
		if !pgtest.Citus() && strings.HasPrefix(want[i].name, "audit") && want[i].name != "audit by action prefix" && bigSort(plan) {
			t.Errorf("%s: sorts more than a page instead of walking the index newest first\n%s", want[i].name, plan)
		}
	}
}

// partIndexes rewrites the name of a partition's index (audit_events is
// partitioned by week, migrations/00013: audit_events_p20310224_account_id_…,
// audit_events_default_…, audit_events_legacy_listing) into the name of
// the partitioned index it belongs to, so that a plan reads as one index
// whichever partitions it visits (a shard's suffix is kept).
func partIndexes(ctx context.Context, t *testing.T, admin *pgx.Conn) *strings.Replacer {
	t.Helper()
	rows, err := admin.Query(ctx, `
		SELECT c.relname::text, p.relname::text
		FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_class p ON p.oid = i.inhparent
		WHERE p.relkind = 'I'
		ORDER BY length(c.relname) DESC`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var pairs []string
	for rows.Next() {
		var child, parent string
		if err := rows.Scan(&child, &parent); err != nil {
			t.Fatal(err)
		}
		pairs = append(pairs, child, parent)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return strings.NewReplacer(pairs...)
}

// bigSort reports whether plan sorts more than a page. audit_events is
// partitioned by week (migrations/00013): the newest-first walk is then a
// Merge Append of each partition's index scan (its "Sort Key" is no sort),
// and where the planner expects no more than a page of matching rows over
// several partitions (the empty DEFAULT partition always among them) it may
// rightly sort those few instead; a Sort of more than a page (51 rows, the
// LIMIT) would make a page cost the size of the trail.
func bigSort(plan string) bool {
	for _, m := range sortNode.FindAllStringSubmatch(plan, -1) {
		if n, err := strconv.Atoi(m[2]); err != nil || n > 51 {
			return true
		}
	}
	return false
}

// sortNode is a Sort node of a plan and its estimated rows (not a Merge
// Append's "Sort Key").
var sortNode = regexp.MustCompile(`(?m)^\s*(->\s+)?Sort\s+\(cost=\S+ rows=(\d+)`)

// auditWeek creates the weekly partition of audit_events that holds at
// (migrations/00013), as the maintenance does ahead of time, so that the
// seeded events land in their week and not in the DEFAULT partition.
func auditWeek(ctx context.Context, t *testing.T, admin *pgx.Conn, at time.Time) {
	t.Helper()
	at = at.UTC()
	day := time.Date(at.Year(), at.Month(), at.Day(), 0, 0, 0, 0, time.UTC)
	monday := day.AddDate(0, 0, -((int(day.Weekday()) + 6) % 7))
	if _, err := admin.Exec(ctx, `SELECT audit_partition_create($1)`, monday); err != nil {
		t.Fatal(err)
	}
}

// seqOnRows returns the first sequential scan in plan of a relation that
// holds rows. A partition of audit_events without rows (a week created
// ahead, the empty DEFAULT partition) may be scanned sequentially: it
// costs nothing, and the planner rightly prefers it there.
func seqOnRows(ctx context.Context, t *testing.T, admin *pgx.Conn, seq *regexp.Regexp, plan string) string {
	t.Helper()
	for _, m := range seq.FindAllString(plan, -1) {
		rel := strings.TrimPrefix(m, "Seq Scan on ")
		if !strings.HasPrefix(rel, "audit_events_") {
			return m
		}
		rel = regexp.MustCompile(`_\d+$`).ReplaceAllString(rel, "") // a shard's suffix
		var rows float64
		if err := admin.QueryRow(ctx, `SELECT coalesce(sum(reltuples), 0) FROM pg_class WHERE relname = $1`, rel).Scan(&rows); err != nil {
			t.Fatal(err)
		}
		if rows > 0 {
			return m
		}
	}
	return ""
}
