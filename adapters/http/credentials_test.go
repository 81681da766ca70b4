package http_test

import (
	"bytes"
	"crypto/sha256"
	"net/http"
	"strings"
	"testing"
	"time"
)

func (h *harness) changePassword(t testing.TB, access, current, next string) response {
	t.Helper()
	return h.do(t, req{method: "POST", path: "/api/v1/auth/change-password", bearer: access,
		body: map[string]string{"current_password": current, "new_password": next}})
}

func (h *harness) requestReset(t testing.TB, email string) response {
	t.Helper()
	return h.do(t, req{method: "POST", path: "/api/v1/auth/password-reset/request", body: map[string]string{"email": email}})
}

func (h *harness) confirmReset(t testing.TB, token, next string) response {
	t.Helper()
	return h.do(t, req{method: "POST", path: "/api/v1/auth/password-reset/confirm",
		body: map[string]string{"token": token, "new_password": next}})
}

// resetToken asks for a reset of u and returns the token the mailer got.
func (h *harness) resetToken(t testing.TB, u registered) string {
	t.Helper()
	before := len(h.mailer.mails(u.Email))
	if before > 0 {
		// Past the longest mail interval since the last mail (LGN-11), so
		// that this request mails again.
		h.clock.Advance(h.cfg.ResetMail.MaxDelay)
	}
	expectStatus(t, h.requestReset(t, u.Email), http.StatusOK, "reset request")
	mails := h.mailer.mails(u.Email)
	if len(mails) != before+1 {
		t.Fatalf("%d reset mails to %s, want %d", len(mails), u.Email, before+1)
	}
	return mails[len(mails)-1].Token
}

func (h *harness) loginStatus(t testing.TB, email, password string) int {
	t.Helper()
	return h.do(t, req{method: "POST", path: "/api/v1/auth/login/json",
		body: map[string]string{"email": email, "password": password}}).Status
}

// REV-04: changing the password ends the other sessions, not this one.
func TestChangePassword_REV04_RevokesOtherSessionsKeepsCurrent(t *testing.T) {
	h := newHarness(t)
	u := h.register(t, uniqueEmail("chpw"))
	laptop, phone := twoDevices(t, h, u)
	const next = "a brand new passphrase"

	expectStatus(t, h.changePassword(t, laptop.AccessToken, u.Password, next), http.StatusNoContent, "change password")
	// The current session carries on…
	expectStatus(t, h.do(t, req{method: "GET", path: "/api/v1/auth/me", bearer: laptop.AccessToken}), http.StatusOK, "current session's access token refused")
	h.mustRefresh(t, laptop.RefreshToken)
	// …the other one is over.
	expectProblem(t, h.refresh(t, phone.RefreshToken), http.StatusUnauthorized, "invalid_refresh_token")
	expectProblem(t, h.do(t, req{method: "GET", path: "/api/v1/auth/me", bearer: phone.AccessToken}), http.StatusUnauthorized, "invalid_token")
	// The new password is the password.
	if s := h.loginStatus(t, u.Email, u.Password); s != http.StatusUnauthorized {
		t.Errorf("old password: %d", s)
	}
	if s := h.loginStatus(t, u.Email, next); s != http.StatusOK {
		t.Errorf("new password: %d", s)
	}
	if n := len(auditRows(t, h, u.AccountID, "auth.password_changed")); n != 1 {
		t.Errorf("auth.password_changed events = %d", n)
	}
	// LGN-03: the new hash is argon2id.
	if hash := h.db.User(t, u.UserID).PasswordHash; !strings.HasPrefix(hash, "$argon2id$v=19$") || strings.Contains(hash, next) {
		t.Errorf("stored hash %q", hash)
	}
}

func TestChangePassword_WrongCurrent_GenericInvalidCredentials_NothingChanges(t *testing.T) {
	h := newHarness(t)
	u := h.register(t, uniqueEmail("chpw-wrong"))
	laptop, phone := twoDevices(t, h, u)

	p := expectProblem(t, h.changePassword(t, laptop.AccessToken, "not my password", "a brand new passphrase"),
		http.StatusUnauthorized, "invalid_credentials")
	login := expectProblem(t, h.do(t, req{method: "POST", path: "/api/v1/auth/login/json",
		body: map[string]string{"email": u.Email, "password": "nope nope"}}), http.StatusUnauthorized, "invalid_credentials")
	if p.Detail != login.Detail {
		t.Errorf("detail %q differs from sign-in's generic %q", p.Detail, login.Detail)
	}
	h.mustRefresh(t, phone.RefreshToken)
	if s := h.loginStatus(t, u.Email, u.Password); s != http.StatusOK {
		t.Errorf("password changed by a refused request: login %d", s)
	}
}

