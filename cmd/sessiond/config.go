package main

import (
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/sessiond/sessiond/adapters/argon2"
	"github.com/sessiond/sessiond/adapters/audit"
	httpadapter "github.com/sessiond/sessiond/adapters/http"
	"github.com/sessiond/sessiond/adapters/mailer"
	"github.com/sessiond/sessiond/core"
)

// Config is the whole program's configuration, read from the environment
// (documented in README.md).
type Config struct {
	DatabaseURL          string
	MigrationDatabaseURL string
	// DBMaxConns is the pool size; 0 sizes it for the machine
	// (postgres.DefaultMaxConns).
	DBMaxConns         int32
	DBStatementTimeout time.Duration
	DBAcquireTimeout   time.Duration
	// AccessTokenCacheSize bounds the verified-access-token cache
	// (jose.VerifyCache); 0 disables it.
	AccessTokenCacheSize int
	HTTPAddr             string
	// MetricsAddr is the metrics listener's address; "" when METRICS_ADDR
	// is "off" (no listener).
	MetricsAddr string
	// PprofAddr serves net/http/pprof on a loopback address; "" (the
	// default) serves nothing.
	PprofAddr       string
	ShutdownTimeout time.Duration
	DevMode         bool
	SigningKeysFile string
	TokenIssuer     string
	TokenAudience   string
	TokenClientID   string
	Core            core.Config
	HTTP            httpadapter.Config
	Argon2          argon2.Params
	// HashLimits is the password hasher's admission control
	// (HASH_CONCURRENCY, HASH_QUEUE, HASH_QUEUE_WAIT).
	HashLimits       argon2.Limits
	RateLimitEnabled bool
	RateLimits       RateLimitSettings
	LogLevel         string
	SMTP             mailer.SMTPConfig
	Cleanup          CleanupSettings
	Webhooks         WebhookSettings
	Audit            AuditSettings
}

// WebhookSettings configure the webhook endpoints and their delivery
// (adapters/audit).
type WebhookSettings struct {
	// Keys encrypt endpoint secrets at rest (the first seals, all open);
	// none: webhooks are not configured (the API answers 503).
	Keys [][]byte
	// KeyFile holds the key in development (created when missing).
	KeyFile string
	// AllowPrivate lets deliveries reach private, loopback and link-local
	// addresses: development and tests only.
	AllowPrivate bool
	// CAFile adds PEM root certificates trusted for deliveries (receivers
	// behind a private PKI; tests).
	CAFile string
	// Deliver runs the delivery worker in serve.
	Deliver          bool
	PollInterval     time.Duration
	Lease            time.Duration
	Timeout          time.Duration
	RetryPeriod      time.Duration
	AttemptRetention time.Duration
	Accounts         int
}

// AuditSettings bound the audit trail's storage.
type AuditSettings struct {
	// RetentionDefaultDays: how long events are kept for an account
	// without its own setting; RetentionMaxDays bounds every account's.
	RetentionDefaultDays int
	RetentionMaxDays     int
	// PartitionsAheadWeeks: weekly partitions created ahead.
	PartitionsAheadWeeks int
}

// CleanupSettings configures the purge of expired rows.
type CleanupSettings struct {
	// Interval between background purges in serve; 0 disables the loop
	// (run `sessiond cleanup` from cron instead).
	Interval time.Duration
	// Retention keeps sessions this long past their absolute deadline.
	Retention time.Duration
	// BatchSize is the number of rows of each kind deleted per transaction.
	BatchSize int
}

// RateLimitSettings are the abuse-defence rates: N events per window, with
// a burst of N.
type RateLimitSettings struct {
	LoginPerIPPerMinute   int
	RefreshPerIPPerMinute int
	RegisterPerIPPerHour  int
	ResetPerIPPerHour     int
}

// TokenSettings groups what the token codec needs.
type TokenSettings struct {
	KeysFile, Issuer, Audience, ClientID string
	Generate                             bool
}

// DefaultMetricsAddr is where /metrics is served unless METRICS_ADDR says
// otherwise: loopback only, so metrics are private by default (MET-01);
// scrape them from the host, or set METRICS_ADDR to an address the
// scraper reaches.
const DefaultMetricsAddr = "127.0.0.1:9090"

