// Package assemble is the part of sessiond's wiring that does not depend
// on the process's configuration: how the adapters are joined into the
// core service and the HTTP API, and where each one reports (metrics,
// traces, hash admission, webhook administration). cmd/sessiond's wire
// graph (ProviderSet) and adapters/http's test harness both build the
// server through these functions, so a step added here reaches both, and
// the HTTP tests run the server production runs; what differs is only
// what each brings in (configuration and real adapters, or the harness's
// fake clock, fake mailer and options). docs/architecture.md, "Shape".
//
// A step that joins two adapters belongs here, not in a cmd/sessiond
// provider: there the HTTP tests would never see it.
package assemble

import (
	"context"
	"log/slog"
	"time"

	"github.com/google/wire"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sessiond/sessiond/adapters/argon2"
	"github.com/sessiond/sessiond/adapters/audit"
	httpadapter "github.com/sessiond/sessiond/adapters/http"
	"github.com/sessiond/sessiond/adapters/jose"
	"github.com/sessiond/sessiond/adapters/postgres"
	"github.com/sessiond/sessiond/adapters/ratelimit"
	"github.com/sessiond/sessiond/adapters/telemetry"
	"github.com/sessiond/sessiond/adapters/totp"
	"github.com/sessiond/sessiond/core"
)

// ProviderSet is the assembly as wire providers; cmd/sessiond's injector
// supplies their inputs from its configuration. Pool, RateLimits and
// Webhooks are called by its providers, which first read what they need
// from the configuration (a URL, rates, key files).
var ProviderSet = wire.NewSet(Telemetry, Service, API)

// Telemetry builds the metrics and the tracer provider every adapter
// reports into (no tracer provider unless c selects an exporter). The
// cleanup flushes the buffered spans.
func Telemetry(c telemetry.TracingConfig) (*telemetry.Telemetry, func(), error) {
	t := telemetry.New()
	stop, err := t.StartTracing(c)
	if err != nil {
		return nil, nil, err
	}
	return t, stop, nil
}

// Pool opens the runtime role's pool, its round trips traced with tel's
// tracer provider (none when tracing is off). The cleanup closes it.
func Pool(ctx context.Context, databaseURL string, o postgres.PoolOptions, tel *telemetry.Telemetry) (*pgxpool.Pool, func(), error) {
	o.TracerProvider = tel.TracerProvider()
	return postgres.NewPoolWithOptions(ctx, databaseURL, o)
}

// Store is the PostgreSQL store over pool, applying o's acquire bound on
// every path and spanning its own batches with tel's tracer provider (the
// options pool was made with, as Pool sets them).
func Store(pool *pgxpool.Pool, o postgres.PoolOptions, tel *telemetry.Telemetry) *postgres.Store {
	o.TracerProvider = tel.TracerProvider()
	return postgres.NewStoreWithOptions(pool, o)
}

// ServiceOptions are the core service's settings.
type ServiceOptions struct {
	// Core is the service's configuration; its TOTP, when nil, is the
	// real RFC 6238 implementation (adapters/totp).
	Core core.Config
	// VerifyCacheSize bounds the verified-access-token cache in front of
	// the codec (jose.VerifyCache, ACCESS_TOKEN_CACHE_SIZE); 0: no cache.
	// Revocation bites through it (docs/security-checklist.md JWT-09).
	VerifyCacheSize int
}

// Service builds the core service over its ports: the store, the token
// codec (behind the verify cache), the hasher, the clock, the device
// namer and the mailer.
func Service(store core.Store, codec *jose.Codec, hasher core.PasswordHasher, clk core.Clock, device core.DeviceNamer, mail core.Mailer, o ServiceOptions, log *slog.Logger) (*core.Service, error) {
	var tokens core.TokenCodec = codec
	if o.VerifyCacheSize > 0 {
		cache, err := jose.NewVerifyCache(codec, o.VerifyCacheSize)
		if err != nil {
			return nil, err
		}
		tokens = cache
	}
	cfg := o.Core
	if cfg.TOTP == nil {
		cfg.TOTP = totp.New()
	}
	return core.NewService(store, tokens, hasher, clk, cfg, device, mail, log)
}

// API builds the HTTP server over svc: the codec's JWKS served, the
// store's ping as readiness, and one telemetry that the server (requests,
// /metrics, request spans), the pool (statistics), the store (revocations,
// purges) and the hasher's admission control (waits, sheds) report into;
// hashes is also the server's early sign-in shedding (LOAD-01). The pool's
// own spans are Pool's.
func API(svc *core.Service, codec *jose.Codec, store *postgres.Store, pool *pgxpool.Pool, hashes *argon2.Limiter, tel *telemetry.Telemetry, hc httpadapter.Config, log *slog.Logger) (*httpadapter.Server, error) {
	api, err := httpadapter.NewServer(svc, func() any { return codec.JWKS() }, store.Ping, hc, log)
	if err != nil {
		return nil, err
	}
	if err := tel.ObservePool(pool); err != nil {
		return nil, err
	}
	api.SetObserver(tel)
	api.SetMetricsHandler(tel.Handler())
	api.SetTracerProvider(tel.TracerProvider())
	store.SetObserver(tel)
	hashes.SetObserver(tel)
	api.SetHashAdmission(hashes)
	return api, nil
}

// Webhooks serves the webhook administration (docs/security-checklist.md
// WHK-07) on api: endpoint secrets sealed at rest by sealer, test events
// sent by sender, target URLs checked by guard (the SSRF rules). Without
// it the webhook operations answer 503.
func Webhooks(api *httpadapter.Server, svc *core.Service, sealer *audit.Sealer, sender *audit.Sender, guard *audit.Guard) {
	api.SetWebhooks(core.NewWebhookService(svc, sealer, sender, guard.CheckURL))
}

// RateLimitSettings are the abuse-defence rates (RATE_LIMIT_*): N events
// per window, with a burst of N.
type RateLimitSettings struct {
	LoginPerIPPerMinute   int
	RefreshPerIPPerMinute int
	RegisterPerIPPerHour  int
	ResetPerIPPerHour     int
}

// RateLimits builds the per-IP rules (docs/session-rules.md §8): which
// operation spends which budget, the buckets refilled on now's clock.
func RateLimits(r RateLimitSettings, now func() time.Time) httpadapter.RateLimits {
	rule := func(n int, per time.Duration) httpadapter.Limiter {
		return ratelimit.New(ratelimit.Rule{Events: n, Per: per, Burst: n}, now)
	}
	loginIP := rule(r.LoginPerIPPerMinute, time.Minute)
	resetIP := rule(r.ResetPerIPPerHour, time.Hour)
	return httpadapter.RateLimits{
		ByIP: map[httpadapter.Operation]httpadapter.Limiter{
			"loginJson": loginIP, "loginForm": loginIP, "verifyMfa": loginIP,
			"refreshToken":         rule(r.RefreshPerIPPerMinute, time.Minute),
			"registerUser":         rule(r.RegisterPerIPPerHour, time.Hour),
			"requestPasswordReset": resetIP, "confirmPasswordReset": resetIP,
			// The other token-taking and mail-sending unauthenticated
			// operations share the reset's budget.
			"verifyEmail": resetIP, "resendVerification": resetIP,
			"acceptInvitation": loginIP,
		},
	}
}
