package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sessiond/sessiond/adapters/argon2"
	"github.com/sessiond/sessiond/adapters/audit"
	"github.com/sessiond/sessiond/adapters/clock"
	httpadapter "github.com/sessiond/sessiond/adapters/http"
	"github.com/sessiond/sessiond/adapters/jose"
	"github.com/sessiond/sessiond/adapters/mailer"
	"github.com/sessiond/sessiond/adapters/postgres"
	"github.com/sessiond/sessiond/adapters/telemetry"
	"github.com/sessiond/sessiond/adapters/useragent"
	"github.com/sessiond/sessiond/cmd/sessiond/assemble"
	"github.com/sessiond/sessiond/core"
)

// Providers for the wire graph (see wire.go): what the configuration
// selects. How the parts are joined is cmd/sessiond/assemble's, shared
// with the HTTP tests; a step that joins adapters belongs there. Each
// provider owns at most one resource and returns its cleanup.

func providePool(ctx context.Context, c Config, o postgres.PoolOptions, tel *telemetry.Telemetry) (*pgxpool.Pool, func(), error) {
	if c.DatabaseURL == "" {
		return nil, nil, errors.New("DATABASE_URL is not set (make run starts a private database for you)")
	}
	return assemble.Pool(ctx, c.DatabaseURL, o, tel)
}

// providePoolOptions are the pool's and the store's database settings
// (DB_MAX_CONNS, DB_STATEMENT_TIMEOUT, DB_ACQUIRE_TIMEOUT).
func providePoolOptions(c Config) postgres.PoolOptions {
	return postgres.PoolOptions{MaxConns: c.DBMaxConns, StatementTimeout: c.DBStatementTimeout, AcquireTimeout: c.DBAcquireTimeout}
}

func provideCodec(c Config) (*jose.Codec, error) {
	t := c.tokenSettings()
	if t.KeysFile == "" {
		return nil, errors.New("SIGNING_KEYS_FILE is not set")
	}
	keys, err := jose.LoadKeySet(t.KeysFile, t.Generate)
	if err != nil {
		return nil, err
	}
	return jose.NewCodec(keys, t.Issuer, t.Audience, t.ClientID)
}

// provideHashLimiter is the hasher's admission control (HASH_CONCURRENCY,
// HASH_QUEUE, HASH_QUEUE_WAIT; docs/architecture.md), also the server's
// early sign-in shedding (assemble.API).
func provideHashLimiter(c Config) (*argon2.Limiter, error) {
	return argon2.NewLimiter(c.HashLimits)
}

// provideHasher builds the hasher within its admission control.
func provideHasher(c Config, lim *argon2.Limiter) (*argon2.Hasher, error) {
	return argon2.NewLimited(c.Argon2, lim)
}

// provideServiceOptions are the core service's settings; without an MFA
// key the server refuses to start (outside DEV_MODE, config.go mfaKey).
func provideServiceOptions(c Config) (assemble.ServiceOptions, error) {
	if len(c.Core.MFAKey) == 0 {
		return assemble.ServiceOptions{}, errors.New("MFA_ENCRYPTION_KEY is required outside development (DEV_MODE=false): base64 of 32 random bytes")
	}
	return assemble.ServiceOptions{Core: c.Core, VerifyCacheSize: c.AccessTokenCacheSize}, nil
}

func provideDeviceNamer() (core.DeviceNamer, error) {
	n, err := useragent.New()
	if err != nil {
		return nil, err
	}
	return n.DeviceNamer(), nil
}

// provideMailer sends mail over SMTP when SMTP_ADDR is set; otherwise it
// only logs that a mail would have been sent — with DEV_MODE (make run)
// the mail's text too, links included, so that verification, invitation
// and reset links can be followed without a mail server. Either way
// behind a mailer.Queue: the reset request answers before any mail work
// (LGN-10). The cleanup drains the queue, then stops the mailer.
func provideMailer(c Config, log *slog.Logger) (core.Mailer, func(), error) {
	var inner core.Mailer
	stop := func() {}
	if c.SMTP.Addr == "" {
		log.Warn("SMTP_ADDR is not set: mails are logged, not sent")
		inner = mailer.NewLog(log)
		if c.DevMode {
			inner = mailer.NewDevLog(log, mailer.Links{Reset: c.SMTP.ResetURL, Verify: c.SMTP.VerifyURL, Invite: c.SMTP.InviteURL})
		}
	} else {
		smtp, cleanup, err := mailer.NewSMTP(c.SMTP, log)
		if err != nil {
			return nil, nil, err
		}
		inner, stop = smtp, cleanup
	}
	q, drain := mailer.NewQueue(inner, mailer.QueueConfig{}, log)
	return q, func() { drain(); stop() }, nil
}

