package core

import (
	"net/netip"
	"time"

	"github.com/google/uuid"
)

// Role is a user's role within its account.
type Role string

const (
	RoleOwner  Role = "owner"
	RoleMember Role = "member"
)

// Valid reports whether r is a known role.
func (r Role) Valid() bool { return r == RoleOwner || r == RoleMember }

// Account is a tenant.
type Account struct {
	ID        uuid.UUID
	Name      string
	CreatedAt time.Time
}

// User belongs to exactly one account.
type User struct {
	ID        uuid.UUID
	AccountID uuid.UUID
	Email     string
	Name      string
	Role      Role
	Active    bool
	CreatedAt time.Time
}

// LoginUser is what the pre-tenant sign-in lookup returns: just enough to
// check a password and open the tenant's transaction.
type LoginUser struct {
	UserID       uuid.UUID
	AccountID    uuid.UUID
	PasswordHash string
	Active       bool
	Role         Role
	// EmailVerified: the person proved they read the address's mail (a
	// verification link or an accepted invitation).
	EmailVerified bool
}

// Client describes where a request came from. IP is the zero Addr when
// unknown.
type Client struct {
	IP        netip.Addr
	UserAgent string
	DeviceID  string
}

// Principal is the caller of an authenticated request: a verified access
// token whose session was found live (Service.RequireLive; Bearer is the
// caller before that check).
type Principal struct {
	UserID    uuid.UUID
	AccountID uuid.UUID
	SessionID uuid.UUID
	Role      Role
	// EnrolOnly: the access token is of an enrol-only session (AuthLevel);
	// it may only enrol a second factor (docs/session-rules.md §11).
	EnrolOnly bool
}

// NewSession is one sign-in to persist: the session row and its first
// refresh token.
type NewSession struct {
	ID                uuid.UUID
	UserID            uuid.UUID
	DeviceName        string
	Client            Client
	AuthTime          time.Time
	Snapshot          Snapshot
	Now               time.Time
	IdleExpiresAt     time.Time
	AbsoluteExpiresAt time.Time
	JTIHash           []byte
	TokenExpiresAt    time.Time
	// Auth is how the sign-in authenticated (aal, amr) and whether the
	// session may only enrol a second factor; Auth.LastAuthAt is AuthTime.
	Auth AuthLevel
}

// FamilyState is a session row as read, locked, at the start of a refresh.
// It holds everything the refresh decision needs.
type FamilyState struct {
	SessionID         uuid.UUID
	UserID            uuid.UUID
	UserActive        bool
	Role              Role
	AuthTime          time.Time
	Snapshot          Snapshot
	IdleExpiresAt     time.Time
	AbsoluteExpiresAt time.Time
	CurrentJTIHash    []byte
	PreviousJTIHash   []byte
	CurrentJTISealed  []byte
	RotatedAt         *time.Time
	Generation        int
	RevokedAt         *time.Time
	// Auth is the session's authentication state, which the successor's
	// access token carries (amr, acr, auth_time).
	Auth AuthLevel
}

// Rotation is one refresh-token rotation to persist.
type Rotation struct {
	SessionID         uuid.UUID
	OldJTIHash        []byte
	NewJTIHash        []byte
	NewJTISealed      []byte
	Now               time.Time
	AuthTime          time.Time
	Snapshot          Snapshot
	IdleExpiresAt     time.Time
	AbsoluteExpiresAt time.Time
	TokenExpiresAt    time.Time
	// Client is who refreshed: recorded as the session's latest activity
	// (last_ip, last_user_agent).
	Client Client
}

// Revoke reasons stored on sessions.
const (
	ReasonLogout          = "logout"
	ReasonLogoutAll       = "logout_all"
	ReasonRefreshReuse    = "refresh_token_reused"
	ReasonAbsoluteTimeout = "absolute_timeout"
	ReasonRevokedByUser   = "revoked_by_user"
	ReasonPasswordChanged = "password_changed"
	ReasonPasswordReset   = "password_reset"
	ReasonBulkRevoke      = "bulk_revoke"
	// Account administration (openapi.yaml).
	ReasonRevokedByOwner    = "revoked_by_owner"
	ReasonMemberDeactivated = "member_deactivated"
	ReasonMemberRemoved     = "member_removed"
	ReasonEvicted           = "evicted"
	ReasonMFAReset          = "mfa_reset"
)