func loadConfig() (Config, error) {
	var errs []string
	env := func(k, def string) string {
		if v, ok := os.LookupEnv(k); ok && v != "" {
			return v
		}
		return def
	}
	boolean := func(k string, def bool) bool {
		v := env(k, strconv.FormatBool(def))
		b, err := strconv.ParseBool(v)
		if err != nil {
			errs = append(errs, fmt.Sprintf("%s: %q is not a boolean", k, v))
		}
		return b
	}
	integer := func(k string, def int) int {
		v := env(k, strconv.Itoa(def))
		n, err := strconv.Atoi(v)
		if err != nil {
			errs = append(errs, fmt.Sprintf("%s: %q is not an integer", k, v))
		}
		return n
	}
	duration := func(k string, def time.Duration) time.Duration {
		v := env(k, def.String())
		d, err := time.ParseDuration(v)
		if err != nil {
			errs = append(errs, fmt.Sprintf("%s: %q is not a duration (e.g. 5m, 10s)", k, v))
		}
		return d
	}

	c := Config{
		DatabaseURL:        env("DATABASE_URL", ""),
		DBMaxConns:         int32(integer("DB_MAX_CONNS", 0)),
		DBStatementTimeout: duration("DB_STATEMENT_TIMEOUT", 5*time.Second),
		DBAcquireTimeout:   duration("DB_ACQUIRE_TIMEOUT", 5*time.Second),
		HTTPAddr:           env("HTTP_ADDR", ":8080"),
		MetricsAddr:        env("METRICS_ADDR", DefaultMetricsAddr),
		PprofAddr:          env("PPROF_ADDR", ""),
		ShutdownTimeout:    duration("SHUTDOWN_TIMEOUT", 20*time.Second),
		DevMode:            boolean("DEV_MODE", false),
		TokenIssuer:        env("TOKEN_ISSUER", "sessiond"),
		TokenAudience:      env("TOKEN_AUDIENCE", "sessiond-api"),
		TokenClientID:      env("TOKEN_CLIENT_ID", "sessiond"),
		RateLimitEnabled:   boolean("RATE_LIMIT_ENABLED", true),
		LogLevel:           env("LOG_LEVEL", "info"),
	}
	c.AccessTokenCacheSize = integer("ACCESS_TOKEN_CACHE_SIZE", 65536)
	if c.DBMaxConns < 0 || c.AccessTokenCacheSize < 0 {
		errs = append(errs, "DB_MAX_CONNS and ACCESS_TOKEN_CACHE_SIZE must not be negative")
	}
	c.RateLimits = RateLimitSettings{
		LoginPerIPPerMinute:   integer("RATE_LIMIT_LOGIN_PER_IP_PER_MINUTE", 30),
		RefreshPerIPPerMinute: integer("RATE_LIMIT_REFRESH_PER_IP_PER_MINUTE", 120),
		RegisterPerIPPerHour:  integer("RATE_LIMIT_REGISTER_PER_IP_PER_HOUR", 20),
		ResetPerIPPerHour:     integer("RATE_LIMIT_RESET_PER_IP_PER_HOUR", 20),
	}
	for name, v := range map[string]int{
		"RATE_LIMIT_LOGIN_PER_IP_PER_MINUTE":   c.RateLimits.LoginPerIPPerMinute,
		"RATE_LIMIT_REFRESH_PER_IP_PER_MINUTE": c.RateLimits.RefreshPerIPPerMinute, "RATE_LIMIT_REGISTER_PER_IP_PER_HOUR": c.RateLimits.RegisterPerIPPerHour,
		"RATE_LIMIT_RESET_PER_IP_PER_HOUR": c.RateLimits.ResetPerIPPerHour,
	} {
		if v <= 0 {
			errs = append(errs, fmt.Sprintf("%s must be positive (disable limits with RATE_LIMIT_ENABLED=false)", name))
		}
	}
	c.MigrationDatabaseURL = env("MIGRATION_DATABASE_URL", c.DatabaseURL)
	keysDefault := ""
	if c.DevMode {
		keysDefault = ".data/jwks.private.json"
	}
	c.SigningKeysFile = env("SIGNING_KEYS_FILE", keysDefault)

	d := core.DefaultConfig()
	c.Core = core.Config{
		Policy: core.PolicySettings{
			IdleDefault:     integer("SESSION_IDLE_DEFAULT_MINUTES", d.Policy.IdleDefault),
			AbsoluteDefault: integer("SESSION_ABSOLUTE_DEFAULT_MINUTES", d.Policy.AbsoluteDefault),
			IdleMin:         integer("SESSION_IDLE_MIN_MINUTES", d.Policy.IdleMin),
			IdleMax:         integer("SESSION_IDLE_MAX_MINUTES", d.Policy.IdleMax),
			AbsoluteMin:     integer("SESSION_ABSOLUTE_MIN_MINUTES", d.Policy.AbsoluteMin),
			AbsoluteMax:     integer("SESSION_ABSOLUTE_MAX_MINUTES", d.Policy.AbsoluteMax),

			AuditRetentionDefault: integer("AUDIT_RETENTION_DEFAULT_DAYS", d.Policy.AuditRetentionDefault),
			AuditRetentionMin:     integer("AUDIT_RETENTION_MIN_DAYS", d.Policy.AuditRetentionMin),
			AuditRetentionMax:     integer("AUDIT_RETENTION_MAX_DAYS", d.Policy.AuditRetentionMax),
		},
		AccessTTL:     duration("ACCESS_TOKEN_TTL", d.AccessTTL),
		Grace:         duration("REFRESH_GRACE_WINDOW", d.Grace),
		ResetTokenTTL: duration("PASSWORD_RESET_TTL", d.ResetTokenTTL),
		Throttle: core.ThrottleRule{
			Threshold: integer("LOGIN_THROTTLE_THRESHOLD", d.Throttle.Threshold),
			BaseDelay: duration("LOGIN_THROTTLE_BASE_DELAY", d.Throttle.BaseDelay),
			MaxDelay:  duration("LOGIN_THROTTLE_MAX_DELAY", d.Throttle.MaxDelay),
			Window:    duration("LOGIN_THROTTLE_WINDOW", d.Throttle.Window),
		},
		DeviceTTL: duration("LOGIN_DEVICE_TTL", d.DeviceTTL),
		ResetMail: core.ThrottleRule{
			Threshold: 1,
			BaseDelay: duration("PASSWORD_RESET_MAIL_INTERVAL", d.ResetMail.BaseDelay),
			MaxDelay:  duration("PASSWORD_RESET_MAIL_MAX_INTERVAL", d.ResetMail.MaxDelay),
		},
	}
	// Verified emails and invitations (README "Settings").
	switch v := strings.ToLower(env("EMAIL_VERIFICATION", "required")); v {
	case "required":
		c.Core.EmailVerification = true
	case "off":
		c.Core.EmailVerification = false
	default:
		errs = append(errs, fmt.Sprintf("EMAIL_VERIFICATION: %q is not required or off", v))
	}
	switch v := strings.ToLower(env("MEMBER_PASSWORDS", "off")); v {
	case "on":
		c.Core.MemberPasswords = true
	case "off":
		c.Core.MemberPasswords = false
	default:
		errs = append(errs, fmt.Sprintf("MEMBER_PASSWORDS: %q is not on or off", v))
	}
	c.Core.VerificationTTL = duration("EMAIL_VERIFICATION_TTL", d.VerificationTTL)
	c.Core.InvitationTTL = duration("INVITATION_TTL", d.InvitationTTL)
	c.Core.InvitationResendInterval = duration("INVITATION_RESEND_INTERVAL", d.InvitationResendInterval)
	if c.Core.VerificationTTL <= 0 || c.Core.InvitationTTL <= 0 || c.Core.InvitationResendInterval < 0 {
		errs = append(errs, "EMAIL_VERIFICATION_TTL, INVITATION_TTL: must be positive; INVITATION_RESEND_INTERVAL: must not be negative")
	}
	// The mail rate's streak is forgotten after an hour without a mail, or
	// four of its longest intervals when that is longer.
	c.Core.ResetMail.Window = max(time.Hour, 4*c.Core.ResetMail.MaxDelay)
	// The key that seals TOTP secrets at rest (base64 of 32 bytes). In
	// development a fixed, public key stands in (like the generated
	// development signing keys); the server refuses to start without a
	// real one otherwise (provideService).
	if v := env("MFA_ENCRYPTION_KEY", ""); v != "" {
		k, err := base64.StdEncoding.DecodeString(strings.TrimSpace(v))
		if err != nil || len(k) != 32 {
			errs = append(errs, "MFA_ENCRYPTION_KEY: must be the base64 of 32 random bytes (openssl rand -base64 32)")
		}
		c.Core.MFAKey = k
	} else if c.DevMode {
		k := sha256.Sum256([]byte("sessiond development MFA key: never use in production"))
		c.Core.MFAKey = k[:]
	}
	c.Core.MFAIssuer = env("MFA_ISSUER", "sessiond")
	if err := c.Core.Throttle.Validate(); err != nil {
		errs = append(errs, "LOGIN_THROTTLE_*: "+err.Error()+" (LOGIN_THROTTLE_THRESHOLD=0 turns it off)")
	}
	if c.Core.DeviceTTL <= 0 {
		errs = append(errs, "LOGIN_DEVICE_TTL: must be positive")
	}
	if m := c.Core.ResetMail; m.BaseDelay < time.Second || m.MaxDelay < m.BaseDelay || m.MaxDelay > c.Core.ResetTokenTTL {
		errs = append(errs, "PASSWORD_RESET_MAIL_INTERVAL, PASSWORD_RESET_MAIL_MAX_INTERVAL: want 1s ≤ interval ≤ max interval ≤ PASSWORD_RESET_TTL "+
			"(so that the newest mail always holds a token that still works)")
	}
	// Whole milliseconds: statement_timeout is set in ms; below 100 ms
	// ordinary statements would fail under load.
	if c.DBStatementTimeout != 0 && (c.DBStatementTimeout < 100*time.Millisecond || c.DBStatementTimeout%time.Millisecond != 0) {
		errs = append(errs, fmt.Sprintf("DB_STATEMENT_TIMEOUT: %s must be 0 (the server's) or at least 100ms, in whole milliseconds", c.DBStatementTimeout))
	}
	if c.DBAcquireTimeout != 0 && c.DBAcquireTimeout < 10*time.Millisecond {
		errs = append(errs, fmt.Sprintf("DB_ACQUIRE_TIMEOUT: %s must be 0 (no bound) or at least 10ms", c.DBAcquireTimeout))
	}
	if c.DBStatementTimeout < 0 || c.DBAcquireTimeout < 0 {
		errs = append(errs, "DB_STATEMENT_TIMEOUT, DB_ACQUIRE_TIMEOUT: must not be negative")
	}
	if c.ShutdownTimeout <= 0 {
		errs = append(errs, "SHUTDOWN_TIMEOUT: must be positive")
	}
	c.HTTP = httpadapter.Config{CookieSecure: boolean("COOKIE_SECURE", true), DocsEnabled: boolean("DOCS_ENABLED", true),
		MetricsOnAPI: boolean("METRICS_ON_API_LISTENER", false)}
	if strings.EqualFold(c.MetricsAddr, "off") {
		c.MetricsAddr = ""
	}
	for _, s := range splitList(env("TRUSTED_PROXIES", "")) {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			// A bare address is the one-address prefix (127.0.0.1 = 127.0.0.1/32).
			a, aerr := netip.ParseAddr(s)
			if aerr != nil || a.Zone() != "" {
				errs = append(errs, fmt.Sprintf("TRUSTED_PROXIES: %q is neither a CIDR prefix nor an IP address", s))
				continue
			}
			p = netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen())
		}
		c.HTTP.TrustedProxies = append(c.HTTP.TrustedProxies, p.Masked())
	}
	// One parsed list for CORS and the CSRF origin check: refused here,
	// with every bad entry named, rather than at the first request.
	c.HTTP.AllowedOrigins = splitList(env("ALLOWED_ORIGINS", ""))
	if _, err := httpadapter.ParseOrigins(c.HTTP.AllowedOrigins); err != nil {
		errs = append(errs, "ALLOWED_ORIGINS: "+err.Error())
	}
	a := argon2.OWASPParams()
	a.MemoryKiB = uint32(integer("ARGON2_MEMORY_KIB", int(a.MemoryKiB)))
	a.Iterations = uint32(integer("ARGON2_ITERATIONS", int(a.Iterations)))
	a.Parallelism = uint8(integer("ARGON2_PARALLELISM", int(a.Parallelism)))
	c.Argon2 = a
	hl := argon2.DefaultLimits()
	hl.Concurrency = integer("HASH_CONCURRENCY", hl.Concurrency)
	hl.Queue = integer("HASH_QUEUE", hl.Concurrency) // one waiting hash per slot unless told
	hl.Wait = duration("HASH_QUEUE_WAIT", hl.Wait)
	c.HashLimits = hl
	if err := hl.Validate(); err != nil {
		errs = append(errs, "HASH_CONCURRENCY, HASH_QUEUE, HASH_QUEUE_WAIT: want concurrency ≥ 1, queue ≥ 0, wait ≥ 0 (0 = no bound)")
	}

	// Mail: SMTP when SMTP_ADDR is set, else the log mailer (development).
	c.SMTP = mailer.SMTPConfig{
		Addr: env("SMTP_ADDR", ""), From: env("SMTP_FROM", ""),
		Username: env("SMTP_USERNAME", ""), Password: env("SMTP_PASSWORD", ""),
		ResetURL:  env("PASSWORD_RESET_URL", ""),
		VerifyURL: env("EMAIL_VERIFICATION_URL", ""), InviteURL: env("INVITATION_URL", ""),
	}
	if c.SMTP.Addr != "" && c.SMTP.From == "" {
		errs = append(errs, "SMTP_FROM: required when SMTP_ADDR is set")
	}

	c.Cleanup = CleanupSettings{
		Interval:  duration("CLEANUP_INTERVAL", 10*time.Minute),
		Retention: duration("CLEANUP_RETENTION", 168*time.Hour),
		BatchSize: integer("CLEANUP_BATCH_SIZE", 1000),
	}
	if c.Cleanup.Interval < 0 || c.Cleanup.Retention < 0 {
		errs = append(errs, "CLEANUP_INTERVAL, CLEANUP_RETENTION: must not be negative")
	}
	if c.Cleanup.BatchSize < 1 || c.Cleanup.BatchSize > 100000 {
		errs = append(errs, fmt.Sprintf("CLEANUP_BATCH_SIZE: %d is not between 1 and 100000", c.Cleanup.BatchSize))
	}

	c.Webhooks = WebhookSettings{
		AllowPrivate:     boolean("WEBHOOK_ALLOW_PRIVATE_TARGETS", false),
		Deliver:          boolean("WEBHOOK_DELIVERY", true),
		PollInterval:     duration("WEBHOOK_POLL_INTERVAL", time.Second),
		Lease:            duration("WEBHOOK_LEASE", 60*time.Second),
		Timeout:          duration("WEBHOOK_TIMEOUT", 10*time.Second),
		RetryPeriod:      duration("WEBHOOK_RETRY_PERIOD", 24*time.Hour),
		AttemptRetention: duration("WEBHOOK_ATTEMPT_RETENTION", 168*time.Hour),
		Accounts:         integer("WEBHOOK_CONCURRENCY", 4),
		CAFile:           env("WEBHOOK_CA_FILE", ""),
	}
	if v := env("WEBHOOK_SECRETS_KEY", ""); v != "" {
		keys, err := audit.ParseKeys(v)
		if err != nil {
			errs = append(errs, "WEBHOOK_SECRETS_KEY: "+err.Error())
		}
		c.Webhooks.Keys = keys
	} else if c.DevMode {
		c.Webhooks.KeyFile = env("WEBHOOK_SECRETS_KEY_FILE", ".data/webhook-secrets.key")
	} else {
		c.Webhooks.KeyFile = env("WEBHOOK_SECRETS_KEY_FILE", "")
	}
	w := c.Webhooks
	if w.PollInterval < 10*time.Millisecond || w.Lease < time.Second || w.Timeout < 100*time.Millisecond || w.Timeout > w.Lease/4 ||
		w.RetryPeriod < time.Minute || w.AttemptRetention < 24*time.Hour || w.Accounts < 1 || w.Accounts > 256 {
		errs = append(errs, "WEBHOOK_*: want POLL_INTERVAL ≥ 10ms, LEASE ≥ 1s, 100ms ≤ TIMEOUT ≤ LEASE/4, RETRY_PERIOD ≥ 1m, ATTEMPT_RETENTION ≥ 24h, 1 ≤ CONCURRENCY ≤ 256")
	}
	c.Audit = AuditSettings{
		RetentionDefaultDays: c.Core.Policy.AuditRetentionDefault,
		RetentionMaxDays:     c.Core.Policy.AuditRetentionMax,
		PartitionsAheadWeeks: integer("AUDIT_PARTITIONS_AHEAD_WEEKS", 4),
	}
	if a := c.Audit; a.RetentionDefaultDays < 7 || a.RetentionMaxDays < a.RetentionDefaultDays || a.RetentionMaxDays > 3660 ||
		a.PartitionsAheadWeeks < 1 || a.PartitionsAheadWeeks > 52 {
		errs = append(errs, "AUDIT_RETENTION_*: want 7 ≤ DEFAULT_DAYS ≤ MAX_DAYS ≤ 3660; AUDIT_PARTITIONS_AHEAD_WEEKS 1..52")
	}

	if len(errs) > 0 {
		return Config{}, fmt.Errorf("configuration:\n  %s", strings.Join(errs, "\n  "))
	}
	return c, nil
}

func (c Config) tokenSettings() TokenSettings {
	return TokenSettings{KeysFile: c.SigningKeysFile, Issuer: c.TokenIssuer, Audience: c.TokenAudience, ClientID: c.TokenClientID, Generate: c.DevMode}
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}