func provideCleanupJob(store *postgres.Store, c Config, log *slog.Logger) *cleanupJob {
	return &cleanupJob{store: store, cfg: c.Cleanup, audit: c.Audit, attempts: c.Webhooks.AttemptRetention,
		registrations: c.Core.EmailVerification, log: log}
}

// provideWebhooks wires the webhook administration into the API and
// returns the delivery worker (nil when webhooks are not configured or
// WEBHOOK_DELIVERY=false).
func provideWebhooks(svc *core.Service, store *postgres.Store, api *httpadapter.Server, tel *telemetry.Telemetry, c Config, log *slog.Logger) (*audit.Dispatcher, error) {
	w := c.Webhooks
	keys := w.Keys
	if len(keys) == 0 && w.KeyFile != "" {
		k, err := audit.LoadOrCreateKeyFile(w.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("WEBHOOK_SECRETS_KEY_FILE: %w", err)
		}
		keys = [][]byte{k}
	}
	if len(keys) == 0 {
		log.Warn("WEBHOOK_SECRETS_KEY is not set: webhooks are not configured (their API answers 503)")
		return nil, nil
	}
	sealer, err := audit.NewSealer(keys...)
	if err != nil {
		return nil, err
	}
	if w.AllowPrivate {
		log.Warn("WEBHOOK_ALLOW_PRIVATE_TARGETS=true: webhook deliveries may reach private and loopback addresses (development only)")
	}
	guard := &audit.Guard{AllowPrivate: w.AllowPrivate}
	opts := audit.SenderOptions{Timeout: w.Timeout}
	if w.CAFile != "" {
		pem, err := os.ReadFile(w.CAFile)
		if err != nil {
			return nil, fmt.Errorf("WEBHOOK_CA_FILE: %w", err)
		}
		roots, err := x509.SystemCertPool()
		if err != nil {
			roots = x509.NewCertPool()
		}
		if !roots.AppendCertsFromPEM(pem) {
			return nil, errors.New("WEBHOOK_CA_FILE: no PEM certificate in the file")
		}
		opts.TLS = &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
	}
	sender := audit.NewSender(guard, clock.System{}, opts)
	assemble.Webhooks(api, svc, sealer, sender, guard)
	if !w.Deliver {
		return nil, nil
	}
	retry := core.DefaultWebhookRetry()
	retry.Period = w.RetryPeriod
	return audit.NewDispatcher(store, sender, sealer, clock.System{}, audit.Settings{
		PollInterval: w.PollInterval, Lease: w.Lease, Accounts: w.Accounts, Retry: retry,
	}, tel, log)
}

func provideProgram(srv *http.Server, tel *telemetry.Telemetry, job *cleanupJob, hooks *audit.Dispatcher, c Config) *program {
	p := &program{http: srv, cleanup: job, webhooks: hooks}
	if c.MetricsAddr != "" {
		p.metrics = &http.Server{
			Addr: c.MetricsAddr, Handler: tel.Handler(),
			ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 15 * time.Second, WriteTimeout: 30 * time.Second,
		}
	}
	return p
}

// provideHTTPConfig is the HTTP server's configuration, with the per-IP
// rate limits when RATE_LIMIT_ENABLED.
func provideHTTPConfig(c Config) httpadapter.Config {
	hc := c.HTTP
	if c.RateLimitEnabled {
		hc.Limits = assemble.RateLimits(c.RateLimits, time.Now)
	}
	return hc
}

func provideHTTPServer(api *httpadapter.Server, c Config) *http.Server {
	return &http.Server{
		Addr:              c.HTTPAddr,
		Handler:           api.Handler(),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    32 << 10,
	}
}
