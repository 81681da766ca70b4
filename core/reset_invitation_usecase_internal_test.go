package core

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"
)

// Password reset (credentials.go) and invitations (invitations.go) over
// fakes of their narrow ports (resetStore/resetTx,
// invitationStore/invitationTx/acceptTx), without a database. Mail is the
// one thing mocked besides the store.

// spyMailer records what was handed over for delivery.
type spyMailer struct {
	resets      []string // tokens
	invitations []InvitationMail
}

func (m *spyMailer) SendPasswordReset(_ context.Context, _, token string, _ time.Time) error {
	m.resets = append(m.resets, token)
	return nil
}
func (m *spyMailer) SendEmailVerification(context.Context, string, string, time.Time) error {
	return errors.New("no verification mail in these tests")
}
func (m *spyMailer) SendInvitation(_ context.Context, im InvitationMail) error {
	m.invitations = append(m.invitations, im)
	return nil
}

// fakeResets is resetStore and its transaction: one user, one stored
// token, the address's mail rate, and what was written.
type fakeResets struct {
	user      LoginUser
	verified  bool
	rate      ThrottleState
	requests  [][]byte // the keys counted
	token     PasswordResetToken
	txs       int
	created   []PasswordResetToken
	hashSet   string
	consumed  int
	revokedOf []*uuid.UUID // the except of each SessionRevokeAllForUser
	log       auditLog
}

func (f *fakeResets) UserForLogin(_ context.Context, email string) (LoginUser, error) {
	if email != "known@example.com" {
		return LoginUser{}, ErrNotFound
	}
	return f.user, nil
}

// RecordResetRequest is the mail rate as migrations/00005 computes it.
func (f *fakeResets) RecordResetRequest(_ context.Context, r ResetRequestRecord) (ThrottleState, ThrottleState, error) {
	f.requests = append(f.requests, r.Key)
	before := f.rate
	if !before.Locked(r.Now) {
		f.rate.Failures++
		f.rate.LockedUntil = r.Now.Add(r.Rule.delay(f.rate.Failures))
	}
	return before, f.rate, nil
}
func (f *fakeResets) PasswordResetAccount(_ context.Context, hash []byte) (uuid.UUID, error) {
	if !bytes.Equal(hash, f.token.Hash) {
		return uuid.Nil, ErrNotFound
	}
	return f.user.AccountID, nil
}
func (f *fakeResets) inResetTx(_ context.Context, _ uuid.UUID, fn func(resetTx) error) error {
	f.txs++
	return fn(f)
}
func (f *fakeResets) PasswordResetTokenCreate(_ context.Context, t PasswordResetToken) error {
	f.created = append(f.created, t)
	return nil
}
func (f *fakeResets) PasswordResetTokenLock(context.Context, []byte) (PasswordResetToken, error) {
	return f.token, nil
}
func (f *fakeResets) UserGet(context.Context, uuid.UUID) (User, error) {
	return User{ID: f.user.UserID, AccountID: f.user.AccountID, Email: "known@example.com", Active: f.user.Active}, nil
}
func (f *fakeResets) UserSetPasswordHash(_ context.Context, _ uuid.UUID, hash string, _ time.Time) error {
	f.hashSet = hash
	return nil
}
func (f *fakeResets) PasswordResetTokensConsume(context.Context, uuid.UUID, time.Time) (int64, error) {
	f.consumed++
	return 1, nil
}
func (f *fakeResets) SessionRevokeAllForUser(_ context.Context, _ uuid.UUID, except *uuid.UUID, _ time.Time, _ string) (int64, error) {
	f.revokedOf = append(f.revokedOf, except)
	return 3, nil
}
func (f *fakeResets) UserLockEmailVerified(context.Context, uuid.UUID) (string, *time.Time, time.Time, error) {
	if f.verified {
		at := testNow.Add(-time.Hour)
		return "known@example.com", &at, at, nil
	}
	return "known@example.com", nil, testNow, nil
}
func (f *fakeResets) UserSetEmailVerified(context.Context, uuid.UUID, time.Time) error {
	f.verified = true
	return nil
}
func (f *fakeResets) EmailVerificationTokensConsume(context.Context, uuid.UUID, time.Time) error {
	return nil
}
func (f *fakeResets) Audit(_ context.Context, e AuditEvent) error {
	f.log.events = append(f.log.events, e)
	return nil
}

