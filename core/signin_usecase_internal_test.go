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

// Sign-in (SignIn, VerifyMFA, signedIn) over fakes of its narrow ports
// (signInStore, signInTx, challengeTx, failureCounter), without a database.

// signInWorld is one known user, their tenant's audit trail, the counter
// and the sign-in's store.
type signInWorld struct {
	log     *auditLog
	counter *fakeCounter
	store   *fakeSignIns
	hasher  *spyHasher
	svc     *Service
}

func newSignInWorld(t *testing.T, u LoginUser, tx fakeSignInTx) *signInWorld {
	t.Helper()
	w := &signInWorld{log: &auditLog{}, hasher: &spyHasher{}}
	w.counter = &fakeCounter{log: w.log}
	tx.log = w.log
	w.store = &fakeSignIns{user: u, tx: &tx}
	w.svc = portService(t, w.hasher, DefaultConfig())
	w.svc.counter, w.svc.signIns = w.counter, w.store
	return w
}

func knownUser(role Role, active bool) LoginUser {
	return LoginUser{UserID: uuid.New(), AccountID: uuid.New(), PasswordHash: "hash-of:right", Active: active, Role: role, EmailVerified: true}
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
			w := newSignInWorld(t, knownUser(RoleMember, c.active), fakeSignInTx{fakeOpenTx: fakeOpenTx{active: c.active}})
			_, err := w.svc.Login(context.Background(), c.email, c.password, Client{})
			if (err != nil) != c.wantErr {
				t.Fatalf("err = %v", err)
			}
			if err != nil && ErrorCode(err) != CodeInvalidCredentials {
				t.Fatalf("code = %s, want the one generic invalid_credentials", ErrorCode(err))
			}
			h := w.hasher
			if h.verify != c.wantVerify || h.dummy != c.wantDummy || h.verify+h.dummy != 1 {
				t.Fatalf("verify=%d dummy=%d: the hasher must run exactly once", h.verify, h.dummy)
			}
		})
	}
}

func TestLogin_FailureOfKnownUser_IsAudited_UnknownIsNot(t *testing.T) {
	w := newSignInWorld(t, knownUser(RoleOwner, true), fakeSignInTx{fakeOpenTx: fakeOpenTx{active: true}})
	ctx := context.Background()
	_, _ = w.svc.Login(ctx, "nobody@example.com", "x", Client{})
	if len(w.log.events) != 0 {
		t.Fatalf("unknown email wrote %d tenant audit events", len(w.log.events))
	}
	_, err := w.svc.Login(ctx, " KNOWN@example.com ", "wrong", Client{})
	var ce *Error
	if !errors.As(err, &ce) || len(w.log.events) != 1 || w.log.events[0].Action != ActionLoginFailed {
		t.Fatalf("err=%v events=%v", err, w.log.actions())
	}
	if _, err := w.svc.Login(ctx, "known@example.com", "right", Client{}); err != nil {
		t.Fatal(err)
	}
	if last := w.log.events[len(w.log.events)-1]; last.Action != ActionLoginSucceeded {
		t.Fatalf("last event %s", last.Action)
	}
}

// A failure costs the same for a known and an unknown email (LGN-10): one
// failure recorded on the email's key, in one RecordFailure, and no tenant
// transaction; only the known email's carries an audit row.
func TestSignIn_WrongPasswordAndUnknownEmail_OneFailureOnTheEmailsKey_NoTransaction(t *testing.T) {
	for _, c := range []struct {
		name, email string
		audited     bool
	}{
		{"unknown email", "nobody@example.com", false},
		{"wrong password", "known@example.com", true},
	} {
		t.Run(c.name, func(t *testing.T) {
			w := newSignInWorld(t, knownUser(RoleMember, true), fakeSignInTx{fakeOpenTx: fakeOpenTx{active: true}})
			_, err := w.svc.SignIn(context.Background(), SignInRequest{Email: c.email, Password: "wrong"}, Client{})
			if ErrorCode(err) != CodeInvalidCredentials {
				t.Fatalf("err %v", err)
			}
			if len(w.counter.records) != 1 || len(w.counter.records[0].Keys) != 1 ||
				!bytes.Equal(w.counter.records[0].Keys[0], ThrottleKey(c.email)) {
				t.Fatalf("records %+v, want one failure on the email's key", w.counter.records)
			}
			if (w.counter.records[0].Audit != nil) != c.audited {
				t.Fatalf("audit row %v, want %v", w.counter.records[0].Audit, c.audited)
			}
			if w.store.txs != 0 || len(w.store.tx.created) != 0 {
				t.Fatalf("%d tenant transactions, %d sessions", w.store.txs, len(w.store.tx.created))
			}
		})
	}
}

