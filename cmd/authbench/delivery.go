package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/sessiond/sessiond/adapters/audit"
	"github.com/sessiond/sessiond/adapters/clock"
	"github.com/sessiond/sessiond/adapters/postgres"
	"github.com/sessiond/sessiond/core"
)

// DeliveryResult is the webhook-delivery scenario's figure: how many events
// per second one instance delivers to a local receiver.
type DeliveryResult struct {
	Scenario        string    `json:"scenario"`
	StartedAt       time.Time `json:"started_at"`
	Events          int       `json:"events"`
	Seconds         float64   `json:"seconds"`
	EventsPerSecond float64   `json:"events_per_second"`
	AttemptP50Ms    float64   `json:"attempt_p50_ms"`
	AttemptP99Ms    float64   `json:"attempt_p99_ms"`
}

// benchDelivery measures the cost of delivery: a tenant of its own with one
// endpoint on a local TLS receiver (answering 204 at once), n audit events
// committed first, then one dispatcher (adapters/audit, as serve runs it,
// against the runtime role) delivering them all: stamping, reading,
// signing, posting, recording each attempt and moving the cursor.
func benchDelivery(ctx context.Context, appDB string, n int, log *slog.Logger) (DeliveryResult, error) {
	r := DeliveryResult{Scenario: "webhook-delivery", StartedAt: time.Now().UTC(), Events: n}
	if appDB == "" {
		return r, errors.New("webhook-delivery needs -app-db (the runtime role's DSN)")
	}
	pool, closePool, err := postgres.NewPool(ctx, appDB, 8)
	if err != nil {
		return r, err
	}
	defer closePool()
	store := postgres.NewStore(pool)
	var got atomic.Int64
	recv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		got.Add(1)
		w.WriteHeader(http.StatusNoContent)
	}))
	defer recv.Close()
	roots := x509.NewCertPool()
	roots.AddCert(recv.Certificate())
	clk := clock.System{}
	sealer, err := audit.NewSealer(make([]byte, 32))
	if err != nil {
		return r, err
	}
	guard := &audit.Guard{AllowPrivate: true} // the receiver is on 127.0.0.1
	sender := audit.NewSender(guard, clk, audit.SenderOptions{TLS: &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}})
	svc, err := core.NewService(store, nil, nil, clk, core.DefaultConfig(), nil, nil, log)
	if err != nil {
		return r, err
	}
	hooks := core.NewWebhookService(svc, sealer, sender, nil)

	account, owner := uuid.New(), uuid.New()
	if err := store.InTenantTx(ctx, account, func(tx core.TenantTx) error {
		if err := tx.AccountCreate(ctx, core.Account{ID: account, Name: "delivery bench", CreatedAt: clk.Now()}); err != nil {
			return err
		}
		return tx.UserCreate(ctx, core.User{ID: owner, Email: "owner-" + owner.String() + "@delivery.bench", Name: "Owner",
			Role: core.RoleOwner, Active: true, CreatedAt: clk.Now()}, "x")
	}); err != nil {
		return r, fmt.Errorf("delivery bench tenant: %w", err)
	}
	u, types := recv.URL+"/hook", []string{core.ActionLoginFailed}
	p := core.Principal{UserID: owner, AccountID: account, Role: core.RoleOwner}
	if _, _, err := hooks.CreateWebhookEndpoint(ctx, p, core.WebhookEndpointInput{URL: &u, EventTypes: &types}, core.Client{}); err != nil {
		return r, fmt.Errorf("delivery bench endpoint: %w", err)
	}
	time.Sleep(2 * time.Millisecond) // events strictly after the endpoint's creation
	for i := range n {
		if err := store.InTenantTx(ctx, account, func(tx core.TenantTx) error {
			return tx.Audit(ctx, core.AuditEvent{AccountID: account, Action: core.ActionLoginFailed, ResourceType: "user",
				Details: map[string]any{"i": i}, At: clk.Now()})
		}); err != nil {
			return r, fmt.Errorf("delivery bench events: %w", err)
		}
	}
	log.Info("delivering", "events", n)
	d, err := audit.NewDispatcher(store, sender, sealer, clk, audit.Settings{Batch: 500}, nil, log)
	if err != nil {
		return r, err
	}
	start := time.Now()
	for got.Load() < int64(n) && ctx.Err() == nil {
		if _, err := d.Tick(ctx); err != nil {
			return r, fmt.Errorf("delivery round: %w", err)
		}
		if time.Since(start) > 10*time.Minute {
			return r, fmt.Errorf("only %d of %d delivered in 10 minutes", got.Load(), n)
		}
	}
	el := time.Since(start)
	r.Seconds = roundTo(el.Seconds(), 3)
	r.EventsPerSecond = roundTo(float64(n)/el.Seconds(), 1)
	page, err := hooks.ListWebhookEndpoints(ctx, p)
	if err == nil && len(page) == 1 {
		if at, err := hooks.ListWebhookAttempts(ctx, p, page[0].ID, 200, ""); err == nil && len(at.Attempts) > 0 {
			var ms []float64
			for _, a := range at.Attempts {
				ms = append(ms, float64(a.Latency.Microseconds())/1000)
			}
			slices.Sort(ms)
			r.AttemptP50Ms, r.AttemptP99Ms = ms[len(ms)/2], ms[min(len(ms)-1, len(ms)*99/100)]
		}
	}
	return r, nil
}
