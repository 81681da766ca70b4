package core

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/uuid"
)

// Config is the service's tunable behaviour.
type Config struct {
	Policy PolicySettings
	// AccessTTL is the access-token lifetime (default 5 min).
	AccessTTL time.Duration
	// Grace is the refresh grace window (default 10 s; 0 disables).
	Grace time.Duration
	// ResetTokenTTL is how long a password-reset token is valid (default
	// 30 min).
	ResetTokenTTL time.Duration
	// Throttle is the brute-force defence (LGN-05, LGN-09), per email for clients
	// without a device token, per device token, per session for
	// change-password.
	Throttle ThrottleRule
	// DeviceTTL is the lifetime of the device token a successful sign-in
	// issues (default 180 days; renewed at each sign-in).
	DeviceTTL time.Duration
	// ResetMail is the password-reset mail rate per address
	// (DefaultResetMailRule); its MaxDelay must not exceed ResetTokenTTL.
	ResetMail ThrottleRule
	// EmailVerification: registration creates the owner unverified and
	// mails a verification link; until it is used, sign-in with the
	// correct password answers CodeEmailNotVerified (server setting
	// EMAIL_VERIFICATION=required, the default). False (off): register
	// and sign-in behave as without verification.
	EmailVerification bool
	// VerificationTTL is how long an unverified registration and its
	// verification link last (default 24 h): after it the link no longer
	// works and a new registration of the email reclaims it.
	VerificationTTL time.Duration
	// InvitationTTL is how long an invitation's link works (default 7
	// days; a resend restarts it).
	InvitationTTL time.Duration
	// InvitationResendInterval is the least time between two mails of one
	// invitation (default 1 min); a resend inside it is 429.
	InvitationResendInterval time.Duration
	// MemberPasswords lets owners create members with a password (server
	// setting MEMBER_PASSWORDS=on); off (the default) answers
	// CodeMemberPasswordsDisabled: owners invite instead.
	MemberPasswords bool
	// TOTP is the one-time-password port; MFAKey (32 bytes) seals TOTP
	// secrets at rest (MFA_ENCRYPTION_KEY); MFAIssuer names the service
	// in authenticator apps. Without TOTP or MFAKey, enrolment fails.
	TOTP      TOTP
	MFAKey    []byte
	MFAIssuer string
}

// DefaultConfig returns the product defaults.
func DefaultConfig() Config {
	return Config{Policy: DefaultPolicySettings(), AccessTTL: 5 * time.Minute, Grace: 10 * time.Second, ResetTokenTTL: 30 * time.Minute,
		Throttle: DefaultThrottleRule(), DeviceTTL: 180 * 24 * time.Hour, ResetMail: DefaultResetMailRule(),
		EmailVerification: true, VerificationTTL: 24 * time.Hour, InvitationTTL: 7 * 24 * time.Hour,
		InvitationResendInterval: time.Minute, MFAIssuer: "sessiond"}
}

// DeviceNamer derives a human device name ("Firefox on Linux") from a user
// agent; "" when it cannot tell.
type DeviceNamer func(userAgent string) string

// Service is the session service: sign-up, sign-in, rotation, sign-out.
// Its methods live in files named like the HTTP adapter's handlers:
// auth.go (register, login, authenticate, logout, me), refresh.go,
// sessions.go (the caller's own devices), credentials.go (passwords),
// admin.go, members.go and account_sessions.go (owner administration);
// users.go holds the rules for user input, policy.go the session policy.
type Service struct {
	// The use cases' narrow ports (usecase_ports.go): NewService sees the
	// Store through them (storePorts), and no use case holds more.
	refreshes       refreshStore
	bearers         bearerStore
	counter         failureCounter
	signIns         signInStore
	policies        policyStore
	members         memberStore
	mfas            mfaStore
	mfaResets       mfaResetStore
	passwords       passwordStore
	resets          resetStore
	invites         invitationStore
	registrations   registrationStore
	ownSessions     ownSessionStore
	profiles        profileStore
	accountSessions accountSessionStore
	audits          auditStore
	webhooks        webhookStore
	tokens          TokenCodec
	hasher          PasswordHasher
	clock           Clock
	cfg             Config
	device          DeviceNamer
	mailer          Mailer
	log             *slog.Logger
}

