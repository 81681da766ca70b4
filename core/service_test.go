package core_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/sessiond/sessiond/core"
)

// spyHasher counts the password work done per attempt (LGN-02).
type spyHasher struct{ verify, dummy, hash int }

func (s *spyHasher) Hash(string) (string, error) { s.hash++; return "hashed", nil }
func (s *spyHasher) Verify(encoded, pw string) (bool, bool, error) {
	s.verify++
	return encoded == "hash-of:"+pw, false, nil
}
func (s *spyHasher) VerifyDummy(string) error { s.dummy++; return nil }

type fixedClock struct{ t time.Time }

func (c fixedClock) Now() time.Time { return c.t }

// fakeStore knows one user; tenant transactions record audit events and
// accept session writes. Unused TenantTx methods panic (nil embedded).
type fakeStore struct {
	user     core.LoginUser
	events   []core.AuditEvent
	throttle map[string]core.ThrottleState
	hashSet  string // the last UserSetPasswordHash
}

// The brute-force counter in memory: the real one is SQL (migrations/00005,
// tested over PostgreSQL); this fake counts failures and locks at the
// threshold, enough for the core's control flow.
func (f *fakeStore) ThrottleCheck(_ context.Context, key []byte, _ time.Time) (core.ThrottleState, error) {
	return f.throttle[string(key)], nil
}
func (f *fakeStore) ThrottleFailure(_ context.Context, key []byte, now time.Time, r core.ThrottleRule) (core.ThrottleState, error) {
	if f.throttle == nil {
		f.throttle = map[string]core.ThrottleState{}
	}
	st := f.throttle[string(key)]
	if st.Locked(now) {
		return st, nil
	}
	st.Failures++
	if st.Failures >= r.Threshold {
		st.LockedUntil = now.Add(r.BaseDelay)
	}
	f.throttle[string(key)] = st
	return st, nil
}
func (f *fakeStore) ThrottleReset(_ context.Context, key []byte) error {
	delete(f.throttle, string(key))
	return nil
}

// RecordFailure: the counts and the audit event, as the one transaction
// of the real store.
func (f *fakeStore) RecordFailure(ctx context.Context, r core.FailureRecord) ([]core.ThrottleState, error) {
	var out []core.ThrottleState
	for _, k := range r.Keys {
		st, _ := f.ThrottleFailure(ctx, k, r.Now, r.Rule)
		out = append(out, st)
	}
	if r.Audit != nil {
		f.events = append(f.events, *r.Audit)
	}
	return out, nil
}

func (f *fakeStore) RecordResetRequest(ctx context.Context, r core.ResetRequestRecord) (core.ThrottleState, core.ThrottleState, error) {
	before, _ := f.ThrottleCheck(ctx, r.Key, r.Now)
	after, _ := f.ThrottleFailure(ctx, r.Key, r.Now, r.Rule)
	return before, after, nil
}

func (f *fakeStore) UserForLogin(_ context.Context, email string) (core.LoginUser, error) {
	if email != "known@example.com" {
		return core.LoginUser{}, core.ErrNotFound
	}
	return f.user, nil
}
func (f *fakeStore) SessionAccount(context.Context, uuid.UUID) (uuid.UUID, error) {
	return uuid.Nil, core.ErrNotFound
}
func (f *fakeStore) UserIfSessionLive(context.Context, uuid.UUID, uuid.UUID, uuid.UUID, time.Time) (core.User, error) {
	return core.User{}, core.ErrNotFound
}
func (f *fakeStore) SessionListLive(context.Context, uuid.UUID, uuid.UUID, time.Time) ([]core.SessionInfo, error) {
	return nil, nil
}
func (f *fakeStore) RotateIfCurrent(context.Context, uuid.UUID, core.RotationGuard, core.Rotation) (core.RotatedSession, bool, error) {
	return core.RotatedSession{}, false, nil
}
func (f *fakeStore) InSessionTx(ctx context.Context, id uuid.UUID, _ uuid.UUID, _ time.Time, fn func(core.TenantTx) error) error {
	return f.InTenantTx(ctx, id, fn)
}
func (f *fakeStore) MFAChallengeOwner(context.Context, []byte) (uuid.UUID, uuid.UUID, error) {
	return uuid.Nil, uuid.Nil, core.ErrNotFound
}
func (f *fakeStore) PasswordResetAccount(context.Context, []byte) (uuid.UUID, error) {
	return uuid.Nil, core.ErrNotFound
}
func (f *fakeStore) EmailVerificationAccount(context.Context, []byte) (uuid.UUID, error) {
	return uuid.Nil, core.ErrNotFound
}
func (f *fakeStore) InvitationAccount(context.Context, []byte) (uuid.UUID, error) {
	return uuid.Nil, core.ErrNotFound
}
func (f *fakeStore) SessionIsLive(context.Context, uuid.UUID, uuid.UUID, time.Time) (bool, error) {
	return true, nil
}
func (f *fakeStore) InTenantTx(_ context.Context, _ uuid.UUID, fn func(core.TenantTx) error) error {
	return fn(&fakeTx{store: f})
}

