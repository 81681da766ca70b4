package http

import (
	"errors"
	"fmt"
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

// Operation is an operationId of openapi.yaml: the key of a per-IP rule.
// NewServer refuses a rule for an operation the contract does not have, so
// a typo cannot silently turn a limit off.
type Operation string

// RateLimits are the abuse defences (docs/session-rules.md §8). The zero value disables
// them (RATE_LIMIT_ENABLED=false, load tests, black-box suites).
type RateLimits struct {
	// ByIP maps an operation to its per-client-IP limiter. The client IP
	// honours X-Forwarded-For only from trusted proxies (LGN-07). There is
	// no per-email rule: refusing an email locks its owner out (LGN-09,
	// LGN-11). Sign-in's per-account defence is the brute-force throttle
	// in PostgreSQL, which counts only failures and spares the owner's
	// known devices; the reset request's is the mail rate
	// (core.Config.ResetMail), which answers alike and mails at most once
	// per interval.
	ByIP map[Operation]Limiter
}

// check refuses a rule that nothing would apply: a per-IP rule for an
// operation the contract does not have.
func (l RateLimits) check(c *contract) error {
	for op := range l.ByIP {
		if !c.operations[string(op)] {
			return fmt.Errorf("rate limit: per-IP rule for %q, which is no operationId of openapi.yaml", op)
		}
	}
	return nil
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
	l := s.cfg.Limits.ByIP[Operation(opID)]
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

// asLimited reports a rate-limit refusal — an in-process bucket, or the
// shared per-email brute-force throttle (*core.ThrottledError) — and how
// long the caller must wait (writeError's Retry-After).
func asLimited(r *http.Request, err error) (*core.Error, time.Duration, bool) {
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
	if st := stateFrom(r.Context()); st != nil {
		st.limitRule = rule
	}
	return e, wait, true
}
