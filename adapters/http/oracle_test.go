package http_test

import (
	"context"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sessiond/sessiond/adapters/mailer"
	"github.com/sessiond/sessiond/adapters/postgres/pgtest"
	"github.com/sessiond/sessiond/core"
)

// hashSpy counts the password hasher's work: verifications (of a stored
// hash, or of the dummy hash for an unknown email: the same cost) and new
// hashes.
type hashSpy struct {
	inner           core.PasswordHasher
	verifies, makes atomic.Int64
}

func (s *hashSpy) wrap(h core.PasswordHasher) core.PasswordHasher { s.inner = h; return s }

func (s *hashSpy) Hash(pw string) (string, error) { s.makes.Add(1); return s.inner.Hash(pw) }

func (s *hashSpy) Verify(encoded, pw string) (bool, bool, error) {
	s.verifies.Add(1)
	return s.inner.Verify(encoded, pw)
}

func (s *hashSpy) VerifyDummy(pw string) error { s.verifies.Add(1); return s.inner.VerifyDummy(pw) }

// deferringMailer is a core.Deferrer as production's mailer.Queue is, but
// it runs deferred work only when the test says (run), outside what the
// test counts.
type deferringMailer struct {
	*fakeMailer
	mu       sync.Mutex
	deferred []func(context.Context)
}

func (d *deferringMailer) Defer(fn func(context.Context)) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.deferred = append(d.deferred, fn)
	return nil
}

func (d *deferringMailer) run() int {
	d.mu.Lock()
	fns := d.deferred
	d.deferred = nil
	d.mu.Unlock()
	for _, fn := range fns {
		fn(context.Background())
	}
	return len(fns)
}

// work is what one request cost, as far as an observer timing it (or
// reading the pool's metrics) could tell.
type work struct {
	wire             wireTally
	verifies, hashes int64
	poolAcquires     int64
	status           int
	resp             response
	description      string
}

// LGN-10 (LGN-02's timing half, made deterministic): a failed sign-in and
// a password-reset request do the same database work — round trips,
// commits, and commits that write (the durable ones, each a WAL flush) —
// and the same password hashing, and take the same number of connections
// from the pool, whether or not the email has an account. Counted on the
// wire (wire_test.go), not timed, so it holds on any machine; the timing
// itself is make bench's `oracle` scenario (bench/README.md).
//
// Before, a known email cost a tenant transaction more (the failed sign-in's
// audit row; the reset token and its audit row): two round trips and a
// durable commit that an unknown email did not, which showed in the
// latency and in sessiond_db_pool_acquires_total. Now a failed sign-in's
// audit row travels in its counter's transaction, and a known address's
// reset work (token, audit row, mail) is deferred to the mail queue, after
// the answer: here it runs when the test says, outside the counts, and
// must then have stored the token and mailed it.
func TestOracle_LGN10_SignInFailureAndResetRequest_SameDatabaseWorkKnownOrUnknown(t *testing.T) {
	db := pgtest.Shared(t)
	pool, wire := wiredPool(t, db)
	spy := &hashSpy{}
	mail := &deferringMailer{fakeMailer: &fakeMailer{}}
	h := newHarnessOn(t, harnessSetup{DB: db, AppPool: pool, WrapHasher: spy.wrap, Mailer: mail})

	measure := func(what string, rq req) work {
		t.Helper()
		wire.take()
		v0, m0, a0 := spy.verifies.Load(), spy.makes.Load(), pool.Stat().AcquireCount()
		res := h.do(t, rq)
		return work{
			wire: wire.take(), verifies: spy.verifies.Load() - v0, hashes: spy.makes.Load() - m0,
			poolAcquires: pool.Stat().AcquireCount() - a0, status: res.Status, resp: res, description: what,
		}
	}
	same := func(a, b work) {
		t.Helper()
		if a.status != b.status {
			t.Errorf("%s → %d, %s → %d", a.description, a.status, b.description, b.status)
		}
		if a.wire.RoundTrips != b.wire.RoundTrips || a.wire.Commits != b.wire.Commits || a.wire.WriteCommits != b.wire.WriteCommits {
			t.Errorf("database work differs:\n  %s: %s\n  %s: %s", a.description, a.wire, b.description, b.wire)
		}
		if a.verifies != b.verifies || a.hashes != b.hashes {
			t.Errorf("hashing differs: %s %d verification(s) %d hash(es), %s %d / %d",
				a.description, a.verifies, a.hashes, b.description, b.verifies, b.hashes)
		}
		if a.poolAcquires != b.poolAcquires {
			t.Errorf("pool acquires differ: %s %d, %s %d", a.description, a.poolAcquires, b.description, b.poolAcquires)
		}
		sameAnswer(t, a.description+" / "+b.description, a.resp, b.resp)
	}
	signIn := func(email string) req {
		return req{method: "POST", path: "/api/v1/auth/login/json", body: map[string]string{"email": email, "password": "a wrong password"}}
	}
	reset := func(email string) req {
		return req{method: "POST", path: "/api/v1/auth/password-reset/request", body: map[string]string{"email": email}}
	}

	// Warm-up: each statement is prepared on the connection on first use.
	warm := h.register(t, uniqueEmail("oracle-warm"))
	for _, rq := range []req{signIn(warm.Email), signIn(uniqueEmail("oracle-warm-ghost")), reset(warm.Email),
		reset(uniqueEmail("oracle-warm-ghost")), reset(warm.Email)} {
		h.do(t, rq)
	}
	mail.run()

	t.Run("sign-in failure", func(t *testing.T) {
		for range 3 {
			known := h.register(t, uniqueEmail("oracle-known"))
			k := measure("known email, wrong password", signIn(known.Email))
			u := measure("unknown email", signIn(uniqueEmail("oracle-ghost")))
			if k.status != http.StatusUnauthorized || k.verifies != 1 || k.hashes != 0 {
				t.Fatalf("known: %d, %d verification(s), %d hash(es)", k.status, k.verifies, k.hashes)
			}
			same(k, u)
			t.Logf("%s: %s", k.description, k.wire)
			t.Logf("%s: %s", u.description, u.wire)
		}
	})
	t.Run("reset request", func(t *testing.T) {
		known := h.register(t, uniqueEmail("oracle-reset"))
		ghost := uniqueEmail("oracle-reset-ghost")
		for i, state := range []string{"first request (mail sent)", "second request (inside the mail interval)"} {
			k := measure("known email, "+state, reset(known.Email))
			u := measure("unknown email, "+state, reset(ghost))
			if k.status != http.StatusOK || k.verifies != 0 || k.hashes != 0 {
				t.Fatalf("known: %d, %d verification(s), %d hash(es)", k.status, k.verifies, k.hashes)
			}
			same(k, u)
			t.Logf("%s: %s", k.description, k.wire)
			t.Logf("%s: %s", u.description, u.wire)
			if n := mail.run(); n != 1 {
				t.Errorf("request %d deferred %d pieces of work, want 1 (the known address's)", i+1, n)
			}
			wire.take()
			if got := len(mail.mails(known.Email)); got != 1 {
				t.Errorf("after request %d: %d mail(s) to the known address, want 1", i+1, got)
			}
		}
	})
}