func TestChangePassword_NewPasswordValidated_422(t *testing.T) {
	h := newHarness(t)
	u := h.register(t, uniqueEmail("chpw-422"))
	tk := h.login(t, u, nil)
	for _, bad := range []string{"short", strings.Repeat("x", 129)} {
		p := expectProblem(t, h.changePassword(t, tk.AccessToken, u.Password, bad), http.StatusUnprocessableEntity, "validation_failed")
		if len(p.Errors) == 0 || p.Errors[0].Field != "new_password" {
			t.Errorf("422 does not name new_password: %+v", p)
		}
	}
	expectProblem(t, h.do(t, req{method: "POST", path: "/api/v1/auth/change-password",
		body: map[string]string{"current_password": u.Password, "new_password": "a brand new passphrase"}}), http.StatusUnauthorized, "invalid_token")
}

// No enumeration: the same 200 body for a known, an unknown and an
// inactive address; only the known, active one gets mail.
func TestPasswordReset_RequestAnswersIdenticallyForUnknownAndKnownEmails(t *testing.T) {
	h := newHarness(t)
	known := h.register(t, uniqueEmail("reset-known"))
	inactive := h.register(t, uniqueEmail("reset-inactive"))
	deactivate(t, h, inactive.UserID)
	unknown := uniqueEmail("reset-nobody")

	responses := map[string]response{
		"known":              h.requestReset(t, known.Email),
		"known, other case":  h.requestReset(t, "  "+strings.ToUpper(known.Email)+" "),
		"unknown":            h.requestReset(t, unknown),
		"inactive":           h.requestReset(t, inactive.Email),
		"not even an e-mail": h.requestReset(t, "not an address"),
	}
	ref := responses["unknown"]
	expectStatus(t, ref, http.StatusOK, "unknown")
	for name, res := range responses {
		if res.Status != ref.Status || !bytes.Equal(res.Body, ref.Body) || res.Header.Get("Content-Type") != ref.Header.Get("Content-Type") {
			t.Errorf("%s: %d %s differs from unknown's %d %s", name, res.Status, res.Body, ref.Status, ref.Body)
		}
	}
	// The second request (another case, the same instant) is inside the
	// mail interval: answered alike, no second mail (LGN-11).
	if n := len(h.mailer.mails(known.Email)); n != 1 {
		t.Errorf("known address got %d mails, want 1", n)
	}
	if n := len(h.mailer.mails(inactive.Email)) + len(h.mailer.mails(unknown)); n != 0 {
		t.Errorf("%d mails to unknown or inactive addresses", n)
	}
	// A mail that cannot be handed over changes nothing in the answer.
	h.mailer.mu.Lock()
	h.mailer.fails = true
	h.mailer.mu.Unlock()
	h.clock.Advance(h.cfg.ResetMail.MaxDelay)
	if res := h.requestReset(t, known.Email); res.Status != ref.Status || !bytes.Equal(res.Body, ref.Body) {
		t.Errorf("mailer failure shows: %d %s", res.Status, res.Body)
	}
}

// The token is random, stored only as SHA-256 (SES-03), expires after the
// configured 30 minutes, and every mail carries a distinct one.
func TestPasswordReset_TokenRandomHashedAndExpiring(t *testing.T) {
	h := newHarness(t)
	u := h.register(t, uniqueEmail("reset-store"))
	a, b := h.resetToken(t, u), h.resetToken(t, u)
	if a == b || len(a) != 43 {
		t.Fatalf("tokens %q, %q: want distinct 256-bit base64url", a, b)
	}
	mail := h.mailer.mails(u.Email)[0]
	if !mail.ExpiresAt.Equal(t0.Add(30 * time.Minute)) {
		t.Errorf("expires_at = %v, want now + 30 min", mail.ExpiresAt)
	}
	stored := map[string]bool{}
	for _, r := range h.db.ResetTokens(t, u.UserID) {
		hash := r.Hash
		stored[string(hash)] = true
		if strings.Contains(string(hash), a) || strings.Contains(string(hash), b) {
			t.Error("raw token stored")
		}
	}
	for _, tok := range []string{a, b} {
		sum := sha256.Sum256([]byte(tok))
		if !stored[string(sum[:])] {
			t.Errorf("SHA-256 of a mailed token is not what is stored")
		}
	}
	if len(auditRows(t, h, u.AccountID, "auth.password_reset_requested")) != 2 {
		t.Error("reset requests not audited")
	}
}

