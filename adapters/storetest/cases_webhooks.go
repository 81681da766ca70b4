package storetest

import (
	"bytes"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/sessiond/sessiond/core"
)

// Webhooks: an account's endpoints and attempts (TenantTx), and the audit
// table as the delivery worker's outbox (core.WebhookOutbox, when the
// store implements it).

// endpointAt is a webhook endpoint of the tenant created at at.
func endpointAt(account uuid.UUID, at time.Time) core.WebhookEndpoint {
	return core.WebhookEndpoint{ID: uuid.New(), AccountID: account, URL: "https://hooks.example.com/" + uuid.NewString(),
		Description: "storetest", EventTypes: []string{core.ActionLoginSucceeded}, Enabled: true, State: core.WebhookActive,
		SecretSealed: []byte("sealed-" + uuid.NewString()), CreatedAt: at, UpdatedAt: at}
}

// endpoints lists the tenant's endpoints' ids, oldest first, and counts
// them; the two must agree.
func (e *env) endpoints(account uuid.UUID) (ids []uuid.UUID) {
	e.t.Helper()
	e.tx(account, func(tx core.TenantTx) error {
		list, err := tx.WebhookEndpointList(e.ctx)
		if err != nil {
			return err
		}
		for _, ep := range list {
			ids = append(ids, ep.ID)
		}
		n, err := tx.WebhookEndpointCount(e.ctx)
		if n != len(list) {
			e.t.Errorf("WebhookEndpointCount = %d, WebhookEndpointList has %d", n, len(list))
		}
		return err
	})
	return ids
}

// testWebhookEndpoints: endpoints are listed oldest first and read back as
// created; Save writes what an owner changes; Delete removes one, then
// ErrNotFound; an endpoint created in a transaction that fails is not
// stored; another tenant neither sees, changes nor deletes them (WHK-07).
func testWebhookEndpoints(t *testing.T, e *env) {
	a, b := e.newTenant(), e.newTenant()
	if ids := e.endpoints(a.account); len(ids) != 0 {
		t.Errorf("new account's endpoints = %v, want none", ids)
	}
	e1, e2 := endpointAt(a.account, t0.Add(2*time.Minute)), endpointAt(a.account, t0.Add(time.Minute))
	e.tx(a.account, func(tx core.TenantTx) error {
		if _, err := tx.WebhookStreamEnsure(e.ctx, t0, true); err != nil {
			return err
		}
		if err := tx.WebhookEndpointCreate(e.ctx, e1); err != nil {
			return err
		}
		return tx.WebhookEndpointCreate(e.ctx, e2)
	})
	if ids := e.endpoints(a.account); !slices.Equal(ids, []uuid.UUID{e2.ID, e1.ID}) {
		t.Errorf("WebhookEndpointList = %v, want oldest first %v", ids, []uuid.UUID{e2.ID, e1.ID})
	}
	get := func(account, id uuid.UUID) (ep core.WebhookEndpoint, err error) {
		_ = e.s.InTenantTx(e.ctx, account, func(tx core.TenantTx) error { ep, err = tx.WebhookEndpointGet(e.ctx, id, true); return nil })
		return ep, err
	}
	got, err := get(a.account, e1.ID)
	if err != nil || got.URL != e1.URL || got.Description != e1.Description || !slices.Equal(got.EventTypes, e1.EventTypes) ||
		!got.Enabled || got.State != core.WebhookActive || !bytes.Equal(got.SecretSealed, e1.SecretSealed) || !got.CreatedAt.Equal(e1.CreatedAt) {
		t.Errorf("WebhookEndpointGet = %+v, %v; want %+v", got, err, e1)
	}
	changed := got
	changed.URL, changed.Description, changed.Enabled, changed.UpdatedAt = e1.URL+"/v2", "changed", false, t0.Add(time.Hour)
	changed.EventTypes = []string{core.ActionLogout, core.ActionLoginFailed}
	e.tx(a.account, func(tx core.TenantTx) error { return tx.WebhookEndpointSave(e.ctx, changed) })
	if got, err := get(a.account, e1.ID); err != nil || got.URL != changed.URL || got.Description != "changed" || got.Enabled ||
		!slices.Equal(got.EventTypes, changed.EventTypes) || !got.UpdatedAt.Equal(changed.UpdatedAt) {
		t.Errorf("after WebhookEndpointSave: %+v, %v; want %+v", got, err, changed)
	}

	// Tenant B: nothing of A's.
	if _, err := get(b.account, e1.ID); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("WebhookEndpointGet(A's) in B: err = %v, want ErrNotFound", err)
	}
	for name, f := range map[string]func(tx core.TenantTx) error{
		"Save":   func(tx core.TenantTx) error { return tx.WebhookEndpointSave(e.ctx, endpointAt(a.account, t0)) },
		"Delete": func(tx core.TenantTx) error { return tx.WebhookEndpointDelete(e.ctx, e1.ID) },
	} {
		wantErr(t, "WebhookEndpoint"+name+"(A's) in B", e.s.InTenantTx(e.ctx, b.account, f), core.ErrNotFound)
	}
	if ids := e.endpoints(b.account); len(ids) != 0 {
		t.Errorf("B's endpoints = %v, want none", ids)
	}

	// Created in a transaction that fails: not stored.
	boom := errors.New("fn failed")
	if err := e.s.InTenantTx(e.ctx, a.account, func(tx core.TenantTx) error {
		if err := tx.WebhookEndpointCreate(e.ctx, endpointAt(a.account, t0)); err != nil {
			return err
		}
		return boom
	}); !errors.Is(err, boom) {
		t.Errorf("InTenantTx = %v, want fn's error", err)
	}
	e.tx(a.account, func(tx core.TenantTx) error { return tx.WebhookEndpointDelete(e.ctx, e2.ID) })
	if ids := e.endpoints(a.account); !slices.Equal(ids, []uuid.UUID{e1.ID}) {
		t.Errorf("endpoints after a rollback and a delete = %v, want %v", ids, []uuid.UUID{e1.ID})
	}
	wantErr(t, "WebhookEndpointDelete(deleted)", e.s.InTenantTx(e.ctx, a.account, func(tx core.TenantTx) error {
		return tx.WebhookEndpointDelete(e.ctx, e2.ID)
	}), core.ErrNotFound)
}

