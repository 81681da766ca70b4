package http_test

import (
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	httpadapter "github.com/sessiond/sessiond/adapters/http"
	"github.com/sessiond/sessiond/cmd/sessiond/assemble"
	"github.com/sessiond/sessiond/core"
)

// productionHarness is the server as cmd/sessiond wires it by default —
// Secure cookies, the production rate-limit rules (assemble.RateLimits
// with the RATE_LIMIT_* defaults, on the harness's clock) — behind a
// trusted local proxy, so that a test can speak from several client
// addresses with X-Forwarded-For.
func productionHarness(t *testing.T) *harness {
	t.Helper()
	var h *harness
	now := func() time.Time { return h.clock.Now() }
	h = newHarness(t, withCookieSecure(true), withHTTPConfig(func(c *httpadapter.Config) {
		c.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}
		c.Limits = assemble.RateLimits(assemble.RateLimitSettings{
			LoginPerIPPerMinute: 30, RefreshPerIPPerMinute: 120, RegisterPerIPPerHour: 20, ResetPerIPPerHour: 20,
		}, now)
	}))
	return h
}

func from(ip string) map[string]string { return map[string]string{"X-Forwarded-For": ip} }

// signInFrom signs in from a client address, presenting cookies (the
// client's cookie jar: whatever earlier answers set for the path).
func (h *harness) signInFrom(t testing.TB, ip, email, password string, jar []*http.Cookie) response {
	t.Helper()
	return h.do(t, req{method: "POST", path: "/api/v1/auth/login/json", headers: from(ip), cookies: jar,
		body: map[string]string{"email": email, "password": password}})
}

// jarOf is the cookies a sign-in answer set, as a browser keeps them.
func jarOf(res response) []*http.Cookie {
	var jar []*http.Cookie
	for _, c := range (&http.Response{Header: res.Header}).Cookies() {
		if c.MaxAge >= 0 && c.Value != "" {
			jar = append(jar, c)
		}
	}
	return jar
}

// throttleSim is the brute-force rule (core.ThrottleRule, as
// migrations/00005 applies it) replayed on the attacker's schedule: how
// many of the attempts may reach the password check at most.
type throttleSim struct {
	rule        core.ThrottleRule
	failures    int
	last, until time.Time
}

func (s *throttleSim) attempt(now time.Time) (counted bool) {
	if now.Before(s.until) {
		return false
	}
	if !s.last.IsZero() && !s.last.Add(s.rule.Window).After(now) {
		s.failures = 0
	}
	s.failures++
	s.last = now
	if s.failures >= s.rule.Threshold {
		d := s.rule.BaseDelay << min(s.failures-s.rule.Threshold, 30)
		if d > s.rule.MaxDelay || d <= 0 {
			d = s.rule.MaxDelay
		}
		s.until = now.Add(d)
	}
	return true
}

