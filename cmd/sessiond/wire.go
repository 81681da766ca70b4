//go:build wireinject

package main

import (
	"context"
	"log/slog"

	"github.com/google/wire"

	"github.com/sessiond/sessiond/adapters/argon2"
	"github.com/sessiond/sessiond/adapters/clock"
	"github.com/sessiond/sessiond/adapters/postgres"
	"github.com/sessiond/sessiond/cmd/sessiond/assemble"
	"github.com/sessiond/sessiond/core"
)

// initServer builds the serving program from its configuration: the
// parts the configuration selects (providers.go) joined by the assembly
// the HTTP tests share (assemble.ProviderSet).
func initServer(ctx context.Context, c Config, log *slog.Logger) (*program, func(), error) {
	wire.Build(
		assemble.ProviderSet,
		wire.FieldsOf(new(Config), "Tracing"),
		providePoolOptions,
		providePool,
		assemble.Store,
		wire.Bind(new(core.Store), new(*postgres.Store)),
		provideCodec,
		provideHashLimiter,
		provideHasher,
		wire.Bind(new(core.PasswordHasher), new(*argon2.Hasher)),
		wire.InterfaceValue(new(core.Clock), clock.System{}),
		provideDeviceNamer,
		provideMailer,
		provideServiceOptions,
		provideHTTPConfig,
		provideHTTPServer,
		provideCleanupJob,
		provideWebhooks,
		provideProgram,
	)
	return nil, nil, nil
}

// initCleanup builds the one-shot purge of the cleanup command.
func initCleanup(ctx context.Context, c Config, log *slog.Logger) (*cleanupJob, func(), error) {
	wire.Build(assemble.Telemetry, wire.FieldsOf(new(Config), "Tracing"), providePoolOptions, providePool, assemble.Store, provideCleanupJob)
	return nil, nil, nil
}
