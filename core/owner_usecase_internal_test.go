package core

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"
)

// The owners' use cases — the account's policy (admin.go) and members
// (members.go, CreateMember) — over fakes of their narrow ports
// (policyStore/policyTx, memberStore/memberTx), without a database.

// fakeOwnerCheck is the owner check's part of a port (ownerWriteTx): the
// caller's current role as the transaction re-reads it, and when their
// session last authenticated.
type fakeOwnerCheck struct {
	role     Role
	active   bool
	lastAuth time.Time
}

func (f *fakeOwnerCheck) UserAccess(context.Context, uuid.UUID) (Role, bool, error) {
	return f.role, f.active, nil
}
func (f *fakeOwnerCheck) SessionAuthState(context.Context, uuid.UUID, time.Time) (SessionAuth, error) {
	return SessionAuth{AuthLevel: AuthLevel{AAL: 1, LastAuthAt: f.lastAuth}}, nil
}

// fakePolicies is policyStore and its transaction: the account's override
// and what was written, each write stamped with its transaction's number.
type fakePolicies struct {
	fakeOwnerCheck
	override  PolicyOverride
	txs       int
	setIn     []int // the transaction of each AccountSetPolicy
	auditedIn []int // the transaction of each audit event
	events    []AuditEvent
}

func (f *fakePolicies) inPolicyTx(_ context.Context, _ uuid.UUID, fn func(policyTx) error) error {
	f.txs++
	return fn(f)
}
func (f *fakePolicies) AccountPolicy(context.Context) (PolicyOverride, error) { return f.override, nil }
func (f *fakePolicies) AccountPolicyForUpdate(context.Context) (PolicyOverride, error) {
	return f.override, nil
}
func (f *fakePolicies) AccountSetPolicy(_ context.Context, o PolicyOverride, _ time.Time) error {
	f.override = o
	f.setIn = append(f.setIn, f.txs)
	return nil
}
func (f *fakePolicies) Audit(_ context.Context, e AuditEvent) error {
	f.events = append(f.events, e)
	f.auditedIn = append(f.auditedIn, f.txs)
	return nil
}

var _ policyStore = (*fakePolicies)(nil)

func ownerPrincipal() Principal {
	return Principal{UserID: uuid.New(), AccountID: uuid.New(), SessionID: uuid.New(), Role: RoleOwner}
}