type fakeTx struct {
	core.TenantTx
	store *fakeStore
}

func (t *fakeTx) AccountPolicy(context.Context) (core.PolicyOverride, error) {
	return core.PolicyOverride{}, nil
}
func (t *fakeTx) SessionCreate(context.Context, core.NewSession) error { return nil }

// SessionAuthState: the caller's session authenticated just now (the
// fixed clock's instant), inside the recent-auth window.
func (t *fakeTx) SessionAuthState(context.Context, uuid.UUID, time.Time) (core.SessionAuth, error) {
	return core.SessionAuth{AuthLevel: core.AuthLevel{AAL: 1, LastAuthAt: time.Unix(2_000_000_000, 0)}}, nil
}

// AccountPolicyForSignIn: the policy of AccountPolicy, no second factor
// (sign-in then opens a session).
func (t *fakeTx) AccountPolicyForSignIn(context.Context, uuid.UUID) (core.PolicyOverride, bool, error) {
	return core.PolicyOverride{}, false, nil
}
func (t *fakeTx) UserLockForSignIn(context.Context, uuid.UUID) (bool, error) {
	return t.store.user.Active, nil

}
func (t *fakeTx) UserGet(context.Context, uuid.UUID) (core.User, error) {
	u := t.store.user
	return core.User{ID: u.UserID, AccountID: u.AccountID, Email: "known@example.com", Role: u.Role, Active: u.Active}, nil
}
func (t *fakeTx) UserLockCredentials(context.Context, uuid.UUID) (string, bool, error) {
	return t.store.user.PasswordHash, t.store.user.Active, nil
}
func (t *fakeTx) UserSetPasswordHash(_ context.Context, _ uuid.UUID, hash string, _ time.Time) error {
	t.store.hashSet = hash
	return nil
}
func (t *fakeTx) SessionRevokeAllForUser(context.Context, uuid.UUID, *uuid.UUID, time.Time, string) (int64, error) {
	return 0, nil
}
func (t *fakeTx) PasswordResetTokensConsume(context.Context, uuid.UUID, time.Time) (int64, error) {
	return 0, nil
}
func (t *fakeTx) Audit(_ context.Context, e core.AuditEvent) error {
	t.store.events = append(t.store.events, e)
	return nil
}

type nopCodec struct{ core.TokenCodec }

func (nopCodec) SignAccess(core.AccessClaims) (string, error)   { return "at", nil }
func (nopCodec) SignRefresh(core.RefreshClaims) (string, error) { return "rt", nil }
func (nopCodec) SignDevice(core.DeviceClaims) (string, error)   { return "dt", nil }
func (nopCodec) VerifyDevice(string, time.Time) (core.DeviceClaims, error) {
	return core.DeviceClaims{}, errors.New("no device tokens here")
}

func TestLogin_LGN02_HasherRunsExactlyOncePerAttempt_IncludingUnknownUsers(t *testing.T) {
	cases := []struct {
		name, email, password string
		active                bool
		wantVerify, wantDummy int
		wantErr               bool
	}{
		{"unknown user", "nobody@example.com", "pw", true, 0, 1, true},
		{"wrong password", "known@example.com", "wrong", true, 1, 0, true},
		{"inactive user", "known@example.com", "right", false, 1, 0, true},
		{"success", "known@example.com", "right", true, 1, 0, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := &spyHasher{}
			st := &fakeStore{user: core.LoginUser{UserID: uuid.New(), AccountID: uuid.New(), PasswordHash: "hash-of:right", Active: c.active, Role: core.RoleMember, EmailVerified: true}}
			svc, err := core.NewService(st, nopCodec{}, h, fixedClock{time.Unix(2_000_000_000, 0)}, core.DefaultConfig(), nil, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			_, err = svc.Login(context.Background(), c.email, c.password, core.Client{})
			if (err != nil) != c.wantErr {
				t.Fatalf("err = %v", err)
			}
			if err != nil && core.ErrorCode(err) != core.CodeInvalidCredentials {
				t.Fatalf("code = %s, want the one generic invalid_credentials", core.ErrorCode(err))
			}
			if h.verify != c.wantVerify || h.dummy != c.wantDummy || h.verify+h.dummy != 1 {
				t.Fatalf("verify=%d dummy=%d: the hasher must run exactly once", h.verify, h.dummy)
			}
		})
	}
}

