package core

import (
	"context"
	"errors"
	"time"

	"github.com/google/uuid"
)

// Clock is the source of "now" for every policy and expiry decision, so
// tests drive time instead of sleeping.
type Clock interface {
	Now() time.Time
}

// PasswordHasher hashes and verifies passwords (argon2id in production).
//
// Admission control (docs/architecture.md): a hasher may refuse to start a
// hash it cannot start within its bounded wait; each method then fails
// with a *Fault of kind FaultHashOverloaded (503 service_unavailable with
// Retry-After) having done no work. Callers hash before they write, and
// return that error as it is, so a shed request changes nothing.
type PasswordHasher interface {
	// Hash returns an encoded hash (PHC string) with a fresh random salt.
	Hash(password string) (string, error)
	// Verify reports whether password matches encoded, and whether encoded
	// was made with weaker parameters than the current ones (re-hash it).
	// A malformed encoded hash is an error.
	Verify(encoded, password string) (ok, rehash bool, err error)
	// VerifyDummy spends the same work as Verify against a fixed hash made
	// with the current parameters, so that an unknown email takes as long
	// as a wrong password — and is shed exactly when Verify would be.
	VerifyDummy(password string) error
}

// FaultHashOverloaded is the Fault kind of a hash refused by the hasher's
// admission control (PasswordHasher).
const FaultHashOverloaded = "hash_overloaded"

// TokenCodec signs and verifies tokens.
type TokenCodec interface {
	SignAccess(AccessClaims) (string, error)
	SignRefresh(RefreshClaims) (string, error)
	// VerifyAccess checks signature (pinned algorithm, known kid), type
	// at+jwt, issuer, audience and time claims at now. Failures are an
	// *Error with CodeInvalidToken.
	VerifyAccess(token string, now time.Time) (AccessClaims, error)
	// VerifyRefresh checks signature and the refresh type only: expiry is
	// the refresh decision's, which needs the session row too. Failures are
	// an *Error with CodeInvalidRefreshToken.
	VerifyRefresh(token string) (RefreshClaims, error)
	// SignDevice signs a device token (DeviceClaims).
	SignDevice(DeviceClaims) (string, error)
	// VerifyDevice checks a device token's signature, type, issuer and
	// expiry at now. Any failure is an error: the caller then judges the
	// sign-in as from an unknown device.
	VerifyDevice(token string, now time.Time) (DeviceClaims, error)
}

// Mailer delivers mail to users. Implementations must not log the token,
// and must not make the caller wait for the mail: the reset request
// answers before any mail work is done, so its timing cannot tell a known
// address from an unknown one (LGN-10). Production wraps every mailer in
// adapters/mailer.Queue, whose SendPasswordReset only queues, and which is
// a Deferrer too.
type Mailer interface {
	// SendPasswordReset hands a password-reset token for the address,
	// valid until expiresAt, over for delivery. An error means the mail was
	// not accepted; the caller logs it and tells the user nothing
	// different.
	SendPasswordReset(ctx context.Context, to, token string, expiresAt time.Time) error
	// SendEmailVerification hands an email-verification token for the
	// address, valid until expiresAt, over for delivery.
	SendEmailVerification(ctx context.Context, to, token string, expiresAt time.Time) error
	// SendInvitation hands an invitation over for delivery.
	SendInvitation(ctx context.Context, m InvitationMail) error
}

// InvitationMail is an invitation to deliver. HasAccount says the address
// is already a verified account's in this service: the mail then tells the
// person what to do instead of offering a link that cannot work.
type InvitationMail struct {
	To         string
	Token      string
	Role       Role
	ExpiresAt  time.Time
	HasAccount bool
}

// Deferrer is implemented by a Mailer that also runs work after the
// request has been answered (adapters/mailer.Queue, in order with its
// mail). A password-reset request for a known address defers to it all
// the work an unknown address does not have — storing the token, its audit
// event, the mail — so that the request itself does the same database work
// either way (LGN-10). Without a Deferrer that work runs before the
// answer. fn gets a context of its own, not the request's.
type Deferrer interface {
	Defer(fn func(ctx context.Context)) error
}

