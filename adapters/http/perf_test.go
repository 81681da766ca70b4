package http_test

import (
	"context"
	"net"
	"net/http"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sessiond/sessiond/adapters/postgres/pgtest"
)

// countingConn counts the client's writes to PostgreSQL: pgconn flushes
// everything it sends before waiting for an answer in one write, so each
// write is one round trip.
type countingConn struct {
	net.Conn
	n *atomic.Int64
}

func (c countingConn) Write(b []byte) (int, error) {
	c.n.Add(1)
	return c.Conn.Write(b)
}

// countedPool is a one-connection pool of the runtime role whose round
// trips are counted.
func countedPool(t *testing.T, db *pgtest.DB) (*pgxpool.Pool, *atomic.Int64) {
	t.Helper()
	cfg, err := pgxpool.ParseConfig(db.AppURL)
	if err != nil {
		t.Fatal(err)
	}
	n := &atomic.Int64{}
	var d net.Dialer
	cfg.MaxConns = 1
	cfg.ConnConfig.DialFunc = func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return countingConn{Conn: c, n: n}, nil
	}
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool, n
}

// The round trips to PostgreSQL per request on the hot paths, measured on
// the wire (bench/README.md). Each request runs twice and the second is counted:
// the first prepares its statements on the connection (once per
// connection's lifetime).
func TestRoundTrips_PerRequest(t *testing.T) {
	db := pgtest.Shared(t)
	pool, n := countedPool(t, db)
	h := newHarnessOn(t, harnessSetup{DB: db, AppPool: pool})
	u := h.register(t, uniqueEmail("trips"))

	count := func(do func() response, status int) int64 {
		t.Helper()
		before := n.Load()
		if res := do(); res.Status != status {
			t.Fatalf("status %d, want %d: %s", res.Status, status, res.Body)
		}
		return n.Load() - before
	}
	var tk tokens
	refresh := func() response {
		res := h.refresh(t, tk.RefreshToken)
		if res.Status == http.StatusOK {
			res.JSON(t, &tk)
		}
		return res
	}
	me := func() response { return h.do(t, req{method: "GET", path: "/api/v1/auth/me", bearer: tk.AccessToken}) }
	revoke := func() response {
		return h.do(t, req{method: "DELETE", path: "/api/v1/sessions/" + uuid.NewString(), bearer: tk.AccessToken})
	}
	listSessions := func() response { return h.do(t, req{method: "GET", path: "/api/v1/sessions", bearer: tk.AccessToken}) }
	login := func() response {
		return h.do(t, req{method: "POST", path: "/api/v1/auth/login/json",
			body: map[string]string{"email": u.Email, "password": u.Password}})
	}

	tk = h.login(t, u, nil)
	others := []tokens{h.login(t, u, nil), h.login(t, u, nil)}
	revokeOther := func() response {
		id := others[0].SessionID
		others = others[1:]
		return h.do(t, req{method: "DELETE", path: "/api/v1/sessions/" + id.String(), bearer: tk.AccessToken})
	}
	for _, c := range []struct {
		name   string
		do     func() response
		status int
		max    int64
	}{
		{"refresh (fast path)", refresh, http.StatusOK, 1},
		{"GET /auth/me", me, http.StatusOK, 1},
		{"GET /sessions", listSessions, http.StatusOK, 1},
		// BEGIN+SET+liveness, the recent-auth check (session and policy
		// in one statement), owner, ROLLBACK
		{"DELETE /sessions/{id} (a write; unknown id)", revoke, http.StatusNotFound, 4},
		// BEGIN+SET+liveness, recent-auth check, owner, revoke, audit, COMMIT
		{"DELETE /sessions/{id} (a write: revoke + audit)", revokeOther, http.StatusNoContent, 6},
		// Login (argon2id-bound, ~25 ms of CPU, so a round trip more or less
		// does not show): the brute-force throttle check, the credential
		// lookup, then BEGIN+SET+policy (with whether the user has a second
		// factor), the user-row lock that serialises
		// sign-ins for the session limit, session insert, audit, COMMIT.
		{"login", login, http.StatusOK, 7},
	} {
		count(c.do, c.status) // warm-up: statements get prepared
		got := count(c.do, c.status)
		t.Logf("%-45s %d round trip(s)", c.name, got)
		if got > c.max {
			t.Errorf("%s: %d round trips, want at most %d", c.name, got, c.max)
		}
	}
}

