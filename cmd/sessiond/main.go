// Command sessiond is the multi-tenant session service.
//
//	sessiond serve     serve the API (default), purging expired rows in the background
//	sessiond migrate   apply database migrations (as the schema owner)
//	sessiond cleanup   purge expired sessions and tokens once (for cron), print the counts
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/sessiond/sessiond/adapters/postgres"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "sessiond:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	cmd := "serve"
	if len(args) > 0 {
		cmd = args[0]
	}
	c, err := loadConfig()
	if err != nil {
		return err
	}
	log := newLogger(c.LogLevel)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	switch cmd {
	case "serve":
		return serve(ctx, c, log)
	case "migrate":
		if c.MigrationDatabaseURL == "" {
			return errors.New("MIGRATION_DATABASE_URL (or DATABASE_URL) is not set")
		}
		return postgres.Migrate(ctx, c.MigrationDatabaseURL, log)
	case "cleanup":
		return cleanupOnce(ctx, c, log)
	case "help", "-h", "--help":
		fmt.Println("usage: sessiond [serve|migrate|cleanup]")
		return nil
	default:
		return fmt.Errorf("unknown command %q (want serve, migrate or cleanup)", cmd)
	}
}

func serve(ctx context.Context, c Config, log *slog.Logger) error {
	prog, cleanup, err := initServer(ctx, c, log)
	if err != nil {
		return err
	}
	defer cleanup()
	srv := prog.http
	go prog.cleanup.loop(ctx)
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	log.Info("serving", "addr", c.HTTPAddr, "dev_mode", c.DevMode, "rate_limit", c.RateLimitEnabled)
	select {
	case err := <-errc:
		if !errors.Is(err, http.ErrServerClosed) {
			return err
		}
	case <-ctx.Done():
		log.Info("shutting down")
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		return srv.Shutdown(sctx)
	}
	return nil
}

func newLogger(level string) *slog.Logger {
	var l slog.Level
	switch strings.ToLower(level) {
	case "debug":
		l = slog.LevelDebug
	case "warn":
		l = slog.LevelWarn
	case "error":
		l = slog.LevelError
	default:
		l = slog.LevelInfo
	}
	return slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: l}))
}

// cleanupOnce runs one purge and prints the counts as JSON on stdout.
func cleanupOnce(ctx context.Context, c Config, log *slog.Logger) error {
	job, cleanup, err := initCleanup(ctx, c, log)
	if err != nil {
		return err
	}
	defer cleanup()
	n, err := job.runOnce(ctx)
	if err != nil {
		return err
	}
	return json.NewEncoder(os.Stdout).Encode(n)
}
