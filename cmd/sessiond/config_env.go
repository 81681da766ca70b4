package main

import (
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/caarlos0/env/v11"

	"github.com/sessiond/sessiond/adapters/argon2"
	"github.com/sessiond/sessiond/core"
)

// envVars is the environment as the server reads it: one field per
// variable of README "Configuration", parsed by caarlos0/env. A default
// written in this file is the field's envDefault; a field without one
// keeps what defaultEnvVars put there (the defaults core and argon2 own),
// or its zero value when the default depends on another variable (see the
// field's comment and envVars.config).
//
// A variable set to the empty string counts as unset, as it always has:
// the library reads an empty value as unset when the field has an
// envDefault, and never sets a field from an empty value otherwise.
//
// Only bool, int and time.Duration fields can fail to parse, and their
// errors quote the value (envParsers); the secrets (DATABASE_URL,
// MIGRATION_DATABASE_URL, MFA_ENCRYPTION_KEY, SMTP_PASSWORD,
// WEBHOOK_SECRETS_KEY) are strings, so no parse error ever carries one.
// Keep it so. A parse error names the field; envKey turns it back into its
// variable.
type envVars struct {
	DatabaseURL          string        `env:"DATABASE_URL"`
	MigrationDatabaseURL string        `env:"MIGRATION_DATABASE_URL"` // "": DATABASE_URL
	DBMaxConns           int           `env:"DB_MAX_CONNS" envDefault:"0"`
	DBStatementTimeout   time.Duration `env:"DB_STATEMENT_TIMEOUT" envDefault:"5s"`
	DBAcquireTimeout     time.Duration `env:"DB_ACQUIRE_TIMEOUT" envDefault:"5s"`
	AccessTokenCacheSize int           `env:"ACCESS_TOKEN_CACHE_SIZE" envDefault:"65536"`

	HTTPAddr     string `env:"HTTP_ADDR" envDefault:":8080"`
	MetricsAddr  string `env:"METRICS_ADDR"` // DefaultMetricsAddr; "off": no listener
	MetricsOnAPI bool   `env:"METRICS_ON_API_LISTENER" envDefault:"false"`
	// Tracing: OpenTelemetry's standard names; off unless
	// OTEL_TRACES_EXPORTER=otlp (adapters/telemetry.TracingConfig).
	OTELTracesExporter string        `env:"OTEL_TRACES_EXPORTER" envDefault:"none"`
	OTELEndpoint       string        `env:"OTEL_EXPORTER_OTLP_ENDPOINT"`
	OTELServiceName    string        `env:"OTEL_SERVICE_NAME" envDefault:"sessiond"`
	PprofAddr          string        `env:"PPROF_ADDR"`
	ShutdownTimeout    time.Duration `env:"SHUTDOWN_TIMEOUT" envDefault:"20s"`
	DevMode            bool          `env:"DEV_MODE" envDefault:"false"`
	LogLevel           string        `env:"LOG_LEVEL" envDefault:"info"`
	CookieSecure       bool          `env:"COOKIE_SECURE" envDefault:"true"`
	DocsEnabled        bool          `env:"DOCS_ENABLED" envDefault:"true"`
	TrustedProxies     string        `env:"TRUSTED_PROXIES"` // comma-separated
	AllowedOrigins     string        `env:"ALLOWED_ORIGINS"` // comma-separated

	SigningKeysFile string `env:"SIGNING_KEYS_FILE"` // "": .data/jwks.private.json in dev mode
	TokenIssuer     string `env:"TOKEN_ISSUER" envDefault:"sessiond"`
	TokenAudience   string `env:"TOKEN_AUDIENCE" envDefault:"sessiond-api"`
	TokenClientID   string `env:"TOKEN_CLIENT_ID" envDefault:"sessiond"`

	RateLimitEnabled bool `env:"RATE_LIMIT_ENABLED" envDefault:"true"`
	RateLogin        int  `env:"RATE_LIMIT_LOGIN_PER_IP_PER_MINUTE" envDefault:"30"`
	RateRefresh      int  `env:"RATE_LIMIT_REFRESH_PER_IP_PER_MINUTE" envDefault:"120"`
	RateRegister     int  `env:"RATE_LIMIT_REGISTER_PER_IP_PER_HOUR" envDefault:"20"`
	RateReset        int  `env:"RATE_LIMIT_RESET_PER_IP_PER_HOUR" envDefault:"20"`

	// core.DefaultConfig (defaultEnvVars).
	IdleDefault           int           `env:"SESSION_IDLE_DEFAULT_MINUTES"`
	AbsoluteDefault       int           `env:"SESSION_ABSOLUTE_DEFAULT_MINUTES"`
	IdleMin               int           `env:"SESSION_IDLE_MIN_MINUTES"`
	IdleMax               int           `env:"SESSION_IDLE_MAX_MINUTES"`
	AbsoluteMin           int           `env:"SESSION_ABSOLUTE_MIN_MINUTES"`
	AbsoluteMax           int           `env:"SESSION_ABSOLUTE_MAX_MINUTES"`
	AuditRetentionDefault int           `env:"AUDIT_RETENTION_DEFAULT_DAYS"`
	AuditRetentionMin     int           `env:"AUDIT_RETENTION_MIN_DAYS"`
	AuditRetentionMax     int           `env:"AUDIT_RETENTION_MAX_DAYS"`
	AccessTTL             time.Duration `env:"ACCESS_TOKEN_TTL"`
	Grace                 time.Duration `env:"REFRESH_GRACE_WINDOW"`
	ResetTokenTTL         time.Duration `env:"PASSWORD_RESET_TTL"`
	ThrottleThreshold     int           `env:"LOGIN_THROTTLE_THRESHOLD"`
	ThrottleBaseDelay     time.Duration `env:"LOGIN_THROTTLE_BASE_DELAY"`
	ThrottleMaxDelay      time.Duration `env:"LOGIN_THROTTLE_MAX_DELAY"`
	ThrottleWindow        time.Duration `env:"LOGIN_THROTTLE_WINDOW"`
	DeviceTTL             time.Duration `env:"LOGIN_DEVICE_TTL"`
	ResetMailInterval     time.Duration `env:"PASSWORD_RESET_MAIL_INTERVAL"`
	ResetMailMaxInterval  time.Duration `env:"PASSWORD_RESET_MAIL_MAX_INTERVAL"`
	VerificationTTL       time.Duration `env:"EMAIL_VERIFICATION_TTL"`
	InvitationTTL         time.Duration `env:"INVITATION_TTL"`
	InvitationResend      time.Duration `env:"INVITATION_RESEND_INTERVAL"`

	EmailVerification string `env:"EMAIL_VERIFICATION" envDefault:"required"` // required or off, any case
	MemberPasswords   string `env:"MEMBER_PASSWORDS" envDefault:"off"`        // on or off, any case
	MFAEncryptionKey  string `env:"MFA_ENCRYPTION_KEY"`                       // secret; "": the public development key in dev mode
	MFAIssuer         string `env:"MFA_ISSUER" envDefault:"sessiond"`

	// argon2.OWASPParams and argon2.DefaultLimits (defaultEnvVars).
	Argon2MemoryKiB   int           `env:"ARGON2_MEMORY_KIB"`
	Argon2Iterations  int           `env:"ARGON2_ITERATIONS"`
	Argon2Parallelism int           `env:"ARGON2_PARALLELISM"`
	HashConcurrency   int           `env:"HASH_CONCURRENCY"`
	HashQueue         *int          `env:"HASH_QUEUE"` // nil: HASH_CONCURRENCY
	HashQueueWait     time.Duration `env:"HASH_QUEUE_WAIT"`
	HashShedHold      time.Duration `env:"HASH_SHED_HOLD"`

	SMTPAddr     string `env:"SMTP_ADDR"`
	SMTPFrom     string `env:"SMTP_FROM"`
	SMTPUsername string `env:"SMTP_USERNAME"`
	SMTPPassword string `env:"SMTP_PASSWORD"` // secret
	ResetURL     string `env:"PASSWORD_RESET_URL"`
	VerifyURL    string `env:"EMAIL_VERIFICATION_URL"`
	InviteURL    string `env:"INVITATION_URL"`

	CleanupInterval  time.Duration `env:"CLEANUP_INTERVAL" envDefault:"10m"`
	CleanupRetention time.Duration `env:"CLEANUP_RETENTION" envDefault:"168h"`
	CleanupBatchSize int           `env:"CLEANUP_BATCH_SIZE" envDefault:"1000"`

	WebhookSecretsKey     string        `env:"WEBHOOK_SECRETS_KEY"`      // secret
	WebhookSecretsKeyFile string        `env:"WEBHOOK_SECRETS_KEY_FILE"` // "": .data/webhook-secrets.key in dev mode
	WebhookAllowPrivate   bool          `env:"WEBHOOK_ALLOW_PRIVATE_TARGETS" envDefault:"false"`
	WebhookCAFile         string        `env:"WEBHOOK_CA_FILE"`
	WebhookDelivery       bool          `env:"WEBHOOK_DELIVERY" envDefault:"true"`
	WebhookPollInterval   time.Duration `env:"WEBHOOK_POLL_INTERVAL" envDefault:"1s"`
	WebhookLease          time.Duration `env:"WEBHOOK_LEASE" envDefault:"60s"`
	WebhookTimeout        time.Duration `env:"WEBHOOK_TIMEOUT" envDefault:"10s"`
	WebhookRetryPeriod    time.Duration `env:"WEBHOOK_RETRY_PERIOD" envDefault:"24h"`
	WebhookAttemptKeep    time.Duration `env:"WEBHOOK_ATTEMPT_RETENTION" envDefault:"168h"`
	WebhookConcurrency    int           `env:"WEBHOOK_CONCURRENCY" envDefault:"4"`

	AuditPartitionsAhead int `env:"AUDIT_PARTITIONS_AHEAD_WEEKS" envDefault:"4"`
}