// Fast/slow path boundary: the token is the session's current one, so core
// plans the one-statement rotation, but the row changed behind its back
// (driven as the owner, between the claims check and the write as far as
// the request can tell). The conditional UPDATE matches nothing, the slow
// path decides with the same codes as ever, and nothing rotates.
func TestRefresh_FastPathBoundary_RowChangedBehindTheClaims(t *testing.T) {
	h := newHarness(t)
	for _, c := range []struct {
		name   string
		change func(t testing.TB, h *harness, r0 tokens, now time.Time) // behind the API's back
		code   string
	}{
		{"user deactivated", func(t testing.TB, h *harness, r0 tokens, _ time.Time) {
			deactivate(t, h, h.db.Session(t, r0.SessionID).UserID)
		}, "invalid_refresh_token"},
		{"session revoked", func(t testing.TB, h *harness, r0 tokens, now time.Time) {
			h.db.ChangeSession(t, r0.SessionID, pgtest.SessionChange{RevokedAt: &now, RevokeReason: "logout"})
		}, "invalid_refresh_token"},
		{"idle deadline passed", func(t testing.TB, h *harness, r0 tokens, now time.Time) {
			at := now.Add(-time.Second)
			h.db.ChangeSession(t, r0.SessionID, pgtest.SessionChange{IdleExpiresAt: &at})
		}, "session_expired_idle"},
		{"idle deadline is now", func(t testing.TB, h *harness, r0 tokens, now time.Time) {
			h.db.ChangeSession(t, r0.SessionID, pgtest.SessionChange{IdleExpiresAt: &now})
		}, "session_expired_idle"},
		{"absolute deadline passed on the row", func(t testing.TB, h *harness, r0 tokens, now time.Time) {
			h.db.ChangeSession(t, r0.SessionID, pgtest.SessionChange{AbsoluteExpiresAt: &now})
		}, "session_expired_absolute"},
	} {
		t.Run(c.name, func(t *testing.T) {
			u := h.register(t, uniqueEmail("boundary"))
			r0 := h.login(t, u, nil)
			h.clock.Advance(time.Minute)
			c.change(t, h, r0, h.clock.Now())
			expectProblem(t, h.refresh(t, r0.RefreshToken), http.StatusUnauthorized, c.code)
			if gen, _ := familyGeneration(t, h, r0.SessionID); gen != 0 {
				t.Errorf("generation %d after a refused refresh, want 0 (nothing rotated)", gen)
			}
		})
	}
}

// AUD-01: a refresh that reaches the absolute cap
// revokes the family and, in the same transaction, writes an audit row
// session.expired_absolute. A successful rotation writes none (the session
// row records it: generation, rotated_at, last_used_at).
func TestRefresh_AbsoluteCapRevocationIsAudited(t *testing.T) {
	h := newHarness(t)
	u := h.register(t, uniqueEmail("abscap"))
	tk := h.login(t, u, nil)
	abs := tk.AbsoluteExpiresAt
	var res response
	for {
		h.clock.Advance(48 * time.Hour) // inside the 3-day idle window
		res = h.refresh(t, tk.RefreshToken)
		if res.Status != http.StatusOK {
			break
		}
		res.JSON(t, &tk)
		if h.clock.Now().After(abs.Add(time.Hour)) {
			t.Fatal("refreshed past the absolute deadline")
		}
	}
	expectProblem(t, res, http.StatusUnauthorized, "session_expired_absolute")
	rows := auditRows(t, h, u.AccountID, "session.expired_absolute")
	if len(rows) != 1 || rows[0].ResourceType != "session" || rows[0].ResourceID == nil || *rows[0].ResourceID != tk.SessionID.String() {
		t.Fatalf("session.expired_absolute audit rows: %+v", rows)
	}
	if at, reason := sessionRevocation(t, h, tk.SessionID); at == nil || reason == nil || *reason != "absolute_timeout" {
		t.Errorf("session revoked_at=%v reason=%v", at, reason)
	}
	audited := 0
	for _, e := range h.db.AuditEvents(t, u.AccountID, time.Time{}) {
		if !slices.Contains([]string{"account.created", "auth.login_succeeded", "session.expired_absolute"}, e.Action) {
			audited++
		}
	}
	if audited != 0 {
		t.Errorf("%d other audit rows: successful rotations must write none", audited)
	}
	// The consumed token is invalid from now on.
	expectProblem(t, h.refresh(t, tk.RefreshToken), http.StatusUnauthorized, "invalid_refresh_token")
}

