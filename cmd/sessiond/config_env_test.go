package main

import (
	"os"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sessiond/sessiond/adapters/argon2"
	"github.com/sessiond/sessiond/core"
)

// envKeys lists every variable envVars reads, in field order.
func envKeys() []string {
	t := reflect.TypeFor[envVars]()
	keys := make([]string, 0, t.NumField())
	for i := range t.NumField() {
		keys = append(keys, envKey(t.Field(i).Name))
	}
	return keys
}

// unsetEnv unsets every variable the server reads for the test (restored
// afterwards), so that the test does not depend on the caller's
// environment.
func unsetEnv(t *testing.T) {
	t.Helper()
	for _, k := range envKeys() {
		t.Setenv(k, "") // restores the caller's value after the test
		if err := os.Unsetenv(k); err != nil {
			t.Fatal(err)
		}
	}
}

// A variable set to the empty string counts as unset, for every variable:
// the configuration is the defaults', derived defaults included
// (MIGRATION_DATABASE_URL, SIGNING_KEYS_FILE, HASH_QUEUE,
// WEBHOOK_SECRETS_KEY_FILE, the development MFA key).
func TestConfig_EmptyValueMeansDefault(t *testing.T) {
	for _, dev := range []string{"", "true"} {
		t.Run("DEV_MODE="+dev, func(t *testing.T) {
			unsetEnv(t)
			if dev != "" {
				t.Setenv("DEV_MODE", dev)
			}
			t.Setenv("DATABASE_URL", "postgres://sessiond_app@127.0.0.1:1/sessiond")
			unset, err := loadConfig()
			if err != nil {
				t.Fatal(err)
			}
			for _, k := range envKeys() {
				if k == "DATABASE_URL" || (k == "DEV_MODE" && dev != "") {
					continue
				}
				t.Setenv(k, "")
			}
			empty, err := loadConfig()
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(empty, unset) {
				t.Errorf("every variable empty:\n %+v\nwant (unset):\n %+v", empty, unset)
			}
			checkDefaults(t, empty, dev != "")
		})
	}
}

// checkDefaults compares a configuration read from an empty environment
// with the defaults of README "Configuration".
func checkDefaults(t *testing.T, c Config, dev bool) {
	t.Helper()
	keysFile, webhookKeyFile, mfaKeyLen := "", "", 0
	if dev {
		keysFile, webhookKeyFile, mfaKeyLen = ".data/jwks.private.json", ".data/webhook-secrets.key", 32
	}
	d := core.DefaultConfig()
	for _, tc := range []struct {
		name      string
		got, want any
	}{
		{"MIGRATION_DATABASE_URL", c.MigrationDatabaseURL, c.DatabaseURL},
		{"DB_MAX_CONNS", c.DBMaxConns, int32(0)},
		{"DB_STATEMENT_TIMEOUT", c.DBStatementTimeout, 5 * time.Second},
		{"DB_ACQUIRE_TIMEOUT", c.DBAcquireTimeout, 5 * time.Second},
		{"ACCESS_TOKEN_CACHE_SIZE", c.AccessTokenCacheSize, 65536},
		{"HTTP_ADDR", c.HTTPAddr, ":8080"},
		{"METRICS_ADDR", c.MetricsAddr, DefaultMetricsAddr},
		{"SHUTDOWN_TIMEOUT", c.ShutdownTimeout, 20 * time.Second},
		{"DEV_MODE", c.DevMode, dev},
		{"SIGNING_KEYS_FILE", c.SigningKeysFile, keysFile},
		{"TOKEN_*", [3]string{c.TokenIssuer, c.TokenAudience, c.TokenClientID}, [3]string{"sessiond", "sessiond-api", "sessiond"}},
		{"COOKIE_SECURE, DOCS_ENABLED, METRICS_ON_API_LISTENER", [3]bool{c.HTTP.CookieSecure, c.HTTP.DocsEnabled, c.HTTP.MetricsOnAPI}, [3]bool{true, true, false}},
		{"RATE_LIMIT_ENABLED", c.RateLimitEnabled, true},
		{"RATE_LIMIT_*", c.RateLimits, RateLimitSettings{LoginPerIPPerMinute: 30, RefreshPerIPPerMinute: 120, RegisterPerIPPerHour: 20, ResetPerIPPerHour: 20}},
		{"LOG_LEVEL", c.LogLevel, "info"},
		{"SESSION_*, AUDIT_RETENTION_*", c.Core.Policy, d.Policy},
		{"LOGIN_THROTTLE_*", c.Core.Throttle, d.Throttle},
		{"PASSWORD_RESET_MAIL_*", c.Core.ResetMail, d.ResetMail},
		{"ACCESS_TOKEN_TTL, REFRESH_GRACE_WINDOW, PASSWORD_RESET_TTL, LOGIN_DEVICE_TTL",
			[4]time.Duration{c.Core.AccessTTL, c.Core.Grace, c.Core.ResetTokenTTL, c.Core.DeviceTTL},
			[4]time.Duration{d.AccessTTL, d.Grace, d.ResetTokenTTL, d.DeviceTTL}},
		{"EMAIL_VERIFICATION, MEMBER_PASSWORDS", [2]bool{c.Core.EmailVerification, c.Core.MemberPasswords}, [2]bool{true, false}},
		{"EMAIL_VERIFICATION_TTL, INVITATION_TTL, INVITATION_RESEND_INTERVAL",
			[3]time.Duration{c.Core.VerificationTTL, c.Core.InvitationTTL, c.Core.InvitationResendInterval},
			[3]time.Duration{d.VerificationTTL, d.InvitationTTL, d.InvitationResendInterval}},
		{"MFA_ENCRYPTION_KEY", len(c.Core.MFAKey), mfaKeyLen},
		{"MFA_ISSUER", c.Core.MFAIssuer, "sessiond"},
		{"ARGON2_*", c.Argon2, argon2.OWASPParams()},
		{"HASH_*", c.HashLimits, argon2.DefaultLimits()},
		{"CLEANUP_*", c.Cleanup, CleanupSettings{10 * time.Minute, 168 * time.Hour, 1000}},
		{"WEBHOOK_SECRETS_KEY_FILE", c.Webhooks.KeyFile, webhookKeyFile},
		{"WEBHOOK_*", c.Webhooks, WebhookSettings{KeyFile: webhookKeyFile, Deliver: true, PollInterval: time.Second,
			Lease: 60 * time.Second, Timeout: 10 * time.Second, RetryPeriod: 24 * time.Hour, AttemptRetention: 168 * time.Hour, Accounts: 4}},
		{"AUDIT_*", c.Audit, AuditSettings{90, 365, 4}},
	} {
		if !reflect.DeepEqual(tc.got, tc.want) {
			t.Errorf("%s: %+v, want %+v", tc.name, tc.got, tc.want)
		}
	}
}

