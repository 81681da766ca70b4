package main

import (
	"cmp"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/sessiond/sessiond/adapters/argon2"
	"github.com/sessiond/sessiond/adapters/audit"
	httpadapter "github.com/sessiond/sessiond/adapters/http"
	"github.com/sessiond/sessiond/adapters/mailer"
	"github.com/sessiond/sessiond/adapters/telemetry"
	"github.com/sessiond/sessiond/cmd/sessiond/assemble"
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
	// Tracing selects the trace exporter (OTEL_*; off by default).
	Tracing telemetry.TracingConfig
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
	// (HASH_CONCURRENCY, HASH_QUEUE, HASH_QUEUE_WAIT, HASH_SHED_HOLD).
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

// RateLimitSettings are the abuse-defence rates (RATE_LIMIT_*); the rules
// they make are the assembly's, shared with the HTTP tests.
type RateLimitSettings = assemble.RateLimitSettings

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

// loadConfig reads the configuration from the environment (parseEnv),
// builds it (envVars.config) and checks it (checkConfig). Every problem is
// reported at once, one line each, naming its variables; none quotes a
// secret.
func loadConfig() (Config, error) {
	e, problems := parseEnv()
	c, more := e.config()
	problems = append(problems, more...)
	problems = append(problems, checkConfig(c)...)
	if len(problems) > 0 {
		return Config{}, fmt.Errorf("configuration:\n  %s", strings.Join(problems, "\n  "))
	}
	return c, nil
}

// config builds the Config, with the defaults that depend on another
// variable and the problems of the values that need more than parsing.
func (e envVars) config() (Config, []string) {
	keysFile, webhookKeyFile := "", ""
	if e.DevMode {
		keysFile, webhookKeyFile = ".data/jwks.private.json", ".data/webhook-secrets.key"
	}
	c := Config{
		DatabaseURL:          e.DatabaseURL,
		MigrationDatabaseURL: cmp.Or(e.MigrationDatabaseURL, e.DatabaseURL),
		DBMaxConns:           int32(e.DBMaxConns),
		DBStatementTimeout:   e.DBStatementTimeout,
		DBAcquireTimeout:     e.DBAcquireTimeout,
		AccessTokenCacheSize: e.AccessTokenCacheSize,
		HTTPAddr:             e.HTTPAddr,
		MetricsAddr:          e.MetricsAddr,
		Tracing:              telemetry.TracingConfig{Exporter: e.OTELTracesExporter, Endpoint: e.OTELEndpoint, ServiceName: e.OTELServiceName},
		PprofAddr:            e.PprofAddr,
		ShutdownTimeout:      e.ShutdownTimeout,
		DevMode:              e.DevMode,
		SigningKeysFile:      cmp.Or(e.SigningKeysFile, keysFile),
		TokenIssuer:          e.TokenIssuer,
		TokenAudience:        e.TokenAudience,
		TokenClientID:        e.TokenClientID,
		HTTP: httpadapter.Config{CookieSecure: e.CookieSecure, DocsEnabled: e.DocsEnabled, MetricsOnAPI: e.MetricsOnAPI,
			AllowedOrigins: splitList(e.AllowedOrigins)},
		Argon2:           e.argon2Params(),
		HashLimits:       argon2.Limits{Concurrency: e.HashConcurrency, Queue: e.HashConcurrency, Wait: e.HashQueueWait, ShedHold: e.HashShedHold},
		RateLimitEnabled: e.RateLimitEnabled,
		RateLimits: RateLimitSettings{LoginPerIPPerMinute: e.RateLogin, RefreshPerIPPerMinute: e.RateRefresh,
			RegisterPerIPPerHour: e.RateRegister, ResetPerIPPerHour: e.RateReset},
		LogLevel: e.LogLevel,
		// Mail: SMTP when SMTP_ADDR is set, else the log mailer (development).
		SMTP: mailer.SMTPConfig{Addr: e.SMTPAddr, From: e.SMTPFrom, Username: e.SMTPUsername, Password: e.SMTPPassword,
			ResetURL: e.ResetURL, VerifyURL: e.VerifyURL, InviteURL: e.InviteURL},
		Cleanup: CleanupSettings{Interval: e.CleanupInterval, Retention: e.CleanupRetention, BatchSize: e.CleanupBatchSize},
		Webhooks: WebhookSettings{AllowPrivate: e.WebhookAllowPrivate, CAFile: e.WebhookCAFile, Deliver: e.WebhookDelivery,
			PollInterval: e.WebhookPollInterval, Lease: e.WebhookLease, Timeout: e.WebhookTimeout,
			RetryPeriod: e.WebhookRetryPeriod, AttemptRetention: e.WebhookAttemptKeep, Accounts: e.WebhookConcurrency},
		Audit: AuditSettings{RetentionDefaultDays: e.AuditRetentionDefault, RetentionMaxDays: e.AuditRetentionMax,
			PartitionsAheadWeeks: e.AuditPartitionsAhead},
	}
	if strings.EqualFold(c.MetricsAddr, "off") {
		c.MetricsAddr = ""
	}
	if e.HashQueue != nil { // else one waiting hash per slot
		c.HashLimits.Queue = *e.HashQueue
	}
	var problems, more []string
	c.Core, problems = e.coreConfig()
	c.HTTP.TrustedProxies, more = parseTrustedProxies(e.TrustedProxies)
	problems = append(problems, more...)
	if e.WebhookSecretsKey != "" {
		keys, err := audit.ParseKeys(e.WebhookSecretsKey) // its errors never quote the key
		if err != nil {
			problems = append(problems, "WEBHOOK_SECRETS_KEY: "+err.Error())
		}
		c.Webhooks.Keys = keys
	} else {
		c.Webhooks.KeyFile = cmp.Or(e.WebhookSecretsKeyFile, webhookKeyFile)
	}
	return c, problems
}

func (e envVars) argon2Params() argon2.Params {
	a := argon2.OWASPParams()
	a.MemoryKiB = uint32(e.Argon2MemoryKiB)
	a.Iterations = uint32(e.Argon2Iterations)
	a.Parallelism = uint8(e.Argon2Parallelism)
	return a
}

// coreConfig builds core's settings: the session policy, the token
// lifetimes, the brute-force and reset-mail rates, verified emails and
// invitations (README "Configuration"), the second factor.
func (e envVars) coreConfig() (core.Config, []string) {
	c := core.Config{
		Policy: core.PolicySettings{
			IdleDefault: e.IdleDefault, AbsoluteDefault: e.AbsoluteDefault,
			IdleMin: e.IdleMin, IdleMax: e.IdleMax, AbsoluteMin: e.AbsoluteMin, AbsoluteMax: e.AbsoluteMax,
			AuditRetentionDefault: e.AuditRetentionDefault, AuditRetentionMin: e.AuditRetentionMin, AuditRetentionMax: e.AuditRetentionMax,
		},
		AccessTTL:     e.AccessTTL,
		Grace:         e.Grace,
		ResetTokenTTL: e.ResetTokenTTL,
		Throttle: core.ThrottleRule{Threshold: e.ThrottleThreshold, BaseDelay: e.ThrottleBaseDelay,
			MaxDelay: e.ThrottleMaxDelay, Window: e.ThrottleWindow},
		DeviceTTL: e.DeviceTTL,
		// The mail rate's streak is forgotten after an hour without a mail,
		// or four of its longest intervals when that is longer.
		ResetMail: core.ThrottleRule{Threshold: 1, BaseDelay: e.ResetMailInterval, MaxDelay: e.ResetMailMaxInterval,
			Window: max(time.Hour, 4*e.ResetMailMaxInterval)},
		VerificationTTL:          e.VerificationTTL,
		InvitationTTL:            e.InvitationTTL,
		InvitationResendInterval: e.InvitationResend,
		MFAIssuer:                e.MFAIssuer,
	}
	var problems []string
	var ok bool
	if c.EmailVerification, ok = choice(e.EmailVerification, "required", "off"); !ok {
		problems = append(problems, fmt.Sprintf("EMAIL_VERIFICATION: %q is not required or off", strings.ToLower(e.EmailVerification)))
	}
	if c.MemberPasswords, ok = choice(e.MemberPasswords, "on", "off"); !ok {
		problems = append(problems, fmt.Sprintf("MEMBER_PASSWORDS: %q is not on or off", strings.ToLower(e.MemberPasswords)))
	}
	var err error
	if c.MFAKey, err = mfaKey(e.MFAEncryptionKey, e.DevMode); err != nil {
		problems = append(problems, err.Error())
	}
	return c, problems
}

// choice reads a two-way setting, in any case: true for yes, false for no;
// ok false for anything else.
func choice(v, yes, no string) (value, ok bool) {
	switch strings.ToLower(v) {
	case yes:
		return true, true
	case no:
		return false, true
	}
	return false, false
}

// mfaKey is the key that seals TOTP secrets at rest (base64 of 32 bytes).
// In development a fixed, public key stands in (like the generated
// development signing keys); the server refuses to start without a real
// one otherwise (provideServiceOptions). The error never quotes the key.
func mfaKey(v string, devMode bool) ([]byte, error) {
	if v == "" {
		if !devMode {
			return nil, nil
		}
		k := sha256.Sum256([]byte("sessiond development MFA key: never use in production"))
		return k[:], nil
	}
	k, err := base64.StdEncoding.DecodeString(strings.TrimSpace(v))
	if err != nil || len(k) != 32 {
		return nil, errors.New("MFA_ENCRYPTION_KEY: must be the base64 of 32 random bytes (openssl rand -base64 32)")
	}
	return k, nil
}

// parseTrustedProxies reads TRUSTED_PROXIES: CIDR prefixes, or bare
// addresses as one-address prefixes (127.0.0.1 = 127.0.0.1/32). The
// problems name every bad entry.
func parseTrustedProxies(list string) ([]netip.Prefix, []string) {
	var out []netip.Prefix
	var problems []string
	for _, s := range splitList(list) {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			a, aerr := netip.ParseAddr(s)
			if aerr != nil || a.Zone() != "" {
				problems = append(problems, fmt.Sprintf("TRUSTED_PROXIES: %q is neither a CIDR prefix nor an IP address", s))
				continue
			}
			p = netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen())
		}
		out = append(out, p.Masked())
	}
	return out, problems
}

