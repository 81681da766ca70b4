package http

import (
	"context"
	"errors"
	"math"
	"net/http"
	"strconv"
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
	// ByEmail maps a rule name ("login" for both sign-in forms,
	// "password_reset") to its per-email limiter; the key is the normalised
	// email, so case variants share one counter (LGN-05).
	ByEmail map[string]Limiter
}

// limitedError is a refusal with the time to wait (the Retry-After header).
type limitedError struct{ wait time.Duration }

func (e *limitedError) Error() string { return "rate limited" }

func (e *limitedError) domain() *core.Error {
	return &core.Error{Code: core.CodeRateLimited, Message: "too many requests; retry later"}
}

func retryAfterSeconds(d time.Duration) string {
	return strconv.Itoa(int(math.Max(1, math.Ceil(d.Seconds()))))
}

// limitIP applies the operation's per-IP rule.
func (s *Server) limitIP(opID string, c core.Client) error {
	l := s.cfg.Limits.ByIP[opID]
	if l == nil {
		return nil
	}
	key := "unknown"
	if c.IP.IsValid() {
		key = c.IP.String()
	}
	if ok, wait := l.Allow(key); !ok {
		return &limitedError{wait: wait}
	}
	return nil
}

// limitEmail applies the operation's per-email rule.
func (s *Server) limitEmail(ctx context.Context, opID, email string) error {
	l := s.cfg.Limits.ByEmail[opID]
	if l == nil {
		return nil
	}
	if ok, wait := l.Allow(core.NormalizeEmail(email)); !ok {
		s.log.InfoContext(ctx, "rate limited", "operation", opID, "rule", "per_email")
		return &limitedError{wait: wait}
	}
	return nil
}

// asLimited reports a rate-limit refusal and sets Retry-After for it.
func asLimited(w http.ResponseWriter, err error) (*core.Error, bool) {
	var le *limitedError
	if !errors.As(err, &le) {
		return nil, false
	}
	w.Header().Set("Retry-After", retryAfterSeconds(le.wait))
	return le.domain(), true
}
