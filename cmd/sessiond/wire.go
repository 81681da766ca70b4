//go:build wireinject

package main

import (
	"context"
	"log/slog"

	"github.com/google/wire"

	"github.com/sessiond/sessiond/adapters/postgres"
	"github.com/sessiond/sessiond/core"
)

// initServer builds the serving program from its configuration.
func initServer(ctx context.Context, c Config, log *slog.Logger) (*program, func(), error) {
	wire.Build(
		provideTelemetry,
		providePool,
		postgres.NewStore,
		wire.Bind(new(core.Store), new(*postgres.Store)),
		provideCodec,
		provideHasher,
		provideDeviceNamer,
		provideMailer,
		provideService,
		provideAPI,
		provideHTTPServer,
		provideCleanupJob,
		provideWebhooks,
		provideProgram,
	)
	return nil, nil, nil
}

// initCleanup builds the one-shot purge of the cleanup command.
func initCleanup(ctx context.Context, c Config, log *slog.Logger) (*cleanupJob, func(), error) {
	wire.Build(provideTelemetry, providePool, postgres.NewStore, provideCleanupJob)
	return nil, nil, nil
}