// NewService wires a Service. device may be nil (no device names); mailer
// may be nil (password-reset mails are then not sent, which is logged).
func NewService(store Store, tokens TokenCodec, hasher PasswordHasher, clock Clock, cfg Config, device DeviceNamer, mailer Mailer, log *slog.Logger) (*Service, error) {
	if err := cfg.Policy.Validate(); err != nil {
		return nil, fmt.Errorf("session policy settings: %w", err)
	}
	if cfg.AccessTTL <= 0 {
		return nil, errors.New("access token lifetime must be positive")
	}
	if cfg.Grace < 0 {
		return nil, errors.New("grace window must not be negative")
	}
	if cfg.ResetTokenTTL <= 0 {
		return nil, errors.New("password-reset token lifetime must be positive")
	}
	if err := cfg.Throttle.Validate(); err != nil {
		return nil, err
	}
	if cfg.DeviceTTL <= 0 {
		return nil, errors.New("device token lifetime must be positive")
	}
	if err := cfg.ResetMail.Validate(); err != nil || cfg.ResetMail.Threshold != 1 {
		return nil, fmt.Errorf("password-reset mail rate: threshold 1, delays of at least 1s (%v)", err)
	}
	if cfg.ResetMail.MaxDelay > cfg.ResetTokenTTL {
		// The newest mail must still hold a working token whenever a
		// request is held back (LGN-11).
		return nil, errors.New("the longest password-reset mail interval must not exceed the reset token's lifetime")
	}
	if cfg.VerificationTTL <= 0 || cfg.InvitationTTL <= 0 || cfg.InvitationResendInterval < 0 {
		return nil, errors.New("verification and invitation lifetimes must be positive")
	}
	if len(cfg.MFAKey) != 0 && len(cfg.MFAKey) != 32 {
		return nil, errors.New("MFA encryption key must be 32 bytes")
	}
	if cfg.MFAIssuer == "" {
		cfg.MFAIssuer = "sessiond"
	}
	if device == nil {
		device = func(string) string { return "" }
	}
	if log == nil {
		log = slog.Default()
	}
	ports := storePorts{store}
	return &Service{refreshes: ports, bearers: store, counter: store, signIns: ports, policies: ports,
		members: ports, mfas: ports, mfaResets: ports, passwords: ports, resets: ports, invites: ports, registrations: ports,
		ownSessions: ports, profiles: ports, accountSessions: ports, audits: ports, webhooks: ports,
		tokens: tokens, hasher: hasher, clock: clock, cfg: cfg, device: device, mailer: mailer, log: log}, nil
}

// issue signs an access token and the given refresh claims.
func (s *Service) issue(accountID uuid.UUID, role Role, auth AuthLevel, refresh RefreshClaims, idleExp, absExp, now time.Time) (TokenPair, error) {
	at, err := s.signAccess(accountID, refresh.Subject, refresh.SessionID, role, auth, now)
	if err != nil {
		return TokenPair{}, err
	}
	rt, err := s.tokens.SignRefresh(refresh)
	if err != nil {
		return TokenPair{}, fmt.Errorf("sign refresh token: %w", err)
	}
	return TokenPair{
		IssuedAt: now, AccessToken: at, RefreshToken: rt, AccessExpiresIn: s.cfg.AccessTTL, SessionID: refresh.SessionID,
		IdleExpiresAt: IdleDeadline(idleExp, absExp), AbsoluteExpiresAt: absExp,
	}, nil
}

// signAccess signs an access token of the session, carrying its
// authentication state (amr, acr, auth_time; AuthLevel).
func (s *Service) signAccess(accountID, userID, sessionID uuid.UUID, role Role, auth AuthLevel, now time.Time) (string, error) {
	access := AccessClaims{
		Subject: userID, SessionID: sessionID, AccountID: accountID, Role: role,
		JTI: NewJTI(), IssuedAt: now, ExpiresAt: now.Add(s.cfg.AccessTTL),
		AMR: auth.Methods(), ACR: auth.ACR(), AuthTime: auth.LastAuthAt, EnrolOnly: auth.EnrolOnly,
	}
	at, err := s.tokens.SignAccess(access)
	if err != nil {
		return "", fmt.Errorf("sign access token: %w", err)
	}
	return at, nil
}

// event builds an audit event of the caller's request (where it came from,
// when), normalized (AuditEvent.Normalized: no secret details, details nil
// recorded as {}, the user agent capped).
func (s *Service) event(accountID uuid.UUID, actor *uuid.UUID, action, resourceType, resourceID string, details map[string]any, c Client, now time.Time) AuditEvent {
	return AuditEvent{
		ID: uuid.New(), AccountID: accountID, ActorUserID: actor, Action: action,
		ResourceType: resourceType, ResourceID: resourceID, Details: details,
		IP: c.IP, UserAgent: c.UserAgent, At: now,
	}.Normalized()
}