func TestUpdateAccountSecurity_ValidatedWholeThenWrittenWithItsAuditInOneTransaction(t *testing.T) {
	set := func(v int) IntChange { return IntChange{Set: true, Value: &v} }
	bogus := SessionLimitAction("sometimes")
	owner := fakeOwnerCheck{role: RoleOwner, active: true, lastAuth: testNow}
	cases := []struct {
		name     string
		caller   Role
		check    fakeOwnerCheck
		old      PolicyOverride
		patch    PolicyPatch
		wantCode Code // "" = success
		wantTxs  int
		writes   bool
	}{
		{"idle within bounds: written and audited", RoleOwner, owner, PolicyOverride{}, PolicyPatch{Idle: set(30)}, "", 1, true},
		{"effective idle above effective absolute: the invariant", RoleOwner, owner, PolicyOverride{},
			PolicyPatch{Idle: set(600), Absolute: set(300)}, CodePolicyInvariant, 1, false},
		{"clearing absolute under a long idle: the invariant against the default", RoleOwner, owner,
			PolicyOverride{IdleMinutes: intPtr(43200), AbsoluteMinutes: intPtr(43200)}, PolicyPatch{Absolute: IntChange{Set: true}},
			CodePolicyInvariant, 1, false},
		{"idle below its minimum", RoleOwner, owner, PolicyOverride{}, PolicyPatch{Idle: set(1)}, CodePolicyOutOfBounds, 1, false},
		{"max sessions above 100", RoleOwner, owner, PolicyOverride{}, PolicyPatch{MaxSessions: set(101)}, CodePolicyOutOfBounds, 1, false},
		{"unknown limit action", RoleOwner, owner, PolicyOverride{}, PolicyPatch{LimitAction: &bogus}, CodeValidation, 1, false},
		{"nothing changes: nothing written, nothing audited (ADM-04)", RoleOwner, owner,
			PolicyOverride{IdleMinutes: intPtr(30)}, PolicyPatch{Idle: set(30)}, "", 1, false},
		{"a member's token: refused before any transaction", RoleMember, owner, PolicyOverride{}, PolicyPatch{Idle: set(30)}, CodeForbidden, 0, false},
		{"an owner demoted since the token: refused in the transaction", RoleOwner,
			fakeOwnerCheck{role: RoleMember, active: true, lastAuth: testNow}, PolicyOverride{}, PolicyPatch{Idle: set(30)}, CodeForbidden, 1, false},
		{"an authentication older than the window: reauthenticate (SUDO-03)", RoleOwner,
			fakeOwnerCheck{role: RoleOwner, active: true, lastAuth: testNow.Add(-16 * time.Minute)}, PolicyOverride{}, PolicyPatch{Idle: set(30)},
			CodeReauthRequired, 1, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := &fakePolicies{fakeOwnerCheck: c.check, override: c.old}
			s := portService(t, &spyHasher{}, DefaultConfig())
			s.policies = f
			p := ownerPrincipal()
			p.Role = c.caller
			got, err := s.UpdateAccountSecurity(context.Background(), p, c.patch, Client{})
			if c.wantCode == "" && err != nil || c.wantCode != "" && ErrorCode(err) != c.wantCode {
				t.Fatalf("err %v, want code %q", err, c.wantCode)
			}
			if f.txs != c.wantTxs {
				t.Fatalf("%d transactions, want %d", f.txs, c.wantTxs)
			}
			if !c.writes {
				if len(f.setIn) != 0 || len(f.events) != 0 {
					t.Fatalf("wrote %d policies, %d events", len(f.setIn), len(f.events))
				}
				return
			}
			if !slices.Equal(f.setIn, []int{1}) || !slices.Equal(f.auditedIn, []int{1}) || f.events[0].Action != ActionPolicyUpdate {
				t.Fatalf("policy written in %v, audited in %v (%v): want both once, in the same transaction", f.setIn, f.auditedIn, f.events)
			}
			d := f.events[0].Details
			if d["old"] == nil || d["new"] == nil || d["effective_old"] == nil || d["effective_new"] == nil {
				t.Fatalf("details %v", d)
			}
			if got.Effective.IdleMinutes != 30 || got.Override.IdleMinutes == nil || *got.Override.IdleMinutes != 30 {
				t.Fatalf("answer %+v", got)
			}
		})
	}
}

func intPtr(v int) *int { return &v }

// fakeMembers is memberStore and its transaction: the account's users by
// id, what was written, and the caller's own access as the owner check
// re-reads it.
type fakeMembers struct {
	fakeOwnerCheck
	users   map[uuid.UUID]User
	revoked map[uuid.UUID]int64 // live sessions per user
	txs     int
	updates []User
	deleted []uuid.UUID
	ended   []uuid.UUID
	events  []AuditEvent
}