// stuckMailer never finishes a mail until released.
type stuckMailer struct {
	release chan struct{}
	sent    atomic.Int64
}

func (m *stuckMailer) SendPasswordReset(context.Context, string, string, time.Time) error {
	<-m.release
	m.sent.Add(1)
	return nil
}

func (m *stuckMailer) SendEmailVerification(ctx context.Context, to, token string, exp time.Time) error {
	return m.SendPasswordReset(ctx, to, token, exp)
}

func (m *stuckMailer) SendInvitation(ctx context.Context, inv core.InvitationMail) error {
	return m.SendPasswordReset(ctx, inv.To, inv.Token, inv.ExpiresAt)
}

// LGN-10: the reset request answers before any mail work. Behind
// production's mailer.Queue, a mailer that does not finish (a slow SMTP
// server, say) does not hold the answer: the known address's request is
// answered while its mail is still waiting, and the mail goes out later.
func TestOracle_LGN10_ResetRequestAnswersBeforeMailWork(t *testing.T) {
	stuck := &stuckMailer{release: make(chan struct{})}
	q, drain := mailer.NewQueue(stuck, mailer.QueueConfig{Timeout: 10 * time.Second}, slog.New(slog.DiscardHandler))
	h := newHarnessOn(t, harnessSetup{Mailer: q})
	known := h.register(t, uniqueEmail("oracle-queue"))
	done := make(chan response, 1)
	go func() {
		done <- h.do(t, req{method: "POST", path: "/api/v1/auth/password-reset/request", body: map[string]string{"email": known.Email}})
	}()
	select {
	case res := <-done:
		expectStatus(t, res, http.StatusOK, "reset request")
	case <-time.After(10 * time.Second):
		close(stuck.release)
		t.Fatal("the reset request waited for the mailer")
	}
	if n := stuck.sent.Load(); n != 0 {
		t.Fatalf("%d mails out before the mailer was released", n)
	}
	close(stuck.release)
	drain()
	if n := stuck.sent.Load(); n != 1 {
		t.Fatalf("%d mails after the drain, want 1", n)
	}
}
