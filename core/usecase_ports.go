package core

// The narrow ports of the use cases. Each use case declares the few store
// methods it needs — an xxxStore for what it does before or outside the
// tenant transaction, and an xxxTx for what it does inside it — and
// Service hands it the Store seen through that port (storePorts: each
// inXxxTx is InTenantTx handing fn the TenantTx as that port's
// transaction). Its tests fake a handful of methods, and a use case that
// reaches for a store method outside its port does not compile against
// them. Store and TenantTx stay the union every adapter implements
// (ports.go); how a need is met in one round trip (a one-statement
// variant, a pipelined transaction) is the adapter's business, not the
// use case's.
//
// Ports: refresh (refreshStore/refreshTx), the bearer's own session
// (bearerStore), the caller's own sessions ended (ownSessionStore/
// ownSessionTx: Logout, LogoutAll, RevokeSession), the profile
// (profileStore/profileTx), sign-in and its second step (signInStore,
// signInTx, challengeTx), the account's policy (policyStore/policyTx),
// members (memberStore/memberTx), an owner's view and revocation of the
// account's sessions (accountSessionStore/accountSessionTx), the audit
// trail (auditStore/auditTx), webhook administration
// (webhookStore/webhookTx), the caller's second factor and
// reauthentication (mfaStore/mfaTx), an owner's reset of a member's factor
// (mfaResetStore/mfaResetTx), change of password (passwordStore/passwordTx),
// password reset (resetStore/resetTx), invitations (invitationStore,
// invitationTx, acceptTx), registration and email verification
// (registrationStore, registrationTx, verifyTx). Steps several use cases
// share have ports of their own, which the use cases' ports embed or which
// Service holds: failureCounter (the brute-force counter, throttle.go),
// sessionOpenTx (openSession, admitSession), sessionRevokeTx
// (revokeSession), recentAuthTx (RequireRecentAuth), ownerTx and
// ownerWriteTx (asOwnerIn, asOwnerWriteIn), mailVerifiedTx
// (verifiedByMail).
//
// No use case reaches the whole Store or TenantTx: Service holds only the
// ports, which NewService builds over the Store it is given.

import (
	"context"
	"time"

	"github.com/google/uuid"
)

// ---- shared steps ---------------------------------------------------------

// failureCounter is the brute-force counter as the credential checks use
// it (throttle.go): judge a key, forget it after a success, record a
// failure with its audit row in one round trip.
type failureCounter interface {
	ThrottleCheck(ctx context.Context, key []byte, now time.Time) (ThrottleState, error)
	ThrottleReset(ctx context.Context, key []byte) error
	RecordFailure(ctx context.Context, f FailureRecord) ([]ThrottleState, error)
}

// sessionOpenTx is what opening a session needs inside its transaction
// (openSession, admitSession): the user's row locked, the session limit
// applied, the row written and audited.
type sessionOpenTx interface {
	UserLockForSignIn(ctx context.Context, id uuid.UUID) (bool, error)
	SessionCountLive(ctx context.Context, userID uuid.UUID, now time.Time) (int, error)
	SessionEvictBeyond(ctx context.Context, userID uuid.UUID, keep int, now time.Time, reason string) ([]uuid.UUID, error)
	SessionCreate(ctx context.Context, s NewSession) error
	Audit(ctx context.Context, e AuditEvent) error
}

// recentAuthTx is what RequireRecentAuth reads: the session's
// authentication state.
type recentAuthTx interface {
	SessionAuthState(ctx context.Context, sessionID uuid.UUID, now time.Time) (SessionAuth, error)
}

// ownerTx is what asOwnerIn re-reads: the caller's current role; an owner
// write (asOwnerWriteIn) checks the recent authentication too.
type ownerTx interface {
	UserAccess(ctx context.Context, id uuid.UUID) (Role, bool, error)
}

type ownerWriteTx interface {
	ownerTx
	recentAuthTx
}

// ---- refresh (refresh.go) -------------------------------------------------

