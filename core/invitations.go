package core

// Invitations (docs/session-rules.md, "Invitations"): an owner invites an
// email with a role; the invitee accepts with the mailed single-use,
// expiring token, their own name and password, and is signed in. The
// token is stored hashed, found by the narrow pre-tenant lookup, then
// locked and judged in the tenant's transaction, like a reset token.

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
)

// Invitation is an owner's invitation of an email into their account.
type Invitation struct {
	ID             uuid.UUID
	AccountID      uuid.UUID
	Email          string
	Role           Role
	InvitedBy      *uuid.UUID
	CreatedAt      time.Time
	ExpiresAt      time.Time
	LastSentAt     time.Time
	SendCount      int
	AcceptedAt     *time.Time
	AcceptedUserID *uuid.UUID
	RevokedAt      *time.Time
}

// Invitation states (Invitation.State).
const (
	InvitationPending  = "pending"
	InvitationExpired  = "expired"
	InvitationAccepted = "accepted"
	InvitationRevoked  = "revoked"
)

// State is the invitation's state at now; an expiry instant is already
// too late, as for every deadline in this service.
func (i Invitation) State(now time.Time) string {
	switch {
	case i.AcceptedAt != nil:
		return InvitationAccepted
	case i.RevokedAt != nil:
		return InvitationRevoked
	case !now.Before(i.ExpiresAt):
		return InvitationExpired
	}
	return InvitationPending
}

// InvitationPosition is a place in the pending list's order.
type InvitationPosition struct {
	CreatedAt time.Time
	ID        uuid.UUID
}

// InvitationPage is one page of pending invitations.
type InvitationPage struct {
	Invitations []Invitation
	NextCursor  string
}

// Invitation listing page sizes (as members').
const (
	InvitationPageDefault = 50
	InvitationPageMax     = 200
)

var (
	errInvitationNotFound     = &Error{Code: CodeNotFound, Message: "invitation not found"}
	errInvalidInvitationToken = &Error{Code: CodeInvalidInvitationToken, Message: "the invitation token is not valid (a resend replaces the earlier link)"}
	errInvitationRevoked      = &Error{Code: CodeInvitationRevoked, Message: "the invitation was revoked by the account's owner"}
	errInvitationExpired      = &Error{Code: CodeInvitationExpired, Message: "the invitation has expired; ask the account's owner to resend it"}
	errInvitationUsed         = &Error{Code: CodeInvitationUsed, Message: "the invitation was accepted already; sign in instead"}
	errInvitationEmailTaken   = &Error{Code: CodeInvitationEmailTaken,
		Message: "the invited email already has an account in this service; sign in with it, or ask the owner to invite another address"}
	errInvitationNotPending = &Error{Code: CodeConflict, Message: "the invitation was accepted or revoked already"}
)

// InviteInput is an owner's invitation.
type InviteInput struct {
	Email string
	Role  Role
}

