package core

// The narrow ports of the use cases: each declares the few store methods it
// needs, next to it, and Service hands it the Store seen through that port
// (storePorts). A fake of one is a handful of methods. Store and TenantTx
// stay the union every adapter implements (ports.go); how a need is met in
// one round trip (a one-statement variant, a pipelined transaction) is the
// adapter's business, not the use case's.

import (
	"context"
	"time"

	"github.com/google/uuid"
)

// refreshStore is what a refresh needs (refresh.go): the tenant of a
// legacy token, the fast path's guarded write, and the slow path's
// transaction, which sees only refreshTx.
type refreshStore interface {
	SessionAccount(ctx context.Context, sessionID uuid.UUID) (uuid.UUID, error)
	RotateIfCurrent(ctx context.Context, accountID uuid.UUID, g RotationGuard, r Rotation) (RotatedSession, bool, error)
	inRefreshTx(ctx context.Context, accountID uuid.UUID, fn func(refreshTx) error) error
}

// refreshTx is the refresh slow path's transaction: lock the family, read
// the policy in force (legacy tokens), then rotate, or revoke and audit.
type refreshTx interface {
	SessionLockForRefresh(ctx context.Context, sessionID uuid.UUID) (FamilyState, error)
	AccountPolicy(ctx context.Context) (PolicyOverride, error)
	SessionRotate(ctx context.Context, r Rotation) error
	SessionRevoke(ctx context.Context, sessionID uuid.UUID, now time.Time, reason string) (bool, error)
	Audit(ctx context.Context, e AuditEvent) error
}

// bearerStore is what the use cases that check their bearer's liveness
// themselves need (caller.go, Me, ListSessions): each answer in one round
// trip, the liveness check included.
type bearerStore interface {
	// SessionIsLive: RequireLive.
	SessionIsLive(ctx context.Context, accountID, sessionID uuid.UUID, now time.Time) (bool, error)
	// UserIfSessionLive: Me.
	UserIfSessionLive(ctx context.Context, accountID, sessionID, userID uuid.UUID, now time.Time) (User, error)
	// SessionListLive: ListSessions (the caller's own session is listed
	// exactly when it is live).
	SessionListLive(ctx context.Context, accountID, userID uuid.UUID, now time.Time) ([]SessionInfo, error)
	// InSessionTx: RevokeSession and LogoutAll (bearerTx).
	liveSessionTx
}

// storePorts is the Store seen through the use cases' narrow ports.
type storePorts struct{ Store }

func (p storePorts) inRefreshTx(ctx context.Context, accountID uuid.UUID, fn func(refreshTx) error) error {
	return p.InTenantTx(ctx, accountID, func(tx TenantTx) error { return fn(tx) })
}

var (
	_ refreshStore = storePorts{}
	_ bearerStore  = Store(nil)
)