// checkConfig applies the rules a parsed configuration must follow: bounds
// and rules between variables, one problem per broken rule.
func checkConfig(c Config) []string {
	var problems []string
	for _, check := range []func(Config) []string{
		checkDatabase, checkServer, checkRateLimits, checkSessions, checkMail, checkHashing, checkCleanup, checkWebhooks, checkAudit,
	} {
		problems = append(problems, check(c)...)
	}
	return problems
}

func checkDatabase(c Config) []string {
	var problems []string
	if c.DBMaxConns < 0 || c.AccessTokenCacheSize < 0 {
		problems = append(problems, "DB_MAX_CONNS and ACCESS_TOKEN_CACHE_SIZE must not be negative")
	}
	// Whole milliseconds: statement_timeout is set in ms; below 100 ms
	// ordinary statements would fail under load.
	if c.DBStatementTimeout != 0 && (c.DBStatementTimeout < 100*time.Millisecond || c.DBStatementTimeout%time.Millisecond != 0) {
		problems = append(problems, fmt.Sprintf("DB_STATEMENT_TIMEOUT: %s must be 0 (the server's) or at least 100ms, in whole milliseconds", c.DBStatementTimeout))
	}
	if c.DBAcquireTimeout != 0 && c.DBAcquireTimeout < 10*time.Millisecond {
		problems = append(problems, fmt.Sprintf("DB_ACQUIRE_TIMEOUT: %s must be 0 (no bound) or at least 10ms", c.DBAcquireTimeout))
	}
	if c.DBStatementTimeout < 0 || c.DBAcquireTimeout < 0 {
		problems = append(problems, "DB_STATEMENT_TIMEOUT, DB_ACQUIRE_TIMEOUT: must not be negative")
	}
	return problems
}