// refreshStore is what a refresh needs: the tenant of a legacy token, the
// fast path's guarded write, and the slow path's transaction, which sees
// only refreshTx.
type refreshStore interface {
	SessionAccount(ctx context.Context, sessionID uuid.UUID) (uuid.UUID, error)
	RotateIfCurrent(ctx context.Context, accountID uuid.UUID, g RotationGuard, r Rotation) (RotatedSession, bool, error)
	inRefreshTx(ctx context.Context, accountID uuid.UUID, fn func(refreshTx) error) error
}

// refreshTx is the refresh slow path's transaction: lock the family, read
// the policy in force (legacy tokens), then rotate, or revoke and audit.
type refreshTx interface {
	SessionLockForRefresh(ctx context.Context, sessionID uuid.UUID) (FamilyState, error)
	AccountPolicy(ctx context.Context) (PolicyOverride, error)
	SessionRotate(ctx context.Context, r Rotation) error
	SessionRevoke(ctx context.Context, sessionID uuid.UUID, now time.Time, reason string) (bool, error)
	Audit(ctx context.Context, e AuditEvent) error
}

// ---- the bearer's own session (caller.go, Me, ListSessions) ---------------

// bearerStore is what the use cases that check their bearer's liveness
// themselves need: each answer in one round trip, the liveness check
// included.
type bearerStore interface {
	// SessionIsLive: RequireLive.
	SessionIsLive(ctx context.Context, accountID, sessionID uuid.UUID, now time.Time) (bool, error)
	// UserIfSessionLive: Me.
	UserIfSessionLive(ctx context.Context, accountID, sessionID, userID uuid.UUID, now time.Time) (User, error)
	// SessionListLive: ListSessions (the caller's own session is listed
	// exactly when it is live).
	SessionListLive(ctx context.Context, accountID, userID uuid.UUID, now time.Time) ([]SessionInfo, error)
}

// ---- the caller's own sessions (auth.go Logout, LogoutAll; sessions.go) ---

// ownSessionStore is what ending the caller's own sessions needs: Logout's
// transaction, which checks no liveness (signing out is idempotent), and
// the transaction of LogoutAll and RevokeSession, whose first round trip
// finds the bearer's session live (Store.InSessionTx; bearerTx).
type ownSessionStore interface {
	inOwnSessionTx(ctx context.Context, accountID uuid.UUID, fn func(ownSessionTx) error) error
	inLiveOwnSessionTx(ctx context.Context, accountID, sessionID uuid.UUID, now time.Time, fn func(ownSessionTx) error) error
}

// sessionRevokeTx is what revokeSession needs, for the caller's own
// session or an owner's revocation of any: whose the session is, the
// revocation, its audit row.
type sessionRevokeTx interface {
	SessionOwner(ctx context.Context, sessionID uuid.UUID) (uuid.UUID, error)
	SessionRevoke(ctx context.Context, sessionID uuid.UUID, now time.Time, reason string) (bool, error)
	Audit(ctx context.Context, e AuditEvent) error
}

// ownSessionTx: one session ended (Logout, RevokeSession after the
// recent authentication) or all of the caller's (LogoutAll), audited.
type ownSessionTx interface {
	sessionRevokeTx
	recentAuthTx
	SessionRevokeAllForUser(ctx context.Context, userID uuid.UUID, except *uuid.UUID, now time.Time, reason string) (int64, error)
}

// ---- the caller's profile (users.go UpdateProfile) --------------------------

// profileStore is what UpdateProfile needs.
type profileStore interface {
	inProfileTx(ctx context.Context, accountID uuid.UUID, fn func(profileTx) error) error
}

// profileTx: the caller's row locked, written, the change audited.
type profileTx interface {
	UserLockForUpdate(ctx context.Context, id uuid.UUID) (User, error)
	UserUpdate(ctx context.Context, u User, now time.Time) error
	Audit(ctx context.Context, e AuditEvent) error
}

// ---- sign-in (auth.go SignIn, mfa.go VerifyMFA) ----------------------------

// signInStore is what a sign-in needs besides the counter: the
// pre-tenant lookups of the password step (the user by email) and of the
// second step (the challenge's owner), and the transaction of each.
type signInStore interface {
	UserForLogin(ctx context.Context, email string) (LoginUser, error)
	MFAChallengeOwner(ctx context.Context, tokenHash []byte) (accountID, userID uuid.UUID, err error)
	inSignInTx(ctx context.Context, accountID uuid.UUID, fn func(signInTx) error) error
	inChallengeTx(ctx context.Context, accountID uuid.UUID, fn func(challengeTx) error) error
}

