package audit_test

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/sessiond/sessiond/adapters/audit"
	"github.com/sessiond/sessiond/adapters/clock"
	"github.com/sessiond/sessiond/adapters/postgres"
	"github.com/sessiond/sessiond/adapters/postgres/pgtest"
	"github.com/sessiond/sessiond/adapters/telemetry"
	"github.com/sessiond/sessiond/core"
)

// Deliveries against a real receiver: an httptest TLS server on
// 127.0.0.1 that verifies every request with the official Standard
// Webhooks Go package, over the real store on a real PostgreSQL. Only the
// clock is fake. No test connects anywhere outside 127.0.0.0/8: the
// guard's BeforeConnect hook fails the test first.

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// loopbackOnly is the guard's last hook in every test: a connection to
// anything outside 127.0.0.0/8 fails the test instead of being made.
func loopbackOnly(t *testing.T) func(network, address string) error {
	return func(_, address string) error {
		ap, err := netip.ParseAddrPort(address)
		if err != nil || !ap.Addr().Is4() || !netip.MustParsePrefix("127.0.0.0/8").Contains(ap.Addr()) {
			t.Errorf("a delivery tried to connect to %s, outside 127.0.0.0/8", address)
			return errors.New("test: no connection outside 127.0.0.0/8")
		}
		return nil
	}
}

// received is one request a receiver accepted and verified.
type received struct {
	ID, Type  string
	Header    http.Header
	Seq       int64
	AccountID uuid.UUID
	Body      []byte
}

// receiver is a Standard Webhooks receiver: it verifies the signature with
// the official package (the secret given once the endpoint exists) and
// records what it accepted; status() decides the answer (default 204).
type receiver struct {
	t      *testing.T
	srv    *httptest.Server
	mu     sync.Mutex
	wh     *standardwebhooks.Webhook
	got    []received
	hits   int
	status func() int
	// tolerant skips the timestamp window (tests that move the fake clock
	// by hours sign with the fake time).
	tolerant bool
}

func newReceiver(t *testing.T) *receiver {
	r := &receiver{t: t}
	r.srv = httptest.NewTLSServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) url() string { return r.srv.URL + "/hooks/sessiond" }

func (r *receiver) setSecret(secret string) {
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		r.t.Fatal(err)
	}
	r.mu.Lock()
	r.wh = wh
	r.mu.Unlock()
}

