package core

import (
	"bytes"
	"context"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"
)

// Registration and email verification (auth.go Register, verification.go)
// over a fake of their narrow port (registrationStore with registrationTx
// and verifyTx), without a database.

// fakeRegistrations is one address (known@example.com) that may be an
// account's already (existing), its mail rate, one verification token,
// and what the transactions wrote.
type fakeRegistrations struct {
	existing   *LoginUser
	verifiedAt *time.Time
	pwHash     string
	rate       ThrottleState
	requests   int
	token      PasswordResetToken
	txs        int
	accounts   []Account
	users      []User
	unverified []User
	tokens     []PasswordResetToken
	deleted    int
	consumed   int
	log        auditLog
}

func (f *fakeRegistrations) UserForLogin(_ context.Context, email string) (LoginUser, error) {
	if email != "known@example.com" || f.existing == nil {
		return LoginUser{}, ErrNotFound
	}
	return *f.existing, nil
}
func (f *fakeRegistrations) RecordResetRequest(_ context.Context, r ResetRequestRecord) (ThrottleState, ThrottleState, error) {
	f.requests++
	before := f.rate
	if !before.Locked(r.Now) {
		f.rate.Failures++
		f.rate.LockedUntil = r.Now.Add(r.Rule.delay(f.rate.Failures))
	}
	return before, f.rate, nil
}
func (f *fakeRegistrations) EmailVerificationAccount(_ context.Context, hash []byte) (uuid.UUID, error) {
	if !bytes.Equal(hash, f.token.Hash) {
		return uuid.Nil, ErrNotFound
	}
	return uuid.New(), nil
}
func (f *fakeRegistrations) inRegistrationTx(_ context.Context, _ uuid.UUID, fn func(registrationTx) error) error {
	f.txs++
	return fn(f)
}
func (f *fakeRegistrations) inVerifyTx(_ context.Context, _ uuid.UUID, fn func(verifyTx) error) error {
	f.txs++
	return fn(f)
}
func (f *fakeRegistrations) AccountCreate(_ context.Context, a Account) error {
	f.accounts = append(f.accounts, a)
	return nil
}
func (f *fakeRegistrations) UserCreate(_ context.Context, u User, _ string) error {
	f.users = append(f.users, u)
	return nil
}
func (f *fakeRegistrations) UserCreateUnverified(_ context.Context, u User, _ string) error {
	f.unverified = append(f.unverified, u)
	return nil
}
func (f *fakeRegistrations) EmailVerificationTokenCreate(_ context.Context, t PasswordResetToken) error {
	f.tokens = append(f.tokens, t)
	return nil
}
func (f *fakeRegistrations) EmailVerificationTokenLock(context.Context, []byte) (PasswordResetToken, error) {
	return f.token, nil
}
func (f *fakeRegistrations) UserLockEmailVerified(context.Context, uuid.UUID) (string, *time.Time, time.Time, error) {
	return "known@example.com", f.verifiedAt, testNow.Add(-time.Hour), nil
}
func (f *fakeRegistrations) UserLockCredentials(context.Context, uuid.UUID) (string, bool, error) {
	return f.pwHash, true, nil
}
func (f *fakeRegistrations) UserDelete(context.Context, uuid.UUID) error {
	f.deleted++
	return nil
}
func (f *fakeRegistrations) AccountDelete(context.Context) error { return nil }
func (f *fakeRegistrations) UserSetEmailVerified(context.Context, uuid.UUID, time.Time) error {
	at := testNow
	f.verifiedAt = &at
	return nil
}
func (f *fakeRegistrations) EmailVerificationTokensConsume(context.Context, uuid.UUID, time.Time) error {
	f.consumed++
	return nil
}
func (f *fakeRegistrations) Audit(_ context.Context, e AuditEvent) error {
	f.log.events = append(f.log.events, e)
	return nil
}

var _ registrationStore = (*fakeRegistrations)(nil)

// verifyMailer records the verification mails (spyMailer refuses them).
type verifyMailer struct {
	spyMailer
	tokens []string
}

func (m *verifyMailer) SendEmailVerification(_ context.Context, _, token string, _ time.Time) error {
	m.tokens = append(m.tokens, token)
	return nil
}

func registrationWorld(t *testing.T, existing *LoginUser) (*Service, *fakeRegistrations, *verifyMailer) {
	t.Helper()
	s := portService(t, &spyHasher{}, DefaultConfig())
	f := &fakeRegistrations{existing: existing}
	m := &verifyMailer{}
	s.registrations, s.mailer = f, m
	return s, f, m
}

var registration = RegisterInput{NewUser: NewUser{Email: "Known@Example.com", Password: "a long enough password", Name: "Owner"}, AccountName: "Acme"}

