// Package storetest is the conformance suite of core.Store: one set of
// sub-tests that any store implementation runs (Exercise), each setting up
// its own state through the store's own methods, so that the rules core
// relies on (docs/session-rules.md, docs/security-checklist.md) are checked
// for every adapter the same way. It is imported only by tests, and knows no
// database: no SQL, no driver.
package storetest

import (
	"bytes"
	"context"
	"errors"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/sessiond/sessiond/core"
)

// Harness is what an implementation gives each sub-test: a store whose
// data the sub-test may share with others (every sub-test makes its own
// tenants, users and keys with fresh ids), and which serves at least four
// transactions at once (the concurrency cases race three).
type Harness struct {
	Store core.Store
}

// t0 is the suite's clock: every sub-test drives time from it explicitly.
var t0 = time.Date(2032, 6, 1, 12, 0, 0, 0, time.UTC)

// Exercise runs the suite against the stores newStore makes (called once
// per sub-test).
func Exercise(t *testing.T, newStore func(t *testing.T) Harness) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := newStore(t)
			c.run(t, &env{t: t, ctx: context.Background(), s: h.Store})
		})
	}
}

var cases = []struct {
	name string
	run  func(t *testing.T, e *env)
}{
	{"TenantIsolation", testTenantIsolation},
	{"UserForLogin", testUserForLogin},
	{"UserCreateDuplicateEmailConflict", testUserConflict},
	{"UnknownIDsNotFound", testNotFound},
	{"SessionLiveness", testSessionLiveness},
	{"SessionLockAndRotate", testSessionLockAndRotate},
	{"SessionRevoke", testSessionRevoke},
	{"SessionRevokeAllForUser", testRevokeAllForUser},
	{"SessionRevokeAllForAccount", testRevokeAllForAccount},
	{"RotateIfCurrent", testRotateIfCurrent},
	{"InSessionTx", testInSessionTx},
	{"RecordFailure", testRecordFailure},
	{"RecordResetRequest", testRecordResetRequest},
	{"PreTenantLookups", testPreTenantLookups},
	{"AuditRolledBackWithTx", testAuditRollback},
	{"AccountPolicy", testAccountPolicy},
	{"UserListPageOrders", testMemberPaging},
	{"UserListPageFilters", testMemberFilters},
	{"SessionLimitCountAndEvict", testSessionLimit},
	{"SessionListAccount", testSessionListAccount},
	{"Factor", testFactor},
	{"RecoveryCodes", testRecoveryCodes},
	{"WebhookEndpoints", testWebhookEndpoints},
	{"WebhookAttempts", testWebhookAttempts},
	{"WebhookOutboxCommittedOnly", testWebhookOutbox},
	{"Invitation", testInvitation},
	{"InvitationListPending", testInvitationListPending},
	{"UserAdministration", testUserAdministration},
	{"TokensConsume", testTokensConsume},
	{"SessionAuth", testSessionAuth},
	{"MFAChallenge", testMFAChallenge},
	{"RegistrationReclaim", testRegistrationReclaim},
	{"AuditListFilters", testAuditList},
	{"ConcurrentRotateIfCurrent", testConcurrentRotateIfCurrent},
	{"ConcurrentLockAndRotate", testConcurrentLockAndRotate},
	{"ConcurrentRecordFailure", testConcurrentRecordFailure},
	{"ConcurrentInvitationAccept", testConcurrentInvitationAccept},
	{"ConcurrentSignInEviction", testConcurrentSignInEviction},
}

// env holds a sub-test's store and the helpers that call it: the suite's
// calls of the port go through these, so a rename of a port method is an
// edit here.
type env struct {
	t   *testing.T
	ctx context.Context
	s   core.Store
}

type tenant struct {
	account uuid.UUID
	owner   core.User
}

// tx runs fn in a tenant transaction and fails the test on its error.
func (e *env) tx(account uuid.UUID, fn func(core.TenantTx) error) {
	e.t.Helper()
	if err := e.s.InTenantTx(e.ctx, account, fn); err != nil {
		e.t.Fatalf("InTenantTx(%s): %v", account, err)
	}
}