func checkServer(c Config) []string {
	var problems []string
	if c.ShutdownTimeout <= 0 {
		problems = append(problems, "SHUTDOWN_TIMEOUT: must be positive")
	}
	// One parsed list for CORS and the CSRF origin check: refused here,
	// with every bad entry named, rather than at the first request.
	if _, err := httpadapter.ParseOrigins(c.HTTP.AllowedOrigins); err != nil {
		problems = append(problems, "ALLOWED_ORIGINS: "+err.Error())
	}
	return problems
}

func checkRateLimits(c Config) []string {
	var problems []string
	r := c.RateLimits
	for _, l := range []struct {
		name string
		v    int
	}{
		{"RATE_LIMIT_LOGIN_PER_IP_PER_MINUTE", r.LoginPerIPPerMinute},
		{"RATE_LIMIT_REFRESH_PER_IP_PER_MINUTE", r.RefreshPerIPPerMinute},
		{"RATE_LIMIT_REGISTER_PER_IP_PER_HOUR", r.RegisterPerIPPerHour},
		{"RATE_LIMIT_RESET_PER_IP_PER_HOUR", r.ResetPerIPPerHour},
	} {
		if l.v <= 0 {
			problems = append(problems, l.name+" must be positive (disable limits with RATE_LIMIT_ENABLED=false)")
		}
	}
	return problems
}