// testWebhookAttempts: an endpoint's attempts are listed newest first
// (attempted_at, then id, both descending), in pages of at most the limit
// with neither gap nor repeat, only that endpoint's and tenant's.
func testWebhookAttempts(t *testing.T, e *env) {
	a, b := e.newTenant(), e.newTenant()
	ep, other := endpointAt(a.account, t0), endpointAt(a.account, t0)
	e.tx(a.account, func(tx core.TenantTx) error {
		if err := tx.WebhookEndpointCreate(e.ctx, ep); err != nil {
			return err
		}
		return tx.WebhookEndpointCreate(e.ctx, other)
	})
	var want []core.WebhookAttempt
	e.tx(a.account, func(tx core.TenantTx) error {
		for i := range 5 {
			at := core.WebhookAttempt{ID: uuid.New(), EndpointID: ep.ID, EventID: uuid.New(), EventType: core.ActionLogout,
				Sequence: int64(i + 1), At: t0.Add(time.Duration(i/2) * time.Second), Outcome: core.WebhookHTTPError,
				StatusCode: 500, Latency: 20 * time.Millisecond, Error: "HTTP 500"}
			want = append(want, at)
			if err := tx.WebhookAttemptRecord(e.ctx, at); err != nil {
				return err
			}
		}
		return tx.WebhookAttemptRecord(e.ctx, core.WebhookAttempt{ID: uuid.New(), EndpointID: other.ID, EventID: uuid.New(),
			EventType: core.WebhookTestEventType, At: t0.Add(time.Hour), Outcome: core.WebhookDelivered, StatusCode: 204})
	})
	slices.SortFunc(want, func(x, y core.WebhookAttempt) int {
		if c := y.At.Compare(x.At); c != 0 {
			return c
		}
		return compareIDs(y.ID, x.ID)
	})
	list := func(account uuid.UUID, q core.WebhookAttemptQuery) (page []core.WebhookAttempt) {
		e.tx(account, func(tx core.TenantTx) (err error) { page, err = tx.WebhookAttemptList(e.ctx, q); return err })
		return page
	}
	var got []core.WebhookAttempt
	q := core.WebhookAttemptQuery{EndpointID: ep.ID, Limit: 2}
	for range 10 {
		page := list(a.account, q)
		if len(page) > q.Limit {
			t.Errorf("WebhookAttemptList returned %d attempts, limit %d", len(page), q.Limit)
		}
		got = append(got, page...)
		if len(page) < q.Limit {
			break
		}
		q.After = &core.WebhookAttemptPosition{AttemptedAt: page[len(page)-1].At, ID: page[len(page)-1].ID}
	}
	if len(got) != len(want) {
		t.Fatalf("WebhookAttemptList pages hold %d attempts, want %d", len(got), len(want))
	}
	for i := range got {
		g, w := got[i], want[i]
		if g.ID != w.ID || !g.At.Equal(w.At) || g.EventID != w.EventID || g.EventType != w.EventType || g.Sequence != w.Sequence ||
			g.Outcome != w.Outcome || g.StatusCode != w.StatusCode || g.Latency != w.Latency || g.Error != w.Error {
			t.Errorf("attempt %d = %+v, want %+v", i, g, w)
		}
	}
	if page := list(b.account, core.WebhookAttemptQuery{EndpointID: ep.ID, Limit: 10}); len(page) != 0 {
		t.Errorf("WebhookAttemptList(A's endpoint) in B = %d attempts, want none", len(page))
	}
}