// Store is the persistence port. Methods outside InTenantTx are the narrow
// pre-tenant path; everything else runs inside one tenant transaction.
type Store interface {
	// UserForLogin finds a user by email across tenants. The caller
	// normalises it (NormalizeEmail): only the normalised form matches.
	// ErrNotFound when there is none.
	UserForLogin(ctx context.Context, email string) (LoginUser, error)
	// SessionAccount returns the tenant of a session by id, for refresh
	// tokens that carry no tid claim (legacy). ErrNotFound when unknown.
	SessionAccount(ctx context.Context, sessionID uuid.UUID) (uuid.UUID, error)
	// SessionIsLive reports whether the session exists, is not revoked and
	// has not passed its idle or absolute deadline at now.
	SessionIsLive(ctx context.Context, accountID, sessionID uuid.UUID, now time.Time) (bool, error)
	// UserIfSessionLive returns the user userID of the tenant, in one round
	// trip, only while session sessionID is that user's and live at now (as
	// SessionIsLive). ErrNotFound when the session is not live or the user
	// does not exist.
	UserIfSessionLive(ctx context.Context, accountID, sessionID, userID uuid.UUID, now time.Time) (User, error)
	// SessionListLive is TenantTx.SessionListLive as one statement in one
	// round trip, outside any explicit transaction.
	SessionListLive(ctx context.Context, accountID, userID uuid.UUID, now time.Time) ([]SessionInfo, error)
	// RotateIfCurrent is the refresh fast path: in one round trip (tenant
	// scope and one conditional write, one implicit transaction) it applies
	// r to the session only if the row meets every condition of g. ok is
	// false, with a nil error, when the row does not meet them (or does not
	// exist): nothing was written and the caller falls back to the slow
	// path. Other errors are infrastructure failures; nothing was written.
	RotateIfCurrent(ctx context.Context, accountID uuid.UUID, g RotationGuard, r Rotation) (s RotatedSession, ok bool, err error)
	// PasswordResetAccount returns the tenant of a password-reset token by
	// its hash, whatever the token's state (the tenant transaction judges
	// it). ErrNotFound when unknown.
	PasswordResetAccount(ctx context.Context, tokenHash []byte) (uuid.UUID, error)
	// EmailVerificationAccount and InvitationAccount are the same narrow
	// lookups for an email-verification token and an invitation's token.
	EmailVerificationAccount(ctx context.Context, tokenHash []byte) (uuid.UUID, error)
	InvitationAccount(ctx context.Context, tokenHash []byte) (uuid.UUID, error)
	// MFAChallengeOwner returns the tenant and the user of a sign-in
	// challenge by its token's hash, whatever its state (the tenant
	// transaction judges it). ErrNotFound when unknown.
	MFAChallengeOwner(ctx context.Context, tokenHash []byte) (accountID, userID uuid.UUID, err error)
	// InTenantTx runs fn in one transaction scoped to accountID: every row
	// fn reads or writes is that tenant's. fn's error rolls back; nil
	// commits.
	InTenantTx(ctx context.Context, accountID uuid.UUID, fn func(TenantTx) error) error
	// InSessionTx is InTenantTx for an authenticated caller whose session
	// liveness is still to be checked: the check (as SessionIsLive) goes in
	// the transaction's first round trip. When the session is not live, fn
	// does not run, nothing is written and the error is ErrSessionNotLive.
	InSessionTx(ctx context.Context, accountID, sessionID uuid.UUID, now time.Time, fn func(TenantTx) error) error
	// LoginThrottle is the brute-force counter, outside any tenant (the
	// email is global).
	LoginThrottle
	// RecordFailure records a failed sign-in or current-password check in
	// one transaction sent in one round trip: the failure counted on each
	// key of f.Keys, and f.Audit (when set) in its tenant. A known email
	// (with its audit row) and an unknown one (without) cost the same: one
	// round trip, one commit that writes (LGN-10). It returns the keys' new
	// states, in f.Keys' order. Concurrent calls may name the same keys in
	// any order: the store takes their locks in one fixed order, so they
	// queue instead of deadlocking, and every failure is counted.
	RecordFailure(ctx context.Context, f FailureRecord) ([]ThrottleState, error)
	// RecordResetRequest counts a password-reset request on its address's
	// mail rate in one transaction sent in one round trip: the counter
	// (r.Key) is read (before) and counted (after, under r.Rule). Known or
	// not, the address costs the same statements (LGN-10).
	RecordResetRequest(ctx context.Context, r ResetRequestRecord) (before, after ThrottleState, err error)
}

