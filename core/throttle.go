package core

import (
	"context"
	"crypto/sha256"
	"errors"
	"math"
	"time"

	"github.com/google/uuid"
)

// ThrottleRule is the brute-force defence (docs/session-rules.md §8): after Threshold
// failed sign-ins (or failed current-password checks, or wrong passwords
// at email verification) on one email, each
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
// (LGN-05), unknown emails get one too, and no address is stored. It
// counts the sign-ins of every client without a device token for the email
// (and current-password failures): the "untrusted clients" counter of
// OWASP's device-cookie scheme.
func ThrottleKey(email string) []byte {
	return keyOf("sessiond/login-throttle/v1", NormalizeEmail(email))
}

// DeviceThrottleKey is the counter key of one device token (its ID): a
// sign-in presenting a valid device token for its email is judged on this
// counter instead of the email's (LGN-09).
func DeviceThrottleKey(deviceID string) []byte {
	return keyOf("sessiond/login-throttle/device/v1", deviceID)
}

// SessionThrottleKey is the counter key of one session's current-password
// checks (change-password): judged per session, so that guessing the
// password at sign-in never locks the owner's change-password (LGN-09).
func SessionThrottleKey(sessionID uuid.UUID) []byte {
	return keyOf("sessiond/login-throttle/session/v1", sessionID.String())
}

// ResetMailKey is the key of an address's password-reset mail rate
// (Config.ResetMail), known or not (LGN-11).
func ResetMailKey(email string) []byte { return keyOf("sessiond/reset-mail/v1", NormalizeEmail(email)) }

// VerifyMailKey is the counter of the verification-mail rate of an address
// (registration and its resend), under the same rule as the reset mail.
func VerifyMailKey(email string) []byte {
	return keyOf("sessiond/verify-mail/v1", NormalizeEmail(email))
}

// DeviceEmailDigest binds a device token to the email it was issued for.
func DeviceEmailDigest(email string) []byte {
	return keyOf("sessiond/device/v1", NormalizeEmail(email))
}

// keyOf is SHA-256 of a domain and a value: 32 bytes, as the counter's
// table wants (migrations/00005), and no address stored.
func keyOf(domain, value string) []byte {
	h := sha256.Sum256([]byte(domain + "\x00" + value))
	return h[:]
}

// delay is the lock a failure counted as the failures-th of its streak
// sets (as migrations/00005 computes it); 0 below the threshold.
func (r ThrottleRule) delay(failures int) time.Duration {
	if r.Threshold == 0 || failures < r.Threshold {
		return 0
	}
	d := r.BaseDelay << min(failures-r.Threshold, 30)
	if d > r.MaxDelay || d <= 0 {
		d = r.MaxDelay
	}
	return d
}

// counted reports whether the failure recorded at now is the one that led
// from before to after (rather than an attempt refused while locked, which
// changes nothing and reads back the earlier state): it was not locked
// before, and after is locked for the delay this failure sets, counted from
// now (within a millisecond, whatever rounding the database applies). Two
// concurrent requests within that millisecond could both read as counted
// (two mails); one at another instant cannot.
func (r ThrottleRule) counted(before, after ThrottleState, now time.Time) bool {
	if before.Locked(now) {
		return false
	}
	d := r.delay(after.Failures)
	off := after.LockedUntil.Sub(now.Add(d))
	return d > 0 && off > -time.Millisecond && off < time.Millisecond
}

// DefaultResetMailRule is the password-reset mail rate per address: the
// first request mails at once, each mail then holds the next one back for
// a minute, doubling per mail up to 15 min, forgotten after an hour
// without a mail. The longest hold is shorter than the reset token's
// lifetime, so the newest mail in the owner's inbox always holds a token
// that still works (LGN-11).
func DefaultResetMailRule() ThrottleRule {
	return ThrottleRule{Threshold: 1, BaseDelay: time.Minute, MaxDelay: 15 * time.Minute, Window: time.Hour}
}

// countOnly is the rule failures are recorded under when the brute-force
// lock is off (Threshold 0): counted, never locking, so that a known and
// an unknown email still cost the same (LGN-10).
var countOnly = ThrottleRule{Threshold: math.MaxInt32, BaseDelay: time.Second, MaxDelay: time.Second, Window: time.Hour}

// ThrottledError refuses an attempt while its email is throttled: 429
// rate_limited with Retry-After. Known and unknown emails get the same one.
type ThrottledError struct {
	RetryAfter time.Duration
	// Reason, when set, is the refusal's own message (still
	// CodeRateLimited); nil is the brute-force throttle's.
	Reason *Error
}

var errThrottled = &Error{Code: CodeRateLimited, Message: "too many failed attempts; retry later"}

func (e *ThrottledError) Error() string { return "throttled: " + e.RetryAfter.String() }

// Unwrap makes the refusal an *Error (CodeRateLimited) to errors.As.
func (e *ThrottledError) Unwrap() error {
	if e.Reason != nil {
		return e.Reason
	}
	return errThrottled
}

// throttleCheck refuses when the key is locked at now.
func (s *Service) throttleCheck(ctx context.Context, key []byte, now time.Time) (ThrottleState, error) {
	if s.cfg.Throttle.Threshold == 0 {
		return ThrottleState{}, nil
	}
	st, err := s.counter.ThrottleCheck(ctx, key, now)
	if err != nil {
		return st, err
	}
	if st.Locked(now) {
		return st, &ThrottledError{RetryAfter: st.LockedUntil.Sub(now)}
	}
	return st, nil
}

// recordFailure counts one failure on each key and writes its audit event
// (nil for an unknown email), in one round trip (Store.RecordFailure).
func (s *Service) recordFailure(ctx context.Context, keys [][]byte, audit *AuditEvent, now time.Time) error {
	rule := s.cfg.Throttle
	if rule.Threshold == 0 {
		rule = countOnly
	}
	states, err := s.counter.RecordFailure(ctx, FailureRecord{Keys: keys, Now: now, Rule: rule, Audit: audit})
	if err != nil {
		return err
	}
	if s.cfg.Throttle.Threshold > 0 && len(states) > 0 && states[0].Locked(now) {
		s.log.InfoContext(ctx, "sign-in throttled", "failures", states[0].Failures, "locked_until", states[0].LockedUntil)
	}
	return nil
}

// throttleSuccess forgets earlier failures after a success.
func (s *Service) throttleSuccess(ctx context.Context, key []byte, st ThrottleState) error {
	if s.cfg.Throttle.Threshold == 0 || st.Failures == 0 {
		return nil
	}
	return s.counter.ThrottleReset(ctx, key)
}
