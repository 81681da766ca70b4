package http_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/sessiond/sessiond/core"
)

const (
	defaultIdle = 259200  // 4320 min
	defaultAbs  = 1209600 // 20160 min
)

func TestLogin_DefaultPolicySnapshotInClaims(t *testing.T) {
	h := newHarness(t)
	u := h.register(t, uniqueEmail("claims"))
	tk := h.login(t, u, map[string]string{"X-Device-Id": "laptop-1", "User-Agent": "test-agent/1.0"})

	rc := claims(t, tk.RefreshToken)
	if got := num(t, rc, "idle_max"); got != defaultIdle {
		t.Errorf("idle_max = %d, want %d", got, defaultIdle)
	}
	if got := num(t, rc, "abs_max"); got != defaultAbs {
		t.Errorf("abs_max = %d, want %d", got, defaultAbs)
	}
	if got := num(t, rc, "auth_time"); got != t0.Unix() {
		t.Errorf("auth_time = %d, want %d (now)", got, t0.Unix())
	}
	if got := num(t, rc, "exp"); got != t0.Unix()+defaultIdle {
		t.Errorf("refresh exp = %d, want now+idle_max = %d", got, t0.Unix()+defaultIdle)
	}
	if typ := header(t, tk.RefreshToken)["typ"]; typ != "rt+jwt" {
		t.Errorf("refresh typ = %v", typ)
	}
	if !tk.IdleExpiresAt.Equal(t0.Add(defaultIdle*time.Second)) || !tk.AbsoluteExpiresAt.Equal(t0.Add(defaultAbs*time.Second)) {
		t.Errorf("expiries = %v / %v", tk.IdleExpiresAt, tk.AbsoluteExpiresAt)
	}

	ac := claims(t, tk.AccessToken)
	ah := header(t, tk.AccessToken)
	if ah["typ"] != "at+jwt" || ah["kid"] == nil || ah["alg"] != "EdDSA" {
		t.Errorf("access header = %v", ah)
	}
	for _, k := range []string{"iss", "aud", "sub", "sid", "tid", "role", "jti", "iat", "exp", "client_id"} {
		if _, ok := ac[k]; !ok {
			t.Errorf("access token lacks %q: %v", k, ac)
		}
	}
	if ac["tid"] != u.AccountID.String() || ac["sub"] != u.UserID.String() || ac["sid"] != tk.SessionID.String() || ac["role"] != "owner" {
		t.Errorf("access claims = %v", ac)
	}
	// JWT-09: the access-token lifetime is the documented 5 minutes.
	if num(t, ac, "exp")-num(t, ac, "iat") != 300 || tk.ExpiresIn != 300 || tk.TokenType != "Bearer" {
		t.Errorf("access lifetime exp-iat=%d expires_in=%d", num(t, ac, "exp")-num(t, ac, "iat"), tk.ExpiresIn)
	}
}

func TestRefresh_CarriesSnapshotForward_SlidesExp_RotatesJTI(t *testing.T) {
	h := newHarness(t)
	u := h.register(t, uniqueEmail("carry"))
	tk := h.login(t, u, nil)
	first := claims(t, tk.RefreshToken)

	h.clock.Advance(2 * time.Hour)
	next := h.mustRefresh(t, tk.RefreshToken)
	c := claims(t, next.RefreshToken)

	if c["jti"] == first["jti"] {
		t.Error("jti did not rotate")
	}
	for _, k := range []string{"auth_time", "idle_max", "abs_max", "sid", "sub", "tid"} {
		if c[k] != first[k] {
			t.Errorf("%s changed on refresh: %v → %v", k, first[k], c[k])
		}
	}
	now := h.clock.Now().Unix()
	if got := num(t, c, "exp"); got != now+defaultIdle {
		t.Errorf("exp = %d, want now+idle_max = %d (slides)", got, now+defaultIdle)
	}
	if !next.AbsoluteExpiresAt.Equal(tk.AbsoluteExpiresAt) {
		t.Errorf("absolute deadline moved: %v → %v", tk.AbsoluteExpiresAt, next.AbsoluteExpiresAt)
	}
	if !next.IdleExpiresAt.Equal(h.clock.Now().Add(defaultIdle * time.Second)) {
		t.Errorf("idle_expires_at = %v", next.IdleExpiresAt)
	}
}