// CreateInvitation invites an email into the caller's account with a role
// and mails the link. The answer and the request's database work are the
// same whether or not the email has an account in this service already
// (no oracle): the lookup runs either way, the invitation is stored either
// way; only the mail differs (it tells an existing account's owner what
// to do). Audited invitation.created. Errors: CodeForbidden,
// CodeValidation.
// recent-auth: owner write (asOwnerWriteIn)
func (s *Service) CreateInvitation(ctx context.Context, p Principal, in InviteInput, client Client) (Invitation, error) {
	if p.Role != RoleOwner {
		return Invitation{}, errOwnerOnly
	}
	email := NormalizeEmail(in.Email)
	if err := ValidateEmail(email); err != nil {
		return Invitation{}, err
	}
	if !in.Role.Valid() {
		return Invitation{}, FieldError(CodeValidation, "role", "role must be %q or %q", RoleOwner, RoleMember)
	}
	lu, err := s.invites.UserForLogin(ctx, email)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return Invitation{}, err
	}
	hasAccount := err == nil && lu.EmailVerified
	now := s.clock.Now()
	inviter := p.UserID
	inv := Invitation{ID: uuid.New(), AccountID: p.AccountID, Email: email, Role: in.Role, InvitedBy: &inviter,
		CreatedAt: now, ExpiresAt: now.Add(s.cfg.InvitationTTL), LastSentAt: now, SendCount: 1}
	token := newSecret()
	err = asOwnerWriteIn(ctx, s, p, s.invites.inInvitationTx, func(tx invitationTx) error {
		if err := tx.InvitationCreate(ctx, inv, HashResetToken(token)); err != nil {
			return err
		}
		return tx.Audit(ctx, s.event(p.AccountID, &p.UserID, ActionInvitationCreated, "invitation", inv.ID.String(),
			map[string]any{"invitation_id": inv.ID.String(), "email": email, "role": string(inv.Role), "expires_at": inv.ExpiresAt.UTC().Format(time.RFC3339)},
			client, now))
	})
	if err != nil {
		return Invitation{}, err
	}
	s.sendInvitation(ctx, inv, token, hasAccount)
	return inv, nil
}

func (s *Service) sendInvitation(ctx context.Context, inv Invitation, token string, hasAccount bool) {
	if s.mailer == nil {
		s.log.WarnContext(ctx, "invitation not sent: no mailer configured", "account_id", inv.AccountID, "invitation_id", inv.ID)
		return
	}
	m := InvitationMail{To: inv.Email, Token: token, Role: inv.Role, ExpiresAt: inv.ExpiresAt, HasAccount: hasAccount}
	if err := s.mailer.SendInvitation(ctx, m); err != nil {
		s.log.ErrorContext(ctx, "invitation mail not accepted", "err", err, "account_id", inv.AccountID, "invitation_id", inv.ID)
	}
}

// ListInvitations returns one page of the caller's account's pending
// invitations (neither accepted nor revoked; expired ones included),
// oldest first. Errors: CodeForbidden, CodeValidation (limit),
// CodeInvalidCursor.
func (s *Service) ListInvitations(ctx context.Context, p Principal, limit int, cursor string) (InvitationPage, error) {
	limit, err := pageLimit(limit, InvitationPageDefault, InvitationPageMax)
	if err != nil {
		return InvitationPage{}, err
	}
	var after *InvitationPosition
	if cursor != "" {
		pos, err := decodeCursor(cursor, listInvitations, nil, false)
		if err != nil {
			return InvitationPage{}, err
		}
		after = &InvitationPosition{CreatedAt: pos.T, ID: pos.ID}
	}
	var invs []Invitation
	err = asOwnerIn(ctx, s, p, s.invites.inInvitationTx, func(tx invitationTx) error {
		var err error
		invs, err = tx.InvitationListPending(ctx, after, limit+1)
		return err
	})
	if err != nil {
		return InvitationPage{}, err
	}
	page := InvitationPage{Invitations: invs}
	if len(invs) > limit {
		page.Invitations = invs[:limit]
		last := page.Invitations[limit-1]
		page.NextCursor = encodeCursor(listInvitations, nil, cursorPos{T: last.CreatedAt, ID: last.ID})
	}
	return page, nil
}

