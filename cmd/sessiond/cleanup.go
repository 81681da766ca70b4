package main

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/sessiond/sessiond/adapters/audit"
	"github.com/sessiond/sessiond/adapters/postgres"
)

// program is what serve runs: the HTTP server and the background purge.
type program struct {
	http *http.Server
	// metrics serves /metrics on METRICS_ADDR; nil when it is served by
	// http.
	metrics *http.Server
	cleanup *cleanupJob
	// webhooks delivers the audit table's events (nil: off).
	webhooks *audit.Dispatcher
}

// cleanupJob purges expired sessions (with their token families), spent
// password-reset tokens, used or expired second-factor challenges and,
// with EMAIL_VERIFICATION=required, unverified registrations that can no
// longer be verified (postgres.Store.PurgeExpired). Safe to run on several
// instances at once and from cron at the same time.
type cleanupJob struct {
	store *postgres.Store
	cfg   CleanupSettings
	// audit bounds the audit trail (partitions dropped past the retention,
	// created ahead); attempts is how long webhook attempts are kept.
	audit    AuditSettings
	attempts time.Duration
	// registrations: EMAIL_VERIFICATION=required, so unverified
	// registrations are purged once dead (with it off, an unverified owner
	// signs in: their account is live).
	registrations bool
	log           *slog.Logger
}

// runOnce purges everything that is due now and logs the counts.
func (j *cleanupJob) runOnce(ctx context.Context) (postgres.PurgeCounts, error) {
	start := time.Now()
	var opts []postgres.PurgeOption
	if j.registrations {
		opts = append(opts, postgres.WithUnverifiedRegistrations())
	}
	n, err := j.store.PurgeExpired(ctx, j.cfg.Retention, j.cfg.BatchSize, opts...)
	if err != nil {
		j.log.ErrorContext(ctx, "cleanup failed", "err", err, "removed_sessions", n.Sessions,
			"removed_password_reset_tokens", n.ResetTokens, "removed_mfa_challenges", n.MFAChallenges,
			"removed_unverified_registrations", n.UnverifiedRegistrations)
		return n, err
	}
	parts, err := j.store.MaintainAuditPartitions(ctx, j.audit.PartitionsAheadWeeks, j.audit.RetentionDefaultDays, j.audit.RetentionMaxDays)
	if err != nil {
		j.log.ErrorContext(ctx, "audit partition maintenance failed", "err", err)
		return n, err
	}
	for _, p := range parts {
		j.log.InfoContext(ctx, "audit partition "+p.Change, "partition", p.Partition)
	}
	if j.attempts > 0 {
		if n.WebhookAttempts, err = j.store.PurgeWebhookAttempts(ctx, j.attempts, j.cfg.BatchSize); err != nil {
			j.log.ErrorContext(ctx, "webhook attempt purge failed", "err", err)
			return n, err
		}
	}
	j.log.InfoContext(ctx, "cleanup done", "removed_sessions", n.Sessions,
		"removed_password_reset_tokens", n.ResetTokens, "removed_mfa_challenges", n.MFAChallenges,
		"removed_unverified_registrations", n.UnverifiedRegistrations, "removed_webhook_attempts", n.WebhookAttempts,
		"retention", j.cfg.Retention.String(), "duration", time.Since(start))
	return n, nil
}

// loop purges at start and then every Interval until ctx ends. A failed
// run is logged and retried at the next tick.
func (j *cleanupJob) loop(ctx context.Context) {
	if j.cfg.Interval <= 0 {
		j.log.Info("background cleanup disabled (CLEANUP_INTERVAL=0)")
		return
	}
	t := time.NewTicker(j.cfg.Interval)
	defer t.Stop()
	for {
		_, _ = j.runOnce(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