var _ resetStore = (*fakeResets)(nil)

func resetWorld(t *testing.T, active bool) (*Service, *fakeResets, *spyMailer) {
	t.Helper()
	s := portService(t, &spyHasher{}, DefaultConfig())
	f := &fakeResets{user: knownUser(RoleMember, active)}
	m := &spyMailer{}
	s.resets, s.mailer = f, m
	return s, f, m
}

// LGN-10, LGN-11: an unknown or inactive address costs the same counted
// request and nothing else; a known one stores the mailed token's hash
// with its audit event; a second request inside the mail interval is
// answered alike, audited mailed: false, and mails nothing.
func TestRequestPasswordReset_SameWorkForUnknown_OneMailPerInterval(t *testing.T) {
	for _, c := range []struct {
		name, email string
		active      bool
	}{{"unknown", "nobody@example.com", true}, {"inactive", "known@example.com", false}} {
		s, f, m := resetWorld(t, c.active)
		if err := s.RequestPasswordReset(context.Background(), c.email, Client{}); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if len(f.requests) != 1 || !bytes.Equal(f.requests[0], ResetMailKey(c.email)) || f.txs != 0 || len(m.resets) != 0 {
			t.Fatalf("%s: requests %d, txs %d, mails %d", c.name, len(f.requests), f.txs, len(m.resets))
		}
	}
	s, f, m := resetWorld(t, true)
	ctx := context.Background()
	for range 2 {
		if err := s.RequestPasswordReset(ctx, " Known@Example.com", Client{}); err != nil {
			t.Fatal(err)
		}
	}
	if len(f.requests) != 2 || f.txs != 2 || len(f.created) != 1 || len(m.resets) != 1 ||
		!bytes.Equal(f.created[0].Hash, HashResetToken(m.resets[0])) {
		t.Fatalf("requests %d, txs %d, tokens %d, mails %d", len(f.requests), f.txs, len(f.created), len(m.resets))
	}
	if len(f.log.events) != 2 || f.log.events[0].Details["mailed"] != true || f.log.events[1].Details["mailed"] != false {
		t.Fatalf("audit %+v", f.log.events)
	}
}

// A reset token is judged under its lock: used, expired, or its user
// inactive, it changes nothing. A good one sets the password, spends every
// outstanding token, marks an unverified email verified (the mail reached
// its owner), and ends every session — none kept.
func TestConfirmPasswordReset_JudgedUnderTheLock_EndsEverySession(t *testing.T) {
	used := testNow.Add(-time.Minute)
	for _, c := range []struct {
		name   string
		token  PasswordResetToken
		active bool
	}{
		{"expired at this instant", PasswordResetToken{ExpiresAt: testNow}, true},
		{"used", PasswordResetToken{ExpiresAt: testNow.Add(time.Hour), UsedAt: &used}, true},
		{"user deactivated", PasswordResetToken{ExpiresAt: testNow.Add(time.Hour)}, false},
	} {
		s, f, _ := resetWorld(t, c.active)
		f.token, f.token.Hash = c.token, HashResetToken("tok")
		err := s.ConfirmPasswordReset(context.Background(), "tok", "a brand new password", Client{})
		if ErrorCode(err) != CodeInvalidResetToken || f.hashSet != "" || f.consumed+len(f.revokedOf)+len(f.log.events) != 0 {
			t.Fatalf("%s: err %v, hash %q, consumed %d, revoked %d", c.name, err, f.hashSet, f.consumed, len(f.revokedOf))
		}
	}
	s, f, _ := resetWorld(t, true)
	f.token = PasswordResetToken{Hash: HashResetToken("tok"), ExpiresAt: testNow.Add(time.Hour)}
	if err := s.ConfirmPasswordReset(context.Background(), "tok", "a brand new password", Client{}); err != nil {
		t.Fatal(err)
	}
	if f.hashSet != "hash-of:a brand new password" || f.consumed != 1 || len(f.revokedOf) != 1 || f.revokedOf[0] != nil || !f.verified {
		t.Fatalf("%+v", f)
	}
	if got := f.log.actions(); !slices.Equal(got, []string{ActionEmailVerified, ActionPasswordReset}) {
		t.Fatalf("audit %v", got)
	}
	if err := s.ConfirmPasswordReset(context.Background(), "other", "a brand new password", Client{}); ErrorCode(err) != CodeInvalidResetToken {
		t.Fatalf("unknown token: %v", err)
	}
}

