package http_test

import (
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/sessiond/sessiond/adapters/argon2"
	httpadapter "github.com/sessiond/sessiond/adapters/http"
	"github.com/sessiond/sessiond/core"
)

// blockingHasher is the real hasher behind an admission-control Limiter
// whose hashes, while the test holds the gate, stop inside their slot:
// a hasher as slow as the test wants, without timing anything.
type blockingHasher struct {
	inner   core.PasswordHasher
	lim     *argon2.Limiter
	holding atomic.Bool   // hashes wait on gate while set
	gate    chan struct{} // closed to let held hashes finish
	entered chan struct{} // one send per hash that got a slot while holding
}

func newBlockingHasher(lim *argon2.Limiter) *blockingHasher {
	return &blockingHasher{lim: lim, gate: make(chan struct{}), entered: make(chan struct{}, 16)}
}

// blockedHasherSetup is a one-slot, one-queue limiter (the queued hash
// waits without bound) with a blockingHasher over it, the harness setup
// that wires them (the limiter also as the HTTP layer's early check when
// early), and letGo, which frees the held hashes (once).
func blockedHasherSetup(t *testing.T, early bool) (*argon2.Limiter, *blockingHasher, harnessSetup, func()) {
	t.Helper()
	lim, err := argon2.NewLimiter(argon2.Limits{Concurrency: 1, Queue: 1})
	if err != nil {
		t.Fatal(err)
	}
	bh := newBlockingHasher(lim)
	var once sync.Once
	letGo := func() { once.Do(func() { bh.holding.Store(false); close(bh.gate) }) }
	setup := harnessSetup{WrapHasher: bh.wrap}
	if early {
		setup.HashLimiter = lim
	}
	return lim, bh, setup, letGo
}

func (b *blockingHasher) wrap(h core.PasswordHasher) core.PasswordHasher { b.inner = h; return b }

func (b *blockingHasher) slot(f func() error) error {
	release, err := b.lim.Acquire()
	if err != nil {
		return err
	}
	defer release()
	if b.holding.Load() {
		b.entered <- struct{}{}
		<-b.gate
	}
	return f()
}

func (b *blockingHasher) Hash(pw string) (s string, err error) {
	err = b.slot(func() error { s, err = b.inner.Hash(pw); return err })
	return s, err
}

func (b *blockingHasher) Verify(enc, pw string) (ok, rehash bool, err error) {
	err = b.slot(func() error { ok, rehash, err = b.inner.Verify(enc, pw); return err })
	return ok, rehash, err
}

func (b *blockingHasher) VerifyDummy(pw string) error {
	return b.slot(func() error { return b.inner.VerifyDummy(pw) })
}

// dbFootprint is what a sign-in or a registration could have written:
// the account's audit rows and sessions, the throttle rows of the emails
// tried, and the users with the emails registered.
type dbFootprint struct{ audit, sessions, throttle, users int }

func footprint(t *testing.T, h *harness, accountID uuid.UUID, emails []string) dbFootprint {
	t.Helper()
	keys := make([][]byte, len(emails))
	f := dbFootprint{audit: len(h.db.AuditEvents(t, accountID, time.Time{})), sessions: len(h.db.Sessions(t, accountID, uuid.Nil))}
	for i, e := range emails {
		keys[i] = core.ThrottleKey(core.NormalizeEmail(e))
		f.users += len(h.db.Users(t, uuid.Nil, e))
	}
	f.throttle = h.db.ThrottleWeight(t, keys)
	return f
}

