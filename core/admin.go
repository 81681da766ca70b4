package core

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/google/uuid"
)

// Account administration (docs/session-rules.md §5): session policy, bulk revocation,
// members and the audit trail. Owner only.

// errMemberPasswordsDisabled refuses an owner-set password while the
// server setting MEMBER_PASSWORDS is off: owners invite instead.
var errMemberPasswordsDisabled = &Error{Code: CodeMemberPasswordsDisabled,
	Message: "creating members with a password is disabled on this server (MEMBER_PASSWORDS=off); invite them with POST /api/v1/accounts/me/invitations"}

var errOwnerOnly = &Error{Code: CodeForbidden, Message: "only account owners may do this"}

// asOwnerIn runs fn in the caller's tenant transaction, opened by inTx (a
// narrow port's), after checking that the caller is an owner. The token's
// role claim is checked first (cheap, and a member is turned away before
// any work); the user's current role is then re-read inside the
// transaction, because an access token outlives a demotion or
// deactivation by up to its lifetime and must not keep admin rights that
// long.
func asOwnerIn[T ownerTx](ctx context.Context, s *Service, p Principal,
	inTx func(context.Context, uuid.UUID, func(T) error) error, fn func(T) error) error {
	if p.Role != RoleOwner {
		return errOwnerOnly
	}
	return inTx(ctx, p.AccountID, func(tx T) error {
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
	err := asOwnerIn(ctx, s, p, s.policies.inPolicyTx, func(tx policyTx) error {
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
// written with its audit event in the same transaction. A patch that
// changes nothing ({}, or the values already in force) writes nothing and
// records no event. Sessions keep the snapshot they were signed in with;
// the next sign-in takes the new policy.
// Errors: CodeForbidden, CodePolicyOutOfBounds, CodePolicyInvariant.
func (s *Service) UpdateAccountSecurity(ctx context.Context, p Principal, patch PolicyPatch, client Client) (AccountSecurity, error) {
	now := s.clock.Now()
	var updated PolicyOverride
	err := asOwnerWriteIn(ctx, s, p, s.policies.inPolicyTx, func(tx policyTx) error {
		old, err := tx.AccountPolicyForUpdate(ctx)
		if err != nil {
			return err
		}
		updated = patch.Apply(old)
		if samePolicy(old, updated) {
			return nil // nothing changes: nothing to check, write or audit (ADM-04)
		}
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

// samePolicy reports whether two overrides are the same policy: the same
// overrides and limit, and the same limit action in force ("" reads as
// evict_oldest).
func samePolicy(a, b PolicyOverride) bool {
	eq := func(x, y *int) bool { return (x == nil) == (y == nil) && (x == nil || *x == *y) }
	return eq(a.IdleMinutes, b.IdleMinutes) && eq(a.AbsoluteMinutes, b.AbsoluteMinutes) &&
		eq(a.MaxSessionsPerUser, b.MaxSessionsPerUser) && eq(a.AuditRetentionDays, b.AuditRetentionDays) &&
		a.EffectiveSessionLimitAction() == b.EffectiveSessionLimitAction() &&
		sameMFAPolicy(a, b)
}

// overrideDetails is the policy as stored, for the audit trail: null where
// unset (no override, no session limit).
func overrideDetails(o PolicyOverride) map[string]any {
	m := map[string]any{"idle_minutes": nil, "absolute_minutes": nil, "max_sessions_per_user": nil,
		"session_limit_action": string(o.EffectiveSessionLimitAction()), "audit_retention_days": nil}
	if o.AuditRetentionDays != nil {
		m["audit_retention_days"] = *o.AuditRetentionDays
	}
	if o.IdleMinutes != nil {
		m["idle_minutes"] = *o.IdleMinutes
	}
	if o.AbsoluteMinutes != nil {
		m["absolute_minutes"] = *o.AbsoluteMinutes
	}
	if o.MaxSessionsPerUser != nil {
		m["max_sessions_per_user"] = *o.MaxSessionsPerUser
	}
	mfaPolicyDetails(m, o)
	return m
}

// effectiveDetails is the policy in force; max_sessions_per_user stays
// null when unlimited (there is no default limit).
func (s *Service) effectiveDetails(o PolicyOverride) map[string]any {
	e := s.cfg.Policy.Effective(o)
	m := map[string]any{"idle_minutes": e.IdleMinutes, "absolute_minutes": e.AbsoluteMinutes,
		"max_sessions_per_user": nil, "session_limit_action": string(o.EffectiveSessionLimitAction()),
		"audit_retention_days": s.cfg.Policy.EffectiveAuditRetention(o)}
	if o.MaxSessionsPerUser != nil {
		m["max_sessions_per_user"] = *o.MaxSessionsPerUser
	}
	m["mfa_required"], m["reauth_max_age_minutes"] = string(e.MFARequired), e.ReauthMaxAgeMinutes
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
	err := asOwnerWriteIn(ctx, s, p, s.accountSessions.inAccountSessionTx, func(tx accountSessionTx) error {
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
	if !s.cfg.MemberPasswords {
		return User{}, errMemberPasswordsDisabled
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
	err = asOwnerWriteIn(ctx, s, p, s.members.inMemberTx, func(tx memberTx) error {
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

// AuditFilter selects events of the audit trail; zero fields select
// everything.
type AuditFilter struct {
	// ActorUserID: events of this user's doing.
	ActorUserID *uuid.UUID
	// SubjectUserID: events about this user (see TenantTx.AuditList for
	// which events are about whom).
	SubjectUserID *uuid.UUID
	// SessionID: events about this session (resource_type session).
	SessionID *uuid.UUID
	// Action: exactly this action (one of AuditActions).
	Action string
	// ActionPrefix: every action starting with it (e.g. "member.").
	ActionPrefix string
	// Since (inclusive) and Until (exclusive) bound created_at.
	Since, Until *time.Time
}

// values is the filter as the listing's query parameters, for the cursor
// binding (filterDigest).
func (f AuditFilter) values() url.Values {
	v := url.Values{}
	set := func(k string, id *uuid.UUID) {
		if id != nil {
			v.Set(k, id.String())
		}
	}
	set("actor_user_id", f.ActorUserID)
	set("user_id", f.SubjectUserID)
	set("session_id", f.SessionID)
	v.Set("action", f.Action)
	v.Set("action_prefix", f.ActionPrefix)
	if f.Since != nil {
		v.Set("since", f.Since.UTC().Format(time.RFC3339Nano))
	}
	if f.Until != nil {
		v.Set("until", f.Until.UTC().Format(time.RFC3339Nano))
	}
	return v
}

// AuditQuery selects events of the audit trail (see TenantTx.AuditList).
type AuditQuery struct {
	// Action: exactly this action; "" = any.
	Action string
	// Actions: one of these actions (a prefix's); nil = any.
	Actions                               []string
	ActorUserID, SubjectUserID, SessionID *uuid.UUID
	Since, Until                          *time.Time
	// NotBefore hides events older than the account's audit retention
	// (zero: none hidden).
	NotBefore time.Time
	Limit     int
	After     *AuditPosition
}

// AuditPage is one page of the audit trail. NextCursor is "" on the last
// page.
type AuditPage struct {
	Events     []AuditEvent
	NextCursor string
}

// query checks the filter and turns it into the store's query: an exact
// action must be a known one, a prefix must match at least one (so a typo
// is an error, not an empty page), the two do not combine, and the time
// range is not empty. Errors: CodeValidation naming the parameter.
func (f AuditFilter) query() (AuditQuery, error) {
	q := AuditQuery{ActorUserID: f.ActorUserID, SubjectUserID: f.SubjectUserID, SessionID: f.SessionID, Since: f.Since, Until: f.Until}
	switch {
	case f.Action != "" && f.ActionPrefix != "":
		return AuditQuery{}, FieldError(CodeValidation, "action_prefix", "give action or action_prefix, not both")
	case f.Action != "":
		if !knownAuditAction(f.Action) {
			return AuditQuery{}, FieldError(CodeValidation, "action", "action must be one of: %s", strings.Join(AuditActions, ", "))
		}
		q.Action = f.Action
	case f.ActionPrefix != "":
		if q.Actions = auditActionsWithPrefix(f.ActionPrefix); len(q.Actions) == 0 {
			return AuditQuery{}, FieldError(CodeValidation, "action_prefix",
				"action_prefix matches no audit action; actions are: %s", strings.Join(AuditActions, ", "))
		}
	}
	if f.Since != nil && f.Until != nil && !f.Until.After(*f.Since) {
		return AuditQuery{}, FieldError(CodeValidation, "until", "until must be later than since")
	}
	return q, nil
}

// ListAuditEvents returns one page of the caller's account's audit trail,
// newest first, filtered by f. cursor is "" for the first page, else a
// previous page's NextCursor under the same filter; limit 0 means the
// default. Errors: CodeForbidden, CodeValidation (limit, filter),
// CodeInvalidCursor.
func (s *Service) ListAuditEvents(ctx context.Context, p Principal, f AuditFilter, limit int, cursor string) (AuditPage, error) {
	limit, err := pageLimit(limit, AuditPageDefault, AuditPageMax)
	if err != nil {
		return AuditPage{}, err
	}
	q, err := f.query()
	if err != nil {
		return AuditPage{}, err
	}
	q.Limit = limit + 1 // one more tells whether a next page exists
	if cursor != "" {
		pos, err := decodeCursor(cursor, listAuditEvents, f.values(), false)
		if err != nil {
			return AuditPage{}, err
		}
		q.After = &AuditPosition{CreatedAt: pos.T, ID: pos.ID}
	}
	var events []AuditEvent
	now := s.clock.Now()
	err = asOwnerIn(ctx, s, p, s.audits.inAuditTx, func(tx auditTx) error {
		o, err := tx.AccountPolicy(ctx)
		if err != nil {
			return err
		}
		// Events past the account's retention are not shown (their week's
		// partition is dropped later, migrations/00013).
		q.NotBefore = now.AddDate(0, 0, -s.cfg.Policy.EffectiveAuditRetention(o))
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
		page.NextCursor = encodeCursor(listAuditEvents, f.values(), cursorPos{T: last.At, ID: last.ID})
	}
	return page, nil
}
