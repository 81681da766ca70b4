package argon2

import (
	"context"
	"errors"
	"math"
	"runtime"
	"sync/atomic"
	"time"

	"github.com/sessiond/sessiond/core"
)

// Admission control for password hashing (docs/architecture.md, "Admission
// control"). One argon2id hash is tens of milliseconds of CPU and 19 MiB of
// memory; a burst of sign-ins left unbounded would take every core and
// make every signed-in user's refresh and /auth/me wait behind it. The
// Limiter runs at most Concurrency hashes at once — by default one core
// fewer than the Go runtime uses, so one core always serves the cheap
// requests — lets at most Queue more wait, each for at most Wait, and
// sheds the rest: the hash is not run and the caller gets ErrOverloaded,
// which the HTTP layer answers 503 service_unavailable with Retry-After.
// Callers hash before they write (core/auth.go, core/credentials.go), so a
// shed request has changed nothing.

// Limits configure a Limiter.
type Limits struct {
	// Concurrency is how many hashes run at once (at least 1).
	Concurrency int
	// Queue is how many hashes may wait for a slot; one more is shed at
	// once. 0: none wait, a hash that finds every slot busy is shed.
	Queue int
	// Wait is the longest a hash waits for a slot before it is shed.
	// 0: no bound (only Queue sheds).
	Wait time.Duration
	// ShedHold is how long a request refused because every slot was busy
	// and the queue full waits before it is answered (a tarpit, spent
	// asleep, before any work of the request). A client that retries at
	// once, ignoring Retry-After — a sign-in storm's clients do — then
	// retries at most once per hold instead of as fast as refusals come,
	// and the refusals stop eating the CPU the sessions and the admitted
	// hashes need. 0: refuse at once. A hash shed after waiting Wait is
	// not held again.
	ShedHold time.Duration
}

// DefaultConcurrency is one hash per CPU the Go runtime uses, minus one
// (at least one): on a 2-core box one core hashes and one serves sessions.
func DefaultConcurrency() int { return max(1, runtime.GOMAXPROCS(0)-1) }

// DefaultLimits are the production defaults (README, "Operating"): one
// waiting hash per slot, so a slot that frees is taken at once, and a
// wait short enough that a shed answer comes back within 50 ms.
func DefaultLimits() Limits {
	c := DefaultConcurrency()
	return Limits{Concurrency: c, Queue: c, Wait: 40 * time.Millisecond, ShedHold: 10 * time.Millisecond}
}

// unlimited is what New uses: one hash per CPU, and everything else waits
// as long as it takes (no shedding) — for tools and tests that hash
// without a server's admission control.
func unlimited() Limits {
	return Limits{Concurrency: max(1, runtime.GOMAXPROCS(0)), Queue: math.MaxInt32}
}

// Validate checks the limits' bounds.
func (l Limits) Validate() error {
	if l.Concurrency < 1 || l.Queue < 0 || l.Wait < 0 || l.ShedHold < 0 {
		return errors.New("argon2: hash limits: concurrency must be at least 1, queue, wait and shed hold not negative")
	}
	return nil
}

// ErrOverloaded is the answer to a hash that could not start within the
// limits: a *core.Fault of kind core.FaultHashOverloaded, so the HTTP
// layer answers 503 service_unavailable with Retry-After.
var ErrOverloaded error = &core.Fault{Kind: core.FaultHashOverloaded, Err: errors.New("argon2: no hash slot free within the queue limits")}

// Shed reasons, the label of the shed counter.
const (
	ShedQueueFull = "queue_full"   // Queue hashes were already waiting
	ShedWaitTimed = "wait_timeout" // waited Wait without a slot freeing
)

// Observer receives the Limiter's events (the metrics:
// adapters/telemetry).
type Observer interface {
	// HashAdmitted reports a hash that got a slot after waiting wait
	// (0 when a slot was free).
	HashAdmitted(wait time.Duration)
	// HashShed reports a hash refused, and why (ShedQueueFull,
	// ShedWaitTimed).
	HashShed(reason string)
}

// Limiter bounds concurrent hashing; see Limits. Safe for concurrent use.
type Limiter struct {
	slots   chan struct{}
	queue   int64
	wait    time.Duration
	hold    time.Duration
	sleep   func(ctx context.Context, d time.Duration) // the hold's sleep (sleepCtx; tests record it)
	waiting atomic.Int64
	obs     atomic.Pointer[Observer]
}

// NewLimiter returns a Limiter for l.
func NewLimiter(l Limits) (*Limiter, error) {
	if err := l.Validate(); err != nil {
		return nil, err
	}
	return &Limiter{slots: make(chan struct{}, l.Concurrency), queue: int64(l.Queue), wait: l.Wait, hold: l.ShedHold, sleep: sleepCtx}, nil
}

// SetObserver sets where the Limiter reports admissions and sheds.
func (l *Limiter) SetObserver(o Observer) { l.obs.Store(&o) }

func (l *Limiter) observer() Observer {
	if p := l.obs.Load(); p != nil {
		return *p
	}
	return nil
}

// Acquire takes a slot, waiting within the limits, and returns its
// release; or ErrOverloaded without a slot. It never blocks longer than
// Wait (when Wait is set).
func (l *Limiter) Acquire() (release func(), err error) {
	select {
	case l.slots <- struct{}{}:
		l.admitted(0)
		return l.release, nil
	default:
	}
	if l.waiting.Add(1) > l.queue {
		l.waiting.Add(-1)
		l.holdShed(context.Background())
		return nil, l.shed(ShedQueueFull)
	}
	defer l.waiting.Add(-1)
	start := time.Now()
	if l.wait <= 0 {
		l.slots <- struct{}{}
		l.admitted(time.Since(start))
		return l.release, nil
	}
	t := time.NewTimer(l.wait)
	defer t.Stop()
	select {
	case l.slots <- struct{}{}:
		l.admitted(time.Since(start))
		return l.release, nil
	case <-t.C:
		return nil, l.shed(ShedWaitTimed)
	}
}

// Saturated reports whether a hash asked for now would be shed at once:
// every slot busy and the queue full. The HTTP layer asks it before a
// sign-in's first database read, so a doomed sign-in costs no round trip;
// it is a hint (the next moment may differ), and Acquire decides.
func (l *Limiter) Saturated() bool {
	return len(l.slots) == cap(l.slots) && l.waiting.Load() >= l.queue
}

// Shed holds a request refused by a Saturated check for ShedHold (less
// when ctx ends first: the client has gone), then counts it (reason
// ShedQueueFull) and returns ErrOverloaded, so that every shed is held
// and counted alike whichever check refused it.
func (l *Limiter) Shed(ctx context.Context) error {
	l.holdShed(ctx)
	return l.shed(ShedQueueFull)
}

// holdShed sleeps ShedHold, or until ctx ends.
func (l *Limiter) holdShed(ctx context.Context) {
	if l.hold > 0 {
		l.sleep(ctx, l.hold)
	}
}

// sleepCtx sleeps d, or until ctx ends.
func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

func (l *Limiter) release() { <-l.slots }

func (l *Limiter) admitted(wait time.Duration) {
	if o := l.observer(); o != nil {
		o.HashAdmitted(wait)
	}
}

func (l *Limiter) shed(reason string) error {
	if o := l.observer(); o != nil {
		o.HashShed(reason)
	}
	return ErrOverloaded
}
