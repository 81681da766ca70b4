package ratelimit

import (
	"fmt"
	"testing"
	"time"
)

func TestLimiter_BurstThenRefusedWithRetryAfter_ThenRefills(t *testing.T) {
	now := time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC)
	l := New(Rule{Events: 6, Per: time.Minute, Burst: 3}, func() time.Time { return now })
	for i := range 3 {
		if ok, _ := l.Allow("ip"); !ok {
			t.Fatalf("event %d refused inside the burst", i)
		}
	}
	ok, wait := l.Allow("ip")
	if ok || wait <= 0 || wait > 10*time.Second {
		t.Fatalf("4th event: ok=%v wait=%v, want refused with ≤10s", ok, wait)
	}
	// Refused attempts do not extend the wait.
	for range 50 {
		l.Allow("ip")
	}
	if ok, _ := l.Allow("other"); !ok {
		t.Fatal("another key shares the bucket")
	}
	now = now.Add(10 * time.Second)
	if ok, _ := l.Allow("ip"); !ok {
		t.Fatal("not refilled after the interval")
	}
}

// Limiter memory is bounded (docs/session-rules.md §8): a client cycling through keys
// evicts the least recently used buckets instead of growing the map.
func TestLimiter_KeysBeyondTheCap_EvictLeastRecentlyUsed(t *testing.T) {
	now := time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC)
	l := New(Rule{Events: 1, Per: time.Hour, Burst: 1, MaxKeys: 100}, func() time.Time { return now })
	for i := range 10_000 {
		l.Allow(fmt.Sprintf("key-%d", i))
	}
	if n := l.Len(); n != 100 {
		t.Fatalf("%d buckets kept, want the cap of 100", n)
	}
	if ok, _ := l.Allow("key-9999"); ok {
		t.Fatal("a recent key lost its bucket")
	}
}