// defaultEnvVars holds the defaults of the fields without an envDefault:
// those other packages own, so that they are written once.
func defaultEnvVars() envVars {
	d, a, hl := core.DefaultConfig(), argon2.OWASPParams(), argon2.DefaultLimits()
	p := d.Policy
	return envVars{
		MetricsAddr: DefaultMetricsAddr,

		IdleDefault: p.IdleDefault, AbsoluteDefault: p.AbsoluteDefault,
		IdleMin: p.IdleMin, IdleMax: p.IdleMax, AbsoluteMin: p.AbsoluteMin, AbsoluteMax: p.AbsoluteMax,
		AuditRetentionDefault: p.AuditRetentionDefault, AuditRetentionMin: p.AuditRetentionMin, AuditRetentionMax: p.AuditRetentionMax,
		AccessTTL: d.AccessTTL, Grace: d.Grace, ResetTokenTTL: d.ResetTokenTTL,
		ThrottleThreshold: d.Throttle.Threshold, ThrottleBaseDelay: d.Throttle.BaseDelay,
		ThrottleMaxDelay: d.Throttle.MaxDelay, ThrottleWindow: d.Throttle.Window,
		DeviceTTL:         d.DeviceTTL,
		ResetMailInterval: d.ResetMail.BaseDelay, ResetMailMaxInterval: d.ResetMail.MaxDelay,
		VerificationTTL: d.VerificationTTL, InvitationTTL: d.InvitationTTL, InvitationResend: d.InvitationResendInterval,

		Argon2MemoryKiB: int(a.MemoryKiB), Argon2Iterations: int(a.Iterations), Argon2Parallelism: int(a.Parallelism),
		HashConcurrency: hl.Concurrency, HashQueueWait: hl.Wait, HashShedHold: hl.ShedHold,
	}
}