func (r *receiver) serve(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.hits++
	if r.status != nil {
		if s := r.status(); s/100 != 2 {
			w.WriteHeader(s)
			return
		}
	}
	verify := r.wh.Verify
	if r.tolerant {
		verify = r.wh.VerifyIgnoringTimestamp
	}
	if r.wh == nil || verify(body, req.Header) != nil {
		r.t.Errorf("signature does not verify: %v", verify(body, req.Header))
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	var p struct {
		Type string `json:"type"`
		Data struct {
			Sequence  int64     `json:"sequence"`
			AccountID uuid.UUID `json:"account_id"`
			Action    string    `json:"action"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &p); err != nil || p.Type != p.Data.Action {
		r.t.Errorf("payload %s: %v", body, err)
	}
	r.got = append(r.got, received{ID: req.Header.Get("webhook-id"), Header: req.Header.Clone(), Type: p.Type, Seq: p.Data.Sequence, AccountID: p.Data.AccountID, Body: body})
	w.WriteHeader(http.StatusNoContent)
}

func (r *receiver) accepted() []received {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.got)
}

// env is a store, a fake clock, a sealer and a guard allowing loopback
// (the development setting) with the loopback-only hook.
type env struct {
	t      *testing.T
	store  *postgres.Store
	clock  *clock.Fake
	sealer *audit.Sealer
	guard  *audit.Guard
	roots  *x509.CertPool
	hooks  *core.WebhookService
	svc    *core.Service
}

func newEnv(t *testing.T, receivers ...*receiver) *env {
	t.Helper()
	db := pgtest.Shared(t)
	store := postgres.NewStore(db.AppPool(t, 16))
	clk := clock.NewFake(time.Now().UTC().Truncate(time.Second))
	sealer, err := audit.NewSealer(make32(1))
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	for _, r := range receivers {
		roots.AddCert(r.srv.Certificate())
	}
	guard := &audit.Guard{AllowPrivate: true, BeforeConnect: loopbackOnly(t)}
	svc, err := core.NewService(store, nil, nil, clk, core.DefaultConfig(), nil, nil, quiet)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, store: store, clock: clk, sealer: sealer, guard: guard, roots: roots, svc: svc}
	e.hooks = core.NewWebhookService(svc, sealer, e.sender(), guard.CheckURL)
	return e
}

func make32(b byte) []byte {
	k := make([]byte, 32)
	for i := range k {
		k[i] = b
	}
	return k
}

func (e *env) sender() *audit.Sender {
	s := audit.NewSender(e.guard, e.clock, audit.SenderOptions{TLS: tlsTrusting(e.roots), Timeout: 5 * time.Second})
	e.t.Cleanup(s.CloseIdle)
	return s
}

func (e *env) dispatcher(metrics audit.Observer) *audit.Dispatcher {
	d, err := audit.NewDispatcher(e.store, e.sender(), e.sealer, e.clock, audit.Settings{Batch: 7, Lease: 30 * time.Second}, metrics, quiet)
	if err != nil {
		e.t.Fatal(err)
	}
	return d
}

// tenant is an account with its owner.
type tenant struct {
	account, owner, session uuid.UUID
}

// principal is the owner on a session signed in when the tenant was made:
// webhook changes are owner writes that need a recent authentication
// (docs/session-rules.md §11), and the tests drive the clock by hours.
func (t tenant) principal() core.Principal {
	return core.Principal{UserID: t.owner, AccountID: t.account, SessionID: t.session, Role: core.RoleOwner}
}

func (e *env) tenant() tenant {
	e.t.Helper()
	tn := tenant{account: uuid.New(), owner: uuid.New(), session: uuid.New()}
	ctx := context.Background()
	err := e.store.InTenantTx(ctx, tn.account, func(tx core.TenantTx) error {
		if err := tx.AccountCreate(ctx, core.Account{ID: tn.account, Name: "acct", CreatedAt: e.clock.Now()}); err != nil {
			return err
		}
		if err := tx.UserCreate(ctx, core.User{ID: tn.owner, Email: "o-" + tn.owner.String() + "@example.com", Name: "O",
			Role: core.RoleOwner, Active: true, CreatedAt: e.clock.Now()}, "$argon2id$x"); err != nil {
			return err
		}
		return tx.SessionCreate(ctx, e.session(tn))
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return tn
}

// session is a session row of tn's owner, signed in now.
func (e *env) session(tn tenant) core.NewSession {
	now := e.clock.Now()
	return core.NewSession{ID: tn.session, UserID: tn.owner, DeviceName: "test",
		AuthTime: now, Now: now, Snapshot: core.Snapshot{IdleSeconds: 3600, AbsoluteSeconds: 86400},
		IdleExpiresAt: now.Add(time.Hour), AbsoluteExpiresAt: now.Add(24 * time.Hour), TokenExpiresAt: now.Add(time.Hour),
		JTIHash: core.HashJTI(core.NewJTI()),
		Auth:    core.AuthLevel{AAL: 1, AMR: []string{core.AMRPassword}, LastAuthAt: now}}
}

// signIn gives tn's owner a new session, signed in now.
func (e *env) signIn(tn tenant) tenant {
	e.t.Helper()
	tn.session = uuid.New()
	ctx := context.Background()
	if err := e.store.InTenantTx(ctx, tn.account, func(tx core.TenantTx) error { return tx.SessionCreate(ctx, e.session(tn)) }); err != nil {
		e.t.Fatal(err)
	}
	return tn
}

// endpoint registers an endpoint of tn for r, for the given event types
// (nil: every audit action).
func (e *env) endpoint(tn tenant, r *receiver, types []string) core.WebhookEndpoint {
	e.t.Helper()
	if types == nil {
		types = core.AuditActions
	}
	u := r.url()
	ep, secret, err := e.hooks.CreateWebhookEndpoint(context.Background(), tn.principal(), core.WebhookEndpointInput{URL: &u, EventTypes: &types}, core.Client{})
	if err != nil {
		e.t.Fatal(err)
	}
	r.setSecret(secret)
	e.clock.Advance(time.Second) // events after the endpoint's creation
	return ep
}

// event records one audit event of tn, committed as every audited change
// commits it (TenantTx.Audit in a tenant transaction).
func (e *env) event(tn tenant, action string) uuid.UUID {
	e.t.Helper()
	id := uuid.New()
	ctx := context.Background()
	err := e.store.InTenantTx(ctx, tn.account, func(tx core.TenantTx) error {
		return tx.Audit(ctx, core.AuditEvent{ID: id, AccountID: tn.account, ActorUserID: &tn.owner, Action: action,
			ResourceType: "test", ResourceID: "r-" + action, Details: map[string]any{"n": 1, "password": "never"},
			IP: netip.MustParseAddr("203.0.113.9"), UserAgent: "test-agent", At: e.clock.Now()})
	})
	if err != nil {
		e.t.Fatal(err)
	}
	e.clock.Advance(time.Millisecond)
	return id
}

// drain runs rounds until one makes no attempt.
func drain(t *testing.T, d *audit.Dispatcher) {
	t.Helper()
	for range 100 {
		n, err := d.Tick(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			return
		}
	}
	t.Fatal("deliveries did not settle in 100 rounds")
}

func TestDelivery_WHK01_EveryEventType_ArrivesSigned_VerifiedByStandardWebhooks(t *testing.T) {
	r := newReceiver(t)
	e := newEnv(t, r)
	tn := e.tenant()
	e.endpoint(tn, r, nil)
	want := map[string]uuid.UUID{}
	for _, a := range core.AuditActions {
		want[a] = e.event(tn, a)
	}
	m := telemetry.New()
	drain(t, e.dispatcher(m))

	got := r.accepted()
	byType := map[string]received{}
	var last int64
	for _, g := range got {
		if g.Seq <= last {
			t.Errorf("sequence %d after %d: not in order", g.Seq, last)
		}
		last = g.Seq
		if g.AccountID != tn.account {
			t.Errorf("event of account %s delivered to %s's endpoint", g.AccountID, tn.account)
		}
		byType[g.Type] = g
	}
	for a, id := range want {
		g, ok := byType[a]
		if !ok {
			t.Errorf("%s was not delivered", a)
			continue
		}
		if g.ID != "evt_"+id.String() {
			t.Errorf("%s: webhook-id %s, want evt_%s", a, g.ID, id)
		}
		if body := string(g.Body); strings.Contains(body, "never") || strings.Contains(body, `"password"`) {
			t.Errorf("%s: a secret detail left the database: %s", a, g.Body)
		}
	}
	// the endpoint's own webhook.created event was delivered too
	if len(got) != len(want)+1 {
		t.Errorf("%d deliveries, want %d (every action and the endpoint's creation)", len(got), len(want)+1)
	}
}

func TestDelivery_WHK06_OnlySubscribedTypes_AndNeverAnotherTenantsEvents(t *testing.T) {
	ra, rb := newReceiver(t), newReceiver(t)
	e := newEnv(t, ra, rb)
	a, b := e.tenant(), e.tenant()
	e.endpoint(a, ra, []string{core.ActionLoginFailed})
	e.endpoint(b, rb, []string{core.ActionLoginFailed, core.ActionLogout})
	for range 3 {
		e.event(a, core.ActionLoginFailed)
		e.event(a, core.ActionLogout) // not subscribed by A
		e.event(b, core.ActionLoginFailed)
		e.event(b, core.ActionLogout)
	}
	drain(t, e.dispatcher(nil))
	ga, gb := ra.accepted(), rb.accepted()
	if len(ga) != 3 || len(gb) != 6 {
		t.Fatalf("A got %d, B got %d; want 3 and 6", len(ga), len(gb))
	}
	for _, g := range ga {
		if g.AccountID != a.account || g.Type != core.ActionLoginFailed {
			t.Errorf("A's receiver got %s of %s", g.Type, g.AccountID)
		}
	}
	for _, g := range gb {
		if g.AccountID != b.account {
			t.Errorf("B's receiver got an event of %s", g.AccountID)
		}
	}
}

// A receiver down for a while: retries with backoff, then everything in
// sequence order, nothing lost, each event accepted once.
func TestDelivery_WHK02_ReceiverDownThenBack_EverythingInOrder_NothingLost(t *testing.T) {
	r := newReceiver(t)
	r.tolerant = true // the fake clock moves by minutes
	down := true
	var mu sync.Mutex
	r.status = func() int {
		mu.Lock()
		defer mu.Unlock()
		if down {
			return http.StatusServiceUnavailable
		}
		return http.StatusNoContent
	}
	e := newEnv(t, r)
	tn := e.tenant()
	ep := e.endpoint(tn, r, []string{core.ActionLoginSucceeded, core.ActionLoginFailed})
	var want []string
	for i := range 20 {
		a := core.ActionLoginSucceeded
		if i%3 == 0 {
			a = core.ActionLoginFailed
		}
		want = append(want, "evt_"+e.event(tn, a).String())
	}
	d := e.dispatcher(nil)
	// Down for 30 minutes of retries.
	for range 30 {
		if _, err := d.Tick(context.Background()); err != nil {
			t.Fatal(err)
		}
		e.clock.Advance(time.Minute)
	}
	if n := len(r.accepted()); n != 0 {
		t.Fatalf("%d accepted while down", n)
	}
	got, err := e.hooks.GetWebhookEndpoint(context.Background(), tn.principal(), ep.ID)
	if err != nil || got.State != core.WebhookActive || got.LastError == "" || got.RetryAt == nil {
		t.Fatalf("while down: %+v %v", got, err)
	}
	r.mu.Lock()
	hitsDown := r.hits
	r.mu.Unlock()
	if hitsDown < 3 || hitsDown > 12 {
		t.Errorf("%d attempts in 30 minutes down: want a few (exponential backoff from 10 s), one event at a time", hitsDown)
	}
	mu.Lock()
	down = false
	mu.Unlock()
	e.clock.Advance(time.Hour)
	drain(t, d)
	var ids []string
	for _, g := range r.accepted() {
		ids = append(ids, g.ID)
	}
	if !slices.Equal(ids, want) {
		t.Fatalf("after the receiver came back:\n got %v\nwant %v", ids, want)
	}
	page, err := e.hooks.ListWebhookAttempts(context.Background(), tn.principal(), ep.ID, 200, "")
	if err != nil {
		t.Fatal(err)
	}
	failed, delivered := 0, 0
	for _, a := range page.Attempts {
		switch a.Outcome {
		case core.WebhookHTTPError:
			failed++
			if a.StatusCode != 503 {
				t.Errorf("failed attempt status %d", a.StatusCode)
			}
		case core.WebhookDelivered:
			delivered++
		}
	}
	if failed != hitsDown || delivered != 20 {
		t.Errorf("attempts listed: %d failed, %d delivered; want %d and 20", failed, delivered, hitsDown)
	}
}

// Retries end after the retry period: the endpoint is failing, the owner
// sees why; enabling it again delivers the queue from where it stopped.
func TestDelivery_WHK02_RetriesExhausted_EndpointFailingWithReason_EnableResumes(t *testing.T) {
	r := newReceiver(t)
	r.tolerant = true
	var mu sync.Mutex
	status := http.StatusInternalServerError
	r.status = func() int { mu.Lock(); defer mu.Unlock(); return status }
	e := newEnv(t, r)
	tn := e.tenant()
	ep := e.endpoint(tn, r, []string{core.ActionLogout})
	first := e.event(tn, core.ActionLogout)
	second := e.event(tn, core.ActionLogout)
	d := e.dispatcher(nil)
	for range 40 {
		if _, err := d.Tick(context.Background()); err != nil {
			t.Fatal(err)
		}
		e.clock.Advance(time.Hour)
	}
	got, err := e.hooks.GetWebhookEndpoint(context.Background(), tn.principal(), ep.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.State != core.WebhookFailing || got.FailureReason == "" || got.FailingSince == nil {
		t.Fatalf("after 40 h of 500s: state %s, reason %q", got.State, got.FailureReason)
	}
	t.Logf("failure reason: %s", got.FailureReason)
	mu.Lock()
	status = http.StatusOK
	mu.Unlock()
	drain(t, d)
	if n := len(r.accepted()); n != 0 {
		t.Fatalf("a failing endpoint received %d deliveries", n)
	}
	on := true
	tn = e.signIn(tn) // a day later: the owner signs in again to re-enable it
	if _, err := e.hooks.UpdateWebhookEndpoint(context.Background(), tn.principal(), ep.ID, core.WebhookEndpointInput{Enabled: &on}, core.Client{}); err != nil {
		t.Fatal(err)
	}
	drain(t, d)
	var ids []string
	for _, g := range r.accepted() {
		ids = append(ids, g.ID)
	}
	// the two logouts, then the endpoint's own webhook.updated is not
	// subscribed: exactly the queue, in order
	if !slices.Equal(ids, []string{"evt_" + first.String(), "evt_" + second.String()}) {
		t.Fatalf("after enabling: %v", ids)
	}
}

// Two instances deliver at once: each event is accepted exactly once.
func TestDelivery_WHK04_TwoInstances_OneDeliveryPerEvent(t *testing.T) {
	rs := []*receiver{newReceiver(t), newReceiver(t), newReceiver(t)}
	e := newEnv(t, rs...)
	var tenants []tenant
	for _, r := range rs {
		tn := e.tenant()
		e.endpoint(tn, r, []string{core.ActionLoginSucceeded})
		tenants = append(tenants, tn)
	}
	d1, d2 := e.dispatcher(nil), e.dispatcher(nil)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, d := range []*audit.Dispatcher{d1, d2} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				if _, err := d.Tick(ctx); err != nil && ctx.Err() == nil {
					t.Error(err)
				}
			}
		}()
	}
	want := map[string]bool{}
	for i := range 60 {
		want["evt_"+e.event(tenants[i%3], core.ActionLoginSucceeded).String()] = true
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		n := 0
		for _, r := range rs {
			n += len(r.accepted())
		}
		if n >= len(want) || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	// a little more time for any duplicate to show
	time.Sleep(200 * time.Millisecond)
	cancel()
	wg.Wait()
	seen := map[string]int{}
	for _, r := range rs {
		for _, g := range r.accepted() {
			seen[g.ID]++
		}
	}
	for id := range want {
		if seen[id] != 1 {
			t.Errorf("%s accepted %d times, want once", id, seen[id])
		}
	}
	if len(seen) != len(want) {
		t.Errorf("%d distinct events accepted, want %d", len(seen), len(want))
	}
}

// The test event: signed and delivered now, recorded in the attempts.
func TestSendTestEvent_WHK07_DeliveredSigned_AndListed(t *testing.T) {
	r := newReceiver(t)
	e := newEnv(t, r)
	tn := e.tenant()
	ep := e.endpoint(tn, r, []string{core.ActionLogout})
	a, err := e.hooks.SendWebhookTest(context.Background(), tn.principal(), ep.ID)
	if err != nil || a.Outcome != core.WebhookDelivered || a.StatusCode != 204 {
		t.Fatalf("test event: %+v %v", a, err)
	}
	got := r.accepted()
	if len(got) != 1 || got[0].Type != core.WebhookTestEventType {
		t.Fatalf("receiver got %+v", got)
	}
	page, err := e.hooks.ListWebhookAttempts(context.Background(), tn.principal(), ep.ID, 10, "")
	if err != nil || len(page.Attempts) != 1 || page.Attempts[0].EventType != core.WebhookTestEventType {
		t.Fatalf("attempts: %+v %v", page, err)
	}
}

// A rotated secret: the new one verifies at once, the previous one too
// during the grace period (two signatures).
func TestRotateSecret_WHK07_BothSecretsVerifyDuringGrace(t *testing.T) {
	r := newReceiver(t)
	e := newEnv(t, r)
	tn := e.tenant()
	ep := e.endpoint(tn, r, []string{core.ActionLogout})
	old := r.wh
	_, secret, err := e.hooks.RotateWebhookSecret(context.Background(), tn.principal(), ep.ID, core.Client{})
	if err != nil {
		t.Fatal(err)
	}
	r.setSecret(secret)
	e.event(tn, core.ActionLogout)
	drain(t, e.dispatcher(nil))
	got := r.accepted()
	if len(got) != 1 {
		t.Fatalf("%d deliveries", len(got))
	}
	// the receiver verified with the new secret; the old one verifies the
	// same delivery too (a second v1 signature)
	if err := old.Verify(got[0].Body, got[0].Header); err != nil {
		t.Fatalf("the previous secret does not verify during the grace period: %v (%s)", err, got[0].Header.Get("webhook-signature"))
	}
	if n := len(strings.Fields(got[0].Header.Get("webhook-signature"))); n != 2 {
		t.Fatalf("%d signatures, want 2", n)
	}
}