// A locked email is refused before the lookup and the hash, so a known and
// an unknown email answer alike and cheaply (LGN-05).
func TestSignIn_LockedEmail_RefusedBeforeLookupAndHash(t *testing.T) {
	w := newSignInWorld(t, knownUser(RoleMember, true), fakeSignInTx{fakeOpenTx: fakeOpenTx{active: true}})
	w.counter.states = map[string]ThrottleState{string(ThrottleKey("known@example.com")): {Failures: 5, LockedUntil: testNow.Add(time.Minute)}}
	_, err := w.svc.SignIn(context.Background(), SignInRequest{Email: "known@example.com", Password: "right"}, Client{})
	var te *ThrottledError
	if !errors.As(err, &te) || te.RetryAfter != time.Minute {
		t.Fatalf("err %v, want throttled for a minute", err)
	}
	if w.store.lookups != 0 || w.hasher.verify+w.hasher.dummy != 0 || len(w.counter.records) != 0 {
		t.Fatalf("lookups %d, hashes %d, failures %d", w.store.lookups, w.hasher.verify+w.hasher.dummy, len(w.counter.records))
	}
}

// The right password of a user with a second factor issues a challenge in
// the sign-in transaction, opens no session and gives no device token
// (docs/session-rules.md §11); a weaker stored hash is upgraded in the
// same transaction.
func TestSignIn_WithFactor_ChallengeOnly_HashUpgradedInTheSameTransaction(t *testing.T) {
	w := newSignInWorld(t, knownUser(RoleMember, true), fakeSignInTx{fakeOpenTx: fakeOpenTx{active: true}, hasFactor: true})
	w.hasher.rehash = true
	pair, err := w.svc.SignIn(context.Background(), SignInRequest{Email: "known@example.com", Password: "right"}, Client{})
	if err != nil {
		t.Fatal(err)
	}
	if pair.MFAChallenge == nil || pair.AccessToken != "" || pair.DeviceToken != "" {
		t.Fatalf("pair %+v, want a challenge only", pair)
	}
	tx := w.store.tx
	if w.store.txs != 1 || len(tx.challenges) != 1 || len(tx.created) != 0 || tx.hashSet != "hash-of:right" {
		t.Fatalf("txs %d, challenges %d, sessions %d, hash %q", w.store.txs, len(tx.challenges), len(tx.created), tx.hashSet)
	}
	if !bytes.Equal(tx.challenges[0].TokenHash, digest(pair.MFAChallenge.Token)) {
		t.Fatal("the stored challenge is not the token's hash")
	}
	if got := w.log.actions(); !slices.Equal(got, []string{ActionMFAChallengeIssued}) {
		t.Fatalf("audit %v", got)
	}
}

func TestLogin_SessionLimit_GateInsideTheSignInTransaction(t *testing.T) {
	three := 3
	cases := []struct {
		name                string
		tx                  fakeSignInTx
		wantCode            Code // "" = success
		wantKeep, wantEvict int
	}{
		{"unlimited: no count, no eviction", fakeSignInTx{fakeOpenTx: fakeOpenTx{active: true, live: 50}}, "", 0, 0},
		{"deactivated after the lookup: generic failure", fakeSignInTx{fakeOpenTx: fakeOpenTx{active: false}}, CodeInvalidCredentials, 0, 0},
		{"removed after the lookup: generic failure", fakeSignInTx{fakeOpenTx: fakeOpenTx{removed: true}}, CodeInvalidCredentials, 0, 0},
		{"deny below the limit", fakeSignInTx{fakeOpenTx: fakeOpenTx{active: true, live: 2}, policy: PolicyOverride{MaxSessionsPerUser: &three, SessionLimitAction: SessionLimitDeny}}, "", 0, 0},
		{"deny at the limit", fakeSignInTx{fakeOpenTx: fakeOpenTx{active: true, live: 3}, policy: PolicyOverride{MaxSessionsPerUser: &three, SessionLimitAction: SessionLimitDeny}}, CodeSessionLimitReached, 0, 0},
		{"evict: keeps limit-1 so the new one makes the limit", fakeSignInTx{fakeOpenTx: fakeOpenTx{active: true, live: 5}, policy: PolicyOverride{MaxSessionsPerUser: &three}}, "", 2, 3},
		{"evict below the limit evicts nothing", fakeSignInTx{fakeOpenTx: fakeOpenTx{active: true, live: 1}, policy: PolicyOverride{MaxSessionsPerUser: &three, SessionLimitAction: SessionLimitEvictOldest}}, "", 2, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w := newSignInWorld(t, knownUser(RoleMember, true), c.tx)
			_, err := w.svc.Login(context.Background(), "known@example.com", "right", Client{})
			if c.wantCode == "" && err != nil || c.wantCode != "" && ErrorCode(err) != c.wantCode {
				t.Fatalf("err = %v, want code %q", err, c.wantCode)
			}
			tx := w.store.tx
			if created := len(tx.created) == 1; created != (c.wantCode == "") {
				t.Errorf("session created = %v", created)
			}
			if c.wantKeep != 0 && tx.keptAsked != c.wantKeep {
				t.Errorf("keep = %d, want %d", tx.keptAsked, c.wantKeep)
			}
			if len(tx.evicted) != c.wantEvict {
				t.Errorf("%d evicted, want %d", len(tx.evicted), c.wantEvict)
			}
			if audited := w.log.count(ActionSessionEvicted); audited != c.wantEvict {
				t.Errorf("%d session.evicted events, want %d", audited, c.wantEvict)
			}
		})
	}
}