func TestRefresh_IdleExpiry_SessionExpiredIdle(t *testing.T) {
	h := newHarness(t)
	u := h.register(t, uniqueEmail("idle"))
	tk := h.login(t, u, nil)

	h.clock.Advance(defaultIdle*time.Second - time.Second)
	tk = h.mustRefresh(t, tk.RefreshToken) // activity inside the window slides it

	h.clock.Advance(defaultIdle * time.Second) // exactly at the new exp
	expectProblem(t, h.refresh(t, tk.RefreshToken), http.StatusUnauthorized, "session_expired_idle")
}

func TestRefresh_AbsoluteCapAtExactDeadline_Rejects_ThenReplayInvalid(t *testing.T) {
	h := newHarness(t)
	u := h.register(t, uniqueEmail("abs"))
	tk := h.login(t, u, nil)
	deadline := t0.Add(defaultAbs * time.Second)

	// Stay active: refresh every 2 days (inside the 3-day idle window).
	for h.clock.Now().Add(48 * time.Hour).Before(deadline) {
		h.clock.Advance(48 * time.Hour)
		tk = h.mustRefresh(t, tk.RefreshToken)
		if !tk.AbsoluteExpiresAt.Equal(deadline) {
			t.Fatalf("absolute deadline slid to %v", tk.AbsoluteExpiresAt)
		}
	}
	h.clock.Set(deadline.Add(-time.Second))
	tk = h.mustRefresh(t, tk.RefreshToken) // one second before: still fine

	h.clock.Set(deadline) // now == auth_time + abs_max: refused (>=)
	expectProblem(t, h.refresh(t, tk.RefreshToken), http.StatusUnauthorized, "session_expired_absolute")
	// The attempt consumed the token: a replay is plainly invalid.
	expectProblem(t, h.refresh(t, tk.RefreshToken), http.StatusUnauthorized, "invalid_refresh_token")
}

func TestRefresh_StricterRecordWins_OlderAuthTimeInToken(t *testing.T) {
	h := newHarness(t)
	u := h.register(t, uniqueEmail("stricter"))
	tk := h.login(t, u, nil)
	rc, err := h.codec.VerifyRefresh(tk.RefreshToken)
	if err != nil {
		t.Fatal(err)
	}
	// A token we signed with an older auth_time is past its cap even though
	// the session row allows more.
	older := rc.AuthTime.Add(-defaultAbs * time.Second)
	rc.AuthTime = &older
	forged, err := h.codec.SignRefresh(rc)
	if err != nil {
		t.Fatal(err)
	}
	h.clock.Advance(time.Minute)
	expectProblem(t, h.refresh(t, forged), http.StatusUnauthorized, "session_expired_absolute")
}

