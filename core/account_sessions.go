package core

import (
	"context"
	"net/url"
	"time"

	"github.com/google/uuid"
)

// Account-wide sessions (docs/session-rules.md §5, owner only): every live session of the
// account, and revoking any one of them.

// Account session listing page sizes.
const (
	AccountSessionPageDefault = 50
	AccountSessionPageMax     = 200
)

// SessionPosition is a place in the account session list's order
// (last_used_at, then id, both descending).
type SessionPosition struct {
	LastUsedAt time.Time
	ID         uuid.UUID
}

// AccountSessionQuery selects live sessions of the account (see
// TenantTx.SessionListAccount).
type AccountSessionQuery struct {
	UserID *uuid.UUID // nil = every user
	Now    time.Time
	Limit  int
	After  *SessionPosition
}

// AccountSessionPage is one page of the account's live sessions.
// NextCursor is "" on the last page.
type AccountSessionPage struct {
	Sessions   []SessionInfo
	NextCursor string
}

// ListAccountSessions returns one page of the caller's account's live
// sessions, most recent activity first, optionally one user's. cursor is
// "" for the first page, else a previous page's NextCursor; limit 0 means
// the default. The caller's own current session is marked Current.
// Errors: CodeForbidden, CodeValidation (limit), CodeInvalidCursor.
func (s *Service) ListAccountSessions(ctx context.Context, p Principal, userID *uuid.UUID, limit int, cursor string) (AccountSessionPage, error) {
	limit, err := pageLimit(limit, AccountSessionPageDefault, AccountSessionPageMax)
	if err != nil {
		return AccountSessionPage{}, err
	}
	filters := url.Values{}
	if userID != nil {
		filters.Set("user_id", userID.String())
	}
	q := AccountSessionQuery{UserID: userID, Now: s.clock.Now(), Limit: limit + 1} // one more: is there a next page?
	if cursor != "" {
		// A position only, never a tenant, so a cursor cannot widen what a
		// caller sees; bound to this listing and its filter (cursor.go).
		pos, err := decodeCursor(cursor, listAccountSessions, filters, false)
		if err != nil {
			return AccountSessionPage{}, err
		}
		q.After = &SessionPosition{LastUsedAt: pos.T, ID: pos.ID}
	}
	var list []SessionInfo
	err = asOwnerIn(ctx, s, p, s.accountSessions.inAccountSessionTx, func(tx accountSessionTx) error {
		var err error
		list, err = tx.SessionListAccount(ctx, q)
		return err
	})
	if err != nil {
		return AccountSessionPage{}, err
	}
	page := AccountSessionPage{Sessions: list}
	if len(list) > limit {
		page.Sessions = list[:limit]
		last := page.Sessions[limit-1]
		page.NextCursor = encodeCursor(listAccountSessions, filters, cursorPos{T: last.LastUsedAt, ID: last.ID})
	}
	for i := range page.Sessions {
		page.Sessions[i].Current = page.Sessions[i].ID == p.SessionID
	}
	return page, nil
}

// RevokeAccountSession ends any session of the caller's account: its
// refresh tokens stop at once and, through the liveness check, its access
// tokens too. Audited session.revoked. Errors: CodeForbidden; CodeNotFound
// for a session that is unknown, another tenant's (invisible, so the same
// thing) or already revoked.
func (s *Service) RevokeAccountSession(ctx context.Context, p Principal, sessionID uuid.UUID, client Client) error {
	now := s.clock.Now()
	return asOwnerWriteIn(ctx, s, p, s.accountSessions.inAccountSessionTx, func(tx accountSessionTx) error {
		return s.revokeSession(ctx, tx, p, sessionID, false, client, now)
	})
}
