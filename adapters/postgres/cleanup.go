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
	// MFAChallenges counts second-factor challenges used or expired before
	// the cutoff (migrations/00016).
	MFAChallenges int64 `json:"mfa_challenges"`
	// UnverifiedRegistrations counts registrations (account, unverified
	// owner, tokens) that could no longer be verified (migrations/00016;
	// only with WithUnverifiedRegistrations).
	UnverifiedRegistrations int64 `json:"unverified_registrations"`
	// WebhookAttempts counts delivery attempts past their retention
	// (migrations/00013; PurgeWebhookAttempts, run by the caller).
	WebhookAttempts int64 `json:"webhook_attempts"`
}

func (c *PurgeCounts) add(r dbsqlc.MaintenancePurgeExpiredRow) {
	c.Sessions += r.Sessions
	c.ResetTokens += r.ResetTokens
	c.MFAChallenges += r.MfaChallenges
}

// kinds is the counts by the metrics' kind label (PurgedKinds).
func (c PurgeCounts) kinds() map[string]int64 {
	return map[string]int64{
		"sessions": c.Sessions, "password_reset_tokens": c.ResetTokens, "login_throttle": c.LoginThrottle,
		"mfa_challenges": c.MFAChallenges, "unverified_registrations": c.UnverifiedRegistrations,
	}
}

// PurgedKinds are the kinds of rows PurgeExpired reports to the Observer.
var PurgedKinds = []string{"sessions", "password_reset_tokens", "login_throttle", "mfa_challenges", "unverified_registrations"}

// PurgeOption widens a purge (PurgeExpired).
type PurgeOption func(*purgeOptions)

type purgeOptions struct{ registrations bool }

// WithUnverifiedRegistrations makes the purge also delete the unverified
// registrations that can no longer be verified: every verification token
// of the registration expired more than the retention (at least a day)
// ago, by the database's clock (maintenance_purge_unverified_registrations,
// migrations/00016; docs/session-rules.md §9). Only while
// EMAIL_VERIFICATION is required: with it off an unverified owner signs in,
// and their account is live.
func WithUnverifiedRegistrations() PurgeOption {
	return func(o *purgeOptions) { o.registrations = true }
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
// from its caller (a caller-chosen "now" would let the runtime role purge
// live sessions). No cross-tenant FOR UPDATE
// SKIP LOCKED (Citus refuses it across shards; migrations/00007): each
// batch takes a per-database advisory lock first, so several instances
// purge in turns, one batch at a time, and each row is removed (and
// counted) by exactly one of them. The loop ends when a batch comes back
// short: the rest, if any, was taken by another instance's batch.
func (s *Store) PurgeExpired(ctx context.Context, retention time.Duration, batchSize int, opts ...PurgeOption) (total PurgeCounts, err error) {
	var o purgeOptions
	for _, opt := range opts {
		opt(&o)
	}
	if s.observer != nil {
		defer func() { s.observer.PurgeRun(total.kinds(), err) }()
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
		var nr int64
		if o.registrations {
			if nr, err = s.q.MaintenancePurgeUnverifiedRegistrations(ctx, dbsqlc.MaintenancePurgeUnverifiedRegistrationsParams{
				Retention: pgtype.Interval{Microseconds: retention.Microseconds(), Valid: true}, BatchSize: int32(batchSize),
			}); err != nil {
				return total, fmt.Errorf("purge unverified registrations: %w", asFault(err))
			}
			total.UnverifiedRegistrations += nr
		}
		full := int64(batchSize)
		if r.Sessions < full && r.ResetTokens < full && r.MfaChallenges < full && nt < full && nr < full {
			return total, nil
		}
	}
}