// fakeInvites is invitationStore with its two transactions: one
// invitation, the address's account (when verified), the owner check.
type fakeInvites struct {
	fakeOwnerCheck
	fakeOpenTx
	inv      Invitation
	hasAcct  bool
	policy   PolicyOverride
	stored   [][]byte // token hashes of InvitationCreate / InvitationResend
	users    []User
	accepted int
	revoked  int
}

func (f *fakeInvites) UserForLogin(context.Context, string) (LoginUser, error) {
	if !f.hasAcct {
		return LoginUser{}, ErrNotFound
	}
	return LoginUser{UserID: uuid.New(), AccountID: uuid.New(), Active: true, EmailVerified: true}, nil
}
func (f *fakeInvites) InvitationAccount(context.Context, []byte) (uuid.UUID, error) {
	return f.inv.AccountID, nil
}
func (f *fakeInvites) inInvitationTx(_ context.Context, _ uuid.UUID, fn func(invitationTx) error) error {
	return fn(f)
}
func (f *fakeInvites) inAcceptTx(_ context.Context, _ uuid.UUID, fn func(acceptTx) error) error {
	return fn(f)
}
func (f *fakeInvites) InvitationCreate(_ context.Context, inv Invitation, hash []byte) error {
	f.inv, f.stored = inv, append(f.stored, hash)
	return nil
}
func (f *fakeInvites) InvitationListPending(context.Context, *InvitationPosition, int) ([]Invitation, error) {
	return []Invitation{f.inv}, nil
}
func (f *fakeInvites) InvitationLock(context.Context, uuid.UUID) (Invitation, error) {
	return f.inv, nil
}
func (f *fakeInvites) InvitationResend(_ context.Context, _ uuid.UUID, hash []byte, _, _ time.Time) error {
	f.stored = append(f.stored, hash)
	return nil
}
func (f *fakeInvites) InvitationRevoke(context.Context, uuid.UUID, time.Time) error {
	f.revoked++
	return nil
}
func (f *fakeInvites) InvitationLockByToken(context.Context, []byte) (Invitation, error) {
	return f.inv, nil
}
func (f *fakeInvites) UserCreate(_ context.Context, u User, _ string) error {
	if f.hasAcct {
		return ErrConflict
	}
	f.users = append(f.users, u)
	return nil
}
func (f *fakeInvites) InvitationAccept(context.Context, uuid.UUID, uuid.UUID, time.Time) error {
	f.accepted++
	return nil
}
func (f *fakeInvites) AccountPolicy(context.Context) (PolicyOverride, error) { return f.policy, nil }

// Audit: both transactions write to the one trail (fakeOpenTx's).

var _ invitationStore = (*fakeInvites)(nil)

func inviteWorld(t *testing.T, inv Invitation) (*Service, *fakeInvites, *spyMailer, Principal) {
	t.Helper()
	s := portService(t, &spyHasher{}, DefaultConfig())
	p := ownerPrincipal()
	inv.ID, inv.AccountID, inv.Email = uuid.New(), p.AccountID, "new@example.com"
	f := &fakeInvites{fakeOwnerCheck: fakeOwnerCheck{role: RoleOwner, active: true, lastAuth: testNow},
		fakeOpenTx: fakeOpenTx{active: true, log: &auditLog{}}, inv: inv}
	m := &spyMailer{}
	s.invites, s.mailer = f, m
	return s, f, m, p
}

