package core

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
)

// Account administration (SPEC §4): session policy, bulk revocation,
// members and the audit trail. Owner only.

var errOwnerOnly = &Error{Code: CodeForbidden, Message: "only account owners may do this"}

// asOwner runs fn in the caller's tenant transaction after checking that
// the caller is an owner. The token's role claim is checked first (cheap,
// and a member is turned away before any work); the user's current role is
// then re-read inside the transaction, because an access token outlives a
// demotion or deactivation by up to its lifetime and must not keep admin
// rights that long.
func (s *Service) asOwner(ctx context.Context, p Principal, fn func(TenantTx) error) error {
	if p.Role != RoleOwner {
		return errOwnerOnly
	}
	return s.store.InTenantTx(ctx, p.AccountID, func(tx TenantTx) error {
		role, active, err := tx.UserAccess(ctx, p.UserID)
		if errors.Is(err, ErrNotFound) {
			return errOwnerOnly
		}
		if err != nil {
			return err
		}
		if role != RoleOwner || !active {
			return errOwnerOnly
		}
		return fn(tx)
	})
}

// AccountSecurity is an account's session policy as an owner sees it: the
// override, what is in force, and the system settings (defaults, bounds).
type AccountSecurity struct {
	Override  PolicyOverride
	Effective EffectivePolicy
	Settings  PolicySettings
}

func (s *Service) accountSecurity(o PolicyOverride) AccountSecurity {
	return AccountSecurity{Override: o, Effective: s.cfg.Policy.Effective(o), Settings: s.cfg.Policy}
}

// AccountSecurity returns the caller's account session policy.
// Errors: CodeForbidden for anyone but a current owner.
func (s *Service) AccountSecurity(ctx context.Context, p Principal) (AccountSecurity, error) {
	var o PolicyOverride
	err := s.asOwner(ctx, p, func(tx TenantTx) error {
		var err error
		o, err = tx.AccountPolicy(ctx)
		return err
	})
	if err != nil {
		return AccountSecurity{}, err
	}
	return s.accountSecurity(o), nil
}

// UpdateAccountSecurity sets or clears the caller's account override. The
// account row is locked, the patched override validated as a whole (bounds
// per field, then the invariant on the effective values), and the change
// written with its audit event in the same transaction. Sessions keep the
// snapshot they were signed in with; the next sign-in takes the new policy.
// Errors: CodeForbidden, CodePolicyOutOfBounds, CodePolicyInvariant.
func (s *Service) UpdateAccountSecurity(ctx context.Context, p Principal, patch PolicyPatch, client Client) (AccountSecurity, error) {
	now := s.clock.Now()
	var updated PolicyOverride
	err := s.asOwner(ctx, p, func(tx TenantTx) error {
		old, err := tx.AccountPolicyForUpdate(ctx)
		if err != nil {
			return err
		}
		updated = patch.Apply(old)
		if err := s.cfg.Policy.ValidateOverride(updated); err != nil {
			return err
		}
		if err := validateSessionLimit(updated); err != nil {
			return err
		}
		if err := tx.AccountSetPolicy(ctx, updated, now); err != nil {
			return err
		}
		return tx.Audit(ctx, s.event(p.AccountID, &p.UserID, ActionPolicyUpdate, "account", p.AccountID.String(),
			map[string]any{
				"old":           overrideDetails(old),
				"new":           overrideDetails(updated),
				"effective_old": s.effectiveDetails(old),
				"effective_new": s.effectiveDetails(updated),
			}, client, now))
	})
	if err != nil {
		return AccountSecurity{}, err
	}
	return s.accountSecurity(updated), nil
}

