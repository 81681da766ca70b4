package audit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/sessiond/sessiond/core"
)

// Settings tune the delivery worker.
type Settings struct {
	// PollInterval between looks for work when there was none (0: 1 s).
	PollInterval time.Duration
	// Lease is how long an instance holds an account (0: 60 s); another
	// instance takes over an account only after its lease ran out (a
	// crashed instance's accounts wait that long).
	Lease time.Duration
	// Budget bounds one round of one account (0: 20 s), well inside the
	// lease: a round starts no delivery after it.
	Budget time.Duration
	// Batch is how many events are stamped or read at once (0: 100).
	Batch int
	// Accounts is how many accounts one instance serves at once (0: 4).
	Accounts int
	Retry    core.WebhookRetry
}

func (s Settings) withDefaults() Settings {
	if s.PollInterval <= 0 {
		s.PollInterval = time.Second
	}
	if s.Lease <= 0 {
		s.Lease = 60 * time.Second
	}
	if s.Budget <= 0 {
		s.Budget = 20 * time.Second
	}
	if s.Budget > s.Lease/2 {
		s.Budget = s.Lease / 2
	}
	if s.Batch <= 0 {
		s.Batch = 100
	}
	if s.Accounts <= 0 {
		s.Accounts = 4
	}
	if s.Retry == (core.WebhookRetry{}) {
		s.Retry = core.DefaultWebhookRetry()
	}
	return s
}

// Dispatcher delivers the audit table's events to the webhook endpoints.
// Each instance runs one, under its own id; instances split the accounts
// by lease, so an event is delivered once in the normal case, and at least
// once whatever happens (the cursor moves only after the receiver's 2xx;
// a crash between the two re-sends the event, same webhook-id).
type Dispatcher struct {
	outbox core.WebhookOutbox
	sender core.WebhookSender
	sealer core.WebhookSecretSealer
	clock  core.Clock
	cfg    Settings
	log    *slog.Logger
	obs    Observer
	id     uuid.UUID
	random func() float64
}

// NewDispatcher wires a dispatcher. obs may be nil (nothing observed).
func NewDispatcher(outbox core.WebhookOutbox, sender core.WebhookSender, sealer core.WebhookSecretSealer, clock core.Clock, cfg Settings, obs Observer, log *slog.Logger) (*Dispatcher, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Retry.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.Default()
	}
	if obs == nil {
		obs = nopObserver{}
	}
	return &Dispatcher{outbox: outbox, sender: sender, sealer: sealer, clock: clock, cfg: cfg, log: log,
		obs: obs, id: uuid.New(), random: rand.Float64}, nil
}

// Run delivers until ctx ends: a round as soon as the last one found work,
// else after PollInterval. A failed round is logged and retried.
func (d *Dispatcher) Run(ctx context.Context) {
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		n, err := d.Tick(ctx)
		if err != nil && ctx.Err() == nil {
			d.log.WarnContext(ctx, "webhook delivery round failed", "err", err)
		}
		wait := d.cfg.PollInterval
		if n > 0 && err == nil {
			wait = 0
		}
		t.Reset(wait)
	}
}

// Tick is one round: find the accounts with work, and serve those whose
// lease is free (several at once), each until it has no more work or its
// budget is spent. Returns how many attempts were made.
func (d *Dispatcher) Tick(ctx context.Context) (int, error) {
	now := d.clock.Now()
	work, err := d.outbox.WebhookWork(ctx, now)
	if err != nil {
		return 0, err
	}
	var lag time.Duration
	for _, w := range work {
		if w.OldestPending != nil && now.Sub(*w.OldestPending) > lag {
			lag = now.Sub(*w.OldestPending)
		}
	}
	if _, none := d.obs.(nopObserver); !none { // the count is a query: only when someone reads it
		d.obs.WebhookQueueLag(lag)
		if n, err := d.outbox.WebhookFailingEndpoints(ctx); err == nil {
			d.obs.WebhookEndpointsFailing(n)
		}
	}
	sem := make(chan struct{}, d.cfg.Accounts)
	var wg sync.WaitGroup
	var mu sync.Mutex
	total, firstErr := 0, error(nil)
	for _, w := range work {
		if !w.Due || !w.LeaseFree {
			continue
		}
		sem <- struct{}{}
		wg.Add(1)
		go func(account uuid.UUID) {
			defer func() { <-sem; wg.Done() }()
			n, err := d.serveAccount(ctx, account)
			mu.Lock()
			total += n
			if err != nil && firstErr == nil {
				firstErr = err
			}
			mu.Unlock()
		}(w.AccountID)
	}
	wg.Wait()
	return total, firstErr
}

