package http_test

import (
	"log/slog"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	httpadapter "github.com/sessiond/sessiond/adapters/http"
	"github.com/sessiond/sessiond/adapters/ratelimit"
)

func TestRateLimit_LGN07_PerIP_429WithRetryAfter_ForgedXFFIgnored(t *testing.T) {
	var h *harness
	h = newHarness(t, withHTTPConfig(func(c *httpadapter.Config) {
		lim := ratelimit.New(ratelimit.Rule{Events: 3, Per: time.Minute, Burst: 3}, func() time.Time { return h.clock.Now() })
		c.Limits.ByIP = map[httpadapter.Operation]httpadapter.Limiter{"loginJson": lim, "refreshToken": lim}
	}))
	body := map[string]string{"email": uniqueEmail("nobody"), "password": "whatever pw"}
	for range 3 {
		expectProblem(t, h.do(t, req{method: "POST", path: "/api/v1/auth/login/json", body: body}), http.StatusUnauthorized, "invalid_credentials")
	}
	res := h.do(t, req{method: "POST", path: "/api/v1/auth/login/json", body: body})
	expectProblem(t, res, http.StatusTooManyRequests, "rate_limited")
	if ra, err := strconv.Atoi(res.Header.Get("Retry-After")); err != nil || ra < 1 || ra > 60 {
		t.Fatalf("Retry-After = %q", res.Header.Get("Retry-After"))
	}
	// A forged X-Forwarded-For from an untrusted peer changes nothing.
	forged := h.do(t, req{method: "POST", path: "/api/v1/auth/login/json", body: body, headers: map[string]string{"X-Forwarded-For": "203.0.113.9"}})
	expectProblem(t, forged, http.StatusTooManyRequests, "rate_limited")
	// Refresh shares the rule here, so it is limited too; after the window
	// the client may try again.
	expectProblem(t, h.refresh(t, "x"), http.StatusTooManyRequests, "rate_limited")
	h.clock.Advance(time.Minute)
	expectProblem(t, h.do(t, req{method: "POST", path: "/api/v1/auth/login/json", body: body}), http.StatusUnauthorized, "invalid_credentials")
}

// The per-account counter is the brute-force throttle in PostgreSQL (the
// default core.ThrottleRule), not an in-process bucket.
func TestRateLimit_LGN05_PerEmail_CaseVariantsAndRotatingIPsShareTheCounter(t *testing.T) {
	h := newHarness(t, withHTTPConfig(func(c *httpadapter.Config) {
		c.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")} // the test client is the proxy
	}))
	u := h.register(t, uniqueEmail("victim"))
	limited := 0
	for i := range 101 {
		email := u.Email
		if i%2 == 1 {
			email = strings.ToUpper(email)
		}
		res := h.do(t, req{method: "POST", path: "/api/v1/auth/login/json",
			headers: map[string]string{"X-Forwarded-For": "198.51.100." + strconv.Itoa(i%250+1)},
			body:    map[string]string{"email": email, "password": "wrong password " + strconv.Itoa(i)}})
		if res.Status == http.StatusTooManyRequests {
			limited++
		}
	}
	if limited < 90 {
		t.Fatalf("only %d of 101 failed logins were throttled; want the account throttled long before 100 failures", limited)
	}
}

// Per-IP buckets key IPv6 clients by their /64 (docs/session-rules.md §8): two addresses of
// one /64 share a bucket, another /64 has its own.
func TestRateLimit_IPv6_AddressesOfOneSlash64ShareABucket(t *testing.T) {
	var h *harness
	h = newHarness(t, withHTTPConfig(func(c *httpadapter.Config) {
		c.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")} // the test client is the proxy
		c.Limits.ByIP = map[httpadapter.Operation]httpadapter.Limiter{
			"registerUser": ratelimit.New(ratelimit.Rule{Events: 2, Per: time.Hour, Burst: 2}, func() time.Time { return h.clock.Now() }),
		}
	}))
	register := func(xff string) response {
		return h.do(t, req{method: "POST", path: "/api/v1/auth/register", headers: map[string]string{"X-Forwarded-For": xff},
			body: map[string]string{"email": uniqueEmail("v6"), "password": "correct horse battery", "name": "V6", "account_name": "V6 Inc"}})
	}
	for _, ip := range []string{"2001:db8:1:2::1", "2001:db8:1:2:ffff:ffff:ffff:fffe"} {
		if res := register(ip); res.Status != http.StatusCreated {
			t.Fatalf("register from %s: %d %s", ip, res.Status, res.Body)
		}
	}
	res := register("2001:db8:1:2:abcd::77")
	expectProblem(t, res, http.StatusTooManyRequests, "rate_limited")
	expectStatus(t, register("2001:db8:1:3::1"), http.StatusCreated, "another /64 shares the bucket")
	// IPv4 stays per address.
	for _, ip := range []string{"198.51.100.1", "198.51.100.2"} {
		if res := register(ip); res.Status != http.StatusCreated {
			t.Fatalf("register from %s: %d %s", ip, res.Status, res.Body)
		}
	}
}

// A rate-limit rule nothing would apply is a start-up error, not a limit
// silently off: a per-IP rule keyed by an operationId the contract does not
// have (a typo, a renamed operation). Rules for real operations start.
func TestNewServer_RateLimitRuleUnknownToTheContract_IsAStartUpError(t *testing.T) {
	lim := ratelimit.New(ratelimit.Rule{Events: 1, Per: time.Minute, Burst: 1}, time.Now)
	start := func(l httpadapter.RateLimits) error {
		_, err := httpadapter.NewServer(nil, func() any { return nil }, nil, httpadapter.Config{Limits: l}, slog.New(slog.DiscardHandler))
		return err
	}
	known := httpadapter.RateLimits{
		ByIP: map[httpadapter.Operation]httpadapter.Limiter{"loginJson": lim, "loginForm": lim, "refreshToken": lim, "registerUser": lim},
	}
	if err := start(known); err != nil {
		t.Fatalf("known rules refused: %v", err)
	}
	for name, l := range map[string]httpadapter.RateLimits{
		"per-IP rule for a misspelt operation": {ByIP: map[httpadapter.Operation]httpadapter.Limiter{"loginJSON": lim}},
	} {
		if err := start(l); err == nil || !strings.Contains(err.Error(), "rate limit") {
			t.Errorf("%s: NewServer error %v, want a rate-limit start-up error", name, err)
		}
	}
}
