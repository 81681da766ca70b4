package mailer

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/sessiond/sessiond/core"
)

// Queue is a core.Mailer that only queues: SendPasswordReset hands the mail
// to a bounded channel and returns at once, and a worker passes it on to
// the mailer it wraps (composing the message, talking SMTP, writing the
// log line). The password-reset request therefore answers before any mail
// work is done, whether the address is known or not, so that its timing
// cannot tell them apart (LGN-10, docs/security-checklist.md). Production
// wraps every mailer in one (cmd/sessiond).
type Queue struct {
	inner   core.Mailer
	log     *slog.Logger
	timeout time.Duration
	ch      chan queuedMail
	done    chan struct{}

	mu     sync.RWMutex // guards closed and sending on ch
	closed bool
}

var _ core.Mailer = (*Queue)(nil)

type queuedMail struct {
	to, token string
	expiresAt time.Time
}

// DefaultQueueSize bounds the mails waiting for the worker.
const DefaultQueueSize = 256

// NewQueue starts the worker in front of inner. size bounds the queue
// (≤ 0: DefaultQueueSize); timeout bounds each hand-over to inner and the
// drain at shutdown (≤ 0: 30 s). The returned cleanup stops accepting
// mail, lets the worker finish what is queued (within timeout), and
// returns.
func NewQueue(inner core.Mailer, size int, timeout time.Duration, log *slog.Logger) (*Queue, func()) {
	if size <= 0 {
		size = DefaultQueueSize
	}
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	q := &Queue{inner: inner, log: log, timeout: timeout, ch: make(chan queuedMail, size), done: make(chan struct{})}
	go q.work()
	return q, q.close
}

// SendPasswordReset implements core.Mailer: it queues the mail and
// returns; ErrQueueFull when the queue is full. The caller's context is
// not kept: the mail outlives the request.
func (q *Queue) SendPasswordReset(_ context.Context, to, token string, expiresAt time.Time) error {
	q.mu.RLock()
	defer q.mu.RUnlock()
	if q.closed {
		return errors.New("mailer: shutting down")
	}
	select {
	case q.ch <- queuedMail{to: to, token: token, expiresAt: expiresAt}:
		return nil
	default:
		return ErrQueueFull
	}
}

func (q *Queue) work() {
	defer close(q.done)
	for m := range q.ch {
		ctx, cancel := context.WithTimeout(context.Background(), q.timeout)
		if err := q.inner.SendPasswordReset(ctx, m.to, m.token, m.expiresAt); err != nil {
			q.log.Error("password reset mail not accepted", "to", m.to, "err", err)
		}
		cancel()
	}
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
	case <-time.After(q.timeout):
		q.log.Warn("mail queue stopped with mail still queued")
	}
}
