package core

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
)

// The caller's own sessions (Logout, LogoutAll, RevokeSession) and
// profile (UpdateProfile) over fakes of their narrow ports
// (ownSessionStore/ownSessionTx, profileStore/profileTx), without a
// database.

// sessionTable is one tenant's sessions as the fakes keep them: whose each
// is, which have ended and why, and the audit rows, each stamped with its
// transaction's number. Another tenant's sessions are not in it: the
// tenant transaction hides them.
type sessionTable struct {
	owners    map[uuid.UUID]uuid.UUID
	ended     map[uuid.UUID]string
	txs       int
	audit     auditLog
	auditedIn []int
}

func newSessionTable() sessionTable {
	return sessionTable{owners: map[uuid.UUID]uuid.UUID{}, ended: map[uuid.UUID]string{}}
}

// open adds a live session of user and returns its id.
func (t *sessionTable) open(user uuid.UUID) uuid.UUID {
	id := uuid.New()
	t.owners[id] = user
	return id
}

func (t *sessionTable) SessionOwner(_ context.Context, id uuid.UUID) (uuid.UUID, error) {
	u, ok := t.owners[id]
	if !ok {
		return uuid.Nil, ErrNotFound
	}
	return u, nil
}
func (t *sessionTable) SessionRevoke(_ context.Context, id uuid.UUID, _ time.Time, reason string) (bool, error) {
	if _, done := t.ended[id]; done || t.owners[id] == uuid.Nil {
		return false, nil
	}
	t.ended[id] = reason
	return true, nil
}
func (t *sessionTable) Audit(_ context.Context, e AuditEvent) error {
	t.audit.events = append(t.audit.events, e)
	t.auditedIn = append(t.auditedIn, t.txs)
	return nil
}

// revokeAll ends the live sessions whose owner keep refuses.
func (t *sessionTable) revokeAll(reason string, keep func(owner uuid.UUID) bool) int64 {
	var n int64
	for id, owner := range t.owners {
		if _, done := t.ended[id]; !done && !keep(owner) {
			t.ended[id] = reason
			n++
		}
	}
	return n
}

// fakeOwnSessions is ownSessionStore and its transaction; a live
// transaction (inLiveOwnSessionTx) finds the bearer's session ended as the
// real one does, in its first round trip.
type fakeOwnSessions struct {
	sessionTable
	lastAuth time.Time
}

func (f *fakeOwnSessions) inOwnSessionTx(_ context.Context, _ uuid.UUID, fn func(ownSessionTx) error) error {
	f.txs++
	return fn(f)
}
func (f *fakeOwnSessions) inLiveOwnSessionTx(_ context.Context, _, sessionID uuid.UUID, _ time.Time, fn func(ownSessionTx) error) error {
	f.txs++
	if _, done := f.ended[sessionID]; done {
		return ErrSessionNotLive
	}
	return fn(f)
}
func (f *fakeOwnSessions) SessionAuthState(context.Context, uuid.UUID, time.Time) (SessionAuth, error) {
	return SessionAuth{AuthLevel: AuthLevel{AAL: 1, LastAuthAt: f.lastAuth}}, nil
}
func (f *fakeOwnSessions) SessionRevokeAllForUser(_ context.Context, user uuid.UUID, _ *uuid.UUID, _ time.Time, reason string) (int64, error) {
	return f.revokeAll(reason, func(owner uuid.UUID) bool { return owner != user }), nil
}

var _ ownSessionStore = (*fakeOwnSessions)(nil)

// ownSessionWorld is a member p signed in on its current session, with a
// second session of theirs and one of another user of the account.
func ownSessionWorld(t *testing.T, codec refreshCodec) (s *Service, f *fakeOwnSessions, p Principal, mine, theirs uuid.UUID) {
	t.Helper()
	f = &fakeOwnSessions{sessionTable: newSessionTable(), lastAuth: testNow}
	p = Principal{UserID: uuid.New(), AccountID: uuid.New(), Role: RoleMember}
	p.SessionID = f.open(p.UserID)
	mine, theirs = f.open(p.UserID), f.open(uuid.New())
	s = portService(t, &spyHasher{}, DefaultConfig())
	s.tokens, s.ownSessions = codec, f
	return s, f, p, mine, theirs
}

