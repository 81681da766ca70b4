package core

import (
	"bytes"
	"context"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"
)

// The second factor's use cases (mfa.go: enrol, confirm, disable,
// reauthenticate, an owner's reset) over fakes of their narrow ports
// (mfaStore/mfaTx, mfaResetStore/mfaResetTx, failureCounter), without a
// database.

// fakeTOTP accepts "123456" for the secret it hands out, at step 100.
type fakeTOTP struct{}

func (fakeTOTP) NewKey(string, string) (string, string, error) {
	return "SECRET", "otpauth://totp/x", nil
}
func (fakeTOTP) MatchStep(secret, code string, _ time.Time) (int64, bool) {
	return 100, secret == "SECRET" && code == "123456"
}

// fakeMFA is mfaStore and its transaction: the caller's user, password
// hash and factor, their session's authentication state, and what was
// written.
type fakeMFA struct {
	user      User
	hash      string
	factor    *Factor
	lastAuth  time.Time
	enrolOnly bool
	txs       int
	marked    []int64
	codes     [][][]byte // each RecoveryCodesReplace
	setAuth   []AuthLevel
	log       *auditLog
}

func (f *fakeMFA) inMFATx(_ context.Context, _ uuid.UUID, fn func(mfaTx) error) error {
	f.txs++
	return fn(f)
}
func (f *fakeMFA) SessionAuthState(context.Context, uuid.UUID, time.Time) (SessionAuth, error) {
	return SessionAuth{AuthLevel: AuthLevel{AAL: 1, LastAuthAt: f.lastAuth, EnrolOnly: f.enrolOnly}}, nil
}
func (f *fakeMFA) UserGet(context.Context, uuid.UUID) (User, error) { return f.user, nil }
func (f *fakeMFA) UserLockCredentials(context.Context, uuid.UUID) (string, bool, error) {
	return f.hash, f.user.Active, nil
}
func (f *fakeMFA) FactorGet(context.Context, uuid.UUID) (Factor, error) {
	if f.factor == nil {
		return Factor{}, ErrNotFound
	}
	return *f.factor, nil
}
func (f *fakeMFA) FactorLock(ctx context.Context, userID uuid.UUID) (Factor, error) {
	return f.FactorGet(ctx, userID)
}
func (f *fakeMFA) FactorCreate(_ context.Context, fc Factor) error {
	f.factor = &fc
	return nil
}
func (f *fakeMFA) FactorsDelete(context.Context, uuid.UUID) (int64, error) {
	if f.factor == nil {
		return 0, nil
	}
	f.factor = nil
	return 1, nil
}
func (f *fakeMFA) FactorMarkUsed(_ context.Context, _ uuid.UUID, step int64, now time.Time) error {
	f.marked = append(f.marked, step)
	f.factor.LastUsedStep = &step
	if f.factor.ConfirmedAt == nil {
		f.factor.ConfirmedAt = &now
	}
	return nil
}
func (f *fakeMFA) RecoveryCodesReplace(_ context.Context, _ uuid.UUID, hashes [][]byte, _ time.Time) error {
	f.codes = append(f.codes, hashes)
	return nil
}
func (f *fakeMFA) RecoveryCodesRemaining(context.Context, uuid.UUID) (int, error) { return 0, nil }
func (f *fakeMFA) SessionSetAuth(_ context.Context, _ uuid.UUID, a AuthLevel) error {
	f.setAuth = append(f.setAuth, a)
	return nil
}
func (f *fakeMFA) Audit(_ context.Context, e AuditEvent) error {
	f.log.events = append(f.log.events, e)
	return nil
}

var _ mfaStore = (*fakeMFA)(nil)

// mfaWorld is a signed-in member (password "right") whose session
// authenticated at lastAuth; confirmed says whether their factor is
// confirmed, pending says a pending one exists (neither: no factor).
func mfaWorld(t *testing.T, lastAuth time.Time, confirmed, pending bool) (*Service, *fakeMFA, *fakeCounter, Principal) {
	t.Helper()
	cfg := DefaultConfig()
	cfg.TOTP, cfg.MFAKey = fakeTOTP{}, bytes.Repeat([]byte{7}, 32)
	s := portService(t, &spyHasher{}, cfg)
	p := Principal{UserID: uuid.New(), AccountID: uuid.New(), SessionID: uuid.New(), Role: RoleMember}
	log := &auditLog{}
	f := &fakeMFA{user: User{ID: p.UserID, AccountID: p.AccountID, Email: "known@example.com", Role: RoleMember, Active: true},
		hash: "hash-of:right", lastAuth: lastAuth, log: log}
	if confirmed || pending {
		sealed, err := s.sealSecret(p.UserID, "SECRET")
		if err != nil {
			t.Fatal(err)
		}
		f.factor = &Factor{ID: uuid.New(), UserID: p.UserID, SecretSealed: sealed}
		if confirmed {
			at := testNow.Add(-time.Hour)
			f.factor.ConfirmedAt = &at
		}
	}
	c := &fakeCounter{log: log}
	s.mfas, s.counter = f, c
	return s, f, c, p
}

