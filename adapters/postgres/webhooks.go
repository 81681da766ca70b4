package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/sessiond/sessiond/adapters/postgres/internal/dbsqlc"
	"github.com/sessiond/sessiond/core"
)

// Webhook endpoints (queries/webhooks.sql, migrations/00013): the owner's
// administration inside tenant transactions, and the delivery worker's
// outbox (adapters/audit) as methods of Store.

func endpointFromRow(r dbsqlc.WebhookEndpoint) core.WebhookEndpoint {
	return core.WebhookEndpoint{
		ID: r.ID, AccountID: r.AccountID, URL: r.Url, Description: r.Description, EventTypes: r.EventTypes,
		Enabled: r.Enabled, State: core.WebhookState(r.State), FailureReason: deref(r.FailureReason), FailingSince: r.FailingSince,
		CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt, DeliveredSeq: r.DeliveredSeq, Attempts: int(r.Attempts),
		FirstFailedAt: r.FirstFailedAt, RetryAt: r.RetryAt, LastError: deref(r.LastError),
		SecretSealed: r.SecretSealed, PreviousSecretSealed: r.PreviousSecretSealed, PreviousSecretExpires: r.PreviousSecretExpires,
	}
}

func (t *tenantTx) WebhookEndpointCount(ctx context.Context) (int, error) {
	n, err := t.q.WebhookEndpointCount(ctx, t.accountID)
	return int(n), mapErr(err)
}

func (t *tenantTx) WebhookStreamEnsure(ctx context.Context, now time.Time, restart bool) (int64, error) {
	n, err := t.q.WebhookStreamEnsure(ctx, dbsqlc.WebhookStreamEnsureParams{AccountID: t.accountID, Now: now, Restart: restart})
	return n, mapErr(err)
}

func (t *tenantTx) WebhookEndpointCreate(ctx context.Context, e core.WebhookEndpoint) error {
	return mapErr(t.q.WebhookEndpointCreate(ctx, dbsqlc.WebhookEndpointCreateParams{
		AccountID: t.accountID, ID: e.ID, Url: e.URL, Description: e.Description, EventTypes: e.EventTypes,
		Enabled: e.Enabled, State: string(e.State), SecretSealed: e.SecretSealed, DeliveredSeq: e.DeliveredSeq, Now: e.CreatedAt,
	}))
}

func (t *tenantTx) WebhookEndpointList(ctx context.Context) ([]core.WebhookEndpoint, error) {
	rows, err := t.q.WebhookEndpointList(ctx, t.accountID)
	if err != nil {
		return nil, mapErr(err)
	}
	out := make([]core.WebhookEndpoint, len(rows))
	for i, r := range rows {
		out[i] = endpointFromRow(r)
	}
	return out, nil
}

func (t *tenantTx) WebhookEndpointGet(ctx context.Context, id uuid.UUID, forUpdate bool) (core.WebhookEndpoint, error) {
	var r dbsqlc.WebhookEndpoint
	var err error
	if forUpdate {
		r, err = t.q.WebhookEndpointGetForUpdate(ctx, dbsqlc.WebhookEndpointGetForUpdateParams{AccountID: t.accountID, ID: id})
	} else {
		r, err = t.q.WebhookEndpointGet(ctx, dbsqlc.WebhookEndpointGetParams{AccountID: t.accountID, ID: id})
	}
	if err != nil {
		return core.WebhookEndpoint{}, mapErr(err)
	}
	return endpointFromRow(r), nil
}

func (t *tenantTx) WebhookEndpointSave(ctx context.Context, e core.WebhookEndpoint) error {
	n, err := t.q.WebhookEndpointSave(ctx, dbsqlc.WebhookEndpointSaveParams{
		AccountID: t.accountID, ID: e.ID, Url: e.URL, Description: e.Description, EventTypes: e.EventTypes,
		Enabled: e.Enabled, State: string(e.State), FailureReason: optString(e.FailureReason), FailingSince: e.FailingSince,
		Attempts: int32(min(e.Attempts, math.MaxInt32)), FirstFailedAt: e.FirstFailedAt, RetryAt: e.RetryAt,
		SecretSealed: e.SecretSealed, PreviousSecretSealed: e.PreviousSecretSealed, PreviousSecretExpires: e.PreviousSecretExpires,
		UpdatedAt: e.UpdatedAt,
	})
	if err != nil {
		return mapErr(err)
	}
	if n == 0 {
		return core.ErrNotFound
	}
	return nil
}

func (t *tenantTx) WebhookEndpointDelete(ctx context.Context, id uuid.UUID) error {
	n, err := t.q.WebhookEndpointDelete(ctx, dbsqlc.WebhookEndpointDeleteParams{AccountID: t.accountID, ID: id})
	if err != nil {
		return mapErr(err)
	}
	if n == 0 {
		return core.ErrNotFound
	}
	return nil
}

