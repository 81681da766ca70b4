package http_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
)

// sessionRowDeadlines reads a session's stored deadlines (admin connection:
// assertions only).
func sessionRowDeadlines(t testing.TB, h *harness, id uuid.UUID) (idle, abs time.Time) {
	t.Helper()
	s := h.db.Session(t, id)
	return s.IdleExpiresAt, s.AbsoluteExpiresAt
}

// TMO-04: the deadlines are shown as they are enforced. A session can never
// be used past absolute_expires_at, so no answer (sign-in, refresh, the
// session lists) and no row says idle_expires_at is later than it: near the
// end of its life the idle deadline is the absolute one. Checked with an
// idle window as long as the absolute one, a sign-in off a whole second
// (auth_time is whole seconds), and refreshes close to the cap.
func TestDeadlines_TMO04_IdleNeverAfterAbsolute_InAnswersAndRows(t *testing.T) {
	h := newHarness(t)
	owner := h.register(t, uniqueEmail("tmo04"))
	for _, policy := range []policyMinutes{{Idle: 60, Abs: 60}, {Idle: 50, Abs: 90}} {
		t.Run(time.Duration(policy.Idle*int(time.Minute)).String()+"/"+time.Duration(policy.Abs*int(time.Minute)).String(), func(t *testing.T) {
			otk := h.login(t, owner, nil)
			expectStatus(t, h.patchSecurity(t, otk.AccessToken, map[string]int{"idle_minutes": policy.Idle, "absolute_minutes": policy.Abs}), http.StatusOK, "patch policy")
			h.clock.Advance(500 * time.Millisecond) // off the whole second
			check := func(what string, tk tokens) {
				t.Helper()
				if tk.IdleExpiresAt.After(tk.AbsoluteExpiresAt) {
					t.Errorf("%s: idle_expires_at %s after absolute_expires_at %s", what, tk.IdleExpiresAt, tk.AbsoluteExpiresAt)
				}
				idle, abs := sessionRowDeadlines(t, h, tk.SessionID)
				if idle.After(abs) {
					t.Errorf("%s: the row's idle_expires_at %s is after its absolute_expires_at %s", what, idle, abs)
				}
				for _, s := range h.listSessions(t, tk.AccessToken) {
					if s.IdleExpiresAt.After(s.AbsoluteExpiresAt) {
						t.Errorf("%s: GET /sessions shows idle %s after absolute %s", what, s.IdleExpiresAt, s.AbsoluteExpiresAt)
					}
				}
			}
			tk := h.login(t, owner, nil)
			check("sign-in", tk)
			step := time.Duration(policy.Idle-5) * time.Minute
			for i := 0; ; i++ {
				h.clock.Advance(step)
				res := h.refresh(t, tk.RefreshToken)
				if res.Status != http.StatusOK {
					expectProblem(t, res, http.StatusUnauthorized, "session_expired_absolute")
					if i == 0 && policy.Idle != policy.Abs {
						t.Fatal("no refresh succeeded")
					}
					break
				}
				res.JSON(t, &tk)
				check("refresh "+string(rune('1'+i)), tk)
			}
		})
	}
}

// TMO-01: two tenants with different idle windows, side by side on one
// clock. Tenant A (idle 15 min): a refresh at +14 min succeeds and slides
// the window; 16 min after that last activity the refresh is refused as
// session_expired_idle. Tenant B (idle 60 min) is unaffected at the same
// instants. Client-side tampering (an edited exp in the refresh token, a
// cookie kept past its Max-Age) changes nothing: the server judges.
func TestTimeouts_TMO01_TwoTenantsDifferentIdleWindows_SideBySide(t *testing.T) {
	h := newHarness(t)
	a, atk := h.owner(t, "tmo01-a")
	b, btk := h.owner(t, "tmo01-b")
	for _, p := range []struct {
		at   string
		idle int
	}{{atk.AccessToken, 15}, {btk.AccessToken, 60}} {
		expectStatus(t, h.patchSecurity(t, p.at, map[string]int{"idle_minutes": p.idle}), http.StatusOK, "patch")
	}
	ta := h.login(t, a, nil)
	tb := h.login(t, b, nil)
	if got := ta.IdleExpiresAt.Sub(h.clock.Now()); got != 15*time.Minute {
		t.Fatalf("tenant A's idle window %s, want 15m", got)
	}
	if got := tb.IdleExpiresAt.Sub(h.clock.Now()); got != 60*time.Minute {
		t.Fatalf("tenant B's idle window %s, want 60m", got)
	}

	// +14 min: both refresh; A's window slides.
	h.clock.Advance(14 * time.Minute)
	ta = h.mustRefresh(t, ta.RefreshToken)
	tb = h.mustRefresh(t, tb.RefreshToken)
	if got := ta.IdleExpiresAt.Sub(h.clock.Now()); got != 15*time.Minute {
		t.Fatalf("A's window after the refresh: %s, want 15m from now", got)
	}

	// A refresh token whose exp was edited by the client: refused (the
	// signature no longer holds), and A's real token still works later.
	forged := partsOf(t, ta.RefreshToken).clone()
	forged.claims["exp"] = float64(h.clock.Now().Add(365 * 24 * time.Hour).Unix())
	tampered := forged.signingInput(t) + "." + strings.Split(ta.RefreshToken, ".")[2]
	expectProblem(t, h.refresh(t, tampered), http.StatusUnauthorized, "invalid_refresh_token")

	// +16 min after A's last activity: A has expired, B has not.
	h.clock.Advance(16 * time.Minute)
	expectProblem(t, h.refresh(t, ta.RefreshToken), http.StatusUnauthorized, "session_expired_idle")
	tb = h.mustRefresh(t, tb.RefreshToken)
	// A's access token died with the session as far as liveness goes.
	expectProblem(t, h.do(t, req{method: "GET", path: "/api/v1/sessions", bearer: ta.AccessToken}), http.StatusUnauthorized, "invalid_token")

	// B keeps going on its own window: +59 min after its last refresh is
	// fine, +61 is not.
	h.clock.Advance(59 * time.Minute)
	tb = h.mustRefresh(t, tb.RefreshToken)
	h.clock.Advance(61 * time.Minute)
	expectProblem(t, h.refresh(t, tb.RefreshToken), http.StatusUnauthorized, "session_expired_idle")
}
