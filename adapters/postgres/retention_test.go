package postgres_test

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sessiond/sessiond/adapters/postgres"
	"github.com/sessiond/sessiond/adapters/postgres/internal/dbsqlc"
	"github.com/sessiond/sessiond/adapters/postgres/pgtest"
	"github.com/sessiond/sessiond/core"
)

func monday(t time.Time) time.Time {
	t = t.UTC().Truncate(24 * time.Hour)
	return t.AddDate(0, 0, -((int(t.Weekday()) + 6) % 7))
}

// Bounded audit storage (migrations/00013): the audit table is partitioned
// by week; the maintenance drops, whole, the weeks older than the longest
// retention in force (by the database's clock), keeps the rest, and
// creates the weeks ahead. The owner's query answers as before, hides what
// is past the account's retention, and is still planned as index scans of
// the partitions it needs (the older ones pruned).
func TestAuditRetention_WHK08_DropsExpiredWeeks_OwnerQueryStillOnItsIndex(t *testing.T) {
	db := pgtest.Fresh(t)
	ctx := context.Background()
	admin := db.Admin(t)
	store := postgres.NewStore(db.AppPool(t, 4))
	a := seedTenant(t, store)

	now := time.Now().UTC()
	old, recent := now.AddDate(0, 0, -400), now.AddDate(0, 0, -30)
	for _, w := range []time.Time{monday(old), monday(recent)} {
		var created bool
		if err := admin.QueryRow(ctx, `SELECT audit_partition_create($1)`, w).Scan(&created); err != nil || !created {
			t.Fatalf("create the week of %s: %v %v", w, created, err)
		}
	}
	insert := func(at time.Time, n int) {
		for range n {
			if err := store.InTenantTx(ctx, a.account, func(tx core.TenantTx) error {
				return tx.Audit(ctx, core.AuditEvent{AccountID: a.account, Action: core.ActionLoginFailed, ResourceType: "user", At: at})
			}); err != nil {
				t.Fatal(err)
			}
		}
	}
	insert(old, 3)
	insert(recent, 2)
	insert(now, 1)
	partitionOf := func(at time.Time) string {
		var name string
		if err := admin.QueryRow(ctx, `SELECT tableoid::regclass::text FROM audit_events WHERE account_id = $1 AND created_at BETWEEN $2 AND $3 LIMIT 1`,
			a.account, at.Add(-time.Millisecond), at.Add(time.Millisecond)).Scan(&name); err != nil {
			t.Fatal(err)
		}
		if db.Citus { // a shard's name: the partition's, then the shard id
			name = name[:strings.LastIndex(name, "_")]
		}
		return name
	}
	oldPart, recentPart := partitionOf(old), partitionOf(recent)
	if !strings.HasPrefix(oldPart, "audit_events_p") || !strings.HasPrefix(recentPart, "audit_events_p") || oldPart == recentPart {
		t.Fatalf("rows in %s and %s, want their weekly partitions", oldPart, recentPart)
	}

	// As the runtime role: default 90 days, server maximum 365.
	changes, err := store.MaintainAuditPartitions(ctx, 4, 90, 365)
	if err != nil {
		t.Fatal(err)
	}
	dropped := map[string]bool{}
	for _, c := range changes {
		if c.Change == "dropped" {
			dropped[c.Partition] = true
		}
	}
	if !dropped[oldPart] || dropped[recentPart] {
		t.Fatalf("changes %v: want %s dropped and %s kept", changes, oldPart, recentPart)
	}
	var n int
	if err := admin.QueryRow(ctx, `SELECT count(*) FROM audit_events WHERE account_id = $1`, a.account).Scan(&n); err != nil || n != 3 {
		t.Fatalf("%d rows left (%v), want the 3 younger than the retention", n, err)
	}
	var ahead int
	if err := admin.QueryRow(ctx, `SELECT count(*) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
		WHERE i.inhparent = 'audit_events'::regclass AND c.relname > 'audit_events_p' || to_char($1::timestamptz, 'YYYYMMDD')`,
		monday(now)).Scan(&ahead); err != nil || ahead < 4 {
		t.Fatalf("%d weekly partitions ahead (%v), want at least 4", ahead, err)
	}
	// A second run changes nothing.
	if again, err := store.MaintainAuditPartitions(ctx, 4, 90, 365); err != nil || len(again) != 0 {
		t.Fatalf("second run: %v %v", again, err)
	}
	// An account's own, longer retention keeps its weeks: nothing older
	// than 400 days is left, but the 30-day week survives a 7-day default.
	if _, err := admin.Exec(ctx, `UPDATE accounts SET audit_retention_days = 60 WHERE id = $1`, a.account); err != nil {
		t.Fatal(err)
	}
	if again, err := store.MaintainAuditPartitions(ctx, 4, 7, 365); err != nil || len(again) != 0 {
		t.Fatalf("with a 60-day account and a 7-day default: %v %v", again, err)
	}

	// The owner query, as the store runs it, with the retention horizon.
	var page []core.AuditEvent
	if err := store.InTenantTx(ctx, a.account, func(tx core.TenantTx) error {
		var err error
		page, err = tx.AuditList(ctx, core.AuditQuery{Limit: 50, NotBefore: now.AddDate(0, 0, -90)})
		return err
	}); err != nil || len(page) != 3 {
		t.Fatalf("owner page: %d events, %v", len(page), err)
	}
	if err := store.InTenantTx(ctx, a.account, func(tx core.TenantTx) error {
		var err error
		page, err = tx.AuditList(ctx, core.AuditQuery{Limit: 50, NotBefore: now.AddDate(0, 0, -7)})
		return err
	}); err != nil || len(page) != 1 {
		t.Fatalf("owner page within 7 days: %d events, %v", len(page), err)
	}

	// Its plan: index scans only, newest first without a sort, and the
	// partitions before the horizon pruned.
	// Volume for the planner: 400 more tenants, 100 events each, over the
	// last ten minutes. So many tenants that on Citus every shard holds
	// some of them (40 tenants over 32 shards left the audited tenant's
	// shard empty about one run in four, and a one-row shard is rightly
	// scanned sequentially).
	for _, q := range []string{
		`INSERT INTO accounts (id, name, created_at, updated_at) SELECT gen_random_uuid(), 'r' || g, now(), now() FROM generate_series(1, 400) g`,
		`INSERT INTO audit_events (account_id, id, action, resource_type, created_at)
		 SELECT a.id, gen_random_uuid(), 'auth.login_succeeded', 'session', now() - g * interval '5 seconds'
		 FROM accounts a, generate_series(1, 100) g WHERE a.name LIKE 'r%'`,
		`ANALYZE`,
	} {
		if _, err := admin.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := admin.Exec(ctx, `ANALYZE audit_events`); err != nil {
		t.Fatal(err)
	}
	notBefore := now.AddDate(0, 0, -7)
	sqls, args := postgres.RecordQueries(func(q *dbsqlc.Queries) {
		_, _ = q.AuditEventList(ctx, dbsqlc.AuditEventListParams{AccountID: a.account, NotBefore: notBefore, MaxRows: 51})
		act := core.ActionLoginFailed
		_, _ = q.AuditEventList(ctx, dbsqlc.AuditEventListParams{AccountID: a.account, NotBefore: notBefore, Action: &act, MaxRows: 51})
	})
	app, err := pgx.Connect(ctx, db.AppURL)
	if err != nil {
		t.Fatal(err)
	}
	defer app.Close(ctx)
	for i, sql := range sqls {
		tx, err := app.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tx.Exec(ctx, postgres.SetLocalTenant(a.account)); err != nil {
			t.Fatal(err)
		}
		var lines []string
		rows, err := tx.Query(ctx, "EXPLAIN "+sql, args[i]...)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var l string
			_ = rows.Scan(&l)
			lines = append(lines, l)
		}
		_ = tx.Rollback(ctx)
		plan := strings.Join(lines, "\n")
		t.Logf("plan %d:\n%s", i, plan)
		// A partition with rows is read through an index; the planner may
		// "scan" an empty one (a week ahead) sequentially, at no cost.
		for _, m := range regexp.MustCompile(`Seq Scan on (audit_events\w*)`).FindAllStringSubmatch(plan, -1) {
			part, count := m[1], `SELECT count(*) FROM `+pgx.Identifier{m[1]}.Sanitize()
			if db.Citus { // a shard: the partition's name, then the shard id; count that shard's rows
				cut := strings.LastIndex(part, "_")
				part = part[:cut]
				count = `SELECT count(*) FROM ` + pgx.Identifier{part}.Sanitize() +
					` WHERE get_shard_id_for_distribution_column('` + part + `', account_id) = ` + m[1][cut+1:] // \w+ only
			}
			var tuples int64
			if err := admin.QueryRow(ctx, count).Scan(&tuples); err != nil || tuples > 0 {
				t.Errorf("a sequential scan of %s (%v rows, %v):\n%s", m[1], tuples, err, plan)
			}
		}
		if !strings.Contains(plan, "Index Scan") {
			t.Errorf("no index scan:\n%s", plan)
		}
		if strings.Contains(plan, recentPart) {
			t.Errorf("the week before the horizon (%s) is not pruned:\n%s", recentPart, plan)
		}
	}
}