func (f *fakeMembers) inMemberTx(_ context.Context, _ uuid.UUID, fn func(memberTx) error) error {
	f.txs++
	return fn(f)
}
func (f *fakeMembers) UserListPage(context.Context, MemberQuery) ([]User, error) { return nil, nil }
func (f *fakeMembers) UsersWithMFA(context.Context, []uuid.UUID) (map[uuid.UUID]bool, error) {
	return nil, nil
}
func (f *fakeMembers) UserGet(_ context.Context, id uuid.UUID) (User, error) {
	u, ok := f.users[id]
	if !ok {
		return User{}, ErrNotFound
	}
	return u, nil
}
func (f *fakeMembers) UserCreate(_ context.Context, u User, _ string) error {
	f.users[u.ID] = u
	return nil
}
func (f *fakeMembers) UserLockActiveOwners(context.Context) ([]uuid.UUID, error) {
	var ids []uuid.UUID
	for id, u := range f.users {
		if u.Role == RoleOwner && u.Active {
			ids = append(ids, id)
		}
	}
	return ids, nil
}
func (f *fakeMembers) UserLockForUpdate(ctx context.Context, id uuid.UUID) (User, error) {
	return f.UserGet(ctx, id)
}
func (f *fakeMembers) UserUpdate(_ context.Context, u User, _ time.Time) error {
	f.users[u.ID] = u
	f.updates = append(f.updates, u)
	return nil
}
func (f *fakeMembers) UserDelete(_ context.Context, id uuid.UUID) error {
	delete(f.users, id)
	f.deleted = append(f.deleted, id)
	return nil
}
func (f *fakeMembers) SessionRevokeAllForUser(_ context.Context, id uuid.UUID, _ *uuid.UUID, _ time.Time, _ string) (int64, error) {
	f.ended = append(f.ended, id)
	n := f.revoked[id]
	delete(f.revoked, id)
	return n, nil
}
func (f *fakeMembers) Audit(_ context.Context, e AuditEvent) error {
	f.events = append(f.events, e)
	return nil
}

var _ memberStore = (*fakeMembers)(nil)

// memberWorld is an account whose caller p is an owner; others are
// added as given.
func memberWorld(t *testing.T, others ...User) (*Service, *fakeMembers, Principal) {
	t.Helper()
	p := ownerPrincipal()
	f := &fakeMembers{fakeOwnerCheck: fakeOwnerCheck{role: RoleOwner, active: true, lastAuth: testNow},
		users:   map[uuid.UUID]User{p.UserID: {ID: p.UserID, AccountID: p.AccountID, Email: "owner@example.com", Name: "Owner", Role: RoleOwner, Active: true}},
		revoked: map[uuid.UUID]int64{}}
	for _, u := range others {
		u.AccountID = p.AccountID
		f.users[u.ID] = u
	}
	s := portService(t, &spyHasher{}, DefaultConfig())
	s.members = f
	return s, f, p
}

func TestMembers_LastActiveOwner_CannotBeRemovedDemotedOrDeactivated(t *testing.T) {
	member, no := RoleMember, false
	for _, c := range []struct {
		name string
		do   func(s *Service, p Principal) error
	}{
		{"remove oneself", func(s *Service, p Principal) error {
			return s.RemoveMember(context.Background(), p, p.UserID, Client{})
		}},
		{"demote oneself", func(s *Service, p Principal) error {
			_, err := s.UpdateMember(context.Background(), p, p.UserID, MemberPatch{Role: &member}, Client{})
			return err
		}},
		{"deactivate oneself", func(s *Service, p Principal) error {
			_, err := s.UpdateMember(context.Background(), p, p.UserID, MemberPatch{Active: &no}, Client{})
			return err
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			s, f, p := memberWorld(t, User{ID: uuid.New(), Role: RoleOwner, Active: false}) // an inactive owner does not count
			if err := c.do(s, p); ErrorCode(err) != CodeLastOwner {
				t.Fatalf("err %v, want last_owner", err)
			}
			if len(f.updates)+len(f.deleted)+len(f.ended)+len(f.events) != 0 {
				t.Fatalf("wrote %d updates, %d deletions, %d revocations, %d events", len(f.updates), len(f.deleted), len(f.ended), len(f.events))
			}
		})
	}
	t.Run("with another active owner, removing oneself is allowed", func(t *testing.T) {
		s, f, p := memberWorld(t, User{ID: uuid.New(), Role: RoleOwner, Active: true})
		f.revoked[p.UserID] = 2
		if err := s.RemoveMember(context.Background(), p, p.UserID, Client{}); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(f.deleted, []uuid.UUID{p.UserID}) || len(f.events) != 1 || f.events[0].Action != ActionMemberRemoved ||
			f.events[0].Details["revoked_count"] != int64(2) || f.events[0].Details["email"] != "owner@example.com" {
			t.Fatalf("deleted %v, events %+v", f.deleted, f.events)
		}
	})
}