func attemptParams(accountID uuid.UUID, a core.WebhookAttempt) dbsqlc.WebhookAttemptInsertParams {
	p := dbsqlc.WebhookAttemptInsertParams{
		AccountID: accountID, ID: a.ID, EndpointID: a.EndpointID, EventID: a.EventID, EventType: a.EventType,
		AttemptedAt: a.At.UTC(), Outcome: string(a.Outcome), LatencyMs: int32(min(max(a.Latency.Milliseconds(), 0), math.MaxInt32)),
		Error: optString(core.CleanText(a.Error, 500)),
	}
	if a.ID == uuid.Nil {
		p.ID = uuid.New()
	}
	if a.Sequence > 0 {
		p.Sequence = &a.Sequence
	}
	if a.StatusCode > 0 {
		c := int32(a.StatusCode)
		p.StatusCode = &c
	}
	return p
}

func (t *tenantTx) WebhookAttemptRecord(ctx context.Context, a core.WebhookAttempt) error {
	return mapErr(t.q.WebhookAttemptInsert(ctx, attemptParams(t.accountID, a)))
}

func (t *tenantTx) WebhookAttemptList(ctx context.Context, q core.WebhookAttemptQuery) ([]core.WebhookAttempt, error) {
	if q.Limit < 0 || q.Limit > math.MaxInt32 {
		return nil, fmt.Errorf("postgres: attempt list limit %d out of range", q.Limit)
	}
	p := dbsqlc.WebhookAttemptListParams{AccountID: t.accountID, EndpointID: q.EndpointID, MaxRows: int32(q.Limit)}
	if q.After != nil {
		at, id := q.After.AttemptedAt, q.After.ID
		p.BeforeAt, p.BeforeID = &at, &id
	}
	rows, err := t.q.WebhookAttemptList(ctx, p)
	if err != nil {
		return nil, mapErr(err)
	}
	out := make([]core.WebhookAttempt, len(rows))
	for i, r := range rows {
		a := core.WebhookAttempt{
			ID: r.ID, EndpointID: r.EndpointID, EventID: r.EventID, EventType: r.EventType, At: r.AttemptedAt,
			Outcome: core.WebhookOutcome(r.Outcome), Latency: time.Duration(r.LatencyMs) * time.Millisecond, Error: deref(r.Error),
		}
		if r.Sequence != nil {
			a.Sequence = *r.Sequence
		}
		if r.StatusCode != nil {
			a.StatusCode = int(*r.StatusCode)
		}
		out[i] = a
	}
	return out, nil
}

// The outbox of the delivery worker (adapters/audit.Outbox).

// WebhookWork lists every account with webhook endpoints and its work at
// now (the SECURITY DEFINER function webhook_work: the worker's one
// cross-tenant read).
func (s *Store) WebhookWork(ctx context.Context, now time.Time) ([]core.WebhookWork, error) {
	rows, err := s.q.WebhookWork(ctx, now)
	if err != nil {
		return nil, asFault(err)
	}
	out := make([]core.WebhookWork, len(rows))
	for i, r := range rows {
		out[i] = core.WebhookWork{AccountID: r.AccountID, LeaseFree: r.LeaseFree, Due: r.Due}
		if r.HasPending {
			t := r.OldestPending
			out[i].OldestPending = &t
		}
	}
	return out, nil
}

// WebhookFailingEndpoints counts the enabled endpoints marked failing,
// across accounts.
func (s *Store) WebhookFailingEndpoints(ctx context.Context) (int64, error) {
	n, err := s.q.WebhookFailingEndpoints(ctx)
	return n, asFault(err)
}

// WebhookLease takes (or renews) the account's delivery lease for owner
// until until; false when another owner holds it. One conditional UPDATE
// pinned by the account (no cross-tenant lock).
func (s *Store) WebhookLease(ctx context.Context, accountID, owner uuid.UUID, now, until time.Time) (bool, error) {
	var ok bool
	err := s.oneShot(ctx, accountID, func(q *dbsqlc.Queries) error {
		_, err := q.WebhookStreamLease(ctx, dbsqlc.WebhookStreamLeaseParams{AccountID: accountID, Owner: owner, Now: now, Until: until})
		if errors.Is(mapErr(err), core.ErrNotFound) {
			return nil
		}
		ok = err == nil
		return err
	})
	return ok, asFault(err)
}