// envParsers replace the library's parsers for the three types that can
// fail, keeping the accepted formats (strconv.ParseBool, strconv.Atoi,
// time.ParseDuration) and the messages the server has always given.
var envParsers = map[reflect.Type]env.ParserFunc{
	reflect.TypeFor[bool](): func(v string) (any, error) {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return nil, fmt.Errorf("%q is not a boolean", v)
		}
		return b, nil
	},
	reflect.TypeFor[int](): func(v string) (any, error) {
		n, err := strconv.Atoi(v)
		if err != nil {
			return nil, fmt.Errorf("%q is not an integer", v)
		}
		return n, nil
	},
	reflect.TypeFor[time.Duration](): func(v string) (any, error) {
		d, err := time.ParseDuration(v)
		if err != nil {
			return nil, fmt.Errorf("%q is not a duration (e.g. 5m, 10s)", v)
		}
		return d, nil
	},
}

// parseEnv reads the environment into envVars, with one problem per
// variable that does not parse ("DOCS_ENABLED: "maybe" is not a
// boolean"). A variable that does not parse reads as its zero value, not
// its default, for the checks that follow (as before the library).
func parseEnv() (envVars, []string) {
	e := defaultEnvVars()
	err := env.ParseWithOptions(&e, env.Options{FuncMap: envParsers})
	if err == nil {
		return e, nil
	}
	var agg env.AggregateError
	if !errors.As(err, &agg) {
		return e, []string{err.Error()}
	}
	var problems []string
	for _, err := range agg.Errors {
		var pe env.ParseError
		if !errors.As(err, &pe) {
			problems = append(problems, err.Error()) // a mistake in envVars: names no value
			continue
		}
		reflect.ValueOf(&e).Elem().FieldByName(pe.Name).SetZero()
		problems = append(problems, envKey(pe.Name)+": "+pe.Err.Error())
	}
	return e, problems
}

// envKey is the variable of envVars' field.
func envKey(field string) string {
	f, ok := reflect.TypeFor[envVars]().FieldByName(field)
	if !ok {
		return field
	}
	key, _, _ := strings.Cut(f.Tag.Get("env"), ",")
	return key
}
