package main

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sessiond/sessiond/adapters/argon2"
	"github.com/sessiond/sessiond/adapters/clock"
	httpadapter "github.com/sessiond/sessiond/adapters/http"
	"github.com/sessiond/sessiond/adapters/jose"
	"github.com/sessiond/sessiond/adapters/mailer"
	"github.com/sessiond/sessiond/adapters/postgres"
	"github.com/sessiond/sessiond/adapters/ratelimit"
	"github.com/sessiond/sessiond/adapters/totp"
	"github.com/sessiond/sessiond/adapters/useragent"
	"github.com/sessiond/sessiond/core"
)

// Providers for the wire graph (see wire.go). Each owns at most one
// resource and returns its cleanup.

func providePool(ctx context.Context, c Config) (*pgxpool.Pool, func(), error) {
	if c.DatabaseURL == "" {
		return nil, nil, errors.New("DATABASE_URL is not set (make run starts a private database for you)")
	}
	return postgres.NewPoolWithOptions(ctx, c.DatabaseURL, postgres.PoolOptions{
		MaxConns: c.DBMaxConns, StatementTimeout: c.DBStatementTimeout, AcquireTimeout: c.DBAcquireTimeout,
	})
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

func provideHasher(c Config) (*argon2.Hasher, error) { return argon2.New(c.Argon2) }

func provideService(store core.Store, codec *jose.Codec, hasher *argon2.Hasher, device core.DeviceNamer, mail core.Mailer, c Config, log *slog.Logger) (*core.Service, error) {
	var tokens core.TokenCodec = codec
	if c.AccessTokenCacheSize > 0 {
		cache, err := jose.NewVerifyCache(codec, c.AccessTokenCacheSize)
		if err != nil {
			return nil, err
		}
		tokens = cache
	}
	if len(c.Core.MFAKey) == 0 {
		return nil, errors.New("MFA_ENCRYPTION_KEY is required outside development (DEV_MODE=false): base64 of 32 random bytes")
	}
	cfg := c.Core
	cfg.TOTP = totp.New()
	return core.NewService(store, tokens, hasher, clock.System{}, cfg, device, mail, log)
}

func provideDeviceNamer() (core.DeviceNamer, error) {
	n, err := useragent.New()
	if err != nil {
		return nil, err
	}
	return n.DeviceNamer(), nil
}

// provideMailer sends mail over SMTP when SMTP_ADDR is set; otherwise it
// only logs that a mail would have been sent (development). Either way
// behind a mailer.Queue: the reset request answers before any mail work
// (LGN-10). The cleanup drains the queue, then stops the mailer.
func provideMailer(c Config, log *slog.Logger) (core.Mailer, func(), error) {
	var inner core.Mailer
	stop := func() {}
	if c.SMTP.Addr == "" {
		log.Warn("SMTP_ADDR is not set: password-reset mails are logged, not sent")
		inner = mailer.NewLog(log)
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
	return &cleanupJob{store: store, clock: clock.System{}, cfg: c.Cleanup, log: log}
}

func provideProgram(srv *http.Server, api *httpadapter.Server, job *cleanupJob, c Config) *program {
	p := &program{http: srv, cleanup: job}
	if c.MetricsAddr != "" {
		p.metrics = &http.Server{
			Addr: c.MetricsAddr, Handler: api.MetricsHandler(),
			ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 15 * time.Second, WriteTimeout: 30 * time.Second,
		}
	}
	return p
}

func provideAPI(svc *core.Service, codec *jose.Codec, store *postgres.Store, pool *pgxpool.Pool, c Config, log *slog.Logger) (*httpadapter.Server, error) {
	hc := c.HTTP
	if c.RateLimitEnabled {
		hc.Limits = rateLimits(c.RateLimits)
	}
	api, err := httpadapter.NewServer(svc, func() any { return codec.JWKS() }, store.Ping, hc, log)
	if err != nil {
		return nil, err
	}
	if err := api.Register(postgres.NewPoolCollector(pool)); err != nil {
		return nil, err
	}
	store.SetObserver(api.StoreObserver())
	return api, nil
}

// rateLimits builds the per-IP and per-email rules (docs/session-rules.md §8).
func rateLimits(r RateLimitSettings) httpadapter.RateLimits {
	rule := func(n int, per time.Duration) httpadapter.Limiter {
		return ratelimit.New(ratelimit.Rule{Events: n, Per: per, Burst: n}, time.Now)
	}
	loginIP := rule(r.LoginPerIPPerMinute, time.Minute)
	resetIP := rule(r.ResetPerIPPerHour, time.Hour)
	return httpadapter.RateLimits{
		ByIP: map[httpadapter.Operation]httpadapter.Limiter{
			"loginJson": loginIP, "loginForm": loginIP, "verifyMfa": loginIP,
			"refreshToken":         rule(r.RefreshPerIPPerMinute, time.Minute),
			"registerUser":         rule(r.RegisterPerIPPerHour, time.Hour),
			"requestPasswordReset": resetIP, "confirmPasswordReset": resetIP,
		},
	}
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
