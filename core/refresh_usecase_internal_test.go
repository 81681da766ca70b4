package core

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/google/uuid"
)

// The refresh use case over fakes of its narrow ports (refreshStore,
// refreshTx): which path runs and what it writes, without a database.

type refreshCodec struct{ claims RefreshClaims }

func (c refreshCodec) SignAccess(AccessClaims) (string, error)   { return "at", nil }
func (c refreshCodec) SignRefresh(RefreshClaims) (string, error) { return "rt", nil }
func (c refreshCodec) VerifyAccess(string, time.Time) (AccessClaims, error) {
	return AccessClaims{}, errors.New("not an access token")
}
func (c refreshCodec) VerifyRefresh(string) (RefreshClaims, error) { return c.claims, nil }
func (c refreshCodec) SignDevice(DeviceClaims) (string, error)     { return "dt", nil }
func (c refreshCodec) VerifyDevice(string, time.Time) (DeviceClaims, error) {
	return DeviceClaims{}, errors.New("no")
}

type fixedNow time.Time

func (n fixedNow) Now() time.Time { return time.Time(n) }

// fakeRefreshStore answers the fast path with fastOK and holds the row the
// slow path locks; it records what was written.
type fakeRefreshStore struct {
	fastOK   bool
	fastRuns int
	row      FamilyState
	txs      int
	rotated  []Rotation
	revoked  []string
	audited  []string
	policyRd int
}

func (f *fakeRefreshStore) SessionAccount(context.Context, uuid.UUID) (uuid.UUID, error) {
	return uuid.Nil, ErrNotFound
}
func (f *fakeRefreshStore) RotateIfCurrent(context.Context, uuid.UUID, RotationGuard, Rotation) (RotatedSession, bool, error) {
	f.fastRuns++
	return RotatedSession{Role: RoleMember}, f.fastOK, nil
}
func (f *fakeRefreshStore) inRefreshTx(_ context.Context, _ uuid.UUID, fn func(refreshTx) error) error {
	f.txs++
	return fn(f)
}
func (f *fakeRefreshStore) SessionLockForRefresh(context.Context, uuid.UUID) (FamilyState, error) {
	return f.row, nil
}
func (f *fakeRefreshStore) AccountPolicy(context.Context) (PolicyOverride, error) {
	f.policyRd++
	return PolicyOverride{}, nil
}
func (f *fakeRefreshStore) SessionRotate(_ context.Context, r Rotation) error {
	f.rotated = append(f.rotated, r)
	return nil
}
func (f *fakeRefreshStore) SessionRevoke(_ context.Context, _ uuid.UUID, _ time.Time, reason string) (bool, error) {
	f.revoked = append(f.revoked, reason)
	return true, nil
}
func (f *fakeRefreshStore) Audit(_ context.Context, e AuditEvent) error {
	f.audited = append(f.audited, e.Action)
	return nil
}

func TestRefresh_UseCaseOverItsNarrowPorts(t *testing.T) {
	auth := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	now := auth.Add(time.Minute)
	snap := Snapshot{IdleSeconds: 900, AbsoluteSeconds: 3600}
	user, session, account := uuid.New(), uuid.New(), uuid.New()
	current := RefreshClaims{Subject: user, SessionID: session, AccountID: account, JTI: "current",
		IssuedAt: auth, ExpiresAt: auth.Add(snap.Idle()), AuthTime: &auth, IdleMax: snap.IdleSeconds, AbsMax: snap.AbsoluteSeconds}
	row := FamilyState{SessionID: session, UserID: user, UserActive: true, AuthTime: auth, Snapshot: snap,
		IdleExpiresAt: auth.Add(snap.Idle()), AbsoluteExpiresAt: auth.Add(snap.Absolute()), CurrentJTIHash: HashJTI("current")}
	rotatedAt := auth.Add(time.Second)
	legacy := current
	legacy.AuthTime, legacy.IdleMax, legacy.AbsMax = nil, 0, 0

	for _, tc := range []struct {
		name     string
		claims   RefreshClaims
		fastOK   bool
		row      FamilyState
		wantCode Code
		check    func(t *testing.T, f *fakeRefreshStore)
	}{
		{name: "current token: one guarded write, no transaction", claims: current, fastOK: true, row: row,
			check: func(t *testing.T, f *fakeRefreshStore) {
				if f.fastRuns != 1 || f.txs != 0 {
					t.Fatalf("fast %d, transactions %d", f.fastRuns, f.txs)
				}
			}},
		{name: "guard refused, row is the current token's: the slow path rotates", claims: current, row: row,
			check: func(t *testing.T, f *fakeRefreshStore) {
				if f.fastRuns != 1 || f.txs != 1 || len(f.rotated) != 1 || len(f.revoked) != 0 {
					t.Fatalf("%+v", f)
				}
			}},
		{name: "parent replayed after the grace window: reuse revokes and audits", claims: current, wantCode: CodeRefreshTokenReused,
			row: func() FamilyState {
				r := row
				r.CurrentJTIHash, r.PreviousJTIHash, r.RotatedAt = HashJTI("next"), HashJTI("current"), &rotatedAt
				return r
			}(),
			check: func(t *testing.T, f *fakeRefreshStore) {
				if len(f.rotated) != 0 || len(f.revoked) != 1 || f.revoked[0] != ReasonRefreshReuse ||
					len(f.audited) != 1 || f.audited[0] != ActionRefreshReuseDetected {
					t.Fatalf("%+v", f)
				}
			}},
		{name: "legacy token: no fast path; the policy in force is read", claims: legacy, row: row,
			check: func(t *testing.T, f *fakeRefreshStore) {
				if f.fastRuns != 0 || f.policyRd != 1 || len(f.rotated) != 1 {
					t.Fatalf("%+v", f)
				}
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeRefreshStore{fastOK: tc.fastOK, row: tc.row}
			s := &Service{refreshes: f, tokens: refreshCodec{claims: tc.claims}, clock: fixedNow(now), cfg: DefaultConfig(),
				log: slog.New(slog.NewTextHandler(io.Discard, nil))}
			pair, err := s.Refresh(context.Background(), "raw", Client{})
			if got := ErrorCode(err); tc.wantCode != "" || err != nil {
				if got != tc.wantCode {
					t.Fatalf("err %v, want code %q", err, tc.wantCode)
				}
			} else if pair.RefreshToken != "rt" || pair.Converged {
				t.Fatalf("pair %+v", pair)
			}
			tc.check(t, f)
		})
	}
}