// newTenant creates an account with one active owner.
func (e *env) newTenant() tenant {
	e.t.Helper()
	tn := tenant{account: uuid.New()}
	tn.owner = core.User{ID: uuid.New(), AccountID: tn.account, Email: "o-" + uuid.NewString() + "@example.com",
		Name: "Owner", Role: core.RoleOwner, Active: true, CreatedAt: t0}
	e.tx(tn.account, func(tx core.TenantTx) error {
		if err := tx.AccountCreate(e.ctx, core.Account{ID: tn.account, Name: "acct", CreatedAt: t0}); err != nil {
			return err
		}
		return tx.UserCreate(e.ctx, tn.owner, "$argon2id$stub")
	})
	return tn
}

// newUser adds an active member to the tenant.
func (e *env) newUser(tn tenant) core.User {
	e.t.Helper()
	return e.newUserAs(tn, "Member", t0)
}

// newUserAs adds an active member with this name, created at created.
func (e *env) newUserAs(tn tenant, name string, created time.Time) core.User {
	e.t.Helper()
	u := core.User{ID: uuid.New(), AccountID: tn.account, Email: "m-" + uuid.NewString() + "@example.com",
		Name: name, Role: core.RoleMember, Active: true, CreatedAt: created}
	e.tx(tn.account, func(tx core.TenantTx) error { return tx.UserCreate(e.ctx, u, "$argon2id$stub") })
	return u
}

// sessionSpec is a session's deadlines relative to t0.
type sessionSpec struct{ idle, abs time.Duration }

var defaultSpec = sessionSpec{idle: 10 * time.Minute, abs: time.Hour}

// newSession creates a session of u signed in at t0 and returns it as
// created (its id and first token's hash in JTIHash).
func (e *env) newSession(account uuid.UUID, u uuid.UUID, sp sessionSpec) core.NewSession {
	e.t.Helper()
	return e.newSessionAt(account, u, t0, sp)
}

// newSessionAt is newSession for a sign-in at at: its last use, and the
// start of its deadlines.
func (e *env) newSessionAt(account uuid.UUID, u uuid.UUID, at time.Time, sp sessionSpec) core.NewSession {
	e.t.Helper()
	s := sessionAt(u, at, sp)
	e.tx(account, func(tx core.TenantTx) error { return tx.SessionCreate(e.ctx, s) })
	return s
}

// sessionAt is a new session of u signed in at at.
func sessionAt(u uuid.UUID, at time.Time, sp sessionSpec) core.NewSession {
	return core.NewSession{
		ID: uuid.New(), UserID: u, DeviceName: "laptop",
		Client:   core.Client{IP: netip.MustParseAddr("192.0.2.10"), UserAgent: "storetest"},
		AuthTime: at, Now: at,
		Snapshot:      core.Snapshot{IdleSeconds: int64(sp.idle / time.Second), AbsoluteSeconds: int64(sp.abs / time.Second)},
		IdleExpiresAt: at.Add(sp.idle), AbsoluteExpiresAt: at.Add(sp.abs),
		JTIHash: core.HashJTI(core.NewJTI()), TokenExpiresAt: at.Add(sp.idle),
		Auth: core.AuthLevel{AAL: 1, AMR: []string{core.AMRPassword}, LastAuthAt: at},
	}
}

// live is what every liveness reading of the store says about one
// session at now; they must agree.
type live struct{ isLive, inStoreList, inTxList, userIfLive bool }

func (e *env) liveness(account, user, session uuid.UUID, now time.Time) live {
	e.t.Helper()
	var l live
	var err error
	if l.isLive, err = e.s.SessionIsLive(e.ctx, account, session, now); err != nil {
		e.t.Fatalf("SessionIsLive: %v", err)
	}
	list, err := e.s.SessionListLive(e.ctx, account, user, now)
	if err != nil {
		e.t.Fatalf("Store.SessionListLive: %v", err)
	}
	l.inStoreList = containsSession(list, session)
	e.tx(account, func(tx core.TenantTx) error {
		list, err := tx.SessionListLive(e.ctx, user, now)
		l.inTxList = containsSession(list, session)
		return err
	})
	u, err := e.s.UserIfSessionLive(e.ctx, account, session, user, now)
	switch {
	case err == nil:
		l.userIfLive = u.ID == user
	case !errors.Is(err, core.ErrNotFound):
		e.t.Fatalf("UserIfSessionLive: %v", err)
	}
	return l
}