// LGN-10: with verification required, the answer is Pending whatever the
// address and the request costs the same counted mail rate; only a free
// address (or an unverified registration's, outside the mail interval,
// which is reclaimed first) gets an account, its unverified owner and a
// mailed token; a verified account's address gets nothing.
func TestRegister_Pending_SameAnswerWhateverTheAddress(t *testing.T) {
	verified := knownUser(RoleOwner, true)
	unverified := knownUser(RoleOwner, true)
	unverified.EmailVerified = false
	for _, c := range []struct {
		name              string
		existing          *LoginUser
		locked            bool // the address's mail rate holds mail back
		creates, reclaims int
	}{
		{"free address", nil, false, 1, 0},
		{"a verified account's", &verified, false, 0, 0},
		{"an unverified registration's", &unverified, false, 1, 1},
		{"an unverified registration's, inside the mail interval", &unverified, true, 0, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			s, f, m := registrationWorld(t, c.existing)
			if c.locked {
				f.rate = ThrottleState{Failures: 1, LockedUntil: testNow.Add(time.Minute)}
			}
			r, err := s.Register(context.Background(), registration, Client{})
			if err != nil || !r.Pending || r.User.ID != uuid.Nil || f.requests != 1 {
				t.Fatalf("registration %+v, err %v, requests %d", r, err, f.requests)
			}
			if len(f.accounts) != c.creates || len(f.unverified) != c.creates || len(f.users) != 0 || len(m.tokens) != c.creates ||
				f.deleted != c.reclaims {
				t.Fatalf("accounts %d, unverified owners %d, mails %d, reclaimed %d", len(f.accounts), len(f.unverified), len(m.tokens), f.deleted)
			}
			if c.creates == 1 && (!bytes.Equal(f.tokens[0].Hash, HashResetToken(m.tokens[0])) || f.unverified[0].Email != "known@example.com" ||
				f.log.count(ActionAccountCreated) != 1) {
				t.Fatalf("token %+v, owner %+v, audit %v", f.tokens, f.unverified, f.log.actions())
			}
		})
	}
}

// With verification off, registration creates a verified owner at once.
func TestRegister_VerificationOff_CreatesTheOwner(t *testing.T) {
	s, f, m := registrationWorld(t, nil)
	s.cfg.EmailVerification = false
	r, err := s.Register(context.Background(), registration, Client{})
	if err != nil || r.Pending || r.User.Role != RoleOwner || len(f.users) != 1 || len(f.unverified) != 0 || f.requests != 0 || len(m.tokens) != 0 {
		t.Fatalf("registration %+v, err %v, users %d, requests %d", r, err, len(f.users), f.requests)
	}
}

// VER-08: a verification link works only with its registration's
// password; a wrong one is a failed sign-in of the email (counted on its
// counter, audited) and spends nothing. An unusable token is refused
// before any password work.
func TestVerifyEmail_VER08_PasswordRequired_WrongOneCountedTokenKept(t *testing.T) {
	s, f, _ := registrationWorld(t, nil)
	c := &fakeCounter{log: &f.log}
	s.counter = c
	f.pwHash = "hash-of:right"
	f.token = PasswordResetToken{Hash: HashResetToken("tok"), UserID: uuid.New(), ExpiresAt: testNow.Add(time.Hour)}
	ctx := context.Background()
	if err := s.VerifyEmail(ctx, "tok", "wrong", Client{}); ErrorCode(err) != CodeVerificationPasswordMismatch {
		t.Fatalf("wrong password: %v", err)
	}
	if c.failuresOn(ThrottleKey("known@example.com")) != 1 || f.consumed != 0 || f.verifiedAt != nil ||
		!slices.Equal(f.log.actions(), []string{ActionLoginFailed}) {
		t.Fatalf("failures %d, consumed %d, audit %v", len(c.records), f.consumed, f.log.actions())
	}
	if err := s.VerifyEmail(ctx, "tok", "right", Client{}); err != nil {
		t.Fatal(err)
	}
	if f.consumed != 1 || f.verifiedAt == nil || f.log.count(ActionEmailVerified) != 1 {
		t.Fatalf("consumed %d, verified %v, audit %v", f.consumed, f.verifiedAt, f.log.actions())
	}
	f.token.ExpiresAt = testNow
	h := s.hasher.(*spyHasher).verify
	if err := s.VerifyEmail(ctx, "tok", "right", Client{}); ErrorCode(err) != CodeInvalidVerificationToken || s.hasher.(*spyHasher).verify != h {
		t.Fatalf("expired token: %v", err)
	}
}
