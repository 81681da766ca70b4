package core

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"
)

// ChangePassword over fakes of its narrow ports (passwordStore,
// passwordTx, failureCounter), without a database.

// fakePasswords is passwordStore and its transaction: the caller's user
// (email known@example.com) and session, authenticated at lastAuth.
type fakePasswords struct {
	user      LoginUser
	lastAuth  time.Time
	hashSet   string
	revoked   int
	consumed  int
	log       *auditLog
	txs       int
	lockCalls int
}

func (f *fakePasswords) inPasswordTx(_ context.Context, _ uuid.UUID, fn func(passwordTx) error) error {
	f.txs++
	return fn(f)
}
func (f *fakePasswords) SessionAuthState(context.Context, uuid.UUID, time.Time) (SessionAuth, error) {
	return SessionAuth{AuthLevel: AuthLevel{AAL: 1, LastAuthAt: f.lastAuth}}, nil
}
func (f *fakePasswords) UserGet(context.Context, uuid.UUID) (User, error) {
	u := f.user
	return User{ID: u.UserID, AccountID: u.AccountID, Email: "known@example.com", Role: u.Role, Active: u.Active}, nil
}
func (f *fakePasswords) UserLockCredentials(context.Context, uuid.UUID) (string, bool, error) {
	f.lockCalls++
	return f.user.PasswordHash, f.user.Active, nil
}
func (f *fakePasswords) UserSetPasswordHash(_ context.Context, _ uuid.UUID, hash string, _ time.Time) error {
	f.hashSet = hash
	return nil
}
func (f *fakePasswords) SessionRevokeAllForUser(_ context.Context, _ uuid.UUID, except *uuid.UUID, _ time.Time, _ string) (int64, error) {
	if except == nil {
		return 0, errors.New("change-password must keep the caller's session")
	}
	f.revoked++
	return 2, nil
}
func (f *fakePasswords) PasswordResetTokensConsume(context.Context, uuid.UUID, time.Time) (int64, error) {
	f.consumed++
	return 0, nil
}
func (f *fakePasswords) Audit(_ context.Context, e AuditEvent) error {
	f.log.events = append(f.log.events, e)
	return nil
}

var _ passwordStore = (*fakePasswords)(nil)

// LGN-08: a wrong current password is refused before
// the new password is hashed, audited, and counted on the sign-in counter:
// the threshold-th failure locks change-password and sign-in alike.
func TestChangePassword_LGN08_VerifiesFirst_CountsAndAuditsFailures(t *testing.T) {
	u := knownUser(RoleMember, true)
	w := newSignInWorld(t, u, fakeSignInTx{fakeOpenTx: fakeOpenTx{active: true}})
	pw := &fakePasswords{user: u, lastAuth: testNow, log: w.log}
	w.svc.passwords = pw
	h, cfg, svc := w.hasher, w.svc.cfg, w.svc
	p := Principal{UserID: u.UserID, AccountID: u.AccountID, SessionID: uuid.New(), Role: RoleMember}
	ctx := context.Background()
	for i := range cfg.Throttle.Threshold {
		err := svc.ChangePassword(ctx, p, "wrong", "a brand new password", Client{})
		if ErrorCode(err) != CodeInvalidCredentials {
			t.Fatalf("attempt %d: %v, want invalid_credentials", i+1, err)
		}
	}
	if h.hash != 0 {
		t.Fatalf("the new password was hashed %d times for wrong current passwords; verify first", h.hash)
	}
	if len(w.log.events) != cfg.Throttle.Threshold || w.log.events[0].Action != ActionPasswordChangeFailed {
		t.Fatalf("audit: %v, want %d %s", w.log.actions(), cfg.Throttle.Threshold, ActionPasswordChangeFailed)
	}
	var te *ThrottledError
	if err := svc.ChangePassword(ctx, p, "right", "a brand new password", Client{}); !errors.As(err, &te) || ErrorCode(err) != CodeRateLimited {
		t.Fatalf("right password while throttled: %v, want rate_limited", err)
	}
	if _, err := svc.Login(ctx, "KNOWN@example.com", "right", Client{}); !errors.As(err, &te) {
		t.Fatalf("sign-in after change-password failures: %v, want the shared counter to throttle it", err)
	}
	if pw.hashSet != "" || h.hash != 0 {
		t.Fatal("a throttled change wrote or hashed a password")
	}
}

// The right current password: the new hash, the caller's other sessions
// ended (never their own), outstanding reset tokens spent and the change
// audited, in one transaction after the read one; a session whose
// authentication is too old is refused before anything is read or hashed
// (SUDO-03).
func TestChangePassword_WritesInOneTransaction_AndNeedsRecentAuth(t *testing.T) {
	u := knownUser(RoleMember, true)
	w := newSignInWorld(t, u, fakeSignInTx{})
	pw := &fakePasswords{user: u, lastAuth: testNow, log: w.log}
	w.svc.passwords = pw
	p := Principal{UserID: u.UserID, AccountID: u.AccountID, SessionID: uuid.New(), Role: RoleMember}
	if err := w.svc.ChangePassword(context.Background(), p, "right", "a brand new password", Client{}); err != nil {
		t.Fatal(err)
	}
	if pw.txs != 2 || pw.hashSet != "hash-of:a brand new password" || pw.revoked != 1 || pw.consumed != 1 ||
		w.log.count(ActionPasswordChanged) != 1 {
		t.Fatalf("%+v audit %v", pw, w.log.actions())
	}

	stale := &fakePasswords{user: u, lastAuth: testNow.Add(-16 * time.Minute), log: &auditLog{}}
	w.svc.passwords = stale
	h := w.hasher.verify + w.hasher.hash
	err := w.svc.ChangePassword(context.Background(), p, "right", "a brand new password", Client{})
	if ErrorCode(err) != CodeReauthRequired || stale.lockCalls != 0 || w.hasher.verify+w.hasher.hash != h || stale.hashSet != "" {
		t.Fatalf("err %v, credentials read %d, hashes %d", err, stale.lockCalls, w.hasher.verify+w.hasher.hash-h)
	}
}
