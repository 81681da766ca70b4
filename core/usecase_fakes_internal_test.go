package core

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/google/uuid"
)

// Fakes of the use cases' narrow ports (usecase_ports.go). Each implements
// its port and nothing else the use case could reach: a use case that
// calls a store method outside its port does not compile against them.
// No fake embeds an interface, so none has a method that panics.

// testNow is the fixed clock of these tests.
var testNow = time.Unix(2_000_000_000, 0)

// portService is a Service over no Store: the test sets the ports the use
// case under test takes, and a use case reaching for anything else finds
// a nil port.
func portService(t *testing.T, h PasswordHasher, cfg Config) *Service {
	t.Helper()
	s, err := NewService(nil, refreshCodec{}, h, fixedNow(testNow), cfg, nil, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	s.refreshes, s.bearers, s.counter, s.signIns = nil, nil, nil, nil
	s.policies, s.members, s.mfas, s.mfaResets, s.passwords, s.resets, s.invites = nil, nil, nil, nil, nil, nil, nil
	s.registrations, s.ownSessions, s.profiles, s.accountSessions, s.audits, s.webhooks = nil, nil, nil, nil, nil, nil
	return s
}

// spyHasher counts the password work done per attempt (LGN-02); a stored
// hash "hash-of:<pw>" matches pw, and rehash says it is weaker than
// today's.
type spyHasher struct {
	verify, dummy, hash int
	rehash              bool
}

func (s *spyHasher) Hash(pw string) (string, error) { s.hash++; return "hash-of:" + pw, nil }
func (s *spyHasher) Verify(encoded, pw string) (bool, bool, error) {
	s.verify++
	ok := encoded == "hash-of:"+pw
	return ok, ok && s.rehash, nil
}
func (s *spyHasher) VerifyDummy(string) error { s.dummy++; return nil }

// auditLog is a tenant's audit trail as the fakes write it.
type auditLog struct{ events []AuditEvent }

func (l *auditLog) actions() []string {
	var out []string
	for _, e := range l.events {
		out = append(out, e.Action)
	}
	return out
}

func (l *auditLog) count(action string) int {
	n := 0
	for _, e := range l.events {
		if e.Action == action {
			n++
		}
	}
	return n
}

// fakeCounter is failureCounter in memory: the real one is SQL
// (migrations/00005, tested over PostgreSQL); this one counts failures and
// locks at the threshold, enough for the core's control flow. A failure's
// audit event goes to log, as the real RecordFailure writes it in the
// same transaction.
type fakeCounter struct {
	states  map[string]ThrottleState
	records []FailureRecord
	log     *auditLog
}

func (c *fakeCounter) ThrottleCheck(_ context.Context, key []byte, _ time.Time) (ThrottleState, error) {
	return c.states[string(key)], nil
}
func (c *fakeCounter) ThrottleReset(_ context.Context, key []byte) error {
	delete(c.states, string(key))
	return nil
}
func (c *fakeCounter) RecordFailure(_ context.Context, r FailureRecord) ([]ThrottleState, error) {
	if c.states == nil {
		c.states = map[string]ThrottleState{}
	}
	c.records = append(c.records, r)
	var out []ThrottleState
	for _, k := range r.Keys {
		st := c.states[string(k)]
		if !st.Locked(r.Now) {
			st.Failures++
			if st.Failures >= r.Rule.Threshold {
				st.LockedUntil = r.Now.Add(r.Rule.BaseDelay)
			}
			c.states[string(k)] = st
		}
		out = append(out, st)
	}
	if r.Audit != nil {
		c.log.events = append(c.log.events, *r.Audit)
	}
	return out, nil
}

// failuresOn is how many failures were recorded on key.
func (c *fakeCounter) failuresOn(key []byte) int {
	n := 0
	for _, r := range c.records {
		for _, k := range r.Keys {
			if bytes.Equal(k, key) {
				n++
			}
		}
	}
	return n
}

// fakeOpenTx is sessionOpenTx: the user's row (active, removed), their
// live sessions and the session limit's eviction, the sessions created.
type fakeOpenTx struct {
	active, removed bool
	live            int
	keptAsked       int
	evicted         []uuid.UUID
	created         []NewSession
	log             *auditLog
}

func (t *fakeOpenTx) UserLockForSignIn(context.Context, uuid.UUID) (bool, error) {
	if t.removed {
		return false, ErrNotFound
	}
	return t.active, nil
}
func (t *fakeOpenTx) SessionCountLive(context.Context, uuid.UUID, time.Time) (int, error) {
	return t.live, nil
}
func (t *fakeOpenTx) SessionEvictBeyond(_ context.Context, _ uuid.UUID, keep int, _ time.Time, reason string) ([]uuid.UUID, error) {
	t.keptAsked = keep
	if reason != ReasonEvicted || t.live <= keep {
		return nil, nil
	}
	for range t.live - keep {
		t.evicted = append(t.evicted, uuid.New())
	}
	return t.evicted, nil
}
func (t *fakeOpenTx) SessionCreate(_ context.Context, s NewSession) error {
	t.created = append(t.created, s)
	return nil
}
func (t *fakeOpenTx) Audit(_ context.Context, e AuditEvent) error {
	t.log.events = append(t.log.events, e)
	return nil
}

// fakeSignIns is signInStore: one user, known@example.com, and the
// transactions of the password step (tx) and of the second step (ch).
type fakeSignIns struct {
	user     LoginUser
	lookups  int
	txs      int
	tx       *fakeSignInTx
	ch       *fakeChallengeTx
	chOwner  [2]uuid.UUID // account, user of the challenge
	chCounts int          // transactions of the second step
}

func (f *fakeSignIns) UserForLogin(_ context.Context, email string) (LoginUser, error) {
	f.lookups++
	if email != "known@example.com" {
		return LoginUser{}, ErrNotFound
	}
	return f.user, nil
}
func (f *fakeSignIns) MFAChallengeOwner(context.Context, []byte) (uuid.UUID, uuid.UUID, error) {
	if f.ch == nil {
		return uuid.Nil, uuid.Nil, ErrNotFound
	}
	return f.chOwner[0], f.chOwner[1], nil
}
func (f *fakeSignIns) inSignInTx(_ context.Context, _ uuid.UUID, fn func(signInTx) error) error {
	f.txs++
	return fn(f.tx)
}
func (f *fakeSignIns) inChallengeTx(_ context.Context, _ uuid.UUID, fn func(challengeTx) error) error {
	f.chCounts++
	return fn(f.ch)
}

// fakeSignInTx is signInTx: the account's policy, whether the user has a
// factor, the upgraded hash and the challenges written.
type fakeSignInTx struct {
	fakeOpenTx
	policy     PolicyOverride
	hasFactor  bool
	hashSet    string
	challenges []MFAChallenge
}

func (t *fakeSignInTx) AccountPolicyForSignIn(context.Context, uuid.UUID) (PolicyOverride, bool, error) {
	return t.policy, t.hasFactor, nil
}
func (t *fakeSignInTx) UserSetPasswordHash(_ context.Context, _ uuid.UUID, hash string, _ time.Time) error {
	t.hashSet = hash
	return nil
}
func (t *fakeSignInTx) MFAChallengeCreate(_ context.Context, c MFAChallenge) error {
	t.challenges = append(t.challenges, c)
	return nil
}

// fakeChallengeTx is challengeTx: one challenge with its user and factor,
// the recovery code that works, and what was spent or counted.
type fakeChallengeTx struct {
	fakeOpenTx
	state    MFAAnswerState
	recovery string
	spent    int
	attempts []int // MFAChallengeUpdate's counts
}

func (t *fakeChallengeTx) MFAChallengeLockForAnswer(context.Context, []byte) (MFAAnswerState, error) {
	return t.state, nil
}
func (t *fakeChallengeTx) RecoveryCodeUse(_ context.Context, _ uuid.UUID, hash []byte, _ time.Time) (bool, error) {
	return bytes.Equal(hash, hashRecoveryCode(t.recovery)), nil
}
func (t *fakeChallengeTx) MFAChallengeSpend(context.Context, uuid.UUID, uuid.UUID, *int64, time.Time) error {
	t.spent++
	return nil
}
func (t *fakeChallengeTx) MFAChallengeLock(context.Context, []byte) (MFAChallenge, error) {
	return t.state.Challenge, nil
}
func (t *fakeChallengeTx) MFAChallengeUpdate(_ context.Context, _ uuid.UUID, attempts int, _ *time.Time) error {
	t.attempts = append(t.attempts, attempts)
	return nil
}

var (
	_ failureCounter = (*fakeCounter)(nil)
	_ signInStore    = (*fakeSignIns)(nil)
	_ signInTx       = (*fakeSignInTx)(nil)
	_ challengeTx    = (*fakeChallengeTx)(nil)
)