// challengeWorld is a sign-in waiting for its second step: a challenge of
// a user with a confirmed factor and one working recovery code.
func challengeWorld(t *testing.T, attempts int) (*signInWorld, *fakeChallengeTx) {
	t.Helper()
	u := knownUser(RoleMember, true)
	w := newSignInWorld(t, u, fakeSignInTx{})
	confirmed := testNow.Add(-time.Hour)
	ch := &fakeChallengeTx{fakeOpenTx: fakeOpenTx{active: true, log: w.log}, recovery: "abcde-12345",
		state: MFAAnswerState{
			Challenge: MFAChallenge{ID: uuid.New(), UserID: u.UserID, ExpiresAt: testNow.Add(time.Minute), Attempts: attempts},
			User:      User{ID: u.UserID, AccountID: u.AccountID, Email: "known@example.com", Role: u.Role, Active: true},
			Factor:    Factor{ID: uuid.New(), UserID: u.UserID, ConfirmedAt: &confirmed},
		}}
	w.store.ch, w.store.chOwner = ch, [2]uuid.UUID{u.AccountID, u.UserID}
	return w, ch
}

// A wrong second-factor answer counts twice — on the challenge (its own
// transaction, after the answer's rolled back) and as one failure on the
// user's MFA counter, audited — and opens nothing.
func TestVerifyMFA_WrongAnswer_CountedOnTheChallengeAndTheCounter(t *testing.T) {
	w, ch := challengeWorld(t, 1)
	_, err := w.svc.VerifyMFA(context.Background(), MFAAnswer{ChallengeToken: "tok", RecoveryCode: "wrong-code"}, Client{})
	if ErrorCode(err) != CodeInvalidMFACode {
		t.Fatalf("err %v", err)
	}
	if !slices.Equal(ch.attempts, []int{2}) || w.store.chCounts != 2 {
		t.Fatalf("attempts written %v in %d transactions, want [2] in a second one", ch.attempts, w.store.chCounts)
	}
	if w.counter.failuresOn(MFAThrottleKey(ch.state.User.ID)) != 1 || len(w.counter.records) != 1 {
		t.Fatalf("failures %+v, want one on the MFA counter", w.counter.records)
	}
	if got := w.log.actions(); !slices.Equal(got, []string{ActionMFAFailed}) {
		t.Fatalf("audit %v", got)
	}
	if ch.spent != 0 || len(ch.created) != 0 {
		t.Fatal("a wrong answer spent the challenge or opened a session")
	}
}

// The right answer spends the challenge and opens an aal2 session through
// openSession, answered by signedIn (a device token too).
func TestVerifyMFA_RightRecoveryCode_SpendsAndOpensAnAAL2Session(t *testing.T) {
	w, ch := challengeWorld(t, 0)
	pair, err := w.svc.VerifyMFA(context.Background(), MFAAnswer{ChallengeToken: "tok", RecoveryCode: "ABCDE12345"}, Client{})
	if err != nil {
		t.Fatal(err)
	}
	if ch.spent != 1 || len(ch.created) != 1 || ch.created[0].Auth.AAL != 2 || len(ch.attempts) != 0 {
		t.Fatalf("spent %d, sessions %+v, attempts %v", ch.spent, ch.created, ch.attempts)
	}
	if pair.AccessToken == "" || pair.DeviceToken == "" || len(w.counter.records) != 0 {
		t.Fatalf("pair %+v, failures %d", pair, len(w.counter.records))
	}
	if got := w.log.actions(); !slices.Equal(got, []string{ActionLoginSucceeded}) {
		t.Fatalf("audit %v", got)
	}
}

// A challenge out of attempts (or used, or expired) is refused whatever
// the answer, and nothing more is counted.
func TestVerifyMFA_ExhaustedChallenge_RefusedUncounted(t *testing.T) {
	w, ch := challengeWorld(t, MFAChallengeMaxAttempts)
	_, err := w.svc.VerifyMFA(context.Background(), MFAAnswer{ChallengeToken: "tok", RecoveryCode: "abcde-12345"}, Client{})
	if ErrorCode(err) != CodeInvalidMFAChallenge {
		t.Fatalf("err %v", err)
	}
	if len(ch.attempts) != 0 || len(w.counter.records) != 0 || ch.spent != 0 || len(ch.created) != 0 {
		t.Fatalf("attempts %v, failures %d, spent %d, sessions %d", ch.attempts, len(w.counter.records), ch.spent, len(ch.created))
	}
}