// A wrong code confirms nothing and counts one failure on the
// user's MFA counter, audited; the right one confirms, issues the recovery
// codes and raises the session to aal2.
func TestConfirmTOTP_WrongCodeIsAFailure_RightOneConfirms(t *testing.T) {
	s, f, c, p := mfaWorld(t, testNow, false, true)
	ctx := context.Background()
	if _, err := s.ConfirmTOTP(ctx, p, "654321", Client{}); ErrorCode(err) != CodeInvalidMFACode {
		t.Fatalf("wrong code: %v", err)
	}
	if c.failuresOn(MFAThrottleKey(p.UserID)) != 1 || len(f.marked)+len(f.codes)+len(f.setAuth) != 0 ||
		!slices.Equal(f.log.actions(), []string{ActionMFAFailed}) || f.log.events[0].Details["step"] != "confirm" {
		t.Fatalf("failures %d, marked %v, codes %d, auth %v, audit %v", c.failuresOn(MFAThrottleKey(p.UserID)), f.marked, len(f.codes), f.setAuth, f.log.actions())
	}
	out, err := s.ConfirmTOTP(ctx, p, "123456", Client{})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.RecoveryCodes) != RecoveryCodeCount || out.AccessToken == "" || !slices.Equal(f.marked, []int64{100}) ||
		len(f.codes) != 1 || len(f.codes[0]) != RecoveryCodeCount || len(f.setAuth) != 1 || f.setAuth[0].AAL != 2 ||
		f.log.count(ActionMFAEnabled) != 1 {
		t.Fatalf("out %+v, marked %v, auth %v, audit %v", out, f.marked, f.setAuth, f.log.actions())
	}
	// The factor is confirmed now: a second confirmation is refused.
	if _, err := s.ConfirmTOTP(ctx, p, "123456", Client{}); ErrorCode(err) != CodeConflict || len(f.marked) != 1 {
		t.Fatalf("second confirmation: %v, marked %v", err, f.marked)
	}
}

// The MFA counter's lock refuses a confirmation before its transaction.
func TestConfirmTOTP_Throttled_BeforeTheTransaction(t *testing.T) {
	s, f, c, p := mfaWorld(t, testNow, false, true)
	c.states = map[string]ThrottleState{string(MFAThrottleKey(p.UserID)): {Failures: 5, LockedUntil: testNow.Add(time.Minute)}}
	if _, err := s.ConfirmTOTP(context.Background(), p, "123456", Client{}); ErrorCode(err) != CodeRateLimited || f.txs != 0 {
		t.Fatalf("err %v, txs %d", err, f.txs)
	}
}

// Replacing a confirmed factor, disabling it, regenerating codes: each
// needs a recent authentication (SUDO-03); a first enrolment does not.
func TestMFA_ChangesToAConfirmedFactor_NeedRecentAuth(t *testing.T) {
	stale := testNow.Add(-16 * time.Minute)
	ctx := context.Background()
	s, f, _, p := mfaWorld(t, stale, true, false)
	if _, err := s.EnrolTOTP(ctx, p, Client{}); ErrorCode(err) != CodeReauthRequired {
		t.Fatalf("re-enrol: %v", err)
	}
	if err := s.DisableTOTP(ctx, p, Client{}); ErrorCode(err) != CodeReauthRequired {
		t.Fatalf("disable: %v", err)
	}
	if _, err := s.RegenerateRecoveryCodes(ctx, p, Client{}); ErrorCode(err) != CodeReauthRequired {
		t.Fatalf("regenerate: %v", err)
	}
	if f.factor == nil || !f.factor.Confirmed() || len(f.codes) != 0 || len(f.log.events) != 0 {
		t.Fatalf("factor %+v, codes %d, audit %v", f.factor, len(f.codes), f.log.actions())
	}
	s, f, _, p = mfaWorld(t, stale, false, false)
	e, err := s.EnrolTOTP(ctx, p, Client{})
	if err != nil || e.Secret != "SECRET" || f.factor == nil || f.factor.Confirmed() || f.log.count(ActionMFAEnrollmentStarted) != 1 {
		t.Fatalf("first enrolment: %+v %v, factor %+v", e, err, f.factor)
	}
	if bytes.Contains(f.factor.SecretSealed, []byte("SECRET")) {
		t.Fatal("the factor was stored with its secret in clear (MFA-10)")
	}
}

