//go:build wireinject

package main

import (
	"context"
	"log/slog"
	"net/http"

	"github.com/google/wire"

	"github.com/sessiond/sessiond/adapters/postgres"
	"github.com/sessiond/sessiond/core"
)

// initServer builds the serving program from its configuration.
func initServer(ctx context.Context, c Config, log *slog.Logger) (*http.Server, func(), error) {
	wire.Build(
		providePool,
		provideStore,
		wire.Bind(new(core.Store), new(*postgres.Store)),
		provideCodec,
		provideHasher,
		provideService,
		provideAPI,
		provideHTTPServer,
	)
	return nil, nil, nil
}
