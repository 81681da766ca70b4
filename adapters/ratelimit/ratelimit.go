// Package ratelimit is the abuse-defence adapter: token buckets from
// golang.org/x/time/rate, one per (rule, key), in process memory.
//
// Buckets live in one process: with several instances behind a load
// balancer each enforces its own share, so configure per-instance rates;
// limits per client IP across instances belong at the edge proxy. (The
// per-account brute-force defence is not here: it is shared in PostgreSQL,
// see core.ThrottleRule.)
package ratelimit

import (
	"sync"
	"time"

	lru "github.com/hashicorp/golang-lru/v2/simplelru"
	"golang.org/x/time/rate"
)

// DefaultMaxKeys bounds the buckets one rule keeps: 100 000 buckets of
// about 100 bytes each is ~10 MB at worst, whatever a client sends.
const DefaultMaxKeys = 100_000

// Rule is a sustained rate (events per Per) with a burst.
type Rule struct {
	Events int
	Per    time.Duration
	Burst  int
	// MaxKeys bounds the number of buckets kept (0: DefaultMaxKeys). Past
	// it the least recently used bucket is forgotten; a forgotten key
	// starts again with a full bucket, so the bound must comfortably exceed
	// the number of clients active within one refill period.
	MaxKeys int
}

// Limiter enforces one Rule per key (an IP address or /64, an email), in
// bounded memory.
type Limiter struct {
	rule    Rule
	now     func() time.Time
	mu      sync.Mutex
	buckets *lru.LRU[string, *rate.Limiter]
}

// New returns a Limiter for rule using now as its clock.
func New(rule Rule, now func() time.Time) *Limiter {
	n := rule.MaxKeys
	if n <= 0 {
		n = DefaultMaxKeys
	}
	buckets, err := lru.NewLRU[string, *rate.Limiter](n, nil)
	if err != nil {
		panic(err) // only for a non-positive size, excluded above
	}
	return &Limiter{rule: rule, now: now, buckets: buckets}
}

// Allow takes one event for key. When the bucket is empty it returns false
// and how long until an event would be allowed; a refused attempt does not
// consume anything, so hammering does not extend the wait.
func (l *Limiter) Allow(key string) (bool, time.Duration) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.buckets.Get(key)
	if !ok {
		b = rate.NewLimiter(rate.Every(l.rule.Per/time.Duration(l.rule.Events)), l.rule.Burst)
		l.buckets.Add(key, b)
	}
	r := b.ReserveN(now, 1)
	if !r.OK() {
		return false, l.rule.Per
	}
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return false, d
	}
	return true, 0
}

// Len is the number of buckets kept.
func (l *Limiter) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buckets.Len()
}
