package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgtype"

	"github.com/sessiond/sessiond/adapters/postgres/internal/dbsqlc"
)

// PurgeCounts is how many rows a purge removed.
type PurgeCounts struct {
	Sessions    int64 `json:"sessions"`
	ResetTokens int64 `json:"password_reset_tokens"`
	// LoginThrottle counts brute-force counters that expired (migrations/00005).
	LoginThrottle int64 `json:"login_throttle"`
	// WebhookAttempts counts delivery attempts past their retention
	// (migrations/00013; PurgeWebhookAttempts, run by the caller).
	WebhookAttempts int64 `json:"webhook_attempts"`
}

func (c *PurgeCounts) add(r dbsqlc.MaintenancePurgeExpiredRow) {
	c.Sessions += r.Sessions
	c.ResetTokens += r.ResetTokens
}

// MinPurgeRetention is the floor the database puts under the retention
// (migrations/00004): no caller can purge a session whose absolute deadline
// passed less than this long ago.
const MinPurgeRetention = 24 * time.Hour

// PurgeExpired removes, in batches of batchSize, the sessions whose
// absolute deadline passed more than retention before the database's now
// (such a session can never be refreshed again; the retention, at least
// MinPurgeRetention, keeps recent ones for support and forensics), and the
// reset tokens that are used or expired.
//
// Each batch is its own short transaction through the SECURITY DEFINER
// function maintenance_purge_expired (migrations/00004): row-level security
// hides every row from the runtime role without a tenant, so a cross-tenant
// purge needs that one narrow, audited path. The function takes no time
// from its caller (finding 4 of the outside review: a caller-chosen "now"
// let the runtime role purge live sessions). No cross-tenant FOR UPDATE
// SKIP LOCKED (Citus refuses it across shards; migrations/00007): each
// batch takes a per-database advisory lock first, so several instances
// purge in turns, one batch at a time, and each row is removed (and
// counted) by exactly one of them. The loop ends when a batch comes back
// short: the rest, if any, was taken by another instance's batch.
func (s *Store) PurgeExpired(ctx context.Context, retention time.Duration, batchSize int) (total PurgeCounts, err error) {
	if s.observer != nil {
		defer func() {
			s.observer.PurgeRun(map[string]int64{"sessions": total.Sessions, "password_reset_tokens": total.ResetTokens, "login_throttle": total.LoginThrottle}, err)
		}()
	}
	if batchSize < 1 || batchSize > 1<<20 {
		return total, fmt.Errorf("purge: batch size %d out of range", batchSize)
	}
	if retention < 0 {
		return total, errors.New("purge: negative retention")
	}
	for {
		if err := ctx.Err(); err != nil {
			return total, err
		}
		r, err := s.q.MaintenancePurgeExpired(ctx, dbsqlc.MaintenancePurgeExpiredParams{
			Retention: pgtype.Interval{Microseconds: retention.Microseconds(), Valid: true}, BatchSize: int32(batchSize),
		})
		if err != nil {
			return total, fmt.Errorf("purge: %w", asFault(err))
		}
		total.add(r)
		// Brute-force counters past their window, judged by the database's
		// own clock (the function takes no time from the caller).
		nt, err := s.q.MaintenancePurgeLoginThrottle(ctx, int32(batchSize))
		if err != nil {
			return total, fmt.Errorf("purge login throttle: %w", asFault(err))
		}
		total.LoginThrottle += nt
		if r.Sessions < int64(batchSize) && r.ResetTokens < int64(batchSize) && nt < int64(batchSize) {
			return total, nil
		}
	}
}