// WebhookRelease gives the lease up (only owner's).
func (s *Store) WebhookRelease(ctx context.Context, accountID, owner uuid.UUID) error {
	return asFault(s.oneShot(ctx, accountID, func(q *dbsqlc.Queries) error {
		return q.WebhookStreamRelease(ctx, dbsqlc.WebhookStreamReleaseParams{AccountID: accountID, Owner: owner})
	}))
}

// WebhookStamp gives the account's committed, unstamped events (at most
// max, oldest first: created_at, then id) the next sequence numbers, with
// the stream locked, and returns how many it stamped and the stream's last
// sequence number. Only committed events are visible here: an event is
// never stamped, let alone delivered, before its transaction commits.
func (s *Store) WebhookStamp(ctx context.Context, accountID uuid.UUID, max int) (stamped int, lastSeq int64, err error) {
	if max < 1 || max > math.MaxInt32 {
		return 0, 0, fmt.Errorf("postgres: stamp batch %d out of range", max)
	}
	err = retryOnce(ctx, func() error {
		stamped = 0
		return s.inTenantTx(ctx, accountID, nil, func(q *dbsqlc.Queries, _ *prefixedDB) error {
			st, err := q.WebhookStreamLock(ctx, accountID)
			if err != nil {
				return mapErr(err)
			}
			lastSeq = st.LastSeq
			rows, err := q.AuditEventUnstamped(ctx, dbsqlc.AuditEventUnstampedParams{AccountID: accountID, Since: st.Since, MaxRows: int32(max)})
			if err != nil || len(rows) == 0 {
				return err
			}
			p := dbsqlc.AuditEventStampParams{AccountID: accountID}
			for _, r := range rows {
				lastSeq++
				p.Ids, p.CreatedAts, p.Seqs = append(p.Ids, r.ID), append(p.CreatedAts, r.CreatedAt), append(p.Seqs, lastSeq)
			}
			n, err := q.AuditEventStamp(ctx, p)
			if err != nil {
				return err
			}
			if n != int64(len(rows)) {
				return fmt.Errorf("postgres: stamped %d of %d events", n, len(rows))
			}
			stamped = len(rows)
			return q.WebhookStreamSetLastSeq(ctx, dbsqlc.WebhookStreamSetLastSeqParams{AccountID: accountID, LastSeq: lastSeq})
		})
	})
	return stamped, lastSeq, err
}

// WebhookDueEndpoints returns the account's enabled, active endpoints whose
// retry time (if any) has come at now.
func (s *Store) WebhookDueEndpoints(ctx context.Context, accountID uuid.UUID, now time.Time) ([]core.WebhookEndpoint, error) {
	var out []core.WebhookEndpoint
	err := s.oneShot(ctx, accountID, func(q *dbsqlc.Queries) error {
		rows, err := q.WebhookEndpointsDue(ctx, dbsqlc.WebhookEndpointsDueParams{AccountID: accountID, Now: now})
		for _, r := range rows {
			out = append(out, endpointFromRow(r))
		}
		return err
	})
	return out, asFault(err)
}

// WebhookEventsAfter returns the account's stamped events with a sequence
// number in (after, upto], at most max, in sequence order.
func (s *Store) WebhookEventsAfter(ctx context.Context, accountID uuid.UUID, after, upto int64, max int) ([]core.SequencedEvent, error) {
	if max < 1 || max > math.MaxInt32 {
		return nil, fmt.Errorf("postgres: events batch %d out of range", max)
	}
	var out []core.SequencedEvent
	err := s.oneShot(ctx, accountID, func(q *dbsqlc.Queries) error {
		rows, err := q.AuditEventAfterSeq(ctx, dbsqlc.AuditEventAfterSeqParams{AccountID: accountID, AfterSeq: after, UptoSeq: upto, MaxRows: int32(max)})
		if err != nil {
			return err
		}
		for _, r := range rows {
			details := map[string]any{}
			if err := json.Unmarshal(r.Details, &details); err != nil {
				return fmt.Errorf("postgres: audit event %s details: %w", r.ID, err)
			}
			out = append(out, core.SequencedEvent{Seq: r.DeliverySeq, Event: core.AuditEvent{
				ID: r.ID, AccountID: accountID, ActorUserID: r.ActorUserID, Action: r.Action, ResourceType: r.ResourceType,
				ResourceID: deref(r.ResourceID), Details: details, IP: derefAddr(r.IpAddress), UserAgent: deref(r.UserAgent), At: r.CreatedAt,
			}})
		}
		return nil
	})
	return out, asFault(err)
}