// RevokeReasons lists every revoke reason above, for the metrics that
// declare one series per reason (adapters/telemetry keeps the list and the
// constants equal in a test).
func RevokeReasons() []string {
	return []string{ReasonLogout, ReasonLogoutAll, ReasonRefreshReuse, ReasonAbsoluteTimeout, ReasonRevokedByUser,
		ReasonPasswordChanged, ReasonPasswordReset, ReasonBulkRevoke, ReasonRevokedByOwner, ReasonMemberDeactivated,
		ReasonMemberRemoved, ReasonEvicted, ReasonMFAReset}
}

// TokenPair is what sign-in and refresh hand to the client.
type TokenPair struct {
	// IssuedAt is when the pair was issued (the service clock): cookie
	// lifetimes count from it.
	IssuedAt          time.Time
	AccessToken       string
	RefreshToken      string
	AccessExpiresIn   time.Duration
	SessionID         uuid.UUID
	IdleExpiresAt     time.Time
	AbsoluteExpiresAt time.Time
	// Converged marks a refresh answered with the session's current pair
	// (a grace-window replay of its parent) rather than a new rotation.
	Converged bool
	// DeviceToken is set by a successful sign-in: the device cookie's
	// value (see DeviceClaims), valid until DeviceExpiresAt.
	DeviceToken     string
	DeviceExpiresAt time.Time
	// MFAChallenge is set, instead of any token, by a sign-in whose user
	// must answer a second-factor challenge (Service.VerifyMFA).
	MFAChallenge *MFAChallengeIssued
}

// DeviceClaims are the signed content of a device token (OWASP's "device
// cookie"): issued at each successful sign-in for the email signed in
// with, it marks the client as one the owner used. A sign-in presenting a
// valid one for its email is judged on the device's own brute-force
// counter, not on the email's, so that guessing the password from
// elsewhere never locks the owner out (LGN-09,
// docs/security-checklist.md).
type DeviceClaims struct {
	// ID is the device's random identifier: its counter's key.
	ID string
	// EmailDigest binds the token to one email (DeviceEmailDigest).
	EmailDigest []byte
	IssuedAt    time.Time
	ExpiresAt   time.Time
}

// SessionInfo is one of a user's sessions as the user sees it in the
// session list: device details and deadlines, no token material.
type SessionInfo struct {
	ID         uuid.UUID
	DeviceName string // "" when unknown
	DeviceID   string // "" when none was sent
	IP         netip.Addr
	UserAgent  string
	// LastIP and LastUserAgent are those of the session's latest use
	// (sign-in, then every refresh); zero/"" when unknown.
	LastIP            netip.Addr
	LastUserAgent     string
	CreatedAt         time.Time
	LastUsedAt        time.Time
	IdleExpiresAt     time.Time
	AbsoluteExpiresAt time.Time
	// Current marks the session of the access token that asked.
	Current bool
	// UserID and UserEmail say whose session it is (the account-wide list
	// fills them; a user's own list leaves them zero).
	UserID    uuid.UUID
	UserEmail string
}

// PasswordResetToken is a stored password-reset token: only the SHA-256 of
// the raw token is kept.
type PasswordResetToken struct {
	Hash      []byte
	UserID    uuid.UUID
	CreatedAt time.Time
	ExpiresAt time.Time
	UsedAt    *time.Time
}

// Usable reports whether the token may still be consumed at now: unused,
// and now before its expiry (the expiry instant itself is already too late,
// as for every deadline in this service).
func (t PasswordResetToken) Usable(now time.Time) bool {
	return t.UsedAt == nil && now.Before(t.ExpiresAt)
}