func TestRefresh_Grandfather_LegacyTokenGetsOneRotationWithCurrentPolicy(t *testing.T) {
	h := newHarness(t)
	u := h.register(t, uniqueEmail("legacy"))
	tk := h.login(t, u, nil)
	rc, err := h.codec.VerifyRefresh(tk.RefreshToken)
	if err != nil {
		t.Fatal(err)
	}
	// A token of the kind issued before the snapshot claims (and tid) existed.
	legacy, err := h.codec.SignRefresh(core.RefreshClaims{
		Subject: rc.Subject, SessionID: rc.SessionID, JTI: rc.JTI, IssuedAt: rc.IssuedAt, ExpiresAt: rc.ExpiresAt,
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := claims(t, legacy)["auth_time"]; ok {
		t.Fatal("legacy token unexpectedly carries auth_time")
	}

	h.clock.Advance(time.Hour)
	next := h.mustRefresh(t, legacy)
	c := claims(t, next.RefreshToken)
	if num(t, c, "auth_time") != t0.Unix() || num(t, c, "idle_max") != defaultIdle || num(t, c, "abs_max") != defaultAbs {
		t.Errorf("grandfathered claims = %v", c)
	}
	if c["tid"] != u.AccountID.String() {
		t.Errorf("grandfathered token lacks tid: %v", c)
	}
	// Exactly one rotation: the legacy token is spent; replayed after the
	// grace window it is reuse.
	h.clock.Advance(h.cfg.Grace + time.Second)
	expectProblem(t, h.refresh(t, legacy), http.StatusUnauthorized, "refresh_token_reused")
}

func TestRefresh_WrongTypeBadSignatureMalformed_InvalidRefreshToken(t *testing.T) {
	h := newHarness(t)
	u := h.register(t, uniqueEmail("badtok"))
	tk := h.login(t, u, nil)

	other := newHarness(t) // same database, different signing key
	ou := other.register(t, uniqueEmail("other"))
	otk := other.login(t, ou, nil)

	cases := map[string]string{
		"access token as refresh":   tk.AccessToken,
		"signed by an unknown key":  otk.RefreshToken,
		"malformed":                 "not.a.jwt",
		"truncated":                 tk.RefreshToken[:len(tk.RefreshToken)-10],
		"signature bit flipped":     flipLastChar(tk.RefreshToken),
		"empty body token (spaces)": "   ",
	}
	for name, tok := range cases {
		t.Run(name, func(t *testing.T) {
			expectProblem(t, h.refresh(t, tok), http.StatusUnauthorized, "invalid_refresh_token")
		})
	}
	// The refresh token is not an access token either.
	expectProblem(t, h.do(t, req{method: "GET", path: "/api/v1/auth/me", bearer: tk.RefreshToken}), http.StatusUnauthorized, "invalid_token")
}

func flipLastChar(tok string) string {
	b := []byte(tok)
	if b[len(b)-2] == 'A' {
		b[len(b)-2] = 'B'
	} else {
		b[len(b)-2] = 'A'
	}
	return string(b)
}

func TestRefresh_RT01_ReplayAfterGrace_RevokesFamily_AndAudits(t *testing.T) {
	h := newHarness(t)
	u := h.register(t, uniqueEmail("reuse"))
	r0 := h.login(t, u, nil)
	r1 := h.mustRefresh(t, r0.RefreshToken)
	r2 := h.mustRefresh(t, r1.RefreshToken)
	r3 := h.mustRefresh(t, r2.RefreshToken)

	h.clock.Advance(h.cfg.Grace + time.Second)
	expectProblem(t, h.refresh(t, r0.RefreshToken), http.StatusUnauthorized, "refresh_token_reused")
	// The live token of the family is dead too, and so is its access token.
	expectProblem(t, h.refresh(t, r3.RefreshToken), http.StatusUnauthorized, "invalid_refresh_token")
	expectProblem(t, h.do(t, req{method: "GET", path: "/api/v1/auth/me", bearer: r3.AccessToken}), http.StatusUnauthorized, "invalid_token")

	revokedAt, reason := sessionRevocation(t, h, r0.SessionID)
	if revokedAt == nil || reason == nil || *reason != "refresh_token_reused" {
		t.Errorf("session not revoked for reuse: %v %v", revokedAt, reason)
	}
	// The session row is the whole family (migrations/00004): revoked above.
	if events := len(auditRows(t, h, u.AccountID, "auth.refresh_reuse_detected").about(r0.SessionID.String())); events != 1 {
		t.Errorf("reuse audit events = %d, want 1", events)
	}
}

func TestRefresh_RT02_GraceWindow(t *testing.T) {
	t.Run("parent inside the window converges on the current pair", func(t *testing.T) {
		h := newHarness(t)
		u := h.register(t, uniqueEmail("grace"))
		r0 := h.login(t, u, nil)
		r1 := h.mustRefresh(t, r0.RefreshToken)

		h.clock.Advance(h.cfg.Grace - time.Second)
		again := h.mustRefresh(t, r0.RefreshToken)
		if claims(t, again.RefreshToken)["jti"] != claims(t, r1.RefreshToken)["jti"] {
			t.Fatal("replay inside the window got a different refresh token than the current one")
		}
		if again.RefreshToken != r1.RefreshToken {
			t.Error("re-sent refresh token differs from the issued one")
		}
		if again.AccessToken == r1.AccessToken {
			t.Error("access token was not fresh")
		}
		// The family is kept: the current token still rotates.
		h.mustRefresh(t, r1.RefreshToken)
	})
	t.Run("grandparent inside the window is reuse", func(t *testing.T) {
		h := newHarness(t)
		u := h.register(t, uniqueEmail("grandparent"))
		r0 := h.login(t, u, nil)
		r1 := h.mustRefresh(t, r0.RefreshToken)
		r2 := h.mustRefresh(t, r1.RefreshToken)
		expectProblem(t, h.refresh(t, r0.RefreshToken), http.StatusUnauthorized, "refresh_token_reused")
		expectProblem(t, h.refresh(t, r2.RefreshToken), http.StatusUnauthorized, "invalid_refresh_token")
	})
	t.Run("parent at the end of the window is reuse", func(t *testing.T) {
		h := newHarness(t)
		u := h.register(t, uniqueEmail("late"))
		r0 := h.login(t, u, nil)
		r1 := h.mustRefresh(t, r0.RefreshToken)
		h.clock.Advance(h.cfg.Grace)
		expectProblem(t, h.refresh(t, r0.RefreshToken), http.StatusUnauthorized, "refresh_token_reused")
		expectProblem(t, h.refresh(t, r1.RefreshToken), http.StatusUnauthorized, "invalid_refresh_token")
	})
}

// concurrentRefresh fires n refreshes of one token at once.
func concurrentRefresh(t *testing.T, h *harness, rt string, n int) []response {
	t.Helper()
	out := make([]response, n)
	concurrently(n, func(i int) { out[i] = h.refresh(t, rt) })
	return out
}

// familyGeneration returns how many rotations the session's family had
// and whether its parent hash is set (one rotation leaves exactly the
// current and the previous token hash on the row).
func familyGeneration(t *testing.T, h *harness, sid uuid.UUID) (generation, tokens int) {
	t.Helper()
	s := h.db.Session(t, sid)
	tokens = 1
	if s.HasPrevious {
		tokens++
	}
	return int(s.Generation), tokens
}

func TestRefresh_RT03_TwentyConcurrent_OneRotation_AllConverge(t *testing.T) {
	h := newHarness(t)
	u := h.register(t, uniqueEmail("race"))
	r0 := h.login(t, u, nil)

	results := concurrentRefresh(t, h, r0.RefreshToken, 20)
	jtis := map[any]int{}
	for _, res := range results {
		expectStatus(t, res, http.StatusOK, "concurrent refresh")
		var tk tokens
		res.JSON(t, &tk)
		jtis[claims(t, tk.RefreshToken)["jti"]]++
	}
	if len(jtis) != 1 {
		t.Fatalf("%d distinct successors, want 1: %v", len(jtis), jtis)
	}
	if gen, n := familyGeneration(t, h, r0.SessionID); gen != 1 || n != 2 {
		t.Fatalf("generation=%d tokens=%d, want exactly one rotation (1, 2)", gen, n)
	}
}

func TestRefresh_RT03_TwentyConcurrent_NoGrace_OneWinsOthersRefused(t *testing.T) {
	h := newHarness(t, withGrace(0))
	u := h.register(t, uniqueEmail("race0"))
	r0 := h.login(t, u, nil)

	results := concurrentRefresh(t, h, r0.RefreshToken, 20)
	ok := 0
	for _, res := range results {
		switch res.Status {
		case http.StatusOK:
			ok++
		case http.StatusUnauthorized:
			if code := res.Problem(t).Code; code != "refresh_token_reused" && code != "invalid_refresh_token" {
				t.Errorf("refused with %q", code)
			}
		default:
			t.Fatalf("unexpected %d %s", res.Status, res.Body)
		}
	}
	if ok != 1 {
		t.Fatalf("%d refreshes succeeded, want exactly 1", ok)
	}
	if gen, n := familyGeneration(t, h, r0.SessionID); gen != 1 || n != 2 {
		t.Fatalf("generation=%d tokens=%d, want exactly one rotation", gen, n)
	}
}