// WebhookAdvance moves the endpoint's cursor to seq (every event up to it
// delivered or skipped) and clears its retry state, and records the
// attempt that delivered seq when there is one, in one transaction. false
// when the endpoint is gone or already past seq.
func (s *Store) WebhookAdvance(ctx context.Context, accountID, endpointID uuid.UUID, seq int64, a *core.WebhookAttempt) (bool, error) {
	var ok bool
	err := retryOnce(ctx, func() error {
		return s.inTenantTx(ctx, accountID, nil, func(q *dbsqlc.Queries, _ *prefixedDB) error {
			n, err := q.WebhookEndpointAdvance(ctx, dbsqlc.WebhookEndpointAdvanceParams{AccountID: accountID, ID: endpointID, Seq: seq})
			if err != nil {
				return err
			}
			ok = n == 1
			if ok && a != nil {
				return q.WebhookAttemptInsert(ctx, attemptParams(accountID, *a))
			}
			return nil
		})
	})
	return ok, err
}

// WebhookFail records a failed attempt of the endpoint's head event (the
// cursor at deliveredSeq, moved to f.Cursor past the events skipped before
// the head) and its new retry state, in one transaction. false when the endpoint changed meanwhile (deleted,
// disabled, advanced): the attempt is then not recorded.
func (s *Store) WebhookFail(ctx context.Context, accountID, endpointID uuid.UUID, deliveredSeq int64, f core.WebhookFailure, a core.WebhookAttempt) (bool, error) {
	var ok bool
	err := retryOnce(ctx, func() error {
		return s.inTenantTx(ctx, accountID, nil, func(q *dbsqlc.Queries, _ *prefixedDB) error {
			p := dbsqlc.WebhookEndpointFailedParams{
				AccountID: accountID, ID: endpointID, DeliveredSeq: deliveredSeq, NewSeq: max(f.Cursor, deliveredSeq), Attempts: int32(min(f.Attempts, math.MaxInt32)),
				FirstFailedAt: &f.FirstFailedAt, RetryAt: f.RetryAt, LastError: optString(core.CleanText(a.Error, 500)),
				State: string(core.WebhookActive),
			}
			if f.GiveUp {
				now := f.Now
				p.State, p.FailureReason, p.FailingSince = string(core.WebhookFailing), optString(core.CleanText(f.Reason, 500)), &now
			}
			n, err := q.WebhookEndpointFailed(ctx, p)
			if err != nil {
				return err
			}
			ok = n == 1
			if ok {
				return q.WebhookAttemptInsert(ctx, attemptParams(accountID, a))
			}
			return nil
		})
	})
	return ok, err
}

// PurgeWebhookAttempts removes delivery attempts older than retention (at
// least a day, by the database's clock), in batches; several instances
// take turns (maintenance_purge_webhook_attempts).
func (s *Store) PurgeWebhookAttempts(ctx context.Context, retention time.Duration, batchSize int) (int64, error) {
	if batchSize < 1 || batchSize > 1<<20 {
		return 0, fmt.Errorf("purge: batch size %d out of range", batchSize)
	}
	var total int64
	for {
		n, err := s.q.MaintenancePurgeWebhookAttempts(ctx, dbsqlc.MaintenancePurgeWebhookAttemptsParams{
			Retention: pgtype.Interval{Microseconds: retention.Microseconds(), Valid: true}, BatchSize: int32(batchSize)})
		if err != nil {
			return total, asFault(err)
		}
		total += n
		if n < int64(batchSize) || ctx.Err() != nil {
			return total, nil
		}
	}
}

// PartitionChange is one partition created or dropped.
type PartitionChange struct{ Partition, Change string }

// MaintainAuditPartitions creates the audit table's weekly partitions up to
// aheadWeeks ahead and drops those wholly older than the longest retention
// in force (at least defaultDays, at most maxDays), by the database's
// clock (audit_partitions_maintain, migrations/00013).
func (s *Store) MaintainAuditPartitions(ctx context.Context, aheadWeeks, defaultDays, maxDays int) ([]PartitionChange, error) {
	if aheadWeeks < 1 || aheadWeeks > 52 || defaultDays < 1 || maxDays < defaultDays || maxDays > 3660 {
		return nil, fmt.Errorf("audit partitions: ahead %d weeks, default %d days, max %d days out of range", aheadWeeks, defaultDays, maxDays)
	}
	rows, err := s.q.AuditPartitionsMaintain(ctx, dbsqlc.AuditPartitionsMaintainParams{
		AheadWeeks: int32(aheadWeeks), DefaultDays: int32(defaultDays), MaxDays: int32(maxDays)})
	if err != nil {
		return nil, asFault(err)
	}
	out := make([]PartitionChange, len(rows))
	for i, r := range rows {
		out[i] = PartitionChange{Partition: r.PartitionName, Change: r.Change}
	}
	return out, nil
}

var _ core.WebhookOutbox = (*Store)(nil)