// ResendInvitation mails a pending (or expired, not accepted, not revoked)
// invitation again with a new token — the earlier link stops working —
// and a new lifetime. At most one mail per Config.InvitationResendInterval:
// a resend inside it is CodeRateLimited (429, Retry-After). Audited
// invitation.resent. Errors: CodeForbidden, CodeNotFound, CodeConflict
// (accepted or revoked), CodeRateLimited.
// recent-auth: owner write (asOwnerWriteIn)
func (s *Service) ResendInvitation(ctx context.Context, p Principal, id uuid.UUID, client Client) (Invitation, error) {
	now := s.clock.Now()
	token := newSecret()
	var inv Invitation
	var hasAccount bool
	err := asOwnerWriteIn(ctx, s, p, s.invites.inInvitationTx, func(tx invitationTx) error {
		var err error
		inv, err = tx.InvitationLock(ctx, id)
		if errors.Is(err, ErrNotFound) {
			return errInvitationNotFound
		}
		if err != nil {
			return err
		}
		if st := inv.State(now); st == InvitationAccepted || st == InvitationRevoked {
			return errInvitationNotPending
		}
		if next := inv.LastSentAt.Add(s.cfg.InvitationResendInterval); now.Before(next) {
			return &ThrottledError{RetryAfter: next.Sub(now), Reason: Errorf(CodeRateLimited,
				"the invitation was mailed moments ago; resend it after %s", next.UTC().Format(time.RFC3339))}
		}
		inv.ExpiresAt, inv.LastSentAt, inv.SendCount = now.Add(s.cfg.InvitationTTL), now, inv.SendCount+1
		if err := tx.InvitationResend(ctx, id, HashResetToken(token), inv.ExpiresAt, now); err != nil {
			return err
		}
		return tx.Audit(ctx, s.event(p.AccountID, &p.UserID, ActionInvitationResent, "invitation", id.String(),
			map[string]any{"invitation_id": id.String(), "email": inv.Email, "send_count": inv.SendCount,
				"expires_at": inv.ExpiresAt.UTC().Format(time.RFC3339)}, client, now))
	})
	if err != nil {
		return Invitation{}, err
	}
	if lu, err := s.invites.UserForLogin(ctx, inv.Email); err == nil {
		hasAccount = lu.EmailVerified
	}
	s.sendInvitation(ctx, inv, token, hasAccount)
	return inv, nil
}

// RevokeInvitation revokes a pending invitation: its link stops working
// (CodeInvitationRevoked). Revoking a revoked one changes nothing and
// records nothing. Audited invitation.revoked. Errors: CodeForbidden,
// CodeNotFound, CodeConflict (accepted already).
// recent-auth: owner write (asOwnerWriteIn)
func (s *Service) RevokeInvitation(ctx context.Context, p Principal, id uuid.UUID, client Client) error {
	now := s.clock.Now()
	return asOwnerWriteIn(ctx, s, p, s.invites.inInvitationTx, func(tx invitationTx) error {
		inv, err := tx.InvitationLock(ctx, id)
		if errors.Is(err, ErrNotFound) {
			return errInvitationNotFound
		}
		if err != nil {
			return err
		}
		switch inv.State(now) {
		case InvitationRevoked:
			return nil
		case InvitationAccepted:
			return errInvitationNotPending
		}
		if err := tx.InvitationRevoke(ctx, id, now); err != nil {
			return err
		}
		return tx.Audit(ctx, s.event(p.AccountID, &p.UserID, ActionInvitationRevoked, "invitation", id.String(),
			map[string]any{"invitation_id": id.String(), "email": inv.Email}, client, now))
	})
}

// AcceptInvitationInput is an invitee's acceptance.
type AcceptInvitationInput struct {
	Token, Name, Password string
}