// serveAccount leases the account, stamps its new events and delivers to
// each due endpoint (concurrently: one endpoint's slow receiver does not
// hold up another's), then gives the lease back.
func (d *Dispatcher) serveAccount(ctx context.Context, account uuid.UUID) (int, error) {
	now := d.clock.Now()
	ok, err := d.outbox.WebhookLease(ctx, account, d.id, now, now.Add(d.cfg.Lease))
	if err != nil || !ok {
		return 0, err
	}
	defer func() {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if err := d.outbox.WebhookRelease(rctx, account, d.id); err != nil {
			d.log.Warn("webhook lease release failed (it runs out by itself)", "account_id", account, "err", err)
		}
	}()
	deadline := time.Now().Add(d.cfg.Budget)
	var last int64
	for {
		n, l, err := d.outbox.WebhookStamp(ctx, account, d.cfg.Batch)
		if err != nil {
			return 0, err
		}
		last = l
		if n < d.cfg.Batch || time.Now().After(deadline) {
			break
		}
	}
	eps, err := d.outbox.WebhookDueEndpoints(ctx, account, d.clock.Now())
	if err != nil {
		return 0, err
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	total, firstErr := 0, error(nil)
	for _, ep := range eps {
		if ep.DeliveredSeq >= last {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			n, err := d.serveEndpoint(ctx, ep, last, deadline)
			mu.Lock()
			total += n
			if err != nil && firstErr == nil {
				firstErr = err
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	return total, firstErr
}

// serveEndpoint delivers the endpoint's queue in sequence order, one event
// at a time, up to last: events it does not subscribe to (or older than
// the endpoint) are skipped, each delivery moves the cursor, and the first
// failure stops the queue until its retry time (head-of-line: the order
// holds).
func (d *Dispatcher) serveEndpoint(ctx context.Context, ep core.WebhookEndpoint, last int64, deadline time.Time) (int, error) {
	secrets, err := core.WebhookSecrets(d.sealer, ep, d.clock.Now())
	if err != nil {
		// No key opens the secret: nothing can be signed. The endpoint
		// fails at once with the reason; the owner rotates its secret and
		// enables it again.
		now := d.clock.Now()
		_, ferr := d.outbox.WebhookFail(ctx, ep.AccountID, ep.ID, ep.DeliveredSeq, core.WebhookFailure{
			Cursor: ep.DeliveredSeq, Attempts: ep.Attempts, FirstFailedAt: now, GiveUp: true, Now: now,
			Reason: "the signing secret cannot be read with the server's keys: rotate the secret, then enable the endpoint",
		}, core.WebhookAttempt{ID: uuid.New(), EndpointID: ep.ID, EventType: "", At: now, Outcome: core.WebhookNetworkError, Error: err.Error()})
		return 0, errors.Join(err, ferr)
	}
	target := core.WebhookTarget{URL: ep.URL, Secrets: secrets}
	cursor, attempts := ep.DeliveredSeq, 0
	for cursor < last && time.Now().Before(deadline) && ctx.Err() == nil {
		evs, err := d.outbox.WebhookEventsAfter(ctx, ep.AccountID, cursor, last, d.cfg.Batch)
		if err != nil {
			return attempts, err
		}
		skipTo := cursor
		if len(evs) == 0 {
			skipTo = last // what was between is gone (expired partitions)
		}
		for _, ev := range evs {
			if !ep.Wants(ev.Event.Action) || ev.Event.At.Before(ep.CreatedAt) {
				skipTo = ev.Seq
				continue
			}
			if !time.Now().Before(deadline) || ctx.Err() != nil {
				break
			}
			m, err := core.NewWebhookMessage(ev.Event, ev.Seq)
			if err != nil {
				return attempts, err
			}
			a := d.sender.Send(ctx, target, m)
			if ctx.Err() != nil && a.Outcome != core.WebhookDelivered {
				return attempts, ctx.Err() // shutting down: not the receiver's failure
			}
			attempts++
			a.ID, a.EndpointID, a.EventID, a.EventType, a.Sequence = uuid.New(), ep.ID, ev.Event.ID, ev.Event.Action, ev.Seq
			d.count(a.Outcome)
			if a.Outcome == core.WebhookDelivered {
				ok, err := d.outbox.WebhookAdvance(ctx, ep.AccountID, ep.ID, ev.Seq, &a)
				if err != nil || !ok {
					return attempts, err // changed meanwhile (deleted, advanced by another instance)
				}
				cursor, skipTo = ev.Seq, ev.Seq
				ep.Attempts, ep.FirstFailedAt = 0, nil
				continue
			}
			return attempts, d.failed(ctx, ep, cursor, skipTo, a)
		}
		if skipTo > cursor {
			ok, err := d.outbox.WebhookAdvance(ctx, ep.AccountID, ep.ID, skipTo, nil)
			if err != nil || !ok {
				return attempts, err
			}
			cursor = skipTo
		}
	}
	return attempts, nil
}

// failed records a failed attempt at the head of the endpoint's queue and
// schedules its retry (exponential backoff with jitter), or marks the
// endpoint failing once the retry period is over.
func (d *Dispatcher) failed(ctx context.Context, ep core.WebhookEndpoint, cursor, skipTo int64, a core.WebhookAttempt) error {
	now := d.clock.Now()
	f := core.WebhookFailure{Cursor: skipTo, Attempts: ep.Attempts + 1, FirstFailedAt: now, Now: now}
	if ep.FirstFailedAt != nil {
		f.FirstFailedAt = *ep.FirstFailedAt
	}
	at, giveUp := d.cfg.Retry.Next(f.Attempts, f.FirstFailedAt, now, d.random())
	if giveUp {
		f.GiveUp = true
		f.Reason = fmt.Sprintf("deliveries failed for %s (%d attempts); last: %s", d.cfg.Retry.Period, f.Attempts, a.Error)
	} else {
		f.RetryAt = &at
	}
	_, err := d.outbox.WebhookFail(ctx, ep.AccountID, ep.ID, cursor, f, a)
	if err == nil && giveUp {
		d.log.WarnContext(ctx, "webhook endpoint marked failing", "account_id", ep.AccountID, "endpoint_id", ep.ID, "attempts", f.Attempts)
	}
	return err
}

func (d *Dispatcher) count(o core.WebhookOutcome) {
	d.obs.WebhookDelivery(o)
}
