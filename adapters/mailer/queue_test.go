package mailer_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sessiond/sessiond/adapters/mailer"
	"github.com/sessiond/sessiond/core"
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

func (b *blockingMailer) SendEmailVerification(ctx context.Context, to, token string, exp time.Time) error {
	return b.SendPasswordReset(ctx, to, token, exp)
}

func (b *blockingMailer) SendInvitation(ctx context.Context, m core.InvitationMail) error {
	return b.SendPasswordReset(ctx, m.To, m.Token, m.ExpiresAt)
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
	q, cleanup := mailer.NewQueue(inner, mailer.QueueConfig{Size: 2, Timeout: 5 * time.Second}, slog.New(slog.NewTextHandler(io.Discard, nil)))
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

// recordingMailer records the order of what reaches it.
type recordingMailer struct {
	mu  sync.Mutex
	got []string
}

func (r *recordingMailer) SendPasswordReset(_ context.Context, to, _ string, _ time.Time) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = append(r.got, to)
	return nil
}

func (r *recordingMailer) SendEmailVerification(ctx context.Context, to, token string, exp time.Time) error {
	return r.SendPasswordReset(ctx, to, token, exp)
}

func (r *recordingMailer) SendInvitation(ctx context.Context, m core.InvitationMail) error {
	return r.SendPasswordReset(ctx, m.To, m.Token, m.ExpiresAt)
}

// LGN-10: work deferred to the queue runs after the caller returned, in
// order with the mail, and a mail it sends goes straight to the wrapped
// mailer — even while the queue drains at shutdown.
func TestQueue_LGN10_DeferredWorkRunsInOrder_ItsMailGoesStraightThrough(t *testing.T) {
	inner := &recordingMailer{}
	q, cleanup := mailer.NewQueue(inner, mailer.QueueConfig{Size: 8, Timeout: 5 * time.Second}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	release := make(chan struct{})
	_ = q.Defer(func(context.Context) { <-release })
	_ = q.SendPasswordReset(context.Background(), "first@example.com", "t", time.Now())
	if err := q.Defer(func(ctx context.Context) {
		if err := q.SendPasswordReset(ctx, "deferred@example.com", "t", time.Now()); err != nil {
			t.Errorf("mail from deferred work: %v", err)
		}
	}); err != nil {
		t.Fatal(err)
	}
	close(release)
	cleanup() // closes the queue while the deferred work is still queued
	if want := []string{"first@example.com", "deferred@example.com"}; strings.Join(inner.got, ",") != strings.Join(want, ",") {
		t.Fatalf("delivered %v, want %v", inner.got, want)
	}
}