// Every problem is reported at once, each naming its variable: two values
// that do not parse and a rule broken by a third.
func TestConfig_AggregatedErrorNamesEveryBadVariable(t *testing.T) {
	unsetEnv(t)
	t.Setenv("DOCS_ENABLED", "maybe")
	t.Setenv("HASH_QUEUE_WAIT", "soon")
	t.Setenv("CLEANUP_BATCH_SIZE", "0")
	_, err := loadConfig()
	if err == nil {
		t.Fatal("no error")
	}
	lines := strings.Split(err.Error(), "\n  ")
	for _, want := range []string{
		"configuration:",
		`DOCS_ENABLED: "maybe" is not a boolean`,
		`HASH_QUEUE_WAIT: "soon" is not a duration (e.g. 5m, 10s)`,
		"CLEANUP_BATCH_SIZE: 0 is not between 1 and 100000",
	} {
		if !slices.Contains(lines, want) {
			t.Errorf("no line %q in the error:\n%v", want, err)
		}
	}
	if len(lines) != 4 {
		t.Errorf("%d lines, want 4:\n%v", len(lines), err)
	}
}

// Secrets never reach a configuration error, even when they are wrong.
func TestConfig_ErrorsNeverQuoteSecrets(t *testing.T) {
	unsetEnv(t)
	// Each value holds a marker no message has (a wrong key included).
	secrets := map[string]string{
		"DATABASE_URL":           "postgres://app:Pw0nDb@127.0.0.1/x",
		"MIGRATION_DATABASE_URL": "postgres://owner:Pw0nMig@127.0.0.1/x",
		"SMTP_PASSWORD":          "Pw0nSmtp",
		"MFA_ENCRYPTION_KEY":     "Pw0nMfa",
		"WEBHOOK_SECRETS_KEY":    "Pw0nHook",
	}
	for k, v := range secrets {
		t.Setenv(k, v)
	}
	t.Setenv("SMTP_ADDR", "127.0.0.1:25") // without SMTP_FROM
	t.Setenv("DEV_MODE", "sometimes")
	_, err := loadConfig()
	if err == nil {
		t.Fatal("no error")
	}
	for _, name := range []string{"MFA_ENCRYPTION_KEY", "WEBHOOK_SECRETS_KEY", "SMTP_FROM", "DEV_MODE"} {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("the error does not name %s:\n%v", name, err)
		}
	}
	if strings.Contains(err.Error(), "Pw0n") {
		t.Errorf("the error quotes a secret:\n%v", err)
	}
}

// README "Configuration" documents every variable the server reads, and
// reads no other (GOGC is the Go runtime's; DEV_PG_PORT make run's).
func TestConfig_READMEDocumentsEveryVariable(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, _ := strings.Cut(string(b), "\n## Configuration\n")
	section, _, _ = strings.Cut(section, "\n## ")
	documented := map[string]bool{}
	for _, line := range strings.Split(section, "\n") {
		if cells := strings.Split(line, "|"); strings.HasPrefix(line, "| `") && len(cells) > 2 {
			for _, m := range regexp.MustCompile("`([A-Z0-9_]+)`").FindAllStringSubmatch(cells[1], -1) {
				documented[m[1]] = true
			}
		}
	}
	if len(documented) == 0 {
		t.Fatal("no table in README \"Configuration\"")
	}
	for _, k := range envKeys() {
		if !documented[k] {
			t.Errorf("%s is read but not in README \"Configuration\"", k)
		}
		delete(documented, k)
	}
	delete(documented, "GOGC")
	delete(documented, "DEV_PG_PORT")
	for k := range documented {
		t.Errorf("README \"Configuration\" documents %s, which the server does not read", k)
	}
}