// signInTx is the password step's transaction (signInTx): the policy and
// whether a factor exists, the upgraded hash, then a challenge or the
// session.
type signInTx interface {
	AccountPolicyForSignIn(ctx context.Context, userID uuid.UUID) (PolicyOverride, bool, error)
	UserSetPasswordHash(ctx context.Context, id uuid.UUID, hash string, now time.Time) error
	MFAChallengeCreate(ctx context.Context, c MFAChallenge) error
	sessionOpenTx
}

// challengeTx is the second step's transaction (answerChallenge,
// countChallengeAttempt): the challenge judged and spent, the session
// opened; or one wrong answer counted on the challenge.
type challengeTx interface {
	MFAChallengeLockForAnswer(ctx context.Context, tokenHash []byte) (MFAAnswerState, error)
	RecoveryCodeUse(ctx context.Context, userID uuid.UUID, hash []byte, now time.Time) (bool, error)
	MFAChallengeSpend(ctx context.Context, id, factorID uuid.UUID, step *int64, now time.Time) error
	MFAChallengeLock(ctx context.Context, tokenHash []byte) (MFAChallenge, error)
	MFAChallengeUpdate(ctx context.Context, id uuid.UUID, attempts int, usedAt *time.Time) error
	sessionOpenTx
}

// ---- the account's session policy (admin.go) ------------------------------

// policyStore is what reading and updating an account's policy needs.
type policyStore interface {
	inPolicyTx(ctx context.Context, accountID uuid.UUID, fn func(policyTx) error) error
}

// policyTx: the owner checked, the override read (locked for a change),
// written and audited in the same transaction.
type policyTx interface {
	ownerWriteTx
	AccountPolicy(ctx context.Context) (PolicyOverride, error)
	AccountPolicyForUpdate(ctx context.Context) (PolicyOverride, error)
	AccountSetPolicy(ctx context.Context, o PolicyOverride, now time.Time) error
	Audit(ctx context.Context, e AuditEvent) error
}

// ---- members (members.go, admin.go CreateMember) ---------------------------

// memberStore is what an owner's member administration needs.
type memberStore interface {
	inMemberTx(ctx context.Context, accountID uuid.UUID, fn func(memberTx) error) error
}

// memberTx: the owner checked; members listed, created, changed under the
// owners' locks (lockMemberChange), removed; their sessions ended; each
// change audited.
type memberTx interface {
	ownerWriteTx
	UserListPage(ctx context.Context, q MemberQuery) ([]User, error)
	UsersWithMFA(ctx context.Context, ids []uuid.UUID) (map[uuid.UUID]bool, error)
	UserGet(ctx context.Context, id uuid.UUID) (User, error)
	UserCreate(ctx context.Context, u User, passwordHash string) error
	UserLockActiveOwners(ctx context.Context) ([]uuid.UUID, error)
	UserLockForUpdate(ctx context.Context, id uuid.UUID) (User, error)
	UserUpdate(ctx context.Context, u User, now time.Time) error
	UserDelete(ctx context.Context, id uuid.UUID) error
	SessionRevokeAllForUser(ctx context.Context, userID uuid.UUID, except *uuid.UUID, now time.Time, reason string) (int64, error)
	Audit(ctx context.Context, e AuditEvent) error
}

// ---- the account's sessions (account_sessions.go, RevokeAccountSessions) ---

// accountSessionStore is what an owner's view and revocation of the
// account's sessions needs.
type accountSessionStore interface {
	inAccountSessionTx(ctx context.Context, accountID uuid.UUID, fn func(accountSessionTx) error) error
}

// accountSessionTx: the owner checked; the live sessions listed, one
// revoked (revokeSession) or all but the caller's or all (one statement);
// each revocation audited.
type accountSessionTx interface {
	ownerWriteTx
	sessionRevokeTx
	SessionListAccount(ctx context.Context, q AccountSessionQuery) ([]SessionInfo, error)
	SessionRevokeAllForAccount(ctx context.Context, exceptUser *uuid.UUID, now time.Time, reason string) (int64, error)
}

