package core

import (
	"testing"
	"time"
)

// LGN-11: which answers of the mail-rate counter mean "this request is the
// one that lets a mail go out" (ThrottleRule.counted), with the delays the
// counter's SQL sets (ThrottleRule.delay).
func TestThrottleRule_LGN11_CountedAndDelay(t *testing.T) {
	r := DefaultResetMailRule()
	now := time.Date(2031, 3, 1, 9, 0, 0, 0, time.UTC)
	for failures, want := range map[int]time.Duration{0: 0, 1: time.Minute, 2: 2 * time.Minute, 4: 8 * time.Minute, 5: 15 * time.Minute, 40: 15 * time.Minute} {
		if got := r.delay(failures); got != want {
			t.Errorf("delay(%d) = %s, want %s", failures, got, want)
		}
	}
	for _, c := range []struct {
		name          string
		before, after ThrottleState
		want          bool
	}{
		{"first request", ThrottleState{}, ThrottleState{Failures: 1, LockedUntil: now.Add(time.Minute)}, true},
		{"after the hold", ThrottleState{Failures: 1, LockedUntil: now.Add(-time.Second)}, ThrottleState{Failures: 2, LockedUntil: now.Add(2 * time.Minute)}, true},
		{"inside the hold", ThrottleState{Failures: 1, LockedUntil: now.Add(time.Second)}, ThrottleState{Failures: 1, LockedUntil: now.Add(time.Second)}, false},
		{"the same instant as the mail", ThrottleState{Failures: 1, LockedUntil: now.Add(time.Minute)}, ThrottleState{Failures: 1, LockedUntil: now.Add(time.Minute)}, false},
		{"a concurrent request counted a moment earlier", ThrottleState{}, ThrottleState{Failures: 1, LockedUntil: now.Add(time.Minute - 50*time.Millisecond)}, false},
		{"rounded by the database", ThrottleState{}, ThrottleState{Failures: 1, LockedUntil: now.Add(time.Minute + time.Microsecond)}, true},
	} {
		if got := r.counted(c.before, c.after, now); got != c.want {
			t.Errorf("%s: counted = %v, want %v", c.name, got, c.want)
		}
	}
}
