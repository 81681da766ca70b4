package postgres

import (
	"context"
	"time"

	"github.com/google/uuid"

	"github.com/sessiond/sessiond/core"
)

// Observer receives what the store's metrics count (adapters/telemetry
// implements it; cmd/sessiond wires it). Without one nothing is observed. Calls happen after the fact: revocations once their
// transaction committed, purges once the run ended.
type Observer interface {
	// SessionsRevoked counts n sessions revoked for reason (core.Reason*).
	SessionsRevoked(reason string, n int64)
	// PurgeRun counts one purge run and the rows it removed by kind
	// (PurgedKinds).
	PurgeRun(removed map[string]int64, err error)
}

// SetObserver installs o (nil: none). Call before serving.
func (s *Store) SetObserver(o Observer) { s.observer = o }

// revocations collects the sessions a tenant transaction revokes, by
// reason, so they are counted only once the transaction commits.
type revocations struct{ byReason map[string]int64 }

func (r *revocations) add(reason string, n int64) {
	if n <= 0 {
		return
	}
	if r.byReason == nil {
		r.byReason = map[string]int64{}
	}
	r.byReason[reason] += n
}

func (r *revocations) report(o Observer) {
	if o == nil {
		return
	}
	for reason, n := range r.byReason {
		o.SessionsRevoked(reason, n)
	}
}

// wrap returns tx with its revocations recorded into r.
func (r *revocations) wrap(tx core.TenantTx) core.TenantTx { return &countingTx{TenantTx: tx, rec: r} }

type countingTx struct {
	core.TenantTx
	rec *revocations
}

func (t *countingTx) SessionRevoke(ctx context.Context, sessionID uuid.UUID, now time.Time, reason string) (bool, error) {
	ok, err := t.TenantTx.SessionRevoke(ctx, sessionID, now, reason)
	if err == nil && ok {
		t.rec.add(reason, 1)
	}
	return ok, err
}

func (t *countingTx) SessionRevokeAllForUser(ctx context.Context, userID uuid.UUID, except *uuid.UUID, now time.Time, reason string) (int64, error) {
	n, err := t.TenantTx.SessionRevokeAllForUser(ctx, userID, except, now, reason)
	if err == nil {
		t.rec.add(reason, n)
	}
	return n, err
}

func (t *countingTx) SessionRevokeAllForAccount(ctx context.Context, exceptUser *uuid.UUID, now time.Time, reason string) (int64, error) {
	n, err := t.TenantTx.SessionRevokeAllForAccount(ctx, exceptUser, now, reason)
	if err == nil {
		t.rec.add(reason, n)
	}
	return n, err
}