func containsSession(list []core.SessionInfo, id uuid.UUID) bool {
	for _, s := range list {
		if s.ID == id {
			return true
		}
	}
	return false
}

// lock reads a session's row through the refresh slow path's lock.
func (e *env) lock(account, session uuid.UUID) core.FamilyState {
	e.t.Helper()
	var fs core.FamilyState
	e.tx(account, func(tx core.TenantTx) error {
		var err error
		fs, err = tx.SessionLockForRefresh(e.ctx, session)
		return err
	})
	return fs
}

// auditActions lists the actions of the tenant's audit events.
func (e *env) auditActions(account uuid.UUID) []string {
	e.t.Helper()
	var out []string
	e.tx(account, func(tx core.TenantTx) error {
		evs, err := tx.AuditList(e.ctx, core.AuditQuery{Limit: 100})
		for _, ev := range evs {
			out = append(out, ev.Action)
		}
		return err
	})
	return out
}

func wantErr(t *testing.T, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Errorf("%s: err = %v, want %v", what, err, want)
	}
}

// racers is how many requests each concurrency case races; a Harness's
// store serves at least racers+1 transactions at once.
const racers = 3

// together runs fn(0) … fn(n-1) in n goroutines released at the same
// moment and waits for them all: the concurrency cases' race, decided by
// the store's locks, never by timing. fn must not call t.Fatal (it runs
// off the test's goroutine). b is a barrier of the n racers, each of
// which passes it (b.arrive) at the latest when fn returns.
func together(n int, fn func(i int, b *barrier)) {
	b := &barrier{once: make([]sync.Once, n)}
	b.all.Add(n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer b.arrive(i)
			<-start
			fn(i, b)
		}()
	}
	close(start)
	wg.Wait()
}

// barrier holds racers until all of them have arrived. A racer waits at
// it inside its transaction, after a first statement and before the
// statement whose lock decides the race: then every racer's transaction
// is open at once, and the store's lock — not the scheduler letting one
// finish before the next begins — orders them. Arriving twice (a
// transaction the store retried) counts once.
type barrier struct {
	once []sync.Once
	all  sync.WaitGroup
}

func (b *barrier) arrive(i int) { b.once[i].Do(b.all.Done) }

// wait is racer i's arrival, then its wait for the others.
func (b *barrier) wait(i int) {
	b.arrive(i)
	b.all.Wait()
}

// warm opens n transactions of the tenant at once, so that the store has
// n connections ready before a race of single statements (which take no
// barrier) starts: the racers then reach the database together.
func (e *env) warm(account uuid.UUID, n int) {
	e.t.Helper()
	errs := make([]error, n)
	together(n, func(i int, b *barrier) {
		errs[i] = e.s.InTenantTx(e.ctx, account, func(tx core.TenantTx) error {
			_, err := tx.AccountPolicy(e.ctx)
			b.wait(i)
			return err
		})
	})
	if err := errors.Join(errs...); err != nil {
		e.t.Fatalf("warm: %v", err)
	}
}

// sessionIDs lists the ids of a session list, in its order.
func sessionIDs(list []core.SessionInfo) []uuid.UUID {
	out := make([]uuid.UUID, len(list))
	for i, s := range list {
		out[i] = s.ID
	}
	return out
}

// userIDs lists the ids of a user list, in its order.
func userIDs(list []core.User) []uuid.UUID {
	out := make([]uuid.UUID, len(list))
	for i, u := range list {
		out[i] = u.ID
	}
	return out
}

// compareIDs orders uuids as the stores do: byte by byte (PostgreSQL's
// uuid order, and the order of their canonical text).
func compareIDs(a, b uuid.UUID) int { return bytes.Compare(a[:], b[:]) }

func ptr[T any](v T) *T { return &v }
