package postgres

import (
	"context"
	"time"

	"github.com/sessiond/sessiond/adapters/postgres/internal/dbsqlc"
	"github.com/sessiond/sessiond/core"
)

// The brute-force counter (core.LoginThrottle) through the SECURITY DEFINER
// functions of migrations/00005. One statement each, outside any tenant
// transaction (the key is an email digest, not a tenant's row).

func throttleState(failures int32, lockedUntil time.Time) core.ThrottleState {
	st := core.ThrottleState{Failures: int(failures)}
	if lockedUntil.Unix() > 0 { // the query answers the epoch for "not locked"
		st.LockedUntil = lockedUntil
	}
	return st
}

// ThrottleCheck implements core.LoginThrottle.
func (s *Store) ThrottleCheck(ctx context.Context, key []byte, _ time.Time) (core.ThrottleState, error) {
	rows, err := s.q.LoginThrottleCheck(ctx, key)
	if err != nil {
		return core.ThrottleState{}, mapErr(err)
	}
	if len(rows) == 0 {
		return core.ThrottleState{}, nil
	}
	return throttleState(rows[0].Failures, rows[0].LockedUntil), nil
}

// ThrottleFailure implements core.LoginThrottle.
func (s *Store) ThrottleFailure(ctx context.Context, key []byte, now time.Time, rule core.ThrottleRule) (core.ThrottleState, error) {
	rows, err := s.q.LoginThrottleFailure(ctx, dbsqlc.LoginThrottleFailureParams{
		KeyHash: key, Now: now, Threshold: int32(rule.Threshold),
		BaseDelaySeconds: rule.BaseDelay.Seconds(), MaxDelaySeconds: rule.MaxDelay.Seconds(), WindowSeconds: rule.Window.Seconds(),
	})
	if err != nil {
		return core.ThrottleState{}, mapErr(err)
	}
	if len(rows) == 0 {
		return core.ThrottleState{}, nil
	}
	return throttleState(rows[0].Failures, rows[0].LockedUntil), nil
}

// ThrottleReset implements core.LoginThrottle.
func (s *Store) ThrottleReset(ctx context.Context, key []byte) error {
	return mapErr(s.q.LoginThrottleReset(ctx, key))
}