// AcceptInvitation creates the invited user in the inviting account with
// the invitation's role, their email verified (the mail reached them),
// and signs them in through the one session-opening path of SignIn, in
// the same transaction: the invitation row is locked first, so two
// concurrent accepts of one token make exactly one member. Audited
// invitation.accepted (and auth.login_succeeded). When the email belongs
// to an unverified registration, that registration is reclaimed (as a new
// registration would) and the acceptance retried once. Errors:
// CodeValidation (name, password), CodeInvalidInvitationToken,
// CodeInvitationRevoked, CodeInvitationExpired, CodeInvitationUsed,
// CodeInvitationEmailTaken, CodeSessionLimitReached.
func (s *Service) AcceptInvitation(ctx context.Context, in AcceptInvitationInput, client Client) (TokenPair, error) {
	name := strings.TrimSpace(in.Name)
	if err := validateName("name", name); err != nil {
		return TokenPair{}, err
	}
	if err := ValidatePassword("password", in.Password); err != nil {
		return TokenPair{}, err
	}
	if in.Token == "" {
		return TokenPair{}, errInvalidInvitationToken
	}
	hash := HashResetToken(in.Token)
	accountID, err := s.invites.InvitationAccount(ctx, hash)
	if errors.Is(err, ErrNotFound) {
		return TokenPair{}, errInvalidInvitationToken
	}
	if err != nil {
		return TokenPair{}, err
	}
	pwHash, err := s.hasher.Hash(in.Password)
	if err != nil {
		return TokenPair{}, fmt.Errorf("hash password: %w", err)
	}
	for attempt := 0; ; attempt++ {
		pair, email, err := s.acceptOnce(ctx, accountID, hash, name, pwHash, client)
		if !errors.Is(err, errInvitationEmailTaken) || attempt > 0 {
			return pair, err
		}
		lu, lerr := s.invites.UserForLogin(ctx, email)
		if lerr != nil || lu.EmailVerified {
			return pair, err
		}
		if rerr := s.reclaimUnverified(ctx, lu); rerr != nil {
			return pair, err
		}
	}
}

func (s *Service) acceptOnce(ctx context.Context, accountID uuid.UUID, tokenHash []byte, name, pwHash string, client Client) (TokenPair, string, error) {
	now := s.clock.Now()
	user := User{ID: uuid.New(), AccountID: accountID, Name: name, Active: true, CreatedAt: now}
	var email string
	create := func(tx acceptTx) (LoginUser, error) {
		inv, err := tx.InvitationLockByToken(ctx, tokenHash)
		if errors.Is(err, ErrNotFound) {
			return LoginUser{}, errInvalidInvitationToken
		}
		if err != nil {
			return LoginUser{}, err
		}
		switch inv.State(now) {
		case InvitationAccepted:
			return LoginUser{}, errInvitationUsed
		case InvitationRevoked:
			return LoginUser{}, errInvitationRevoked
		case InvitationExpired:
			return LoginUser{}, errInvitationExpired
		}
		email = inv.Email
		user.Email, user.Role = inv.Email, inv.Role
		if err := tx.UserCreate(ctx, user, pwHash); errors.Is(err, ErrConflict) {
			return LoginUser{}, errInvitationEmailTaken
		} else if err != nil {
			return LoginUser{}, err
		}
		if err := tx.InvitationAccept(ctx, inv.ID, user.ID, now); err != nil {
			return LoginUser{}, err
		}
		if err := tx.Audit(ctx, s.event(accountID, &user.ID, ActionInvitationAccepted, "invitation", inv.ID.String(),
			map[string]any{"invitation_id": inv.ID.String(), "user_id": user.ID.String(), "role": string(user.Role)}, client, now)); err != nil {
			return LoginUser{}, err
		}
		return LoginUser{UserID: user.ID, AccountID: accountID, Active: true, Role: user.Role, EmailVerified: true}, nil
	}
	var (
		lu     LoginUser
		opened openedSession
	)
	err := s.invites.inAcceptTx(ctx, accountID, func(tx acceptTx) error {
		var err error
		if lu, err = create(tx); err != nil {
			return err
		}
		override, err := tx.AccountPolicy(ctx)
		if err != nil {
			return err
		}
		// A new member has no second factor yet: when the policy requires
		// one, the session can only enrol (docs/session-rules.md).
		auth := AuthLevel{AAL: 1, AMR: []string{AMRPassword}, LastAuthAt: now.Truncate(time.Second),
			EnrolOnly: s.cfg.Policy.Effective(override).MFARequiredFor(lu.Role)}
		opened, err = s.openSession(ctx, tx, lu, override, auth, client, now,
			map[string]any{"device_id": client.DeviceID, "invitation": true, "mfa_enrol_only": auth.EnrolOnly})
		return err
	})
	if err != nil {
		return TokenPair{}, email, err
	}
	pair, err := s.signedIn(lu, opened, email, now)
	return pair, email, err
}