// LGN-09: no lock-out of the rightful owner (OWASP's device cookie). An
// attacker from one address sends 1,000 wrong passwords for the owner's
// email, as fast as the per-IP limit lets them (the production limits, on
// the test clock). Throughout, the owner — from a device that signed in
// before, presenting the device cookie that sign-in set — signs in at
// once; the owner's change-password (checked per session) is not locked
// either. The attacker gets no more guesses than the email's counter
// allows (the same count a simulation of the rule gives), cannot borrow
// the budget of a device cookie issued for another email (their own), and
// is refused even with the right password while the email is locked. A
// new device of the owner is judged on the email's counter like anyone
// without the cookie: that is the price of the defence.
func TestLockout_LGN09_AttackerThousandGuesses_OwnerFromKnownDeviceSignsInAtOnce(t *testing.T) {
	h := productionHarness(t)
	owner := h.register(t, uniqueEmail("lgn09-owner"))
	attacker := h.register(t, uniqueEmail("lgn09-attacker"))
	const ownerIP, attackerIP = "198.51.100.20", "203.0.113.66"

	first := h.signInFrom(t, ownerIP, owner.Email, owner.Password, nil)
	expectStatus(t, first, http.StatusOK, "owner's first sign-in")
	device := jarOf(first)
	attackerDevice := jarOf(h.signInFrom(t, attackerIP, attacker.Email, attacker.Password, nil))

	sim := throttleSim{rule: h.cfg.Throttle}
	var checked, simulated, throttled int
	for i := range 1000 {
		h.clock.Advance(2 * time.Second) // the per-IP limit: 30 a minute
		email := owner.Email
		if i%2 == 1 {
			email = strings.ToUpper(email)
		}
		res := h.signInFrom(t, attackerIP, email, "guess "+strconv.Itoa(i), attackerDevice)
		switch {
		case res.Status == http.StatusUnauthorized:
			checked++
		case res.Status == http.StatusTooManyRequests:
			throttled++
		default:
			t.Fatalf("attempt %d: %d %s", i, res.Status, res.Body)
		}
		if sim.attempt(h.clock.Now()) {
			simulated++
		}
		if i%250 == 125 {
			// Mid-attack: the owner's known device signs in at once.
			res := h.signInFrom(t, ownerIP, owner.Email, owner.Password, device)
			if res.Status != http.StatusOK {
				t.Fatalf("attempt %d: the owner's known device was refused: %d %s", i, res.Status, res.Body)
			}
			device = jarOf(res)
		}
	}
	t.Logf("1000 attempts: %d reached the password check (the rule allows %d), %d throttled", checked, simulated, throttled)
	if checked > simulated || checked < h.cfg.Throttle.Threshold {
		t.Fatalf("%d guesses checked, the rule allows %d", checked, simulated)
	}
	if n := len(auditRows(t, h, owner.AccountID, "auth.login_failed")); n != checked {
		t.Errorf("%d auth.login_failed rows, want one per checked guess (%d)", n, checked)
	}

	// The email is locked now: the attacker's next guess, even the right
	// password, is refused, as is any client without the owner's device
	// cookie (a new device of the owner too).
	if !sim.until.After(h.clock.Now()) {
		t.Fatal("the simulation says the email is not locked after the attack: the schedule is off")
	}
	expectProblem(t, h.signInFrom(t, attackerIP, owner.Email, owner.Password, attackerDevice), http.StatusTooManyRequests, "rate_limited")
	expectProblem(t, h.signInFrom(t, "192.0.2.77", owner.Email, owner.Password, nil), http.StatusTooManyRequests, "rate_limited")
	// The owner's device: in at once.
	res := h.signInFrom(t, ownerIP, owner.Email, owner.Password, device)
	expectStatus(t, res, http.StatusOK, "after the attack the owner's known device was refused")
	var session tokens
	res.JSON(t, &session)
	// And the owner's change-password is not locked by the attack.
	if res := h.do(t, req{method: "POST", path: "/api/v1/auth/change-password", bearer: session.AccessToken, headers: from(ownerIP),
		body: map[string]string{"current_password": owner.Password, "new_password": "a brand new password"}}); res.Status != http.StatusNoContent {
		t.Fatalf("owner's change-password during the attack: %d %s", res.Status, res.Body)
	}
}

