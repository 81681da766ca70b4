package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"

	"github.com/google/uuid"

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
	p := dbsqlc.AuditEventListParams{AccountID: t.accountID, Action: optString(q.Action), MaxRows: int32(q.Limit)}
	if q.After != nil {
		at, id := q.After.CreatedAt, q.After.ID
		p.BeforeCreatedAt, p.BeforeID = &at, &id
	}
	rows, err := t.q.AuditEventList(ctx, p)
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
