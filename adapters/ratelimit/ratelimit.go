// Package ratelimit is the abuse-defence adapter: token buckets from
// golang.org/x/time/rate, one per (rule, key), in process memory.
//
// Buckets live in one process: with several instances behind a load
// balancer each enforces its own share, so configure per-instance rates.
package ratelimit

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Rule is a sustained rate (events per Per) with a burst.
type Rule struct {
	Events int
	Per    time.Duration
	Burst  int
}

// Limiter enforces one Rule per key (an IP address, an email).
type Limiter struct {
	rule    Rule
	now     func() time.Time
	mu      sync.Mutex
	buckets map[string]*bucket
	calls   int
}

type bucket struct {
	lim  *rate.Limiter
	seen time.Time
}

// New returns a Limiter for rule using now as its clock.
func New(rule Rule, now func() time.Time) *Limiter {
	return &Limiter{rule: rule, now: now, buckets: map[string]*bucket{}}
}

// Allow takes one event for key. When the bucket is empty it returns false
// and how long until an event would be allowed; a refused attempt does not
// consume anything, so hammering does not extend the wait.
func (l *Limiter) Allow(key string) (bool, time.Duration) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.calls++
	if l.calls%1024 == 0 {
		l.sweep(now)
	}
	b, ok := l.buckets[key]
	if !ok {
		b = &bucket{lim: rate.NewLimiter(rate.Every(l.rule.Per/time.Duration(l.rule.Events)), l.rule.Burst)}
		l.buckets[key] = b
	}
	b.seen = now
	r := b.lim.ReserveN(now, 1)
	if !r.OK() {
		return false, l.rule.Per
	}
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return false, d
	}
	return true, 0
}

// sweep forgets buckets idle long enough to have refilled completely.
func (l *Limiter) sweep(now time.Time) {
	idle := l.rule.Per * time.Duration(l.rule.Burst+1) / time.Duration(l.rule.Events)
	for k, b := range l.buckets {
		if now.Sub(b.seen) > idle {
			delete(l.buckets, k)
		}
	}
}
