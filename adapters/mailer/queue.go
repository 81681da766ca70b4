package mailer

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/sessiond/sessiond/core"
)

// Queue is a core.Mailer that only queues: SendPasswordReset hands the mail
// to a bounded channel and returns at once, and a worker passes it on to
// the mailer it wraps (composing the message, talking SMTP, writing the
// log line). It also runs work deferred to it (core.Deferrer): what a
// reset request for a known address does beyond an unknown one's (storing
// the token, auditing, mailing). The password-reset request therefore
// answers before any of it is done, whether the address is known or not,
// so that its timing cannot tell them apart (LGN-10,
// docs/security-checklist.md). Production wraps every mailer in one
// (cmd/sessiond).
type Queue struct {
	inner core.Mailer
	log   *slog.Logger
	cfg   QueueConfig
	ch    chan queuedMail
	done  chan struct{}

	mu     sync.RWMutex // guards closed and sending on ch
	closed bool
}

var (
	_ core.Mailer   = (*Queue)(nil)
	_ core.Deferrer = (*Queue)(nil)
)

// queuedMail is a mail, or work deferred (fn).
type queuedMail struct {
	send     func(context.Context, core.Mailer) error // a mail: hand it to the inner mailer
	what     string
	fn       func(context.Context)
	queuedAt time.Time
}

// inWorker marks the context of deferred work: a mail it sends goes to
// the wrapped mailer directly (it already runs on the worker, after the
// request), even while the queue drains at shutdown.
type inWorker struct{}

// QueueConfig tunes a Queue; the zero value is the defaults.
type QueueConfig struct {
	// Size bounds the items waiting for the worker (default 256).
	Size int
	// Timeout bounds each item's work and the drain at shutdown (default
	// 30 s).
	Timeout time.Duration
	// Settle is how old an item must be before the worker starts it
	// (default 40 ms; negative: none), plus a random share of as much
	// again, drawn per item. The request that queued it has answered by
	// then, so the work never competes with that answer for CPU or the
	// database; and it lands on whatever requests happen to be running
	// tens of milliseconds later, not on the next one a prober sends (at
	// 5 ms without jitter it did: make bench's oracle scenario showed
	// reset-request gaps of 10–21 % between known and unknown addresses,
	// at 40 ms 0.0–3.7 %; bench/README.md). An item that waited longer
	// starts at once, so the queue's throughput is unchanged.
	Settle time.Duration
}

// NewQueue starts the worker in front of inner. The returned cleanup stops
// accepting mail, lets the worker finish what is queued (within the
// timeout), and returns.
func NewQueue(inner core.Mailer, cfg QueueConfig, log *slog.Logger) (*Queue, func()) {
	if cfg.Size <= 0 {
		cfg.Size = 256
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	if cfg.Settle == 0 {
		cfg.Settle = 40 * time.Millisecond
	}
	q := &Queue{inner: inner, log: log, cfg: cfg, ch: make(chan queuedMail, cfg.Size), done: make(chan struct{})}
	go q.work()
	return q, q.close
}

// SendPasswordReset implements core.Mailer: it queues the mail and
// returns; ErrQueueFull when the queue is full. The caller's context is
// not kept: the mail outlives the request.
func (q *Queue) SendPasswordReset(ctx context.Context, to, token string, expiresAt time.Time) error {
	return q.send(ctx, "password reset", func(ctx context.Context, m core.Mailer) error {
		return m.SendPasswordReset(ctx, to, token, expiresAt)
	})
}

// SendEmailVerification implements core.Mailer, as SendPasswordReset.
func (q *Queue) SendEmailVerification(ctx context.Context, to, token string, expiresAt time.Time) error {
	return q.send(ctx, "email verification", func(ctx context.Context, m core.Mailer) error {
		return m.SendEmailVerification(ctx, to, token, expiresAt)
	})
}

// SendInvitation implements core.Mailer, as SendPasswordReset.
func (q *Queue) SendInvitation(ctx context.Context, inv core.InvitationMail) error {
	return q.send(ctx, "invitation", func(ctx context.Context, m core.Mailer) error {
		return m.SendInvitation(ctx, inv)
	})
}

func (q *Queue) send(ctx context.Context, what string, fn func(context.Context, core.Mailer) error) error {
	if ctx.Value(inWorker{}) != nil {
		return fn(ctx, q.inner)
	}
	return q.enqueue(queuedMail{send: fn, what: what})
}

// Defer implements core.Deferrer: fn runs on the worker, in order with the
// mail, with a context of its own bounded by the queue's timeout;
// ErrQueueFull when the queue is full.
func (q *Queue) Defer(fn func(ctx context.Context)) error { return q.enqueue(queuedMail{fn: fn}) }

func (q *Queue) enqueue(m queuedMail) error {
	q.mu.RLock()
	defer q.mu.RUnlock()
	if q.closed {
		return errors.New("mailer: shutting down")
	}
	m.queuedAt = time.Now()
	select {
	case q.ch <- m:
		return nil
	default:
		return ErrQueueFull
	}
}

func (q *Queue) work() {
	defer close(q.done)
	for m := range q.ch {
		if wait := q.settle() - time.Since(m.queuedAt); wait > 0 {
			time.Sleep(wait)
		}
		ctx, cancel := context.WithTimeout(context.WithValue(context.Background(), inWorker{}, true), q.cfg.Timeout)
		if m.fn != nil {
			m.fn(ctx)
		} else if err := m.send(ctx, q.inner); err != nil {
			q.log.Error(m.what+" mail not accepted", "err", err)
		}
		cancel()
	}
}

// settle draws an item's settle time: Settle plus up to as much again.
func (q *Queue) settle() time.Duration {
	if q.cfg.Settle <= 0 {
		return 0
	}
	return q.cfg.Settle + rand.N(q.cfg.Settle)
}

func (q *Queue) close() {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return
	}
	q.closed = true
	close(q.ch)
	q.mu.Unlock()
	select {
	case <-q.done:
	case <-time.After(q.cfg.Timeout):
		q.log.Warn("mail queue stopped with mail still queued")
	}
}