// ---- the audit trail (admin.go ListAuditEvents) ------------------------------

// auditStore is what an owner's reading of the audit trail needs.
type auditStore interface {
	inAuditTx(ctx context.Context, accountID uuid.UUID, fn func(auditTx) error) error
}

// auditTx: the owner checked, the account's retention read (its override),
// one page of events listed.
type auditTx interface {
	ownerTx
	AccountPolicy(ctx context.Context) (PolicyOverride, error)
	AuditList(ctx context.Context, q AuditQuery) ([]AuditEvent, error)
}

// ---- webhook administration (webhooks_service.go) ----------------------------

// webhookStore is what the owner's administration of webhook endpoints
// needs.
type webhookStore interface {
	inWebhookTx(ctx context.Context, accountID uuid.UUID, fn func(webhookTx) error) error
}

// webhookTx: the owner checked; endpoints counted, created (with the
// account's event stream), listed, read (locked for a change), saved,
// deleted; a test delivery's attempt recorded; attempts listed; each
// change audited.
type webhookTx interface {
	ownerWriteTx
	WebhookEndpointCount(ctx context.Context) (int, error)
	WebhookStreamEnsure(ctx context.Context, now time.Time, restart bool) (lastSeq int64, err error)
	WebhookEndpointCreate(ctx context.Context, e WebhookEndpoint) error
	WebhookEndpointList(ctx context.Context) ([]WebhookEndpoint, error)
	WebhookEndpointGet(ctx context.Context, id uuid.UUID, forUpdate bool) (WebhookEndpoint, error)
	WebhookEndpointSave(ctx context.Context, e WebhookEndpoint) error
	WebhookEndpointDelete(ctx context.Context, id uuid.UUID) error
	WebhookAttemptRecord(ctx context.Context, a WebhookAttempt) error
	WebhookAttemptList(ctx context.Context, q WebhookAttemptQuery) ([]WebhookAttempt, error)
	Audit(ctx context.Context, e AuditEvent) error
}

// ---- the caller's second factor and reauthentication (mfa.go) -------------

// mfaStore is what the second factor's self-service (enrol, confirm,
// disable, recovery codes, status) and reauthentication need, besides
// the counter.
type mfaStore interface {
	inMFATx(ctx context.Context, accountID uuid.UUID, fn func(mfaTx) error) error
}

// mfaTx is the caller's own factor: read, created, confirmed, removed; the
// recovery codes; the session's authentication state renewed.
type mfaTx interface {
	recentAuthTx
	UserGet(ctx context.Context, id uuid.UUID) (User, error)
	UserLockCredentials(ctx context.Context, id uuid.UUID) (passwordHash string, active bool, err error)
	FactorGet(ctx context.Context, userID uuid.UUID) (Factor, error)
	FactorLock(ctx context.Context, userID uuid.UUID) (Factor, error)
	FactorCreate(ctx context.Context, f Factor) error
	FactorsDelete(ctx context.Context, userID uuid.UUID) (int64, error)
	FactorMarkUsed(ctx context.Context, id uuid.UUID, step int64, now time.Time) error
	RecoveryCodesReplace(ctx context.Context, userID uuid.UUID, hashes [][]byte, now time.Time) error
	RecoveryCodesRemaining(ctx context.Context, userID uuid.UUID) (int, error)
	SessionSetAuth(ctx context.Context, sessionID uuid.UUID, a AuthLevel) error
	Audit(ctx context.Context, e AuditEvent) error
}

// mfaResetStore is what an owner's reset of a member's factor needs
// (ResetMemberMFA).
type mfaResetStore interface {
	inMFAResetTx(ctx context.Context, accountID uuid.UUID, fn func(mfaResetTx) error) error
}

// mfaResetTx: the owner checked, the member's factor and recovery codes
// removed, their sessions ended, the reset audited.
type mfaResetTx interface {
	ownerWriteTx
	UserGet(ctx context.Context, id uuid.UUID) (User, error)
	FactorsDelete(ctx context.Context, userID uuid.UUID) (int64, error)
	RecoveryCodesReplace(ctx context.Context, userID uuid.UUID, hashes [][]byte, now time.Time) error
	SessionRevokeAllForUser(ctx context.Context, userID uuid.UUID, except *uuid.UUID, now time.Time, reason string) (int64, error)
	Audit(ctx context.Context, e AuditEvent) error
}

