// Package core is the domain of the session service: session-policy
// resolution, the refresh decision, token claims, the services that drive
// them, the ports they need and the one error type they return. It imports
// no database, HTTP or JOSE package.
package core

import (
	"errors"
	"fmt"
)

// Code is a stable, machine-readable error code. Clients branch on it, so a
// code never changes meaning. adapters/http/errors.go is the one place codes
// become HTTP statuses, and holds the codes only the HTTP layer answers with
// (CSRF, malformed requests, the router's); these are the codes the core
// returns.
type Code string

const (
	CodeInvalidCredentials     Code = "invalid_credentials"
	CodeInvalidToken           Code = "invalid_token"
	CodeInvalidRefreshToken    Code = "invalid_refresh_token"
	CodeSessionExpiredIdle     Code = "session_expired_idle"
	CodeSessionExpiredAbsolute Code = "session_expired_absolute"
	CodeRefreshTokenReused     Code = "refresh_token_reused"
	CodeForbidden              Code = "forbidden"
	CodeNotFound               Code = "not_found"
	CodeEmailTaken             Code = "email_taken"
	CodeConflict               Code = "conflict"
	CodeValidation             Code = "validation_failed"
	CodePolicyOutOfBounds      Code = "policy_out_of_bounds"
	CodePolicyInvariant        Code = "policy_invariant_violated"
	CodeInvalidResetToken      Code = "invalid_reset_token"
	// CodeInvalidCursor: a list cursor that is not one of ours, or was
	// issued by another listing or under other filters (cursor.go).
	CodeInvalidCursor Code = "invalid_cursor"
	// CodeLastOwner: the change would leave the account without an active
	// owner (demoting, deactivating or removing the last one).
	CodeLastOwner Code = "last_owner"
	// CodeSessionLimitReached: a sign-in refused because the user already
	// holds the account's maximum of live sessions (action "deny").
	CodeSessionLimitReached Code = "session_limit_reached"
	// CodeRateLimited: the per-email brute-force throttle (throttle.go);
	// the HTTP layer's own rate limits answer with it too.
	CodeRateLimited Code = "rate_limited"
	// CodeUnavailable: a dependency is down or overloaded (ErrUnavailable,
	// *Fault); retry later.
	CodeUnavailable Code = "service_unavailable"
	// CodeEmailNotVerified: a sign-in with the correct password of a
	// registration whose email is not verified yet (verification.go).
	CodeEmailNotVerified Code = "email_not_verified"
	// CodeInvalidVerificationToken: an email-verification token that is
	// unknown, used or expired.
	CodeInvalidVerificationToken Code = "invalid_verification_token"
	// CodeVerificationPasswordMismatch: a usable verification token given
	// with a password other than its registration's (the pre-hijacking
	// defence, docs/session-rules.md §9): the link belongs to a
	// registration somebody made with another password.
	CodeVerificationPasswordMismatch Code = "verification_password_mismatch"
	// Invitation acceptance (invitations.go): a token that is no
	// invitation's (or was replaced by a resend), one that was revoked,
	// has expired or was accepted already, and one whose email is a
	// verified account's already (emails are unique in the service).
	CodeInvalidInvitationToken Code = "invalid_invitation_token"
	CodeInvitationRevoked      Code = "invitation_revoked"
	CodeInvitationExpired      Code = "invitation_expired"
	CodeInvitationUsed         Code = "invitation_used"
	CodeInvitationEmailTaken   Code = "invitation_email_taken"
	// CodeMemberPasswordsDisabled: POST /accounts/me/members with a
	// password while the server setting MEMBER_PASSWORDS is off.
	CodeMemberPasswordsDisabled Code = "member_passwords_disabled"
	// Second factor and recent authentication (mfa.go).
	// CodeReauthRequired: the change needs a recent authentication
	// (POST /auth/reauthenticate).
	CodeReauthRequired Code = "reauthentication_required"
	// CodeMFAEnrollmentRequired: an enrol-only session asked for anything
	// but enrolling a second factor.
	CodeMFAEnrollmentRequired Code = "mfa_enrollment_required"
	// CodeInvalidMFACode: a wrong, reused or malformed TOTP or recovery
	// code.
	CodeInvalidMFACode Code = "invalid_mfa_code"
	// CodeInvalidMFAChallenge: a sign-in challenge that is unknown, used,
	// expired or spent by wrong answers.
	CodeInvalidMFAChallenge Code = "invalid_mfa_challenge"
	// CodeCannotRevokeCurrent: the current session named on the "revoke
	// another device" path (REV-03); logout ends it.
	CodeCannotRevokeCurrent Code = "cannot_revoke_current_session"
	CodeInternal            Code = "internal_error"
)

// Error is the domain error. Message is safe to show to the caller; Field
// names the offending input field where there is one.
type Error struct {
	Code    Code
	Message string
	Field   string
}

func (e *Error) Error() string {
	if e.Field != "" {
		return fmt.Sprintf("%s: %s (%s)", e.Code, e.Message, e.Field)
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Message)
}

// Errorf returns an *Error with a formatted message.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// FieldError returns a validation *Error naming the offending field.
func FieldError(code Code, field, format string, args ...any) *Error {
	return &Error{Code: code, Field: field, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of err if it is (or wraps) an *Error, and
// CodeInternal otherwise.
func ErrorCode(err error) Code {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return CodeInternal
}

// ErrNotFound is returned by ports when a row does not exist (or is not
// visible to the current tenant, which is the same thing by design).
var ErrNotFound = &Error{Code: CodeNotFound, Message: "not found"}

// ErrConflict is returned by ports on a unique-key violation.
var ErrConflict = &Error{Code: CodeConflict, Message: "conflict"}

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

// errInvalidCredentials is the one generic sign-in failure: unknown email,
// wrong password and inactive user answer identically.
var errInvalidCredentials = &Error{Code: CodeInvalidCredentials, Message: "invalid email or password"}
