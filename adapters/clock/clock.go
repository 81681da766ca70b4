// Package clock provides core.Clock: the system clock, and a settable one
// for tests that drive time instead of sleeping.
package clock

import (
	"sync"
	"time"

	"github.com/sessiond/sessiond/core"
)

// System is the wall clock, in UTC.
type System struct{}

var _ core.Clock = System{}

// Now implements core.Clock.
// Truncated to microseconds, the precision PostgreSQL stores, so a time
// read back from the database equals the one written.
func (System) Now() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }

// Fake is a clock that moves only when told to. Safe for concurrent use.
type Fake struct {
	mu  sync.Mutex
	now time.Time
}

var _ core.Clock = (*Fake)(nil)

// NewFake returns a Fake clock set to t.
func NewFake(t time.Time) *Fake { return &Fake{now: t} }

// Now implements core.Clock.
func (f *Fake) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

// Set moves the clock to t.
func (f *Fake) Set(t time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.now = t
}

// Advance moves the clock forward by d.
func (f *Fake) Advance(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.now = f.now.Add(d)
}