// JWT-09 for every bearer operation: once the session is revoked, its
// still-unexpired access token is refused by every authenticated endpoint,
// whether its use case checks liveness in its own round trip (it takes a
// core.Bearer) or the handler asks core first (Server.caller). Logout alone
// accepts it (idempotent).
func TestJWT09_EveryBearerOperation_RefusesRevokedSession(t *testing.T) {
	h := newHarness(t)
	u := h.register(t, uniqueEmail("jwt09"))
	tk := h.login(t, u, nil)
	other := h.login(t, u, nil)
	// The token is verified once while live, so the verified-token cache
	// holds it: liveness must still be checked.
	expectStatus(t, h.do(t, req{method: "GET", path: "/api/v1/auth/me", bearer: tk.AccessToken}), http.StatusOK, "me")
	h.mustDo(t, req{method: "DELETE", path: "/api/v1/sessions/" + tk.SessionID.String(), bearer: other.AccessToken}, http.StatusNoContent)
	for _, rq := range []req{
		{method: "GET", path: "/api/v1/auth/me"},
		{method: "POST", path: "/api/v1/auth/logout-all"},
		{method: "POST", path: "/api/v1/auth/change-password", body: map[string]string{"current_password": u.Password, "new_password": "another long password"}},
		{method: "GET", path: "/api/v1/sessions"},
		{method: "DELETE", path: "/api/v1/sessions/" + other.SessionID.String()},
		{method: "GET", path: "/api/v1/accounts/me/security"},
		{method: "PATCH", path: "/api/v1/accounts/me/security", body: map[string]any{"idle_minutes": 60}},
		{method: "POST", path: "/api/v1/accounts/me/security/revoke-sessions", body: map[string]string{"scope": "all"}},
		{method: "GET", path: "/api/v1/accounts/me/members"},
		{method: "POST", path: "/api/v1/accounts/me/members", body: map[string]string{"email": uniqueEmail("m"), "password": "a long password", "name": "M", "role": "member"}},
		{method: "GET", path: "/api/v1/accounts/me/audit-events"},
	} {
		rq.bearer = tk.AccessToken
		expectProblem(t, h.do(t, rq), http.StatusUnauthorized, "invalid_token")
	}
	// Nothing the dead token asked for happened: the other session lives.
	expectStatus(t, h.do(t, req{method: "GET", path: "/api/v1/auth/me", bearer: other.AccessToken}), http.StatusOK, "the other session")
}

// MFA-11: the round trips of a sign-in with a second factor, measured like
// TestRoundTrips_PerRequest. The password step (202 and a challenge) costs
// no more than a sign-in without a factor, and the answer to the challenge,
// which opens the session, at most one more: against the bound
// TestRoundTrips_PerRequest holds a sign-in to (7) and against a sign-in
// without a factor counted here on the same connection, so that a cheaper
// sign-in without a factor tightens the bound with it.
func TestMFA11_RoundTrips_SignInWithTOTP(t *testing.T) {
	db := pgtest.Shared(t)
	pool, n := countedPool(t, db)
	h := newHarnessOn(t, harnessSetup{DB: db, AppPool: pool})
	u := h.register(t, uniqueEmail("trips-mfa"))
	plain := h.register(t, uniqueEmail("trips-mfa-plain"))
	secret, _, _ := h.enrolTOTP(t, h.login(t, u, nil).AccessToken)

	const maxWithoutFactor = 7 // "login" in TestRoundTrips_PerRequest
	var c challenge
	var withoutFactor, challengeTrips, verifyTrips int64
	for range 2 { // the first run prepares the statements
		before := n.Load()
		h.login(t, plain, nil) // 200: no factor
		withoutFactor = n.Load() - before

		h.clock.Advance(31 * time.Second) // a code is accepted once per step
		before = n.Load()
		c = h.loginChallenge(t, u)
		challengeTrips = n.Load() - before
		before = n.Load()
		expectStatus(t, h.verify(t, c, "code", totpCode(t, secret, h.clock.Now())), http.StatusOK, "verify")
		verifyTrips = n.Load() - before
	}
	t.Logf("sign-in without a factor %d round trip(s); with TOTP: password step (202) %d, verify (tokens) %d", withoutFactor, challengeTrips, verifyTrips)
	if withoutFactor < 1 || withoutFactor > maxWithoutFactor {
		t.Fatalf("sign-in without a factor: %d round trips, want 1..%d (is the pool counted?)", withoutFactor, maxWithoutFactor)
	}
	if challengeTrips > withoutFactor {
		t.Errorf("password step: %d round trips, want at most %d (a sign-in without a factor)", challengeTrips, withoutFactor)
	}
	if verifyTrips > withoutFactor+1 {
		t.Errorf("verify: %d round trips, want at most %d (one more than a sign-in without a factor)", verifyTrips, withoutFactor+1)
	}
}