func TestLogout_RefreshTokenOfAnotherUserIgnoredAndSaid_OwnOtherSessionEnded(t *testing.T) {
	for _, c := range []struct {
		name    string
		claims  func(p Principal, mine, theirs uuid.UUID) RefreshClaims
		ended   func(p Principal, mine, theirs uuid.UUID) []uuid.UUID
		ignored bool
	}{
		{"the caller's other session's token ends it too",
			func(p Principal, mine, _ uuid.UUID) RefreshClaims {
				return RefreshClaims{Subject: p.UserID, AccountID: p.AccountID, SessionID: mine}
			},
			func(p Principal, mine, _ uuid.UUID) []uuid.UUID { return []uuid.UUID{p.SessionID, mine} }, false},
		{"another user's token is ignored, their session kept",
			func(_ Principal, _, theirs uuid.UUID) RefreshClaims {
				return RefreshClaims{Subject: uuid.New(), SessionID: theirs}
			},
			func(p Principal, _, _ uuid.UUID) []uuid.UUID { return []uuid.UUID{p.SessionID} }, true},
		{"another tenant's token is ignored",
			func(p Principal, mine, _ uuid.UUID) RefreshClaims {
				return RefreshClaims{Subject: p.UserID, AccountID: uuid.New(), SessionID: mine}
			},
			func(p Principal, _, _ uuid.UUID) []uuid.UUID { return []uuid.UUID{p.SessionID} }, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			s, f, p, mine, theirs := ownSessionWorld(t, refreshCodec{})
			s.tokens = refreshCodec{claims: c.claims(p, mine, theirs)}
			if err := s.Logout(context.Background(), Bearer{claimed: p}, "rt", Client{}); err != nil {
				t.Fatal(err)
			}
			want := c.ended(p, mine, theirs)
			if len(f.ended) != len(want) || f.txs != 1 {
				t.Fatalf("ended %v in %d transactions, want %v in one", f.ended, f.txs, want)
			}
			for _, id := range want {
				if f.ended[id] != ReasonLogout {
					t.Fatalf("session %s: %q, want %q", id, f.ended[id], ReasonLogout)
				}
			}
			if f.audit.count(ActionLogout) != len(want) {
				t.Fatalf("audit %v", f.audit.actions())
			}
			said, _ := f.audit.events[0].Details["foreign_refresh_ignored"].(bool)
			if said != c.ignored {
				t.Fatalf("foreign_refresh_ignored %v, want %v (REV-06)", said, c.ignored)
			}
		})
	}
}

func TestLogout_SessionEndedAlready_NoErrorNoAudit(t *testing.T) {
	s, f, p, _, _ := ownSessionWorld(t, refreshCodec{})
	f.ended[p.SessionID] = ReasonLogout
	if err := s.Logout(context.Background(), Bearer{claimed: p}, "", Client{}); err != nil {
		t.Fatalf("a second logout: %v, want none (idempotent)", err)
	}
	if len(f.audit.events) != 0 {
		t.Fatalf("audit %v, want none: nothing changed", f.audit.actions())
	}
}

func TestLogoutAll_EndsOnlyTheCallersSessions_RefusedOnceEnded(t *testing.T) {
	s, f, p, mine, theirs := ownSessionWorld(t, refreshCodec{})
	n, err := s.LogoutAll(context.Background(), Bearer{claimed: p}, Client{})
	if err != nil || n != 2 {
		t.Fatalf("LogoutAll: %d, %v; want 2", n, err)
	}
	if f.ended[p.SessionID] != ReasonLogoutAll || f.ended[mine] != ReasonLogoutAll || f.ended[theirs] != "" {
		t.Fatalf("ended %v", f.ended)
	}
	if e := f.audit.events; len(e) != 1 || e[0].Action != ActionLogoutAll || e[0].Details["revoked_count"] != int64(2) ||
		!slices.Equal(f.auditedIn, []int{1}) {
		t.Fatalf("audit %+v in %v, want logout_all with revoked_count 2 in the same transaction", e, f.auditedIn)
	}
	_, err = s.LogoutAll(context.Background(), Bearer{claimed: p}, Client{})
	if ErrorCode(err) != CodeInvalidToken || len(f.audit.events) != 1 {
		t.Fatalf("LogoutAll by an ended session: %v, %d events; want %s and nothing recorded", err, len(f.audit.events), CodeInvalidToken)
	}
}