// Accepting: only a pending invitation makes a member, with its email and
// role, signed in through openSession in the same transaction — an
// enrol-only session when the policy requires a second factor of the role.
func TestAcceptInvitation_OnlyPending_MakesTheMemberAndTheSession(t *testing.T) {
	at := testNow.Add(-time.Minute)
	for _, c := range []struct {
		name string
		inv  Invitation
		want Code
	}{
		{"revoked", Invitation{ExpiresAt: testNow.Add(time.Hour), RevokedAt: &at}, CodeInvitationRevoked},
		{"accepted", Invitation{ExpiresAt: testNow.Add(time.Hour), AcceptedAt: &at}, CodeInvitationUsed},
		{"expired at this instant", Invitation{ExpiresAt: testNow}, CodeInvitationExpired},
	} {
		s, f, _, _ := inviteWorld(t, c.inv)
		_, err := s.AcceptInvitation(context.Background(), AcceptInvitationInput{Token: "tok", Name: "New", Password: "a long enough password"}, Client{})
		if ErrorCode(err) != c.want || len(f.users)+f.accepted+len(f.created) != 0 {
			t.Fatalf("%s: err %v, users %d, accepted %d, sessions %d", c.name, err, len(f.users), f.accepted, len(f.created))
		}
	}
	all := MFARequiredAll
	s, f, _, _ := inviteWorld(t, Invitation{Role: RoleMember, ExpiresAt: testNow.Add(time.Hour)})
	f.policy = PolicyOverride{MFARequired: &all}
	pair, err := s.AcceptInvitation(context.Background(), AcceptInvitationInput{Token: "tok", Name: "New", Password: "a long enough password"}, Client{})
	if err != nil {
		t.Fatal(err)
	}
	if len(f.users) != 1 || f.users[0].Email != "new@example.com" || f.users[0].Role != RoleMember || f.accepted != 1 ||
		len(f.created) != 1 || !f.created[0].Auth.EnrolOnly || pair.DeviceToken == "" {
		t.Fatalf("users %+v, accepted %d, sessions %+v, pair %+v", f.users, f.accepted, f.created, pair)
	}
	if got := f.log.actions(); !slices.Equal(got, []string{ActionInvitationAccepted, ActionLoginSucceeded}) {
		t.Fatalf("audit %v", got)
	}
}

// An address that is a verified account already cannot accept (the
// schema's unique email), and nothing is reclaimed: only an unverified
// registration is.
func TestAcceptInvitation_VerifiedAccountsEmail_Taken(t *testing.T) {
	s, f, _, _ := inviteWorld(t, Invitation{Role: RoleMember, ExpiresAt: testNow.Add(time.Hour)})
	f.hasAcct = true
	_, err := s.AcceptInvitation(context.Background(), AcceptInvitationInput{Token: "tok", Name: "New", Password: "a long enough password"}, Client{})
	if ErrorCode(err) != CodeInvitationEmailTaken || len(f.created) != 0 {
		t.Fatalf("err %v, sessions %d", err, len(f.created))
	}
}

// Owners: an invitation is stored as the mailed token's hash, the mail
// saying whether the address is an account already; a resend inside the
// interval is 429 and mails nothing; revoking a revoked one records
// nothing.
func TestInvitations_Owner_StoredHashed_ResendInterval_RevokeIdempotent(t *testing.T) {
	s, f, m, p := inviteWorld(t, Invitation{})
	f.hasAcct = true
	inv, err := s.CreateInvitation(context.Background(), p, InviteInput{Email: "New@Example.com", Role: RoleMember}, Client{})
	if err != nil {
		t.Fatal(err)
	}
	if len(m.invitations) != 1 || !m.invitations[0].HasAccount || !bytes.Equal(f.stored[0], HashResetToken(m.invitations[0].Token)) ||
		inv.Email != "new@example.com" || f.log.count(ActionInvitationCreated) != 1 {
		t.Fatalf("mails %+v, stored %d, inv %+v", m.invitations, len(f.stored), inv)
	}
	_, err = s.ResendInvitation(context.Background(), p, inv.ID, Client{})
	var te *ThrottledError
	if !errors.As(err, &te) || te.RetryAfter != s.cfg.InvitationResendInterval || len(m.invitations) != 1 || len(f.stored) != 1 {
		t.Fatalf("resend at once: %v, mails %d", err, len(m.invitations))
	}
	revokedAt := testNow.Add(-time.Minute)
	f.inv.RevokedAt = &revokedAt
	if err := s.RevokeInvitation(context.Background(), p, inv.ID, Client{}); err != nil || f.revoked != 0 || f.log.count(ActionInvitationRevoked) != 0 {
		t.Fatalf("revoke a revoked one: %v, revoked %d", err, f.revoked)
	}
}
