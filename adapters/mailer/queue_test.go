package mailer_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/sessiond/sessiond/adapters/mailer"
)

// blockingMailer takes mail only when released.
type blockingMailer struct {
	release chan struct{}
	mu      sync.Mutex
	got     []string
}

func (b *blockingMailer) SendPasswordReset(_ context.Context, to, _ string, _ time.Time) error {
	<-b.release
	b.mu.Lock()
	defer b.mu.Unlock()
	b.got = append(b.got, to)
	return nil
}

func (b *blockingMailer) count() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.got)
}

// LGN-10: handing a mail to the queue does not wait for the mailer behind
// it (here one that never finishes until released); a full queue refuses
// at once; the cleanup delivers what was queued.
func TestQueue_LGN10_SendDoesNotWaitForDelivery_CleanupDrains(t *testing.T) {
	inner := &blockingMailer{release: make(chan struct{})}
	q, cleanup := mailer.NewQueue(inner, 2, 5*time.Second, slog.New(slog.NewTextHandler(io.Discard, nil)))
	start := time.Now()
	// The queue holds two, the worker one more: sends are accepted until
	// then, and the next is refused at once, never waited on.
	accepted := 0
	var err error
	for time.Since(start) < 2*time.Second {
		if err = q.SendPasswordReset(context.Background(), "a@example.com", "token", time.Now()); err != nil {
			break
		}
		accepted++
	}
	if !errors.Is(err, mailer.ErrQueueFull) || accepted < 2 || accepted > 3 {
		t.Fatalf("after %d accepted: %v, want ErrQueueFull after 2 or 3", accepted, err)
	}
	if took := time.Since(start); took > time.Second {
		t.Fatalf("queueing took %s with the mailer blocked", took)
	}
	if n := inner.count(); n != 0 {
		t.Fatalf("%d mails delivered before release", n)
	}
	close(inner.release)
	cleanup()
	if n := inner.count(); n != accepted {
		t.Fatalf("%d mails delivered after the drain, want the %d accepted", n, accepted)
	}
	if err := q.SendPasswordReset(context.Background(), "e@example.com", "token", time.Now()); err == nil {
		t.Fatal("accepted mail after the cleanup")
	}
}
