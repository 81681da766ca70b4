package http_test

import (
	"net/http"
	"testing"
)

// RT-05: a refresh racing a logout on the same session. Whichever commits
// first, once both have, the session is revoked and no refresh token of it
// works — in particular not a successor the refresh may have issued.
func TestRefresh_RT05_RacingLogout_SessionEndsWithNoLiveToken(t *testing.T) {
	h := newHarness(t)
	u := h.register(t, uniqueEmail("rt05"))
	for i := range 100 {
		tk := h.login(t, u, nil)
		var refreshed response
		concurrently(2, func(j int) {
			if j == 0 {
				refreshed = h.refresh(t, tk.RefreshToken)
				return
			}
			if res := h.do(t, req{method: "POST", path: "/api/v1/auth/logout", bearer: tk.AccessToken}); res.Status != http.StatusNoContent {
				t.Errorf("iteration %d: logout %d %s", i, res.Status, res.Body)
			}
		})

		if h.db.Session(t, tk.SessionID).RevokedAt == nil {
			t.Fatalf("iteration %d: session survived the logout", i)
		}
		switch refreshed.Status {
		case http.StatusOK:
			var next tokens
			refreshed.JSON(t, &next)
			expectProblem(t, h.refresh(t, next.RefreshToken), http.StatusUnauthorized, "invalid_refresh_token")
		case http.StatusUnauthorized:
			if code := refreshed.Problem(t).Code; code != "invalid_refresh_token" {
				t.Fatalf("iteration %d: refresh refused with %q", i, code)
			}
		default:
			t.Fatalf("iteration %d: refresh %d %s", i, refreshed.Status, refreshed.Body)
		}
		expectProblem(t, h.refresh(t, tk.RefreshToken), http.StatusUnauthorized, "invalid_refresh_token")
	}
}
