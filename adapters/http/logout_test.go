package http_test

import (
	"net/http"
	"testing"
)

// REV-06: a logout whose body carries a refresh token that is not the
// caller's — another user's, another tenant's, or one that does not verify
// — still ends the caller's own session (204), as the cookie path does
// with a foreign cookie: signing out must never leave the caller signed in
// because of a token mix-up (a silent no-op). The foreign token's session
// is not touched (it is not the caller's to end), and the caller's audit
// row says so (details.foreign_refresh_ignored). The caller's own other session given
// this way ends too, as before.
func TestLogout_REV06_RefreshTokenNotTheCallers_CallerSessionStillEnds(t *testing.T) {
	h := newHarness(t)
	u := h.register(t, uniqueEmail("rev06"))
	sameTenant := h.memberOf(t, u)
	otherTenant := h.register(t, uniqueEmail("rev06-other"))
	for _, c := range []struct {
		name    string
		foreign func() (token string, alive func())
	}{
		{"another tenant's user", func() (string, func()) {
			tk := h.login(t, otherTenant, nil)
			return tk.RefreshToken, func() { h.mustRefresh(t, tk.RefreshToken) }
		}},
		{"another user of the same tenant", func() (string, func()) {
			tk := h.login(t, sameTenant, nil)
			return tk.RefreshToken, func() { h.mustRefresh(t, tk.RefreshToken) }
		}},
		{"a token that does not verify", func() (string, func()) { return "not-a-refresh-token", func() {} }},
	} {
		t.Run(c.name, func(t *testing.T) {
			mine := h.login(t, u, nil)
			token, alive := c.foreign()
			h.mustDo(t, req{method: "POST", path: "/api/v1/auth/logout", bearer: mine.AccessToken,
				body: map[string]string{"refresh_token": token}}, http.StatusNoContent)
			// The caller is signed out: access and refresh token refused.
			expectProblem(t, h.do(t, req{method: "GET", path: "/api/v1/auth/me", bearer: mine.AccessToken}), http.StatusUnauthorized, "invalid_token")
			expectProblem(t, h.refresh(t, mine.RefreshToken), http.StatusUnauthorized, "invalid_refresh_token")
			// The other session lives on.
			alive()
			rows := auditRows(t, h, u.AccountID, "auth.logout").about(mine.SessionID.String())
			if len(rows) != 1 || rows[0].Details["foreign_refresh_ignored"] != true {
				t.Fatalf("auth.logout rows for the caller's session: %+v", rows)
			}
		})
	}

	t.Run("the caller's own other session", func(t *testing.T) {
		a := h.login(t, u, nil)
		b := h.login(t, u, nil)
		h.mustDo(t, req{method: "POST", path: "/api/v1/auth/logout", bearer: a.AccessToken,
			body: map[string]string{"refresh_token": b.RefreshToken}}, http.StatusNoContent)
		expectProblem(t, h.refresh(t, a.RefreshToken), http.StatusUnauthorized, "invalid_refresh_token")
		expectProblem(t, h.refresh(t, b.RefreshToken), http.StatusUnauthorized, "invalid_refresh_token")
	})
}