// overrideDetails is the policy as stored, for the audit trail: null where
// unset (no override, no session limit).
func overrideDetails(o PolicyOverride) map[string]any {
	m := map[string]any{"idle_minutes": nil, "absolute_minutes": nil, "max_sessions_per_user": nil,
		"session_limit_action": string(o.EffectiveSessionLimitAction())}
	if o.IdleMinutes != nil {
		m["idle_minutes"] = *o.IdleMinutes
	}
	if o.AbsoluteMinutes != nil {
		m["absolute_minutes"] = *o.AbsoluteMinutes
	}
	if o.MaxSessionsPerUser != nil {
		m["max_sessions_per_user"] = *o.MaxSessionsPerUser
	}
	return m
}

// effectiveDetails is the policy in force; max_sessions_per_user stays
// null when unlimited (there is no default limit).
func (s *Service) effectiveDetails(o PolicyOverride) map[string]any {
	e := s.cfg.Policy.Effective(o)
	m := map[string]any{"idle_minutes": e.IdleMinutes, "absolute_minutes": e.AbsoluteMinutes,
		"max_sessions_per_user": nil, "session_limit_action": string(o.EffectiveSessionLimitAction())}
	if o.MaxSessionsPerUser != nil {
		m["max_sessions_per_user"] = *o.MaxSessionsPerUser
	}
	return m
}

// RevokeScope says which sessions a bulk revocation ends.
type RevokeScope string

const (
	// RevokeAll: every live session of every user of the account, the
	// caller's included.
	RevokeAll RevokeScope = "all"
	// RevokeOthers: every live session of the account's other users; all
	// of the caller's own sessions survive.
	RevokeOthers RevokeScope = "others"
)

// RevokeAccountSessions ends live sessions across the caller's account in
// one statement and records one audit event with the scope and count,
// whatever the count (a second call records 0). Returns how many sessions
// were revoked. Errors: CodeForbidden, CodeValidation (unknown scope).
func (s *Service) RevokeAccountSessions(ctx context.Context, p Principal, scope RevokeScope, client Client) (int64, error) {
	var except *uuid.UUID
	switch scope {
	case "", RevokeAll:
		scope = RevokeAll
	case RevokeOthers:
		except = &p.UserID
	default:
		return 0, FieldError(CodeValidation, "scope", "scope must be %q or %q", RevokeAll, RevokeOthers)
	}
	now := s.clock.Now()
	var n int64
	err := s.asOwner(ctx, p, func(tx TenantTx) error {
		var err error
		if n, err = tx.SessionRevokeAllForAccount(ctx, except, now, ReasonBulkRevoke); err != nil {
			return err
		}
		return tx.Audit(ctx, s.event(p.AccountID, &p.UserID, ActionSessionsRevokedBulk, "account", p.AccountID.String(),
			map[string]any{"scope": string(scope), "revoked_count": n}, client, now))
	})
	if err != nil {
		return 0, err
	}
	return n, nil
}

// ListMembers returns every user of the caller's account, owners included,
// oldest first. Errors: CodeForbidden.
func (s *Service) ListMembers(ctx context.Context, p Principal) ([]User, error) {
	var users []User
	err := s.asOwner(ctx, p, func(tx TenantTx) error {
		var err error
		users, err = tx.UserList(ctx)
		return err
	})
	return users, err
}

// CreateMemberInput is a new user of the caller's account, added by an
// owner with an initial password.
type CreateMemberInput struct {
	NewUser
	Role Role
}

