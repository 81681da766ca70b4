package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/sessiond/sessiond/adapters/postgres/internal/dbsqlc"
	"github.com/sessiond/sessiond/core"
)

// The audit trail of a tenant transaction (queries/audit_events.sql): rows
// written in the transaction of the change they record.

// Audit writes the event in this transaction. An event without an action
// or resource type, or for another tenant, is refused; the event is
// normalized again (core.AuditEvent.Normalized) because a row PostgreSQL
// refuses would roll back the change it records.
func (t *tenantTx) Audit(ctx context.Context, e core.AuditEvent) error {
	p, err := auditParams(t.accountID, e)
	if err != nil {
		return err
	}
	return mapErr(t.q.AuditEventInsert(ctx, p))
}

// auditParams checks and normalises an event of tenant accountID into the
// insert's parameters.
func auditParams(accountID uuid.UUID, e core.AuditEvent) (dbsqlc.AuditEventInsertParams, error) {
	if e.Action == "" || e.ResourceType == "" {
		return dbsqlc.AuditEventInsertParams{}, errors.New("postgres: audit event needs an action and a resource type")
	}
	if e.AccountID != uuid.Nil && e.AccountID != accountID {
		return dbsqlc.AuditEventInsertParams{}, errors.New("postgres: audit event for another tenant")
	}
	e = e.Normalized()
	details, err := json.Marshal(e.Details)
	if err != nil {
		return dbsqlc.AuditEventInsertParams{}, fmt.Errorf("postgres: audit details: %w", err)
	}
	return dbsqlc.AuditEventInsertParams{
		AccountID: accountID, ID: e.ID, ActorUserID: e.ActorUserID, Action: e.Action,
		ResourceType: e.ResourceType, ResourceID: optString(e.ResourceID), Details: details,
		IpAddress: optAddr(e.IP), UserAgent: optString(e.UserAgent), CreatedAt: e.At.UTC(),
	}, nil
}

func (t *tenantTx) AuditList(ctx context.Context, q core.AuditQuery) ([]core.AuditEvent, error) {
	if q.Limit < 0 || q.Limit > math.MaxInt32 {
		return nil, fmt.Errorf("postgres: audit list limit %d out of range", q.Limit)
	}
	p := dbsqlc.AuditEventListParams{AccountID: t.accountID, NotBefore: q.NotBefore, Action: optString(q.Action), Actions: q.Actions, ActorUserID: q.ActorUserID,
		Since: q.Since, Until: q.Until, MaxRows: int32(q.Limit)}
	if q.SubjectUserID != nil {
		s := q.SubjectUserID.String()
		p.SubjectUserID = &s
	}
	if q.SessionID != nil {
		s := q.SessionID.String()
		p.SessionID = &s
	}
	if q.After != nil {
		at, id := q.After.CreatedAt, q.After.ID
		p.BeforeCreatedAt, p.BeforeID = &at, &id
	}
	rows, err := t.customPlans().AuditEventList(ctx, p)
	if err != nil {
		return nil, mapErr(err)
	}
	events := make([]core.AuditEvent, len(rows))
	for i, r := range rows {
		if events[i], err = auditEventFromRow(t.accountID, r); err != nil {
			return nil, err
		}
	}
	return events, nil
}

// customPlans returns the queries of this transaction sent as unnamed
// statements (pgx.QueryExecModeCacheDescribe: still one round trip, the
// description cached), which PostgreSQL plans for the values of each call.
// The owner lists need that: their filters are optional parameters
// ("$n IS NULL OR column = $n"), and a generic plan of a named prepared
// statement — which PostgreSQL may switch to after five executions on a
// connection — cannot use any one filter's index, so a rare filter would
// walk the tenant's whole trail. A custom plan folds the absent filters
// away and reads the given one's index (migrations/00012; explain_test.go).
func (t *tenantTx) customPlans() *dbsqlc.Queries { return dbsqlc.New(customPlanDB{t.db}) }

type customPlanDB struct{ d *prefixedDB }

func (c customPlanDB) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	if c.d.pending() {
		return c.d.Exec(ctx, sql, args...)
	}
	return c.d.conn.Exec(ctx, sql, append([]any{pgx.QueryExecModeCacheDescribe}, args...)...)
}

func (c customPlanDB) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	if c.d.pending() {
		return c.d.Query(ctx, sql, args...)
	}
	return c.d.conn.Query(ctx, sql, append([]any{pgx.QueryExecModeCacheDescribe}, args...)...)
}

func (c customPlanDB) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	if c.d.pending() {
		return c.d.QueryRow(ctx, sql, args...)
	}
	return c.d.conn.QueryRow(ctx, sql, append([]any{pgx.QueryExecModeCacheDescribe}, args...)...)
}

// auditEventFromRow is the one converter of an audit_events row.
func auditEventFromRow(accountID uuid.UUID, r dbsqlc.AuditEventListRow) (core.AuditEvent, error) {
	details := map[string]any{}
	if err := json.Unmarshal(r.Details, &details); err != nil {
		return core.AuditEvent{}, fmt.Errorf("postgres: audit event %s details: %w", r.ID, err)
	}
	return core.AuditEvent{
		ID: r.ID, AccountID: accountID, ActorUserID: r.ActorUserID, Action: r.Action,
		ResourceType: r.ResourceType, ResourceID: deref(r.ResourceID), Details: details,
		IP: derefAddr(r.IpAddress), UserAgent: deref(r.UserAgent), At: r.CreatedAt,
	}, nil
}