// LOAD-01/LOAD-02: with the hasher saturated — its one slot held by a
// blocked sign-in, its one queue place taken — every further sign-in
// (known email right or wrong password, unknown email) and registration
// is answered 503 service_unavailable with Retry-After while the hasher
// is still blocked (so without waiting for it), having written nothing:
// no audit row, no session, no throttle count, no user. Meanwhile refresh
// and /auth/me answer 200: they never wait for the hasher. Once the hash
// is let go, the held and the queued sign-in complete normally.
//
// Run twice: as cmd/sessiond wires it (the HTTP layer refuses a sign-in
// before its first read when the hasher is saturated) and with the
// hasher's own refusal only (the core returns the hasher's error before
// any write, for a known and an unknown email alike).
func TestShedding_LOAD01_LOAD02_SaturatedHasher_Sheds503BeforeWrites_SessionsServed(t *testing.T) {
	for _, early := range []bool{true, false} {
		t.Run("early="+strconv.FormatBool(early), func(t *testing.T) {
			lim, bh, setup, letGo := blockedHasherSetup(t, early)
			h := newHarnessOn(t, setup, withHTTPConfig(func(c *httpadapter.Config) { c.MetricsOnAPI = true }))
			// After the harness's cleanups are registered, so it runs first:
			// a failing test must not leave handlers blocked in the hasher.
			t.Cleanup(letGo)

			signedIn := h.register(t, uniqueEmail("shed-reader"))
			tk := h.login(t, signedIn, nil)
			victim := h.register(t, uniqueEmail("shed-victim"))
			unknown := uniqueEmail("shed-nobody")
			newcomer := uniqueEmail("shed-newcomer")
			login := func(email, pw string) response {
				return h.do(t, req{method: "POST", path: "/api/v1/auth/login/json", body: map[string]string{"email": email, "password": pw}})
			}

			// Saturate: one sign-in blocked inside the slot, one queued.
			bh.holding.Store(true)
			var wg sync.WaitGroup
			var held, queued response
			wg.Go(func() { held = login(victim.Email, victim.Password) })
			<-bh.entered
			wg.Go(func() { queued = login(unknown, "whatever password") })
			for !lim.Saturated() {
				time.Sleep(time.Millisecond) // waiting for a state, not timing
			}

			before := footprint(t, h, victim.AccountID, []string{victim.Email, unknown, newcomer})
			shed := []struct {
				what string
				rq   req
			}{
				{"known email, right password", req{method: "POST", path: "/api/v1/auth/login/json",
					body: map[string]string{"email": victim.Email, "password": victim.Password}}},
				{"known email, wrong password", req{method: "POST", path: "/api/v1/auth/login/json",
					body: map[string]string{"email": victim.Email, "password": "not the password at all"}}},
				{"unknown email", req{method: "POST", path: "/api/v1/auth/login/json",
					body: map[string]string{"email": unknown, "password": "whatever password"}}},
				{"form sign-in", req{method: "POST", path: "/api/v1/auth/login", contentType: "application/x-www-form-urlencoded",
					body: "grant_type=password&username=" + victim.Email + "&password=nope-nope-nope"}},
				{"registration", req{method: "POST", path: "/api/v1/auth/register", body: map[string]string{
					"email": newcomer, "password": "a fine long password", "name": "New", "account_name": "New Co"}}},
			}
			for _, s := range shed {
				res := h.do(t, s.rq)
				expectProblem(t, res, http.StatusServiceUnavailable, "service_unavailable")
				if ra, err := strconv.Atoi(res.Header.Get("Retry-After")); err != nil || ra < 1 {
					t.Errorf("%s: Retry-After %q, want whole seconds ≥ 1", s.what, res.Header.Get("Retry-After"))
				}
			}
			// The cheap requests pass while the hasher is still blocked.
			tk = h.mustRefresh(t, tk.RefreshToken)
			h.mustDo(t, req{method: "GET", path: "/api/v1/auth/me", bearer: tk.AccessToken}, http.StatusOK)

			if after := footprint(t, h, victim.AccountID, []string{victim.Email, unknown, newcomer}); after != before {
				t.Errorf("shed requests wrote: before %+v, after %+v", before, after)
			}
			metrics := string(h.mustDo(t, req{method: "GET", path: "/metrics"}, http.StatusOK).Body)
			if early && !strings.Contains(metrics, `sessiond_hash_shed_total{reason="queue_full"} 5`) {
				t.Errorf("metrics: want 5 queue_full sheds counted; got:\n%s", grepLines(metrics, "sessiond_hash_"))
			}
			if strings.Contains(metrics, `sessiond_db_errors_total{kind="hash_overloaded"}`) {
				t.Error("a hash shed counted as a database fault")
			}

			// Let go: the held sign-in succeeds, the queued unknown email fails as usual.
			letGo()
			wg.Wait()
			if held.Status != http.StatusOK {
				t.Errorf("held sign-in: %d %s", held.Status, held.Body)
			}
			expectProblem(t, queued, http.StatusUnauthorized, "invalid_credentials")
			h.login(t, victim, nil)
		})
	}
}

func grepLines(s, substr string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, substr) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// VER-08 with LOAD-01: the email verification checks the registration's
// password through the same hasher as a sign-in, and is shed the same way
// (early, before its reads, as cmd/sessiond wires it; or by the hasher
// itself): 503 with Retry-After, nothing written — the email stays
// unverified, the token unspent, no failure counted or audited — and the
// link works once the hasher is free.
func TestShedding_VER08_SaturatedHasher_VerifyEmailShed503_NothingWritten(t *testing.T) {
	for _, early := range []bool{true, false} {
		t.Run("early="+strconv.FormatBool(early), func(t *testing.T) {
			lim, bh, setup, letGo := blockedHasherSetup(t, early)
			h := newHarnessOn(t, setup, withProductionSettings())
			t.Cleanup(letGo)

			owner, _ := h.verifiedOwner(t, "shed-ver-owner")
			email := uniqueEmail("shed-ver")
			const pw = "the registrant's password"
			_, token := h.registerPending(t, email, pw)
			accountID := h.db.UserByEmail(t, email).AccountID

			bh.holding.Store(true)
			var wg sync.WaitGroup
			var held, queued response
			wg.Go(func() { held = h.signIn(t, owner.Email, owner.Password) })
			<-bh.entered
			wg.Go(func() { queued = h.signIn(t, uniqueEmail("shed-nobody"), "whatever password") })
			for !lim.Saturated() {
				time.Sleep(time.Millisecond) // waiting for a state, not timing
			}
			before := footprint(t, h, accountID, []string{email})
			for _, p := range []string{pw, "a wrong password"} {
				res := h.verifyEmail(t, token, p)
				expectProblem(t, res, http.StatusServiceUnavailable, "service_unavailable")
				retryAfter(t, res)
			}
			if after := footprint(t, h, accountID, []string{email}); after != before {
				t.Errorf("shed verifications wrote: before %+v, after %+v", before, after)
			}
			letGo()
			wg.Wait()
			if held.Status != http.StatusOK {
				t.Errorf("held sign-in: %d %s", held.Status, held.Body)
			}
			expectProblem(t, queued, http.StatusUnauthorized, "invalid_credentials")
			h.mustDo(t, req{method: "POST", path: "/api/v1/auth/verify-email",
				body: map[string]string{"token": token, "password": pw}}, http.StatusNoContent)
			h.login(t, registered{Email: email, Password: pw}, nil)
		})
	}
}
