package core

import (
	"net/netip"
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
)

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
