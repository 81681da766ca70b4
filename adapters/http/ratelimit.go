package http

import (
	"context"
	"errors"
	"net/http"
	"net/netip"
	"time"

	"github.com/sessiond/sessiond/core"
)

// Limiter is one rate-limit rule applied per key (adapters/ratelimit).
type Limiter interface {
	// Allow takes one event for key; when refused it says how long to wait.
	Allow(key string) (bool, time.Duration)
}

// RateLimits are the abuse defences (SPEC §8). The zero value disables
// them (RATE_LIMIT_ENABLED=false, load tests, black-box suites).
type RateLimits struct {
	// ByIP maps an operationId to its per-client-IP limiter. The client IP
	// honours X-Forwarded-For only from trusted proxies (LGN-07).
	ByIP map[string]Limiter
	// ByEmail maps a rule name ("password_reset") to its per-email
	// limiter; the key is the normalised email, so case variants share one
	// counter. Sign-in has none: its per-email defence is the brute-force
	// throttle in PostgreSQL, which counts only failures (core.ThrottleRule).
	ByEmail map[string]Limiter
}

// limitedError is a refusal with the time to wait (the Retry-After header)
// and the rule that refused (the metric's label).
type limitedError struct {
	wait time.Duration
	rule string
}

func (e *limitedError) Error() string { return "rate limited" }

func (e *limitedError) domain() *core.Error {
	return &core.Error{Code: core.CodeRateLimited, Message: "too many requests; retry later"}
}

// limitIP applies the operation's per-IP rule.
func (s *Server) limitIP(opID string, c core.Client) error {
	l := s.cfg.Limits.ByIP[opID]
	if l == nil {
		return nil
	}
	if ok, wait := l.Allow(ipKey(c.IP)); !ok {
		return &limitedError{wait: wait, rule: "ip:" + opID}
	}
	return nil
}

// ipKey is the per-IP bucket of an address: the address itself for IPv4,
// its /64 for IPv6, since one subscriber (one host, often) gets a whole /64
// and would otherwise have 2^64 buckets to spread over.
func ipKey(a netip.Addr) string {
	if !a.IsValid() {
		return "unknown"
	}
	a = a.Unmap()
	if a.Is4() {
		return a.String()
	}
	p, err := a.Prefix(64)
	if err != nil {
		return a.String()
	}
	return p.String()
}

// limitEmail applies the operation's per-email rule.
func (s *Server) limitEmail(ctx context.Context, opID, email string) error {
	l := s.cfg.Limits.ByEmail[opID]
	if l == nil {
		return nil
	}
	if ok, wait := l.Allow(core.NormalizeEmail(email)); !ok {
		s.log.InfoContext(ctx, "rate limited", "operation", opID, "rule", "per_email")
		return &limitedError{wait: wait, rule: "email:" + opID}
	}
	return nil
}

// asLimited reports a rate-limit refusal — an in-process bucket, or the
// shared per-email brute-force throttle (*core.ThrottledError) — and how
// long the caller must wait (writeError's Retry-After).
func asLimited(w http.ResponseWriter, err error) (*core.Error, time.Duration, bool) {
	var (
		wait time.Duration
		rule string
		e    *core.Error
	)
	var le *limitedError
	var te *core.ThrottledError
	switch {
	case errors.As(err, &le):
		wait, rule, e = le.wait, le.rule, le.domain()
	case errors.As(err, &te):
		wait, rule = te.RetryAfter, "account"
		_ = errors.As(err, &e)
	default:
		return nil, 0, false
	}
	if rec, ok := w.(*statusRecorder); ok {
		rec.limitRule = rule
	}
	return e, wait, true
}