// An owner demoted by a concurrent change while waiting for the owners'
// locks is refused: the check under the locks, not the one before them,
// decides.
func TestMembers_CallerDemotedWhileWaitingForTheLocks_Refused(t *testing.T) {
	target := User{ID: uuid.New(), Role: RoleMember, Active: true}
	s, f, p := memberWorld(t, target, User{ID: uuid.New(), Role: RoleOwner, Active: true})
	me := f.users[p.UserID]
	me.Role = RoleMember // the locks read the row as the concurrent change left it
	f.users[p.UserID] = me
	if err := s.RemoveMember(context.Background(), p, target.ID, Client{}); ErrorCode(err) != CodeForbidden {
		t.Fatalf("err %v, want forbidden", err)
	}
	if len(f.deleted)+len(f.events) != 0 {
		t.Fatal("a demoted owner removed a member")
	}
}

// Deactivating a member ends their sessions in the same transaction and
// the audit event says how many; a patch that changes nothing writes
// nothing (ADM-04); an unknown member is not found.
func TestUpdateMember_DeactivationEndsSessions_NoOpWritesNothing(t *testing.T) {
	target := User{ID: uuid.New(), Email: "m@example.com", Name: "M", Role: RoleMember, Active: true}
	s, f, p := memberWorld(t, target)
	f.revoked[target.ID] = 3
	no := false
	got, err := s.UpdateMember(context.Background(), p, target.ID, MemberPatch{Active: &no}, Client{})
	if err != nil || got.Active {
		t.Fatalf("got %+v, err %v", got, err)
	}
	if f.txs != 1 || !slices.Equal(f.ended, []uuid.UUID{target.ID}) || len(f.events) != 1 ||
		f.events[0].Action != ActionMemberUpdated || f.events[0].Details["revoked_count"] != int64(3) {
		t.Fatalf("txs %d, ended %v, events %+v", f.txs, f.ended, f.events)
	}
	if _, err := s.UpdateMember(context.Background(), p, target.ID, MemberPatch{Active: &no}, Client{}); err != nil {
		t.Fatal(err)
	}
	if len(f.updates) != 1 || len(f.events) != 1 || len(f.ended) != 1 {
		t.Fatalf("the no-op patch wrote: %d updates, %d events", len(f.updates), len(f.events))
	}
	if _, err := s.UpdateMember(context.Background(), p, uuid.New(), MemberPatch{Active: &no}, Client{}); ErrorCode(err) != CodeNotFound {
		t.Fatalf("unknown member: %v", err)
	}
}

// CreateMember refuses before hashing when the server setting is off
// (owners invite instead) and, when on, writes the user and its audit
// event in one owner-checked transaction.
func TestCreateMember_MemberPasswordsSetting_ThenOneTransaction(t *testing.T) {
	s, f, p := memberWorld(t)
	in := CreateMemberInput{NewUser: NewUser{Email: "New@Example.com", Name: "New", Password: "a long enough password"}, Role: RoleMember}
	if _, err := s.CreateMember(context.Background(), p, in, Client{}); ErrorCode(err) != CodeMemberPasswordsDisabled || f.txs != 0 {
		t.Fatalf("err %v, txs %d", err, f.txs)
	}
	s.cfg.MemberPasswords = true
	u, err := s.CreateMember(context.Background(), p, in, Client{})
	if err != nil {
		t.Fatal(err)
	}
	if f.txs != 1 || f.users[u.ID].Email != "new@example.com" || len(f.events) != 1 || f.events[0].Action != ActionMemberCreated {
		t.Fatalf("txs %d, user %+v, events %+v", f.txs, f.users[u.ID], f.events)
	}
	if _, hasPw := f.events[0].Details["password"]; hasPw {
		t.Fatal("the audit event holds the password")
	}
}