// Reauthenticate: a wrong password counts on the session's and the email's
// counters; the right password with a wrong code counts on the MFA
// counter; neither renews the session. Both right: aal2, enrol-only kept;
// the same code again (its step already used) is refused.
func TestReauthenticate_FailuresCountedOnTheirCounters_SuccessRenews(t *testing.T) {
	ctx := context.Background()
	s, f, c, p := mfaWorld(t, testNow.Add(-time.Hour), true, false)
	f.enrolOnly = true
	if _, err := s.Reauthenticate(ctx, p, "wrong", "123456", Client{}); ErrorCode(err) != CodeInvalidCredentials {
		t.Fatalf("wrong password: %v", err)
	}
	if c.failuresOn(SessionThrottleKey(p.SessionID)) != 1 || c.failuresOn(ThrottleKey("known@example.com")) != 1 ||
		f.log.count(ActionReauthFailed) != 1 || len(f.setAuth) != 0 {
		t.Fatalf("records %+v, audit %v", c.records, f.log.actions())
	}
	if _, err := s.Reauthenticate(ctx, p, "right", "000000", Client{}); ErrorCode(err) != CodeInvalidMFACode {
		t.Fatalf("wrong code: %v", err)
	}
	if c.failuresOn(MFAThrottleKey(p.UserID)) != 1 || f.log.count(ActionMFAFailed) != 1 || len(f.setAuth) != 0 {
		t.Fatalf("records %+v, audit %v, auth %v", c.records, f.log.actions(), f.setAuth)
	}
	r, err := s.Reauthenticate(ctx, p, "right", "123456", Client{})
	if err != nil {
		t.Fatal(err)
	}
	if len(f.setAuth) != 1 || f.setAuth[0].AAL != 2 || !f.setAuth[0].EnrolOnly || !r.AuthTime.Equal(testNow) ||
		f.log.count(ActionReauthenticated) != 1 {
		t.Fatalf("auth %+v, answer %+v, audit %v", f.setAuth, r, f.log.actions())
	}
	if _, err := s.Reauthenticate(ctx, p, "right", "123456", Client{}); ErrorCode(err) != CodeInvalidMFACode ||
		len(f.setAuth) != 1 || c.failuresOn(MFAThrottleKey(p.UserID)) != 2 {
		t.Fatalf("replayed code: %v, auth %d", err, len(f.setAuth))
	}
}

// fakeMFAReset is mfaResetStore and its transaction.
type fakeMFAReset struct {
	fakeOwnerCheck
	member    User
	hasFactor bool
	codes     int
	ended     int
	events    []AuditEvent
}

func (f *fakeMFAReset) inMFAResetTx(_ context.Context, _ uuid.UUID, fn func(mfaResetTx) error) error {
	return fn(f)
}
func (f *fakeMFAReset) UserGet(_ context.Context, id uuid.UUID) (User, error) {
	if id != f.member.ID {
		return User{}, ErrNotFound
	}
	return f.member, nil
}
func (f *fakeMFAReset) FactorsDelete(context.Context, uuid.UUID) (int64, error) {
	if !f.hasFactor {
		return 0, nil
	}
	f.hasFactor = false
	return 1, nil
}
func (f *fakeMFAReset) RecoveryCodesReplace(_ context.Context, _ uuid.UUID, hashes [][]byte, _ time.Time) error {
	f.codes = len(hashes)
	return nil
}
func (f *fakeMFAReset) SessionRevokeAllForUser(context.Context, uuid.UUID, *uuid.UUID, time.Time, string) (int64, error) {
	f.ended++
	return 4, nil
}
func (f *fakeMFAReset) Audit(_ context.Context, e AuditEvent) error {
	f.events = append(f.events, e)
	return nil
}

var _ mfaResetStore = (*fakeMFAReset)(nil)

// An owner's reset removes the member's factor and codes and ends their
// sessions; a member without a factor is "not enrolled", nothing ended.
func TestResetMemberMFA_RemovesFactorAndEndsSessions(t *testing.T) {
	s := portService(t, &spyHasher{}, DefaultConfig())
	p := ownerPrincipal()
	m := User{ID: uuid.New(), AccountID: p.AccountID, Role: RoleMember, Active: true}
	f := &fakeMFAReset{fakeOwnerCheck: fakeOwnerCheck{role: RoleOwner, active: true, lastAuth: testNow}, member: m, hasFactor: true, codes: -1}
	s.mfaResets = f
	n, err := s.ResetMemberMFA(context.Background(), p, m.ID, Client{})
	if err != nil || n != 4 || f.hasFactor || f.codes != 0 || f.ended != 1 || len(f.events) != 1 || f.events[0].Action != ActionMFAReset {
		t.Fatalf("n %d err %v, %+v", n, err, f)
	}
	if _, err := s.ResetMemberMFA(context.Background(), p, m.ID, Client{}); ErrorCode(err) == "" || f.ended != 1 {
		t.Fatalf("second reset: %v, ended %d", err, f.ended)
	}
}