func TestLogin_FailureOfKnownUser_IsAudited_UnknownIsNot(t *testing.T) {
	st := &fakeStore{user: core.LoginUser{UserID: uuid.New(), AccountID: uuid.New(), PasswordHash: "hash-of:right", Active: true, Role: core.RoleOwner, EmailVerified: true}}
	svc, err := core.NewService(st, nopCodec{}, &spyHasher{}, fixedClock{time.Unix(2_000_000_000, 0)}, core.DefaultConfig(), nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = svc.Login(context.Background(), "nobody@example.com", "x", core.Client{})
	if len(st.events) != 0 {
		t.Fatalf("unknown email wrote %d tenant audit events", len(st.events))
	}
	_, err = svc.Login(context.Background(), " KNOWN@example.com ", "wrong", core.Client{})
	var ce *core.Error
	if !errors.As(err, &ce) || len(st.events) != 1 || st.events[0].Action != core.ActionLoginFailed {
		t.Fatalf("err=%v events=%+v", err, st.events)
	}
	if _, err := svc.Login(context.Background(), "known@example.com", "right", core.Client{}); err != nil {
		t.Fatal(err)
	}
	if last := st.events[len(st.events)-1]; last.Action != core.ActionLoginSucceeded {
		t.Fatalf("last event %s", last.Action)
	}
}

// LGN-08: a wrong current password is refused before
// the new password is hashed, audited, and counted on the sign-in counter:
// the threshold-th failure locks change-password and sign-in alike.
func TestChangePassword_LGN08_VerifiesFirst_CountsAndAuditsFailures(t *testing.T) {
	h := &spyHasher{}
	st := &fakeStore{user: core.LoginUser{UserID: uuid.New(), AccountID: uuid.New(), PasswordHash: "hash-of:right", Active: true, Role: core.RoleMember, EmailVerified: true}}
	cfg := core.DefaultConfig()
	svc, err := core.NewService(st, nopCodec{}, h, fixedClock{time.Unix(2_000_000_000, 0)}, cfg, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	p := core.Principal{UserID: st.user.UserID, AccountID: st.user.AccountID, SessionID: uuid.New(), Role: core.RoleMember}
	ctx := context.Background()
	for i := range cfg.Throttle.Threshold {
		err := svc.ChangePassword(ctx, p, "wrong", "a brand new password", core.Client{})
		if core.ErrorCode(err) != core.CodeInvalidCredentials {
			t.Fatalf("attempt %d: %v, want invalid_credentials", i+1, err)
		}
	}
	if h.hash != 0 {
		t.Fatalf("the new password was hashed %d times for wrong current passwords; verify first", h.hash)
	}
	if len(st.events) != cfg.Throttle.Threshold || st.events[0].Action != core.ActionPasswordChangeFailed {
		t.Fatalf("audit: %d events (first %+v), want %d %s", len(st.events), st.events, cfg.Throttle.Threshold, core.ActionPasswordChangeFailed)
	}
	var te *core.ThrottledError
	if err := svc.ChangePassword(ctx, p, "right", "a brand new password", core.Client{}); !errors.As(err, &te) || core.ErrorCode(err) != core.CodeRateLimited {
		t.Fatalf("right password while throttled: %v, want rate_limited", err)
	}
	if _, err := svc.Login(ctx, "KNOWN@example.com", "right", core.Client{}); !errors.As(err, &te) {
		t.Fatalf("sign-in after change-password failures: %v, want the shared counter to throttle it", err)
	}
	if st.hashSet != "" || h.hash != 0 {
		t.Fatal("a throttled change wrote or hashed a password")
	}
}