// ---- change of the caller's password (credentials.go) ---------------------

// passwordStore is what ChangePassword needs besides the counter.
type passwordStore interface {
	inPasswordTx(ctx context.Context, accountID uuid.UUID, fn func(passwordTx) error) error
}

// passwordTx: the recent authentication, the credentials read (then
// locked), the new hash written, the other sessions ended, outstanding
// reset tokens spent, the change audited.
type passwordTx interface {
	recentAuthTx
	UserGet(ctx context.Context, id uuid.UUID) (User, error)
	UserLockCredentials(ctx context.Context, id uuid.UUID) (passwordHash string, active bool, err error)
	UserSetPasswordHash(ctx context.Context, id uuid.UUID, hash string, now time.Time) error
	SessionRevokeAllForUser(ctx context.Context, userID uuid.UUID, except *uuid.UUID, now time.Time, reason string) (int64, error)
	PasswordResetTokensConsume(ctx context.Context, userID uuid.UUID, now time.Time) (int64, error)
	Audit(ctx context.Context, e AuditEvent) error
}

// ---- password reset (credentials.go) ----------------------------------------

// resetStore is what a password reset needs: the address's user and the
// request counted on its mail rate (RequestPasswordReset), the token's
// tenant (ConfirmPasswordReset), and their transactions.
type resetStore interface {
	UserForLogin(ctx context.Context, email string) (LoginUser, error)
	RecordResetRequest(ctx context.Context, r ResetRequestRecord) (before, after ThrottleState, err error)
	PasswordResetAccount(ctx context.Context, tokenHash []byte) (uuid.UUID, error)
	inResetTx(ctx context.Context, accountID uuid.UUID, fn func(resetTx) error) error
}

// resetTx: the token stored (a request) or locked and judged, the new
// hash written, every outstanding token spent, the email marked verified
// (verifiedByMail), every session ended, each step audited.
type resetTx interface {
	PasswordResetTokenCreate(ctx context.Context, t PasswordResetToken) error
	PasswordResetTokenLock(ctx context.Context, tokenHash []byte) (PasswordResetToken, error)
	UserGet(ctx context.Context, id uuid.UUID) (User, error)
	UserSetPasswordHash(ctx context.Context, id uuid.UUID, hash string, now time.Time) error
	PasswordResetTokensConsume(ctx context.Context, userID uuid.UUID, now time.Time) (int64, error)
	SessionRevokeAllForUser(ctx context.Context, userID uuid.UUID, except *uuid.UUID, now time.Time, reason string) (int64, error)
	mailVerifiedTx
}

// mailVerifiedTx is what verifiedByMail needs: the user's verification
// state locked, set, its links spent, audited.
type mailVerifiedTx interface {
	UserLockEmailVerified(ctx context.Context, id uuid.UUID) (email string, verifiedAt *time.Time, createdAt time.Time, err error)
	UserSetEmailVerified(ctx context.Context, id uuid.UUID, now time.Time) error
	EmailVerificationTokensConsume(ctx context.Context, userID uuid.UUID, now time.Time) error
	Audit(ctx context.Context, e AuditEvent) error
}

// ---- invitations (invitations.go) -------------------------------------------

// invitationStore is what invitations need: whether the address is an
// account already (the mail says so), the token's tenant, the owners'
// transaction and the acceptance's. An acceptance that meets an unverified
// registration of the address reclaims it through reclaimUnverified,
// which is registration's (registrationStore).
type invitationStore interface {
	UserForLogin(ctx context.Context, email string) (LoginUser, error)
	InvitationAccount(ctx context.Context, tokenHash []byte) (uuid.UUID, error)
	inInvitationTx(ctx context.Context, accountID uuid.UUID, fn func(invitationTx) error) error
	inAcceptTx(ctx context.Context, accountID uuid.UUID, fn func(acceptTx) error) error
}