// checkSessions checks the token, brute-force, reset-mail, verification
// and invitation settings (the session policy's bounds are core's:
// core.NewService).
func checkSessions(c Config) []string {
	var problems []string
	k := c.Core
	if k.VerificationTTL <= 0 || k.InvitationTTL <= 0 || k.InvitationResendInterval < 0 {
		problems = append(problems, "EMAIL_VERIFICATION_TTL, INVITATION_TTL: must be positive; INVITATION_RESEND_INTERVAL: must not be negative")
	}
	if err := k.Throttle.Validate(); err != nil {
		problems = append(problems, "LOGIN_THROTTLE_*: "+err.Error()+" (LOGIN_THROTTLE_THRESHOLD=0 turns it off)")
	}
	if k.DeviceTTL <= 0 {
		problems = append(problems, "LOGIN_DEVICE_TTL: must be positive")
	}
	if m := k.ResetMail; m.BaseDelay < time.Second || m.MaxDelay < m.BaseDelay || m.MaxDelay > k.ResetTokenTTL {
		problems = append(problems, "PASSWORD_RESET_MAIL_INTERVAL, PASSWORD_RESET_MAIL_MAX_INTERVAL: want 1s ≤ interval ≤ max interval ≤ PASSWORD_RESET_TTL "+
			"(so that the newest mail always holds a token that still works)")
	}
	return problems
}

func checkMail(c Config) []string {
	if c.SMTP.Addr != "" && c.SMTP.From == "" {
		return []string{"SMTP_FROM: required when SMTP_ADDR is set"}
	}
	return nil
}

func checkHashing(c Config) []string {
	if err := c.HashLimits.Validate(); err != nil {
		return []string{"HASH_CONCURRENCY, HASH_QUEUE, HASH_QUEUE_WAIT, HASH_SHED_HOLD: want concurrency ≥ 1, queue ≥ 0, wait ≥ 0 (0 = no bound), hold ≥ 0"}
	}
	return nil
}

func checkCleanup(c Config) []string {
	var problems []string
	if c.Cleanup.Interval < 0 || c.Cleanup.Retention < 0 {
		problems = append(problems, "CLEANUP_INTERVAL, CLEANUP_RETENTION: must not be negative")
	}
	if c.Cleanup.BatchSize < 1 || c.Cleanup.BatchSize > 100000 {
		problems = append(problems, fmt.Sprintf("CLEANUP_BATCH_SIZE: %d is not between 1 and 100000", c.Cleanup.BatchSize))
	}
	return problems
}

func checkWebhooks(c Config) []string {
	w := c.Webhooks
	if w.PollInterval < 10*time.Millisecond || w.Lease < time.Second || w.Timeout < 100*time.Millisecond || w.Timeout > w.Lease/4 ||
		w.RetryPeriod < time.Minute || w.AttemptRetention < 24*time.Hour || w.Accounts < 1 || w.Accounts > 256 {
		return []string{"WEBHOOK_*: want POLL_INTERVAL ≥ 10ms, LEASE ≥ 1s, 100ms ≤ TIMEOUT ≤ LEASE/4, RETRY_PERIOD ≥ 1m, ATTEMPT_RETENTION ≥ 24h, 1 ≤ CONCURRENCY ≤ 256"}
	}
	return nil
}

func checkAudit(c Config) []string {
	if a := c.Audit; a.RetentionDefaultDays < 7 || a.RetentionMaxDays < a.RetentionDefaultDays || a.RetentionMaxDays > core.AuditRetentionCeilingDays ||
		a.PartitionsAheadWeeks < 1 || a.PartitionsAheadWeeks > 52 {
		return []string{fmt.Sprintf("AUDIT_RETENTION_*: want 7 ≤ DEFAULT_DAYS ≤ MAX_DAYS ≤ %d; AUDIT_PARTITIONS_AHEAD_WEEKS 1..52", core.AuditRetentionCeilingDays)}
	}
	return nil
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
