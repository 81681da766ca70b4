package core

import (
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
)

// Audit actions. Stable strings: the audit trail is filtered on them.
const (
	ActionAccountCreated       = "account.created"
	ActionLoginSucceeded       = "auth.login_succeeded"
	ActionLoginFailed          = "auth.login_failed"
	ActionLogout               = "auth.logout"
	ActionLogoutAll            = "auth.logout_all"
	ActionRefreshReuseDetected = "auth.refresh_reuse_detected"
	ActionSessionRevoked       = "session.revoked"
	// ActionSessionExpiredAbsolute: a refresh reached the absolute cap and
	// the family was revoked (the token is consumed with it).
	ActionSessionExpiredAbsolute = "session.expired_absolute"
	ActionPasswordChangeFailed   = "auth.password_change_failed"
	ActionPasswordChanged        = "auth.password_changed"
	ActionPasswordReset          = "auth.password_reset"
	ActionPasswordResetAsked     = "auth.password_reset_requested"
	ActionPolicyUpdate           = "account.session_policy_update"
	ActionSessionsRevokedBulk    = "account.sessions_revoked_bulk"
	ActionMemberCreated          = "member.created"
	ActionMemberUpdated          = "member.updated"
	ActionMemberRemoved          = "member.removed"
	ActionMemberSessionsRevoke   = "member.sessions_revoked"
	ActionSessionEvicted         = "session.evicted"
	ActionProfileUpdated         = "user.profile_updated"
	ActionEmailVerified          = "user.email_verified"
	ActionVerificationRequested  = "user.verification_requested"
	ActionInvitationCreated      = "invitation.created"
	ActionInvitationResent       = "invitation.resent"
	ActionInvitationRevoked      = "invitation.revoked"
	ActionInvitationAccepted     = "invitation.accepted"
	// Second factor and recent authentication (mfa.go).
	ActionMFAEnrollmentStarted   = "auth.mfa_enrollment_started"
	ActionMFAEnabled             = "auth.mfa_enabled"
	ActionMFADisabled            = "auth.mfa_disabled"
	ActionMFARecoveryRegenerated = "auth.mfa_recovery_codes_regenerated"
	ActionMFAChallengeIssued     = "auth.mfa_challenge_issued"
	ActionMFAFailed              = "auth.mfa_failed"
	ActionMFAReset               = "member.mfa_reset"
	ActionReauthenticated        = "auth.reauthenticated"
	ActionReauthFailed           = "auth.reauthentication_failed"
)

// AuditActions is every action the service writes, sorted: the closed
// AuditAction enum of openapi.yaml, which a test keeps equal to this list
// and to the Action… constants above (docs/security-checklist.md, ADM-05).
// The audit listing's action filters are checked against it.
var AuditActions = []string{
	ActionAccountCreated,
	ActionPolicyUpdate,
	ActionSessionsRevokedBulk,
	ActionLoginFailed,
	ActionLoginSucceeded,
	ActionLogout,
	ActionLogoutAll,
	ActionMFAChallengeIssued,
	ActionMFADisabled,
	ActionMFAEnabled,
	ActionMFAEnrollmentStarted,
	ActionMFAFailed,
	ActionMFARecoveryRegenerated,
	ActionPasswordChangeFailed,
	ActionPasswordChanged,
	ActionPasswordReset,
	ActionPasswordResetAsked,
	ActionReauthenticated,
	ActionReauthFailed,
	ActionRefreshReuseDetected,
	ActionInvitationAccepted,
	ActionInvitationCreated,
	ActionInvitationResent,
	ActionInvitationRevoked,
	ActionMemberCreated,
	ActionMFAReset,
	ActionMemberRemoved,
	ActionMemberSessionsRevoke,
	ActionMemberUpdated,
	ActionSessionEvicted,
	ActionSessionExpiredAbsolute,
	ActionSessionRevoked,
	ActionEmailVerified,
	ActionProfileUpdated,
	ActionVerificationRequested,
	ActionWebhookCreated,
	ActionWebhookDeleted,
	ActionWebhookSecretRotated,
	ActionWebhookUpdated,
}

// knownAuditAction reports whether a is one of AuditActions.
func knownAuditAction(a string) bool { return slices.Contains(AuditActions, a) }

// auditActionsWithPrefix returns the known actions that start with prefix.
func auditActionsWithPrefix(prefix string) []string {
	var out []string
	for _, a := range AuditActions {
		if strings.HasPrefix(a, prefix) {
			out = append(out, a)
		}
	}
	return out
}

// AuditEvent records one change. It is written in the same transaction as
// the change (TenantTx.Audit), so neither exists without the other. Details
// never carry secrets: no passwords, tokens or raw jtis.
type AuditEvent struct {
	ID           uuid.UUID
	AccountID    uuid.UUID
	ActorUserID  *uuid.UUID
	Action       string
	ResourceType string
	ResourceID   string
	Details      map[string]any
	IP           netip.Addr
	UserAgent    string
	At           time.Time
}

// Normalized returns the event as it may be stored: details whose key names
// a secret dropped (see secretDetailKey), details nil recorded as {}, the
// user agent made storable (CleanText, MaxUserAgentChars) and an ID where
// it had none. Service.event calls it when the event is
// built; the store calls it again before writing, because a row PostgreSQL
// refuses would roll back the change it records.
func (e AuditEvent) Normalized() AuditEvent {
	details := make(map[string]any, len(e.Details))
	for k, v := range e.Details {
		if !secretDetailKey(k) {
			details[k] = v
		}
	}
	e.Details = details
	e.UserAgent = CleanText(e.UserAgent, MaxUserAgentChars)
	if e.ID == uuid.Nil {
		e.ID = uuid.New()
	}
	return e
}

// secretDetailKey reports whether a details key names something that must
// never be stored: a password, token, secret, jti, authorization header or
// cookie. Hashes are allowed ("…_hash").
func secretDetailKey(k string) bool {
	k = strings.ToLower(k)
	if strings.HasSuffix(k, "_hash") {
		return false
	}
	for _, s := range []string{"password", "token", "secret", "jti", "authorization", "cookie"} {
		if strings.Contains(k, s) {
			return true
		}
	}
	return false
}