// A reset token works once; confirming ends all of the user's sessions
// (REV-04) and is audited.
func TestPasswordReset_TokenWorksOnce_RevokesAllSessions(t *testing.T) {
	h := newHarness(t)
	u := h.register(t, uniqueEmail("reset-once"))
	laptop, phone := twoDevices(t, h, u)
	token := h.resetToken(t, u)
	const next = "recovered passphrase"

	h.clock.Advance(29 * time.Minute)
	expectStatus(t, h.confirmReset(t, token, next), http.StatusNoContent, "confirm")
	for _, tk := range []tokens{laptop, phone} {
		expectProblem(t, h.refresh(t, tk.RefreshToken), http.StatusUnauthorized, "invalid_refresh_token")
		expectProblem(t, h.do(t, req{method: "GET", path: "/api/v1/auth/me", bearer: tk.AccessToken}), http.StatusUnauthorized, "invalid_token")
	}
	if s := h.loginStatus(t, u.Email, next); s != http.StatusOK {
		t.Errorf("new password: login %d", s)
	}
	if s := h.loginStatus(t, u.Email, u.Password); s != http.StatusUnauthorized {
		t.Errorf("old password: login %d", s)
	}
	// Reused: a stable code, and the password stays the one just set.
	expectProblem(t, h.confirmReset(t, token, "another passphrase"), http.StatusBadRequest, "invalid_reset_token")
	if s := h.loginStatus(t, u.Email, next); s != http.StatusOK {
		t.Errorf("reused token changed the password: login %d", s)
	}
	if n := len(auditRows(t, h, u.AccountID, "auth.password_reset")); n != 1 {
		t.Errorf("auth.password_reset events = %d", n)
	}
}

func TestPasswordReset_ExpiredUnknownOrSupersededToken_400(t *testing.T) {
	h := newHarness(t)
	u := h.register(t, uniqueEmail("reset-bad"))
	expired := h.resetToken(t, u)
	h.clock.Advance(30 * time.Minute) // the expiry instant itself is too late
	expectProblem(t, h.confirmReset(t, expired, "recovered passphrase"), http.StatusBadRequest, "invalid_reset_token")
	expectProblem(t, h.confirmReset(t, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "recovered passphrase"), http.StatusBadRequest, "invalid_reset_token")
	expectProblem(t, h.confirmReset(t, "", "recovered passphrase"), http.StatusBadRequest, "invalid_reset_token")

	// A password change spends outstanding reset mails.
	pending := h.resetToken(t, u)
	tk := h.login(t, u, nil)
	expectStatus(t, h.changePassword(t, tk.AccessToken, u.Password, "changed in the meantime"), http.StatusNoContent, "change password")
	expectProblem(t, h.confirmReset(t, pending, "recovered passphrase"), http.StatusBadRequest, "invalid_reset_token")

	// Using one token spends the user's other tokens too.
	first, second := h.resetToken(t, u), h.resetToken(t, u)
	expectStatus(t, h.confirmReset(t, second, "recovered passphrase"), http.StatusNoContent, "confirm")
	expectProblem(t, h.confirmReset(t, first, "yet another passphrase"), http.StatusBadRequest, "invalid_reset_token")

	// Validation comes before the token is spent.
	third := h.resetToken(t, u)
	expectProblem(t, h.confirmReset(t, third, "short"), http.StatusUnprocessableEntity, "validation_failed")
	expectStatus(t, h.confirmReset(t, third, "long enough passphrase"), http.StatusNoContent, "token spent by a refused confirm")
}

// Single use under concurrency: the token row is locked, so exactly one of
// several simultaneous confirms wins.
func TestPasswordReset_ConcurrentConfirms_ExactlyOneWins(t *testing.T) {
	h := newHarness(t)
	u := h.register(t, uniqueEmail("reset-race"))
	token := h.resetToken(t, u)
	const n = 8
	statuses := make([]int, n)
	concurrently(n, func(i int) {
		statuses[i] = h.confirmReset(t, token, "racing passphrase "+string(rune('a'+i))).Status
	})
	won := 0
	for _, s := range statuses {
		switch s {
		case http.StatusNoContent:
			won++
		case http.StatusBadRequest:
		default:
			t.Errorf("unexpected status %d", s)
		}
	}
	if won != 1 {
		t.Fatalf("%d confirms succeeded, want exactly 1 (%v)", won, statuses)
	}
	if n := len(auditRows(t, h, u.AccountID, "auth.password_reset")); n != 1 {
		t.Errorf("auth.password_reset events = %d", n)
	}
}