// CreateMember adds a user to the caller's account and records a
// member.created event (user and role; never the password).
// Errors: CodeForbidden, CodeValidation, CodeEmailTaken.
func (s *Service) CreateMember(ctx context.Context, p Principal, in CreateMemberInput, client Client) (User, error) {
	if p.Role != RoleOwner { // before hashing: a member must not cost an argon2 run
		return User{}, errOwnerOnly
	}
	u := in.NewUser.normalized()
	if err := u.Validate(); err != nil {
		return User{}, err
	}
	if !in.Role.Valid() {
		return User{}, FieldError(CodeValidation, "role", "role must be %q or %q", RoleOwner, RoleMember)
	}
	hash, err := s.hasher.Hash(in.Password)
	if err != nil {
		return User{}, fmt.Errorf("hash password: %w", err)
	}
	now := s.clock.Now()
	user := User{ID: uuid.New(), AccountID: p.AccountID, Email: u.Email, Name: u.Name, Role: in.Role, Active: true, CreatedAt: now}
	err = s.asOwner(ctx, p, func(tx TenantTx) error {
		if err := tx.UserCreate(ctx, user, hash); err != nil {
			return err
		}
		return tx.Audit(ctx, s.event(p.AccountID, &p.UserID, ActionMemberCreated, "user", user.ID.String(),
			map[string]any{"user_id": user.ID.String(), "role": string(user.Role)}, client, now))
	})
	if err != nil {
		return User{}, userCreateError(err)
	}
	return user, nil
}

// Audit listing page sizes.
const (
	AuditPageDefault = 50
	AuditPageMax     = 200
)

// AuditPosition is a place in the audit trail's order (created_at, then
// id, both descending).
type AuditPosition struct {
	CreatedAt time.Time
	ID        uuid.UUID
}

// AuditQuery selects events of the audit trail (see TenantTx.AuditList).
type AuditQuery struct {
	Action string // "" = any action
	Limit  int
	After  *AuditPosition
}

// AuditPage is one page of the audit trail. NextCursor is "" on the last
// page.
type AuditPage struct {
	Events     []AuditEvent
	NextCursor string
}

// ListAuditEvents returns one page of the caller's account's audit trail,
// newest first. cursor is "" for the first page, else a previous page's
// NextCursor; limit 0 means the default. Errors: CodeForbidden,
// CodeValidation (limit out of range, cursor not one of ours).
func (s *Service) ListAuditEvents(ctx context.Context, p Principal, action string, limit int, cursor string) (AuditPage, error) {
	if limit == 0 {
		limit = AuditPageDefault
	}
	if limit < 1 || limit > AuditPageMax {
		return AuditPage{}, FieldError(CodeValidation, "limit", "limit must be between 1 and %d", AuditPageMax)
	}
	q := AuditQuery{Action: action, Limit: limit + 1} // one more tells whether a next page exists
	if cursor != "" {
		pos, err := decodeAuditCursor(cursor)
		if err != nil {
			return AuditPage{}, err
		}
		q.After = &pos
	}
	var events []AuditEvent
	err := s.asOwner(ctx, p, func(tx TenantTx) error {
		var err error
		events, err = tx.AuditList(ctx, q)
		return err
	})
	if err != nil {
		return AuditPage{}, err
	}
	page := AuditPage{Events: events}
	if len(events) > limit {
		page.Events = events[:limit]
		last := page.Events[limit-1]
		page.NextCursor = encodeAuditCursor(AuditPosition{CreatedAt: last.At, ID: last.ID})
	}
	return page, nil
}

// auditCursor is the cursor's content: base64url (unpadded) of this JSON.
// It is opaque to clients and carries only a position, never a tenant: the
// tenant always comes from the caller, so a cursor cannot widen what a
// caller sees.
type auditCursor struct {
	T  int64     `json:"t"` // created_at, Unix nanoseconds
	ID uuid.UUID `json:"id"`
}

func encodeAuditCursor(p AuditPosition) string {
	b, _ := json.Marshal(auditCursor{T: p.CreatedAt.UnixNano(), ID: p.ID}) // cannot fail
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeAuditCursor(s string) (AuditPosition, error) {
	bad := FieldError(CodeValidation, "cursor", "cursor is not valid; pass a previous page's next_cursor unchanged")
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return AuditPosition{}, bad
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var c auditCursor
	if err := dec.Decode(&c); err != nil || dec.More() || c.T <= 0 || c.ID == uuid.Nil {
		return AuditPosition{}, bad
	}
	return AuditPosition{CreatedAt: time.Unix(0, c.T).UTC(), ID: c.ID}, nil
}
