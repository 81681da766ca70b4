package core

import (
	"context"
	"crypto/sha256"
	"errors"
	"time"
)

// ErrUnavailable is the answer when a dependency the request needs (the
// database) is unreachable or too slow: the caller may retry later
// (503 service_unavailable with Retry-After). Nothing was written partially:
// a tenant transaction that fails this way rolled back.
var ErrUnavailable = &Error{Code: CodeUnavailable, Message: "the service is temporarily unavailable; retry later"}

// Fault is a dependency failure classified by its adapter (the database
// unreachable, a statement or pool-acquire timeout, a serialization failure
// that survived its retry). It is ErrUnavailable to errors.Is and errors.As
// (*Error), and keeps the driver's error for the logs. Kind is a short,
// stable label ("connect", "statement_timeout", ...) for metrics.
type Fault struct {
	Kind string
	Err  error
}

func (f *Fault) Error() string { return "unavailable (" + f.Kind + "): " + f.Err.Error() }

// Unwrap lists ErrUnavailable first, so errors.As(err, **Error) finds the
// domain error, and the driver's error second, for the logs.
func (f *Fault) Unwrap() []error { return []error{ErrUnavailable, f.Err} }

// ThrottleRule is the brute-force defence (SPEC §8): after Threshold
// failed sign-ins (or failed current-password checks) on one email, each
// further failure locks sign-in for that email for BaseDelay, doubling per
// failure up to MaxDelay. Failures are forgotten once Window passes with
// none. Threshold 0 turns the defence off.
type ThrottleRule struct {
	Threshold int
	BaseDelay time.Duration
	MaxDelay  time.Duration
	Window    time.Duration
}

// DefaultThrottleRule is 10 failures, then 30 s doubling to 15 min,
// forgotten after an hour without failures.
func DefaultThrottleRule() ThrottleRule {
	return ThrottleRule{Threshold: 10, BaseDelay: 30 * time.Second, MaxDelay: 15 * time.Minute, Window: time.Hour}
}

// Validate checks the rule's bounds.
func (r ThrottleRule) Validate() error {
	if r.Threshold < 0 {
		return errors.New("throttle threshold must not be negative")
	}
	if r.Threshold == 0 {
		return nil
	}
	if r.BaseDelay < time.Second || r.MaxDelay < r.BaseDelay || r.Window < time.Second {
		return errors.New("throttle delays must be at least 1s, max ≥ base, and the window at least 1s")
	}
	return nil
}

// ThrottleState is what the counter knows about one key.
type ThrottleState struct {
	Failures int
	// LockedUntil is when sign-in is allowed again; zero when not locked.
	LockedUntil time.Time
}

// Locked reports whether attempts are refused at now.
func (t ThrottleState) Locked(now time.Time) bool { return now.Before(t.LockedUntil) }

// LoginThrottle is the brute-force counter port, shared by every instance
// (PostgreSQL in production). Keys are ThrottleKey digests, never emails.
type LoginThrottle interface {
	// ThrottleCheck reads the key's state; the zero state when unknown.
	ThrottleCheck(ctx context.Context, key []byte, now time.Time) (ThrottleState, error)
	// ThrottleFailure records one failure atomically and returns the new
	// state. A failure while locked at now is neither counted nor extends
	// the lock.
	ThrottleFailure(ctx context.Context, key []byte, now time.Time, rule ThrottleRule) (ThrottleState, error)
	// ThrottleReset forgets the key (a successful sign-in or check).
	ThrottleReset(ctx context.Context, key []byte) error
}

// ThrottleKey is the counter key for an email: SHA-256 of the normalised
// address with a domain prefix, so every case variant shares one counter
// (LGN-05), unknown emails get one too, and no address is stored.
func ThrottleKey(email string) []byte {
	h := sha256.Sum256([]byte("sessiond/login-throttle/v1\x00" + NormalizeEmail(email)))
	return h[:]
}

// ThrottledError refuses an attempt while its email is throttled: 429
// rate_limited with Retry-After. Known and unknown emails get the same one.
type ThrottledError struct{ RetryAfter time.Duration }

var errThrottled = &Error{Code: CodeRateLimited, Message: "too many failed attempts; retry later"}

func (e *ThrottledError) Error() string { return "throttled: " + e.RetryAfter.String() }

// Unwrap makes the refusal an *Error (CodeRateLimited) to errors.As.
func (e *ThrottledError) Unwrap() error { return errThrottled }

// throttleCheck refuses when the key is locked at now.
func (s *Service) throttleCheck(ctx context.Context, key []byte, now time.Time) (ThrottleState, error) {
	if s.cfg.Throttle.Threshold == 0 {
		return ThrottleState{}, nil
	}
	st, err := s.store.ThrottleCheck(ctx, key, now)
	if err != nil {
		return st, err
	}
	if st.Locked(now) {
		return st, &ThrottledError{RetryAfter: st.LockedUntil.Sub(now)}
	}
	return st, nil
}

// throttleFailure counts one failure for key.
func (s *Service) throttleFailure(ctx context.Context, key []byte, now time.Time) error {
	if s.cfg.Throttle.Threshold == 0 {
		return nil
	}
	st, err := s.store.ThrottleFailure(ctx, key, now, s.cfg.Throttle)
	if err == nil && st.Locked(now) {
		s.log.InfoContext(ctx, "sign-in throttled", "failures", st.Failures, "locked_until", st.LockedUntil)
	}
	return err
}

// throttleSuccess forgets earlier failures after a success.
func (s *Service) throttleSuccess(ctx context.Context, key []byte, st ThrottleState) error {
	if s.cfg.Throttle.Threshold == 0 || st.Failures == 0 {
		return nil
	}
	return s.store.ThrottleReset(ctx, key)
}
