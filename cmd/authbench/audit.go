package main

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// The audit scenario: owners list their audit trail over HTTP
// (GET /api/v1/accounts/me/audit-events, limit 50) with the common
// filters, one kind of request after the other, each recorded under its
// own op; the data is seedAudit's (-audit-events over -audit-tenants and
// -audit-days). Before the run, explainAudit shows which index each
// filter's plan uses, as the runtime role under row-level security.

// auditOps are the listings, in the order each client sends them.
var auditOps = []string{"audit", "audit-action", "audit-prefix", "audit-actor", "audit-subject", "audit-range", "audit-page2"}

type auditWorker struct {
	meWorker
	tenant, users, days int
	n                   int
}

// user k of the worker's tenant (k ≥ 1: members; the seeded events pick
// their user among all -audit-users).
func (w *auditWorker) user(rng *rand.Rand) string {
	return seededUserID(w.tenant, 1+rng.IntN(max(1, w.users-1)))
}

func (w *auditWorker) step(ctx context.Context, rng *rand.Rand) sample {
	w.fresh(ctx)
	op := auditOps[w.n%len(auditOps)]
	w.n++
	path := "/accounts/me/audit-events?limit=50"
	switch op {
	case "audit-action":
		path += "&action=auth.login_failed"
	case "audit-prefix":
		path += "&action_prefix=member."
	case "audit-actor":
		path += "&actor_user_id=" + w.user(rng)
	case "audit-subject":
		path += "&user_id=" + w.user(rng)
	case "audit-range":
		// one day, somewhere in the window
		since := time.Now().UTC().Add(-time.Duration(1+rng.IntN(max(1, w.days-1))) * 24 * time.Hour).Truncate(time.Hour)
		path += "&since=" + url.QueryEscape(since.Format(time.RFC3339)) + "&until=" + url.QueryEscape(since.Add(24*time.Hour).Format(time.RFC3339))
	case "audit-page2":
		first := w.api.do(ctx, "GET", path, w.s.tp.AccessToken, nil) // not recorded
		var p struct {
			Next *string `json:"next_cursor"`
		}
		if json.Unmarshal(first.body, &p) != nil || p.Next == nil {
			return sample{op: op, dur: first.dur, status: 599, code: "no_next_cursor"}
		}
		path += "&cursor=" + url.QueryEscape(*p.Next)
	}
	c := w.api.do(ctx, "GET", path, w.s.tp.AccessToken, nil)
	return sample{op: op, dur: c.dur, status: c.status, code: c.code}
}

// seededUserID is md5('bench-u-' || tenant || '-' || user)::uuid.
func seededUserID(tenant, user int) string {
	return md5UUID(fmt.Sprintf("bench-u-%d-%d", tenant, user))
}

// AuditInfo describes the audit scenario's data and its plans.
type AuditInfo struct {
	Events         int         `json:"events"`
	Tenants        int         `json:"tenants"`
	UsersPerTenant int         `json:"users_per_tenant"`
	Days           int         `json:"days"`
	SeedSeconds    float64     `json:"seed_seconds"` // 0: already seeded
	Plans          []AuditPlan `json:"plans"`
}

// AuditPlan is EXPLAIN (ANALYZE) of one filter's listing statement.
type AuditPlan struct {
	Op      string   `json:"op"`
	Indexes []string `json:"indexes"`
	SeqScan bool     `json:"seq_scan"` // of a partition with rows
	// EmptySeqScans: sequential scans of empty partitions (weeks ahead,
	// the default partition), which read no row.
	EmptySeqScans int     `json:"empty_partition_seq_scans"`
	Partitions    int     `json:"partitions_scanned"`
	ExecMs        float64 `json:"execution_ms"`
	Rows          int     `json:"rows"`
	Plan          string  `json:"plan"`
}