// FailureRecord is one failed credential check (Store.RecordFailure).
type FailureRecord struct {
	Keys [][]byte // ThrottleKey-style digests, 32 bytes each
	Now  time.Time
	Rule ThrottleRule
	// Audit is the failure's audit event; nil for an unknown email (no
	// tenant to record it in).
	Audit *AuditEvent
}

// ResetRequestRecord is one password-reset request
// (Store.RecordResetRequest).
type ResetRequestRecord struct {
	Key  []byte // ResetMailKey of the address
	Now  time.Time
	Rule ThrottleRule // the mail rate (Config.ResetMail)
}

// ErrSessionNotLive is InSessionTx's answer for a session that is revoked,
// past a deadline or unknown.
var ErrSessionNotLive = errors.New("session is not live")

// TenantTx is the set of operations available inside a tenant transaction.
// The tenant is implicit. A read or lock of a row that does not exist is
// ErrNotFound; a write that matches no row is nil unless its comment says
// otherwise (the caller has locked the row first); a unique-key violation
// is ErrConflict.
type TenantTx interface {
	AccountCreate(ctx context.Context, a Account) error
	AccountPolicy(ctx context.Context) (PolicyOverride, error)
	// AccountPolicyForUpdate reads the override and locks the account row
	// until the transaction ends, so policy changes apply one at a time.
	// ErrNotFound when the account does not exist.
	AccountPolicyForUpdate(ctx context.Context) (PolicyOverride, error)
	// AccountSetPolicy replaces the whole override (nil fields clear it).
	// ErrNotFound when the account does not exist; a conflict error when a
	// database CHECK refuses it (idle ≤ absolute when both are set, every
	// bound of the policy: positive windows, 1..100 sessions, the audit
	// retention and reauthentication ranges) — core validates first, so
	// the CHECKs are the last line.
	AccountSetPolicy(ctx context.Context, o PolicyOverride, now time.Time) error

	// UserCreate creates a user whose email is verified (at u.CreatedAt):
	// an owner provisioned them, an invitation was accepted, or
	// verification is off. UserCreateUnverified creates a registration's
	// owner before they verified. The email arrives normalised
	// (NormalizeEmail; the schema refuses any other form, as a
	// CodeConflict error naming the rule). A duplicate email is
	// ErrConflict.
	UserCreate(ctx context.Context, u User, passwordHash string) error
	UserCreateUnverified(ctx context.Context, u User, passwordHash string) error
	UserGet(ctx context.Context, id uuid.UUID) (User, error)
	// UserAccess returns the user's current role and active flag, which may
	// differ from what an older access token claims. ErrNotFound.
	UserAccess(ctx context.Context, id uuid.UUID) (role Role, active bool, err error)
	// UserListPage returns at most q.Limit users of the account that match
	// q's filter, in q.Sort's order (the sort key, then id), strictly after
	// the position q.After when set.
	UserListPage(ctx context.Context, q MemberQuery) ([]User, error)
	UserSetPasswordHash(ctx context.Context, id uuid.UUID, hash string, now time.Time) error
	// UserLockCredentials locks the user's row until the transaction ends
	// and returns its password hash and whether it is active. ErrNotFound.
	UserLockCredentials(ctx context.Context, id uuid.UUID) (passwordHash string, active bool, err error)

	SessionCreate(ctx context.Context, s NewSession) error
	// SessionLockForRefresh locks the session row (the refresh slow path)
	// and returns its state with its user's. ErrNotFound for an unknown
	// session.
	SessionLockForRefresh(ctx context.Context, sessionID uuid.UUID) (FamilyState, error)
	// SessionRotate writes a rotation decided on the locked row. An error
	// when the row's current token is no longer r.OldJTIHash (cannot happen
	// under the lock).
	SessionRotate(ctx context.Context, r Rotation) error
	// SessionRevoke revokes one session not yet revoked (its whole token
	// family; an expired one is stamped too, which changes nothing it can
	// do); false when it was already revoked or does not exist.
	SessionRevoke(ctx context.Context, sessionID uuid.UUID, now time.Time, reason string) (bool, error)
	// SessionRevokeAllForUser revokes the user's live sessions except
	// `except` (when not nil) and returns how many.
	SessionRevokeAllForUser(ctx context.Context, userID uuid.UUID, except *uuid.UUID, now time.Time, reason string) (int64, error)
	// SessionRevokeAllForAccount revokes, in one statement, every live
	// session of the account, except the sessions
	// of exceptUser (when not nil), and returns how many sessions. Sessions
	// already revoked or expired are left as they are.
	SessionRevokeAllForAccount(ctx context.Context, exceptUser *uuid.UUID, now time.Time, reason string) (int64, error)
	// SessionOwner returns the user a session belongs to. ErrNotFound.
	SessionOwner(ctx context.Context, sessionID uuid.UUID) (uuid.UUID, error)
	// SessionListLive returns the user's sessions that are live at now (not
	// revoked, neither deadline passed), most recently used first.
	SessionListLive(ctx context.Context, userID uuid.UUID, now time.Time) ([]SessionInfo, error)

	PasswordResetTokenCreate(ctx context.Context, t PasswordResetToken) error
	// PasswordResetTokenLock locks one token by hash until the transaction
	// ends and returns it as it is then. ErrNotFound.
	PasswordResetTokenLock(ctx context.Context, tokenHash []byte) (PasswordResetToken, error)
	// PasswordResetTokensConsume marks every unused token of the user used
	// at now and returns how many.
	PasswordResetTokensConsume(ctx context.Context, userID uuid.UUID, now time.Time) (int64, error)

	// Verified emails and invitations (verification.go, invitations.go).

	// AccountDelete removes the transaction's account (an unverified
	// registration reclaimed), and only when no user is left in it (the
	// caller deletes the unverified owner first); its rows go with it.
	// ErrNotFound when there is no such account or it still has a user.
	AccountDelete(ctx context.Context) error
	// UserLockEmailVerified locks the user's row and returns their email,
	// when it was verified (nil: not yet) and when they were created.
	// ErrNotFound.
	UserLockEmailVerified(ctx context.Context, id uuid.UUID) (email string, verifiedAt *time.Time, createdAt time.Time, err error)
	// UserSetEmailVerified marks the user's email verified at now.
	UserSetEmailVerified(ctx context.Context, id uuid.UUID, now time.Time) error
	EmailVerificationTokenCreate(ctx context.Context, t PasswordResetToken) error
	// EmailVerificationTokenLock locks one token by hash. ErrNotFound.
	EmailVerificationTokenLock(ctx context.Context, tokenHash []byte) (PasswordResetToken, error)
	// EmailVerificationTokensConsume marks every unused token of the user
	// used at now.
	EmailVerificationTokensConsume(ctx context.Context, userID uuid.UUID, now time.Time) error
	InvitationCreate(ctx context.Context, inv Invitation, tokenHash []byte) error
	// InvitationLockByToken and InvitationLock lock one invitation (by its
	// token's hash, by id) until the transaction ends. ErrNotFound.
	InvitationLockByToken(ctx context.Context, tokenHash []byte) (Invitation, error)
	InvitationLock(ctx context.Context, id uuid.UUID) (Invitation, error)
	InvitationAccept(ctx context.Context, id, userID uuid.UUID, now time.Time) error
	InvitationRevoke(ctx context.Context, id uuid.UUID, now time.Time) error
	// InvitationResend replaces the token and the expiry, stamps the send.
	InvitationResend(ctx context.Context, id uuid.UUID, tokenHash []byte, expiresAt, now time.Time) error
	// InvitationListPending returns at most limit invitations neither
	// accepted nor revoked, oldest first (created_at, id), after the
	// position after when set.
	InvitationListPending(ctx context.Context, after *InvitationPosition, limit int) ([]Invitation, error)

	// Account administration (openapi.yaml).

	// UserLockActiveOwners locks the account's active owners (in id order)
	// until the transaction ends and returns their ids. Every change that
	// could remove an active owner takes these locks before it counts.
	UserLockActiveOwners(ctx context.Context) ([]uuid.UUID, error)
	// UserLockForUpdate locks one user's row and returns it. ErrNotFound.
	UserLockForUpdate(ctx context.Context, id uuid.UUID) (User, error)
	// UserUpdate writes a user's role, active flag and name (u.ID names the
	// user). ErrNotFound.
	UserUpdate(ctx context.Context, u User, now time.Time) error
	// UserDelete removes a user; their sessions and reset tokens go with
	// them, audit events keep their id. ErrNotFound.
	UserDelete(ctx context.Context, id uuid.UUID) error
	// UserLockForSignIn locks the user's row inside a sign-in and reports
	// whether it is (still) active. ErrNotFound when it was removed.
	UserLockForSignIn(ctx context.Context, id uuid.UUID) (active bool, err error)
	// SessionListAccount returns at most q.Limit live sessions of the
	// account (of q.UserID when set), most recent activity first
	// (last_used_at, then id, descending), after q.After when set, with
	// UserID and UserEmail filled.
	SessionListAccount(ctx context.Context, q AccountSessionQuery) ([]SessionInfo, error)
	// SessionCountLive counts the user's live sessions at now.
	SessionCountLive(ctx context.Context, userID uuid.UUID, now time.Time) (int, error)
	// SessionEvictBeyond revokes the user's live sessions beyond the keep
	// most recently used ones and returns their ids.
	SessionEvictBeyond(ctx context.Context, userID uuid.UUID, keep int, now time.Time, reason string) ([]uuid.UUID, error)

	// Second factor (mfa.go).

	// FactorGet returns the user's TOTP factor. ErrNotFound.
	FactorGet(ctx context.Context, userID uuid.UUID) (Factor, error)
	// FactorLock is FactorGet with the row locked until the transaction
	// ends. ErrNotFound.
	FactorLock(ctx context.Context, userID uuid.UUID) (Factor, error)
	FactorCreate(ctx context.Context, f Factor) error
	// FactorsDelete removes the user's factors and returns how many.
	FactorsDelete(ctx context.Context, userID uuid.UUID) (int64, error)
	// FactorMarkUsed records the step of an accepted code and confirms a
	// pending factor at now.
	FactorMarkUsed(ctx context.Context, id uuid.UUID, step int64, now time.Time) error
	// RecoveryCodesReplace replaces the user's recovery codes by hashes
	// (none: removes them).
	RecoveryCodesReplace(ctx context.Context, userID uuid.UUID, hashes [][]byte, now time.Time) error
	// RecoveryCodeUse spends one unused code; false when there is none
	// with that hash.
	RecoveryCodeUse(ctx context.Context, userID uuid.UUID, hash []byte, now time.Time) (bool, error)
	RecoveryCodesRemaining(ctx context.Context, userID uuid.UUID) (int, error)
	MFAChallengeCreate(ctx context.Context, c MFAChallenge) error
	// MFAChallengeLock locks one challenge by its token's hash. ErrNotFound.
	MFAChallengeLock(ctx context.Context, tokenHash []byte) (MFAChallenge, error)
	// MFAChallengeLockForAnswer locks a challenge and its user's TOTP
	// factor and reads the user and the account's policy override, in one
	// statement. ErrNotFound when the challenge, the user or the factor is
	// gone.
	MFAChallengeLockForAnswer(ctx context.Context, tokenHash []byte) (MFAAnswerState, error)
	// MFAChallengeSpend marks a challenge used and, when step is given,
	// records it as the factor's last accepted step, in one statement.
	MFAChallengeSpend(ctx context.Context, id, factorID uuid.UUID, step *int64, now time.Time) error
	// MFAChallengeUpdate records a challenge's attempts and, when set, its
	// use. The challenge is locked by the caller (MFAChallengeLock); one
	// that matches no row is an error (not ErrNotFound).
	MFAChallengeUpdate(ctx context.Context, id uuid.UUID, attempts int, usedAt *time.Time) error
	// UsersWithMFA returns which of ids have a confirmed second factor.
	UsersWithMFA(ctx context.Context, ids []uuid.UUID) (map[uuid.UUID]bool, error)
	// SessionAuthState returns the authentication state of a session live
	// at now, with the account's reauth_max_age_minutes override (nil =
	// default). ErrNotFound when it is not live.
	SessionAuthState(ctx context.Context, sessionID uuid.UUID, now time.Time) (SessionAuth, error)
	// AccountPolicyForSignIn is AccountPolicy and whether the user has a
	// confirmed second factor, in one round trip.
	AccountPolicyForSignIn(ctx context.Context, userID uuid.UUID) (PolicyOverride, bool, error)
	// SessionSetAuth writes a new authentication state on a session that
	// is not revoked. It takes no now, so it does not judge the deadlines:
	// the caller has checked the session live in this request (RequireLive,
	// SessionAuthState); one that expired since carries the state
	// harmlessly, as it can never be refreshed.
	SessionSetAuth(ctx context.Context, sessionID uuid.UUID, a AuthLevel) error

	// Audit records an event in this transaction.
	Audit(ctx context.Context, e AuditEvent) error

	// Webhook endpoints (webhooks.go). Not-found is ErrNotFound.

	// WebhookEndpointCount counts the account's endpoints.
	WebhookEndpointCount(ctx context.Context) (int, error)
	// WebhookStreamEnsure makes the account's event stream exist, locks it
	// until the transaction ends and returns its last sequence number;
	// restart moves the stream's start forward to now (no endpoint existed,
	// so no event before now is ever delivered); a start already later
	// than now stays, so the start never moves back.
	WebhookStreamEnsure(ctx context.Context, now time.Time, restart bool) (lastSeq int64, err error)
	WebhookEndpointCreate(ctx context.Context, e WebhookEndpoint) error
	// WebhookEndpointList returns the account's endpoints, oldest first.
	WebhookEndpointList(ctx context.Context) ([]WebhookEndpoint, error)
	// WebhookEndpointGet returns one endpoint, locked until the
	// transaction ends when forUpdate.
	WebhookEndpointGet(ctx context.Context, id uuid.UUID, forUpdate bool) (WebhookEndpoint, error)
	// WebhookEndpointSave writes what an owner changes on an endpoint:
	// URL, description, event types, enabled, state and failure, retry
	// state, secrets, updated_at.
	WebhookEndpointSave(ctx context.Context, e WebhookEndpoint) error
	WebhookEndpointDelete(ctx context.Context, id uuid.UUID) error
	// WebhookAttemptRecord stores one delivery attempt.
	WebhookAttemptRecord(ctx context.Context, a WebhookAttempt) error
	// WebhookAttemptList returns at most q.Limit attempts of one endpoint,
	// newest first (attempted_at, then id), after q.After when set.
	WebhookAttemptList(ctx context.Context, q WebhookAttemptQuery) ([]WebhookAttempt, error)
	// AuditList returns at most q.Limit of the account's events, newest
	// first (created_at, then id, descending), only those strictly after
	// the position q.After when set, filtered by every field of q that is
	// set:
	//   - Action: the action is this one; Actions: it is one of these;
	//   - ActorUserID: the user who acted;
	//   - SubjectUserID: the user the event is about — the resource for
	//     events on a user (resource_type "user"), else the details'
	//     user_id (an owner acting on someone's session), else, for events
	//     on a session, the actor (a user acting on their own session);
	//   - SessionID: events on that session (resource_type "session");
	//   - Since (inclusive) and Until (exclusive): created_at.
	AuditList(ctx context.Context, q AuditQuery) ([]AuditEvent, error)
}