// testWebhookOutbox: the audit table is the webhook outbox
// (core.WebhookOutbox): an event is stamped, and so delivered, only once
// its transaction has committed — never while it is open, never after it
// rolled back (the transactional outbox of WHK-03) — and the stream's
// sequence numbers follow.
func testWebhookOutbox(t *testing.T, e *env) {
	outbox, ok := e.s.(core.WebhookOutbox)
	if !ok {
		t.Skip("the store is no core.WebhookOutbox")
	}
	tn := e.newTenant()
	e.tx(tn.account, func(tx core.TenantTx) error {
		if _, err := tx.WebhookStreamEnsure(e.ctx, t0, true); err != nil {
			return err
		}
		return tx.WebhookEndpointCreate(e.ctx, endpointAt(tn.account, t0))
	})
	ev := func(action string) core.AuditEvent {
		return core.AuditEvent{AccountID: tn.account, Action: action, ResourceType: "user", ResourceID: tn.owner.ID.String(),
			At: t0.Add(time.Minute)}.Normalized()
	}
	stamp := func(when string, wantStamped int, wantLast int64) {
		t.Helper()
		n, last, err := outbox.WebhookStamp(e.ctx, tn.account, 10)
		if err != nil || n != wantStamped || last != wantLast {
			t.Errorf("WebhookStamp %s = %d, last %d, %v; want %d, last %d", when, n, last, err, wantStamped, wantLast)
		}
	}
	boom := errors.New("fn failed")
	err := e.s.InTenantTx(e.ctx, tn.account, func(tx core.TenantTx) error {
		if err := tx.Audit(e.ctx, ev(core.ActionLogout)); err != nil {
			return err
		}
		stamp("while the event's transaction is open", 0, 0)
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("InTenantTx = %v, want fn's error", err)
	}
	stamp("after the rollback", 0, 0)
	committed := ev(core.ActionLoginSucceeded)
	e.tx(tn.account, func(tx core.TenantTx) error { return tx.Audit(e.ctx, committed) })
	stamp("after the commit", 1, 1)
	stamp("again", 0, 1)
	got, err := outbox.WebhookEventsAfter(e.ctx, tn.account, 0, 1, 10)
	if err != nil || len(got) != 1 || got[0].Seq != 1 || got[0].Event.ID != committed.ID || got[0].Event.Action != core.ActionLoginSucceeded {
		t.Errorf("WebhookEventsAfter(0, 1] = %+v, %v; want the committed event as 1", got, err)
	}
}