// invitationTx: the owner checked; invitations created, listed, locked,
// mailed again, revoked; each change audited.
type invitationTx interface {
	ownerWriteTx
	InvitationCreate(ctx context.Context, inv Invitation, tokenHash []byte) error
	InvitationListPending(ctx context.Context, after *InvitationPosition, limit int) ([]Invitation, error)
	InvitationLock(ctx context.Context, id uuid.UUID) (Invitation, error)
	InvitationResend(ctx context.Context, id uuid.UUID, tokenHash []byte, expiresAt, now time.Time) error
	InvitationRevoke(ctx context.Context, id uuid.UUID, now time.Time) error
	Audit(ctx context.Context, e AuditEvent) error
}

// acceptTx is an acceptance: the invitation locked and judged, the user
// created, the invitation accepted, then the session opened under the
// account's policy.
type acceptTx interface {
	InvitationLockByToken(ctx context.Context, tokenHash []byte) (Invitation, error)
	UserCreate(ctx context.Context, u User, passwordHash string) error
	InvitationAccept(ctx context.Context, id, userID uuid.UUID, now time.Time) error
	AccountPolicy(ctx context.Context) (PolicyOverride, error)
	sessionOpenTx
}

// ---- registration and email verification (auth.go Register, verification.go)

// registrationStore is what registration and email verification need:
// the address's user and its verification-mail rate, a verification
// token's tenant, the registration's transaction (create, reclaim, mail
// again) and the verification's.
type registrationStore interface {
	UserForLogin(ctx context.Context, email string) (LoginUser, error)
	RecordResetRequest(ctx context.Context, r ResetRequestRecord) (before, after ThrottleState, err error)
	EmailVerificationAccount(ctx context.Context, tokenHash []byte) (uuid.UUID, error)
	inRegistrationTx(ctx context.Context, accountID uuid.UUID, fn func(registrationTx) error) error
	inVerifyTx(ctx context.Context, accountID uuid.UUID, fn func(verifyTx) error) error
}

// registrationTx: an account and its owner created (verified or not) with
// a verification token, an unverified registration reclaimed
// (reclaimUnverified, which an invitation's acceptance reuses), a new
// token stored for a resend; each audited.
type registrationTx interface {
	AccountCreate(ctx context.Context, a Account) error
	UserCreate(ctx context.Context, u User, passwordHash string) error
	UserCreateUnverified(ctx context.Context, u User, passwordHash string) error
	EmailVerificationTokenCreate(ctx context.Context, t PasswordResetToken) error
	UserLockEmailVerified(ctx context.Context, id uuid.UUID) (email string, verifiedAt *time.Time, createdAt time.Time, err error)
	UserDelete(ctx context.Context, id uuid.UUID) error
	AccountDelete(ctx context.Context) error
	Audit(ctx context.Context, e AuditEvent) error
}

// verifyTx is VerifyEmail's: the token and the user locked and judged,
// the password's hash read, the tokens spent, the email marked verified.
type verifyTx interface {
	EmailVerificationTokenLock(ctx context.Context, tokenHash []byte) (PasswordResetToken, error)
	UserLockCredentials(ctx context.Context, id uuid.UUID) (passwordHash string, active bool, err error)
	mailVerifiedTx
}

// ---- the Store through the ports -------------------------------------------

// storePorts is the Store seen through the use cases' narrow ports: each
// inXxxTx is InTenantTx handing fn the TenantTx as that port's
// transaction.
type storePorts struct{ Store }

func (p storePorts) inRefreshTx(ctx context.Context, accountID uuid.UUID, fn func(refreshTx) error) error {
	return p.InTenantTx(ctx, accountID, func(tx TenantTx) error { return fn(tx) })
}

func (p storePorts) inSignInTx(ctx context.Context, accountID uuid.UUID, fn func(signInTx) error) error {
	return p.InTenantTx(ctx, accountID, func(tx TenantTx) error { return fn(tx) })
}

func (p storePorts) inChallengeTx(ctx context.Context, accountID uuid.UUID, fn func(challengeTx) error) error {
	return p.InTenantTx(ctx, accountID, func(tx TenantTx) error { return fn(tx) })
}

func (p storePorts) inPolicyTx(ctx context.Context, accountID uuid.UUID, fn func(policyTx) error) error {
	return p.InTenantTx(ctx, accountID, func(tx TenantTx) error { return fn(tx) })
}