// explainAudit runs EXPLAIN (ANALYZE, BUFFERS) of the listing statement
// (queries/audit_events.sql, AuditEventList) for each filter, as the
// runtime role with the tenant set as the server sets it (so row-level
// security applies), with the filters as literals: the custom plan the
// adapter gets (it plans the statement per call). Tenant 0's owner and
// user 1; the cursor is the 50th row of the unfiltered listing.
func explainAudit(ctx context.Context, appDB string, tenants, users, days int) ([]AuditPlan, error) {
	if appDB == "" {
		return nil, nil
	}
	conn, err := pgx.Connect(ctx, appDB)
	if err != nil {
		return nil, err
	}
	defer func() { _ = conn.Close(context.Background()) }()
	account := md5UUID("bench-t-0")
	user := seededUserID(0, 1)
	notBefore := time.Now().UTC().Add(-time.Duration(days) * 24 * time.Hour).Format(time.RFC3339)
	since := time.Now().UTC().Add(-time.Duration(days/2) * 24 * time.Hour).Truncate(time.Hour)
	tx, err := conn.Begin(ctx)
	if err != nil {
		return nil, err
	}
	defer func() { _ = tx.Rollback(context.Background()) }()
	// As the server scopes a tenant (SET LOCAL, rule R3; the id is ours, a
	// UUID, so the literal is safe).
	if _, err := tx.Exec(ctx, "SET LOCAL app.account_id = '"+strings.ReplaceAll(account, "'", "")+"'"); err != nil {
		return nil, err
	}
	var curAt time.Time
	var curID string
	if err := tx.QueryRow(ctx, `SELECT created_at, id::text FROM audit_events WHERE account_id = $1 AND created_at >= $2
		ORDER BY created_at DESC, id DESC OFFSET 49 LIMIT 1`, account, notBefore).Scan(&curAt, &curID); err != nil {
		return nil, fmt.Errorf("cursor row of tenant 0: %w", err)
	}
	lit := func(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }
	filters := map[string]string{
		"audit":         "",
		"audit-action":  "AND action = 'auth.login_failed'",
		"audit-prefix":  "AND action = ANY ('{member.created,member.mfa_reset,member.removed,member.sessions_revoked,member.updated}'::text[])",
		"audit-actor":   "AND actor_user_id = " + lit(user) + "::uuid",
		"audit-subject": "AND subject_user_id = " + lit(user),
		"audit-range": "AND created_at >= " + lit(since.Format(time.RFC3339)) + "::timestamptz AND created_at < " +
			lit(since.Add(24*time.Hour).Format(time.RFC3339)) + "::timestamptz",
		"audit-page2": "AND (created_at, id) < (" + lit(curAt.UTC().Format(time.RFC3339Nano)) + "::timestamptz, " + lit(curID) + "::uuid)",
	}
	var out []AuditPlan
	for _, op := range auditOps {
		q := `EXPLAIN (ANALYZE, BUFFERS, COSTS OFF, TIMING OFF)
			SELECT id, actor_user_id, action, resource_type, resource_id, details, ip_address, user_agent, created_at
			FROM audit_events WHERE account_id = ` + lit(account) + `::uuid AND created_at >= ` + lit(notBefore) + `::timestamptz ` + filters[op] + `
			ORDER BY created_at DESC, id DESC LIMIT 51`
		lines, err := queryLines(ctx, tx, q)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", op, err)
		}
		out = append(out, readAuditPlan(ctx, tx, op, lines))
	}
	return out, nil
}

// queryLines runs q and returns its one text column's rows.
func queryLines(ctx context.Context, tx pgx.Tx, q string) ([]string, error) {
	rs, err := tx.Query(ctx, q)
	if err != nil {
		return nil, err
	}
	defer rs.Close()
	var lines []string
	for rs.Next() {
		var l string
		if err := rs.Scan(&l); err != nil {
			return nil, err
		}
		lines = append(lines, l)
	}
	return lines, rs.Err()
}

