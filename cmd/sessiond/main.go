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
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"

	"github.com/sessiond/sessiond/adapters/postgres"
)

func main() {
	// The live heap is small (a few MiB: pools, caches, in-flight
	// requests), so at Go's default GOGC=100 the collector runs very often
	// under load: about a sixth of the server's CPU in the refresh
	// scenario's profile (make bench BENCH_PROFILE=1). 400 trades a few
	// MiB of memory for most of that CPU. An explicit GOGC wins.
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(400)
	}
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

// serve runs the API (and the metrics listener, the background purge)
// until ctx ends — SIGTERM or SIGINT in production — then shuts down
// gracefully: the listeners close at once (no new connections), requests
// in flight get up to SHUTDOWN_TIMEOUT to finish, the purge loop and the
// webhook delivery stop (a delivery in flight is abandoned unrecorded and
// sent again later, with the same webhook-id), and only then is the
// database pool closed.
func serve(ctx context.Context, c Config, log *slog.Logger) error {
	prog, cleanup, err := initServer(ctx, c, log)
	if err != nil {
		return err
	}
	defer cleanup() // closes the pool, after everything below returned
	ln, err := net.Listen("tcp", c.HTTPAddr)
	if err != nil {
		return err
	}
	servers := []*http.Server{prog.http}
	listeners := []net.Listener{ln}
	if prog.metrics != nil {
		mln, err := net.Listen("tcp", c.MetricsAddr)
		if err != nil {
			_ = ln.Close()
			return fmt.Errorf("metrics listener (METRICS_ADDR=%s; \"off\" for none): %w", c.MetricsAddr, err)
		}
		servers = append(servers, prog.metrics)
		listeners = append(listeners, mln)
	}
	if c.PprofAddr != "" {
		psrv, pln, err := pprofServer(c.PprofAddr)
		if err != nil {
			for _, l := range listeners {
				_ = l.Close()
			}
			return err
		}
		servers = append(servers, psrv)
		listeners = append(listeners, pln)
		log.Warn("profiling endpoints served", "pprof_addr", pln.Addr().String())
	}
	loopCtx, stopLoop := context.WithCancel(ctx)
	loopDone := make(chan struct{})
	go func() { defer close(loopDone); prog.cleanup.loop(loopCtx) }()
	hooksDone := make(chan struct{})
	go func() {
		defer close(hooksDone)
		if prog.webhooks != nil {
			prog.webhooks.Run(loopCtx)
		}
	}()
	errc := make(chan error, len(servers))
	for i, srv := range servers {
		go func() { errc <- srv.Serve(listeners[i]) }()
	}
	log.Info("serving", "addr", ln.Addr().String(), "metrics_addr", c.MetricsAddr, "metrics_on_api", c.HTTP.MetricsOnAPI, "dev_mode", c.DevMode, "rate_limit", c.RateLimitEnabled)
	var serveErr error
	select {
	case err := <-errc:
		if !errors.Is(err, http.ErrServerClosed) {
			serveErr = err
		}
	case <-ctx.Done():
		log.Info("shutting down", "timeout", c.ShutdownTimeout.String())
	}
	sctx, cancel := context.WithTimeout(context.Background(), c.ShutdownTimeout)
	defer cancel()
	for _, srv := range servers {
		if err := srv.Shutdown(sctx); err != nil {
			log.Error("shutdown: requests still running at the deadline were cut off", "err", err)
			_ = srv.Close()
			if serveErr == nil {
				serveErr = err
			}
		}
	}
	stopLoop()
	<-loopDone
	<-hooksDone
	log.Info("stopped")
	return serveErr
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