func (p storePorts) inMemberTx(ctx context.Context, accountID uuid.UUID, fn func(memberTx) error) error {
	return p.InTenantTx(ctx, accountID, func(tx TenantTx) error { return fn(tx) })
}

func (p storePorts) inMFATx(ctx context.Context, accountID uuid.UUID, fn func(mfaTx) error) error {
	return p.InTenantTx(ctx, accountID, func(tx TenantTx) error { return fn(tx) })
}

func (p storePorts) inMFAResetTx(ctx context.Context, accountID uuid.UUID, fn func(mfaResetTx) error) error {
	return p.InTenantTx(ctx, accountID, func(tx TenantTx) error { return fn(tx) })
}

func (p storePorts) inPasswordTx(ctx context.Context, accountID uuid.UUID, fn func(passwordTx) error) error {
	return p.InTenantTx(ctx, accountID, func(tx TenantTx) error { return fn(tx) })
}

func (p storePorts) inResetTx(ctx context.Context, accountID uuid.UUID, fn func(resetTx) error) error {
	return p.InTenantTx(ctx, accountID, func(tx TenantTx) error { return fn(tx) })
}

func (p storePorts) inInvitationTx(ctx context.Context, accountID uuid.UUID, fn func(invitationTx) error) error {
	return p.InTenantTx(ctx, accountID, func(tx TenantTx) error { return fn(tx) })
}

func (p storePorts) inAcceptTx(ctx context.Context, accountID uuid.UUID, fn func(acceptTx) error) error {
	return p.InTenantTx(ctx, accountID, func(tx TenantTx) error { return fn(tx) })
}

func (p storePorts) inRegistrationTx(ctx context.Context, accountID uuid.UUID, fn func(registrationTx) error) error {
	return p.InTenantTx(ctx, accountID, func(tx TenantTx) error { return fn(tx) })
}

func (p storePorts) inVerifyTx(ctx context.Context, accountID uuid.UUID, fn func(verifyTx) error) error {
	return p.InTenantTx(ctx, accountID, func(tx TenantTx) error { return fn(tx) })
}

func (p storePorts) inOwnSessionTx(ctx context.Context, accountID uuid.UUID, fn func(ownSessionTx) error) error {
	return p.InTenantTx(ctx, accountID, func(tx TenantTx) error { return fn(tx) })
}

func (p storePorts) inLiveOwnSessionTx(ctx context.Context, accountID, sessionID uuid.UUID, now time.Time, fn func(ownSessionTx) error) error {
	return p.InSessionTx(ctx, accountID, sessionID, now, func(tx TenantTx) error { return fn(tx) })
}

func (p storePorts) inProfileTx(ctx context.Context, accountID uuid.UUID, fn func(profileTx) error) error {
	return p.InTenantTx(ctx, accountID, func(tx TenantTx) error { return fn(tx) })
}

func (p storePorts) inAccountSessionTx(ctx context.Context, accountID uuid.UUID, fn func(accountSessionTx) error) error {
	return p.InTenantTx(ctx, accountID, func(tx TenantTx) error { return fn(tx) })
}

func (p storePorts) inAuditTx(ctx context.Context, accountID uuid.UUID, fn func(auditTx) error) error {
	return p.InTenantTx(ctx, accountID, func(tx TenantTx) error { return fn(tx) })
}

func (p storePorts) inWebhookTx(ctx context.Context, accountID uuid.UUID, fn func(webhookTx) error) error {
	return p.InTenantTx(ctx, accountID, func(tx TenantTx) error { return fn(tx) })
}

var (
	_ ownSessionStore     = storePorts{}
	_ profileStore        = storePorts{}
	_ accountSessionStore = storePorts{}
	_ auditStore          = storePorts{}
	_ webhookStore        = storePorts{}
	_ refreshStore        = storePorts{}
	_ bearerStore         = Store(nil)
	_ failureCounter      = Store(nil)
	_ signInStore         = storePorts{}
	_ policyStore         = storePorts{}
	_ memberStore         = storePorts{}
	_ mfaStore            = storePorts{}
	_ mfaResetStore       = storePorts{}
	_ passwordStore       = storePorts{}
	_ resetStore          = storePorts{}
	_ invitationStore     = storePorts{}
	_ registrationStore   = storePorts{}
)