var (
	planIndex = regexp.MustCompile(`(?:Index Scan|Index Only Scan|Bitmap Index Scan)(?: Backward)? (?:using|on) (\S+)`)
	// the relation a node reads (a Bitmap Index Scan names an index)
	planScan = regexp.MustCompile(`^(?:Seq Scan|Index Scan(?: Backward)? using \S+|Index Only Scan(?: Backward)? using \S+|Bitmap Heap Scan) on (\S+)`)
	planSeq  = regexp.MustCompile(`^Seq Scan on (\S+)`)
	planExec = regexp.MustCompile(`Execution Time: ([0-9.]+) ms`)
	planRows = regexp.MustCompile(`^Limit \(actual rows=(\d+)`)
)

// readAuditPlan reads what the table reports from one plan's lines,
// asking the catalog (through tx) which index a partition's index is of
// and whether a scanned partition has rows.
func readAuditPlan(ctx context.Context, tx pgx.Tx, op string, lines []string) AuditPlan {
	p := AuditPlan{Op: op, Plan: strings.Join(lines, "\n")}
	parts := map[string]bool{}
	for _, l := range lines {
		t := strings.TrimLeft(l, " ->")
		if m := planIndex.FindStringSubmatch(t); m != nil {
			// a partition's index: report the parent's (which of the
			// migration's indexes it is)
			name := m[1]
			var parent string
			if tx.QueryRow(ctx, `SELECT inhparent::regclass::text FROM pg_inherits WHERE inhrelid = $1::regclass`, name).Scan(&parent) == nil {
				name = parent
			}
			if !slices.Contains(p.Indexes, name) {
				p.Indexes = append(p.Indexes, name)
			}
		}
		if m := planSeq.FindStringSubmatch(t); m != nil {
			// A sequential scan of an empty partition (a week ahead, the
			// default partition) reads nothing: only one of a partition
			// with rows counts.
			var tuples float64
			if tx.QueryRow(ctx, `SELECT reltuples FROM pg_class WHERE oid = $1::regclass`, m[1]).Scan(&tuples) == nil && tuples > 0 {
				p.SeqScan = true
			} else {
				p.EmptySeqScans++
			}
		}
		if m := planScan.FindStringSubmatch(t); m != nil {
			parts[m[1]] = true
		}
		if m := planExec.FindStringSubmatch(t); m != nil {
			_, _ = fmt.Sscanf(m[1], "%g", &p.ExecMs)
		}
		if m := planRows.FindStringSubmatch(t); m != nil {
			_, _ = fmt.Sscanf(m[1], "%d", &p.Rows)
		}
	}
	p.Partitions = len(parts)
	return p
}

// md5UUID is PostgreSQL's md5(s)::uuid.
func md5UUID(s string) string {
	h := md5.Sum([]byte(s))
	x := hex.EncodeToString(h[:])
	return x[0:8] + "-" + x[8:12] + "-" + x[12:16] + "-" + x[16:20] + "-" + x[20:32]
}

func auditInfoTable(a AuditInfo) string {
	var b strings.Builder
	seeded := "already seeded"
	if a.SeedSeconds > 0 {
		seeded = fmt.Sprintf("seeded in %.1f s", a.SeedSeconds)
	}
	fmt.Fprintf(&b, "audit: %d events over %d tenants × %d users, %d days (%s); plans of tenant 0 as the runtime role (EXPLAIN ANALYZE, row-level security on):\n\n",
		a.Events, a.Tenants, a.UsersPerTenant, a.Days, seeded)
	b.WriteString("| op | index(es) | seq scan of a partition with rows | partitions scanned (empty ones by seq scan) | rows | execution ms |\n|---|---|---|---:|---:|---:|\n")
	for _, p := range a.Plans {
		seq := "no"
		if p.SeqScan {
			seq = "YES"
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %d (%d) | %d | %.3f |\n", p.Op, strings.Join(p.Indexes, ", "), seq, p.Partitions, p.EmptySeqScans, p.Rows, p.ExecMs)
	}
	return b.String()
}