// LGN-09: a device cookie is judged on its own counter. Stolen and used to
// guess, it locks itself after the threshold like any key (even the right
// password is then refused through it); the email's counter is not
// charged, so other known devices of the owner are unaffected. A cookie
// presented for another email than it was issued for counts as none.
func TestLockout_LGN09_DeviceCookieHasItsOwnBudget(t *testing.T) {
	h := productionHarness(t)
	owner := h.register(t, uniqueEmail("lgn09-dev"))
	laptop := jarOf(h.mustDo(t, req{method: "POST", path: "/api/v1/auth/login/json", headers: from("198.51.100.1"),
		body: map[string]string{"email": owner.Email, "password": owner.Password}}, http.StatusOK))
	phone := jarOf(h.mustDo(t, req{method: "POST", path: "/api/v1/auth/login/json", headers: from("198.51.100.2"),
		body: map[string]string{"email": owner.Email, "password": owner.Password}}, http.StatusOK))
	if len(laptop) == 0 {
		t.Fatal("a successful sign-in set no device cookie")
	}
	for i := range h.cfg.Throttle.Threshold {
		h.clock.Advance(2 * time.Second)
		expectProblem(t, h.signInFrom(t, "203.0.113.5", owner.Email, "guess "+strconv.Itoa(i), laptop), http.StatusUnauthorized, "invalid_credentials")
	}
	expectProblem(t, h.signInFrom(t, "203.0.113.5", owner.Email, owner.Password, laptop), http.StatusTooManyRequests, "rate_limited")
	// The phone and an unknown client are judged on their own counters.
	expectStatus(t, h.signInFrom(t, "198.51.100.2", owner.Email, owner.Password, phone), http.StatusOK, "the phone")
	expectStatus(t, h.signInFrom(t, "192.0.2.1", owner.Email, owner.Password, nil), http.StatusOK, "a new device")
	// Another email's sign-in with the owner's cookie counts on that
	// email's counter: ten failures there lock it.
	other := h.register(t, uniqueEmail("lgn09-other"))
	for range h.cfg.Throttle.Threshold {
		h.clock.Advance(2 * time.Second)
		expectProblem(t, h.signInFrom(t, "203.0.113.5", other.Email, "wrong", phone), http.StatusUnauthorized, "invalid_credentials")
	}
	expectProblem(t, h.signInFrom(t, "192.0.2.9", other.Email, other.Password, nil), http.StatusTooManyRequests, "rate_limited")
}

// LGN-11: reset requests for an email are never refused per email; the
// mail goes out at a bounded rate instead. An attacker spends their per-IP
// budget on requests for the owner's address; the owner's own request is
// still answered (the same 200), the owner receives at most one mail per
// interval (starting at PASSWORD_RESET_MAIL_INTERVAL, doubling per mail),
// and the newest mail always holds a token that still works — the rate
// never leaves the owner without a usable link.
func TestLockout_LGN11_ResetMailAtABoundedRate_OwnerNeverRefused(t *testing.T) {
	h := productionHarness(t)
	owner := h.register(t, uniqueEmail("lgn11"))
	reset := func(ip string) response {
		return h.do(t, req{method: "POST", path: "/api/v1/auth/password-reset/request", headers: from(ip), body: map[string]string{"email": owner.Email}})
	}
	start := h.clock.Now()
	for i := range 20 { // the attacker's per-IP budget, one a minute
		if res := reset("203.0.113.80"); res.Status != http.StatusOK {
			t.Fatalf("attacker's request %d: %d %s", i, res.Status, res.Body)
		}
		h.clock.Advance(time.Minute)
	}
	res := reset("198.51.100.80")
	expectStatus(t, res, http.StatusOK, "the owner's own request was refused")
	mails := h.mailer.mails(owner.Email)
	elapsed := h.clock.Now().Sub(start)
	// One mail at once, then at least 1, 2, 4, … minutes apart: over 20
	// minutes at most 1 + 4 mails (0, 1, 3, 7, 15).
	if len(mails) < 2 || len(mails) > 5 {
		t.Fatalf("%d mails over %s of requests, want between 2 and 5", len(mails), elapsed)
	}
	newest := mails[len(mails)-1]
	if !newest.ExpiresAt.After(h.clock.Now()) {
		t.Fatalf("the newest mail's token expired at %s", newest.ExpiresAt)
	}
	h.mustDo(t, req{method: "POST", path: "/api/v1/auth/password-reset/confirm", headers: from("198.51.100.80"),
		body: map[string]string{"token": newest.Token, "new_password": "a fresh password 1"}}, http.StatusNoContent)
}