func TestRevokeSession_OwnOtherSessionOnly_CurrentRefused_RecentAuthNeeded(t *testing.T) {
	ctx := context.Background()
	s, f, p, mine, theirs := ownSessionWorld(t, refreshCodec{})
	b := Bearer{claimed: p}
	if err := s.RevokeSession(ctx, b, p.SessionID, Client{}); ErrorCode(err) != CodeCannotRevokeCurrent || f.txs != 0 {
		t.Fatalf("the current session: %v after %d transactions, want %s before any (REV-03)", err, f.txs, CodeCannotRevokeCurrent)
	}
	for _, id := range []uuid.UUID{theirs, uuid.New()} { // another user's, or unknown / another tenant's
		if err := s.RevokeSession(ctx, b, id, Client{}); ErrorCode(err) != CodeNotFound {
			t.Fatalf("revoking %s: %v, want %s", id, err, CodeNotFound)
		}
	}
	f.lastAuth = testNow.Add(-24 * time.Hour)
	if err := s.RevokeSession(ctx, b, mine, Client{}); ErrorCode(err) != CodeReauthRequired {
		t.Fatalf("a stale authentication: %v, want %s", err, CodeReauthRequired)
	}
	f.lastAuth = testNow
	if err := s.RevokeSession(ctx, b, mine, Client{}); err != nil {
		t.Fatal(err)
	}
	if len(f.ended) != 1 || f.ended[mine] != ReasonRevokedByUser || len(f.audit.events) != 1 ||
		f.audit.events[0].Action != ActionSessionRevoked || f.audit.events[0].ResourceID != mine.String() {
		t.Fatalf("ended %v, audit %+v", f.ended, f.audit.events)
	}
	if err := s.RevokeSession(ctx, b, mine, Client{}); ErrorCode(err) != CodeNotFound || len(f.audit.events) != 1 {
		t.Fatalf("revoking it again: %v, want %s and no second event", err, CodeNotFound)
	}
}

// fakeProfiles is profileStore and its transaction: the tenant's users,
// what was written, the audit rows.
type fakeProfiles struct {
	users   map[uuid.UUID]User
	txs     int
	updates []User
	audit   auditLog
}

func (f *fakeProfiles) inProfileTx(_ context.Context, _ uuid.UUID, fn func(profileTx) error) error {
	f.txs++
	return fn(f)
}
func (f *fakeProfiles) UserLockForUpdate(_ context.Context, id uuid.UUID) (User, error) {
	u, ok := f.users[id]
	if !ok {
		return User{}, ErrNotFound
	}
	return u, nil
}
func (f *fakeProfiles) UserUpdate(_ context.Context, u User, _ time.Time) error {
	f.users[u.ID] = u
	f.updates = append(f.updates, u)
	return nil
}
func (f *fakeProfiles) Audit(_ context.Context, e AuditEvent) error {
	f.audit.events = append(f.audit.events, e)
	return nil
}

var _ profileStore = (*fakeProfiles)(nil)

func TestUpdateProfile_NameValidatedTrimmedAudited_NoOpWritesNothing(t *testing.T) {
	ctx := context.Background()
	p := Principal{UserID: uuid.New(), AccountID: uuid.New(), SessionID: uuid.New(), Role: RoleMember}
	f := &fakeProfiles{users: map[uuid.UUID]User{p.UserID: {ID: p.UserID, AccountID: p.AccountID, Name: "Ada", Role: RoleMember, Active: true}}}
	s := portService(t, &spyHasher{}, DefaultConfig())
	s.profiles = f
	str := func(v string) *string { return &v }
	for _, bad := range []string{"", "   ", strings.Repeat("x", NameMaxLen+1), "a\x00b"} {
		_, err := s.UpdateProfile(ctx, p, ProfilePatch{Name: str(bad)}, Client{})
		if e, ok := err.(*Error); !ok || e.Code != CodeValidation || e.Field != "name" {
			t.Fatalf("name %q: %v, want %s on name", bad, err, CodeValidation)
		}
	}
	if f.txs != 0 {
		t.Fatalf("%d transactions for invalid names, want none", f.txs)
	}
	u, err := s.UpdateProfile(ctx, p, ProfilePatch{Name: str("  Ada Lovelace ")}, Client{})
	if err != nil || u.Name != "Ada Lovelace" || len(f.updates) != 1 {
		t.Fatalf("UpdateProfile: %+v, %v; %d writes", u, err, len(f.updates))
	}
	if e := f.audit.events; len(e) != 1 || e[0].Action != ActionProfileUpdated ||
		e[0].Details["old"].(map[string]any)["name"] != "Ada" || e[0].Details["new"].(map[string]any)["name"] != "Ada Lovelace" {
		t.Fatalf("audit %+v, want one %s with the old and new name", e, ActionProfileUpdated)
	}
	for _, same := range []ProfilePatch{{}, {Name: str("Ada Lovelace")}} {
		if _, err := s.UpdateProfile(ctx, p, same, Client{}); err != nil || len(f.updates) != 1 || len(f.audit.events) != 1 {
			t.Fatalf("a patch that changes nothing: %v; %d writes, %d events (ADM-04)", err, len(f.updates), len(f.audit.events))
		}
	}
	gone := p
	gone.UserID = uuid.New()
	if _, err := s.UpdateProfile(ctx, gone, ProfilePatch{Name: str("X")}, Client{}); ErrorCode(err) != CodeInvalidToken {
		t.Fatalf("a token of no user: %v, want %s", err, CodeInvalidToken)
	}
}
