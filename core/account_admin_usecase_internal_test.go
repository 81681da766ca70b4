package core

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
)

// The owners' view of the account — its sessions (account_sessions.go,
// RevokeAccountSessions), the audit trail (ListAuditEvents) and webhook
// endpoints (webhooks_service.go) — over fakes of their narrow ports
// (accountSessionStore, auditStore, webhookStore), without a database.

// fakeAccountSessions is accountSessionStore and its transaction: the
// tenant's sessions (sessionTable), the page the listing answers and the
// query it was asked.
type fakeAccountSessions struct {
	fakeOwnerCheck
	sessionTable
	page  []SessionInfo
	asked []AccountSessionQuery
}

func (f *fakeAccountSessions) inAccountSessionTx(_ context.Context, _ uuid.UUID, fn func(accountSessionTx) error) error {
	f.txs++
	return fn(f)
}
func (f *fakeAccountSessions) SessionListAccount(_ context.Context, q AccountSessionQuery) ([]SessionInfo, error) {
	f.asked = append(f.asked, q)
	return slices.Clone(f.page), nil
}
func (f *fakeAccountSessions) SessionRevokeAllForAccount(_ context.Context, except *uuid.UUID, _ time.Time, reason string) (int64, error) {
	return f.revokeAll(reason, func(owner uuid.UUID) bool { return except != nil && owner == *except }), nil
}

var _ accountSessionStore = (*fakeAccountSessions)(nil)

// accountSessionWorld: p is an owner who authenticated just now, with a
// session of their own besides the current one and one of a member.
func accountSessionWorld(t *testing.T) (s *Service, f *fakeAccountSessions, p Principal, own, members uuid.UUID) {
	t.Helper()
	p = ownerPrincipal()
	f = &fakeAccountSessions{fakeOwnerCheck: fakeOwnerCheck{role: RoleOwner, active: true, lastAuth: testNow}, sessionTable: newSessionTable()}
	f.owners[p.SessionID] = p.UserID
	own, members = f.open(p.UserID), f.open(uuid.New())
	s = portService(t, &spyHasher{}, DefaultConfig())
	s.accountSessions = f
	return s, f, p, own, members
}

func TestRevokeAccountSession_OwnerEndsAMembersSession_AuditedInTheSameTransaction(t *testing.T) {
	ctx := context.Background()
	s, f, p, _, member := accountSessionWorld(t)
	for _, id := range []uuid.UUID{uuid.New(), uuid.New()} { // unknown, or another tenant's: invisible alike
		if err := s.RevokeAccountSession(ctx, p, id, Client{}); ErrorCode(err) != CodeNotFound {
			t.Fatalf("revoking %s: %v, want %s", id, err, CodeNotFound)
		}
	}
	if err := s.RevokeAccountSession(ctx, p, member, Client{}); err != nil {
		t.Fatal(err)
	}
	if len(f.ended) != 1 || f.ended[member] != ReasonRevokedByOwner {
		t.Fatalf("ended %v, want the member's session only, by the owner", f.ended)
	}
	e := f.audit.events
	if len(e) != 1 || e[0].Action != ActionSessionRevoked || e[0].Details["user_id"] != f.owners[member].String() ||
		!slices.Equal(f.auditedIn, []int{f.txs}) {
		t.Fatalf("audit %+v in transactions %v (of %d), want session.revoked naming whose, in the revoking one", e, f.auditedIn, f.txs)
	}
	if err := s.RevokeAccountSession(ctx, p, member, Client{}); ErrorCode(err) != CodeNotFound || len(f.audit.events) != 1 {
		t.Fatalf("revoking it again: %v, want %s and no second event", err, CodeNotFound)
	}
}

func TestAccountSessions_NonOwnerOrStaleAuthentication_RefusedBeforeAnyChange(t *testing.T) {
	ctx := context.Background()
	calls := map[string]func(*Service, Principal, uuid.UUID) error{
		"revoke one": func(s *Service, p Principal, id uuid.UUID) error { return s.RevokeAccountSession(ctx, p, id, Client{}) },
		"revoke all": func(s *Service, p Principal, _ uuid.UUID) error {
			_, err := s.RevokeAccountSessions(ctx, p, RevokeAll, Client{})
			return err
		},
		"list": func(s *Service, p Principal, _ uuid.UUID) error {
			_, err := s.ListAccountSessions(ctx, p, nil, 0, "")
			return err
		},
	}
	for name, call := range calls {
		for _, c := range []struct {
			who  string
			set  func(*fakeAccountSessions, *Principal)
			want Code
		}{
			{"a member's token", func(_ *fakeAccountSessions, p *Principal) { p.Role = RoleMember }, CodeForbidden},
			{"an owner demoted since the token", func(f *fakeAccountSessions, _ *Principal) { f.role = RoleMember }, CodeForbidden},
			{"an owner deactivated since the token", func(f *fakeAccountSessions, _ *Principal) { f.active = false }, CodeForbidden},
			{"an owner who authenticated a day ago", func(f *fakeAccountSessions, _ *Principal) { f.lastAuth = testNow.Add(-24 * time.Hour) }, CodeReauthRequired},
		} {
			t.Run(name+"/"+c.who, func(t *testing.T) {
				s, f, p, _, member := accountSessionWorld(t)
				c.set(f, &p)
				err := call(s, p, member)
				if name == "list" && c.want == CodeReauthRequired {
					if err != nil { // reading needs no recent authentication
						t.Fatal(err)
					}
				} else if ErrorCode(err) != c.want {
					t.Fatalf("%v, want %s", err, c.want)
				}
				if len(f.ended) != 0 || len(f.audit.events) != 0 {
					t.Fatalf("ended %v, audit %v: nothing may change", f.ended, f.audit.actions())
				}
			})
		}
	}
}

func TestRevokeAccountSessions_ScopeOthersKeepsTheCallers_CountAudited(t *testing.T) {
	ctx := context.Background()
	s, f, p, own, member := accountSessionWorld(t)
	if _, err := s.RevokeAccountSessions(ctx, p, "some", Client{}); ErrorCode(err) != CodeValidation || f.txs != 0 {
		t.Fatalf("an unknown scope: %v after %d transactions, want %s before any", err, f.txs, CodeValidation)
	}
	n, err := s.RevokeAccountSessions(ctx, p, RevokeOthers, Client{})
	if err != nil || n != 1 || f.ended[member] != ReasonBulkRevoke || f.ended[own] != "" || f.ended[p.SessionID] != "" {
		t.Fatalf("others: %d, %v; ended %v", n, err, f.ended)
	}
	if n, err = s.RevokeAccountSessions(ctx, p, "", Client{}); err != nil || n != 2 {
		t.Fatalf("the default scope (all): %d, %v; want the caller's 2", n, err)
	}
	if n, err = s.RevokeAccountSessions(ctx, p, RevokeAll, Client{}); err != nil || n != 0 {
		t.Fatalf("again: %d, %v", n, err)
	}
	var got []string
	for i, e := range f.audit.events {
		if e.Action != ActionSessionsRevokedBulk || f.auditedIn[i] != i+1 {
			t.Fatalf("event %d: %+v in transaction %d", i, e, f.auditedIn[i])
		}
		got = append(got, fmt.Sprint(e.Details["scope"], "=", e.Details["revoked_count"]))
	}
	if want := []string{"others=1", "all=2", "all=0"}; !slices.Equal(got, want) {
		t.Fatalf("audited %v, want %v: each call, whatever its count", got, want)
	}
}

func TestListAccountSessions_CursorBoundToItsUserFilter_CurrentMarked(t *testing.T) {
	ctx := context.Background()
	s, f, p, own, _ := accountSessionWorld(t)
	user := p.UserID
	f.page = []SessionInfo{{ID: p.SessionID, LastUsedAt: testNow}, {ID: own, LastUsedAt: testNow.Add(-time.Minute)}, {ID: uuid.New()}}
	page, err := s.ListAccountSessions(ctx, p, &user, 2, "")
	if err != nil || len(page.Sessions) != 2 || page.NextCursor == "" || !page.Sessions[0].Current || page.Sessions[1].Current {
		t.Fatalf("first page: %+v, %v", page, err)
	}
	if q := f.asked[0]; q.Limit != 3 || *q.UserID != user || q.After != nil || !q.Now.Equal(testNow) {
		t.Fatalf("asked %+v", q)
	}
	for _, other := range []*uuid.UUID{nil, new(uuid.UUID)} {
		if _, err := s.ListAccountSessions(ctx, p, other, 2, page.NextCursor); ErrorCode(err) != CodeInvalidCursor {
			t.Fatalf("the cursor under another filter (%v): %v, want %s", other, err, CodeInvalidCursor)
		}
	}
	if _, err := s.ListAccountSessions(ctx, p, &user, 2, page.NextCursor); err != nil {
		t.Fatal(err)
	}
	if a := f.asked[len(f.asked)-1].After; a == nil || a.ID != own || !a.LastUsedAt.Equal(testNow.Add(-time.Minute)) {
		t.Fatalf("next page after %+v, want the first page's last session", a)
	}
}

// fakeAudits is auditStore and its transaction: the account's retention
// override, the events the listing answers and the queries it was asked.
type fakeAudits struct {
	fakeOwnerCheck
	override PolicyOverride
	events   []AuditEvent
	asked    []AuditQuery
}

func (f *fakeAudits) inAuditTx(_ context.Context, _ uuid.UUID, fn func(auditTx) error) error {
	return fn(f)
}
func (f *fakeAudits) AccountPolicy(context.Context) (PolicyOverride, error) { return f.override, nil }
func (f *fakeAudits) AuditList(_ context.Context, q AuditQuery) ([]AuditEvent, error) {
	f.asked = append(f.asked, q)
	return slices.Clone(f.events), nil
}

var _ auditStore = (*fakeAudits)(nil)

func TestListAuditEvents_CursorBoundToItsFilter_RetentionBoundsThePast(t *testing.T) {
	ctx := context.Background()
	p := ownerPrincipal()
	days := 30
	f := &fakeAudits{fakeOwnerCheck: fakeOwnerCheck{role: RoleOwner, active: true}, override: PolicyOverride{AuditRetentionDays: &days}}
	for i := range 3 {
		f.events = append(f.events, AuditEvent{ID: uuid.New(), Action: ActionLogout, At: testNow.Add(-time.Duration(i) * time.Hour)})
	}
	s := portService(t, &spyHasher{}, DefaultConfig())
	s.audits = f
	filter := AuditFilter{Action: ActionLogout}
	page, err := s.ListAuditEvents(ctx, p, filter, 2, "")
	if err != nil || len(page.Events) != 2 || page.NextCursor == "" {
		t.Fatalf("first page: %+v, %v", page, err)
	}
	if q := f.asked[0]; q.Action != ActionLogout || q.Limit != 3 || !q.NotBefore.Equal(testNow.AddDate(0, 0, -days)) {
		t.Fatalf("asked %+v, want the filter, one more than the page, nothing older than %d days", q, days)
	}
	for _, other := range []AuditFilter{{}, {ActionPrefix: "auth."}, {Action: ActionLogout, SubjectUserID: &p.UserID}} {
		if _, err := s.ListAuditEvents(ctx, p, other, 2, page.NextCursor); ErrorCode(err) != CodeInvalidCursor {
			t.Fatalf("the cursor under %+v: %v, want %s", other, err, CodeInvalidCursor)
		}
	}
	if _, err := s.ListAuditEvents(ctx, p, filter, 2, page.NextCursor); err != nil {
		t.Fatal(err)
	}
	if a := f.asked[len(f.asked)-1].After; a == nil || a.ID != f.events[1].ID || !a.CreatedAt.Equal(f.events[1].At) {
		t.Fatalf("next page after %+v, want the first page's last event", a)
	}
	for _, bad := range []AuditFilter{{Action: "no.such"}, {ActionPrefix: "zz"}, {Action: ActionLogout, ActionPrefix: "auth."}} {
		if _, err := s.ListAuditEvents(ctx, p, bad, 0, ""); ErrorCode(err) != CodeValidation {
			t.Fatalf("filter %+v: %v, want %s", bad, err, CodeValidation)
		}
	}
	n := len(f.asked)
	f.role = RoleMember // demoted since the token
	if _, err := s.ListAuditEvents(ctx, p, filter, 0, ""); ErrorCode(err) != CodeForbidden || len(f.asked) != n {
		t.Fatalf("a demoted owner: %v, want %s and nothing read", err, CodeForbidden)
	}
}

// fakeWebhooks is webhookStore and its transaction: the endpoints, how
// the account's event stream was ensured, the audit rows.
type fakeWebhooks struct {
	fakeOwnerCheck
	endpoints []WebhookEndpoint
	lastSeq   int64
	restarts  []bool
	audit     auditLog
}

func (f *fakeWebhooks) inWebhookTx(_ context.Context, _ uuid.UUID, fn func(webhookTx) error) error {
	return fn(f)
}
func (f *fakeWebhooks) WebhookEndpointCount(context.Context) (int, error) {
	return len(f.endpoints), nil
}
func (f *fakeWebhooks) WebhookStreamEnsure(_ context.Context, _ time.Time, restart bool) (int64, error) {
	f.restarts = append(f.restarts, restart)
	return f.lastSeq, nil
}
func (f *fakeWebhooks) WebhookEndpointCreate(_ context.Context, e WebhookEndpoint) error {
	f.endpoints = append(f.endpoints, e)
	return nil
}
func (f *fakeWebhooks) WebhookEndpointList(context.Context) ([]WebhookEndpoint, error) {
	return f.endpoints, nil
}
func (f *fakeWebhooks) WebhookEndpointGet(_ context.Context, id uuid.UUID, _ bool) (WebhookEndpoint, error) {
	for _, e := range f.endpoints {
		if e.ID == id {
			return e, nil
		}
	}
	return WebhookEndpoint{}, ErrNotFound
}
func (f *fakeWebhooks) WebhookEndpointSave(context.Context, WebhookEndpoint) error { return nil }
func (f *fakeWebhooks) WebhookEndpointDelete(context.Context, uuid.UUID) error     { return nil }
func (f *fakeWebhooks) WebhookAttemptRecord(context.Context, WebhookAttempt) error { return nil }
func (f *fakeWebhooks) WebhookAttemptList(context.Context, WebhookAttemptQuery) ([]WebhookAttempt, error) {
	return nil, nil
}
func (f *fakeWebhooks) Audit(_ context.Context, e AuditEvent) error {
	f.audit.events = append(f.audit.events, e)
	return nil
}

var _ webhookStore = (*fakeWebhooks)(nil)

// plainSealer seals a secret by prefixing it: enough to see that the
// stored form is the sealer's, not the secret.
type plainSealer struct{}

func (plainSealer) Seal(_, _ uuid.UUID, secret string) ([]byte, error) {
	return []byte("sealed:" + secret), nil
}
func (plainSealer) Open(_, _ uuid.UUID, sealed []byte) (string, error) {
	return strings.TrimPrefix(string(sealed), "sealed:"), nil
}

type noSender struct{}

func (noSender) Send(context.Context, WebhookTarget, WebhookMessage) WebhookAttempt {
	return WebhookAttempt{}
}

func TestCreateWebhookEndpoint_URLAndEventsValidated_CreatedAtTheStreamsEndWithItsAudit(t *testing.T) {
	ctx := context.Background()
	p := ownerPrincipal()
	f := &fakeWebhooks{fakeOwnerCheck: fakeOwnerCheck{role: RoleOwner, active: true, lastAuth: testNow}, lastSeq: 41}
	s := portService(t, &spyHasher{}, DefaultConfig())
	s.webhooks = f
	w := NewWebhookService(s, plainSealer{}, noSender{}, nil)
	str := func(v string) *string { return &v }
	events := func(v ...string) *[]string { return &v }
	good, login := str("https://Hooks.Example.com/in"), events(ActionLogout, ActionLogout)
	for _, c := range []struct {
		in    WebhookEndpointInput
		field string
	}{
		{WebhookEndpointInput{EventTypes: login}, "url"},
		{WebhookEndpointInput{URL: str("http://hooks.example.com/in"), EventTypes: login}, "url"},
		{WebhookEndpointInput{URL: str("https://user:pw@hooks.example.com/"), EventTypes: login}, "url"},
		{WebhookEndpointInput{URL: good}, "event_types"},
		{WebhookEndpointInput{URL: good, EventTypes: events()}, "event_types"},
		{WebhookEndpointInput{URL: good, EventTypes: events("no.such")}, "event_types"},
	} {
		_, _, err := w.CreateWebhookEndpoint(ctx, p, c.in, Client{})
		if e, ok := err.(*Error); !ok || e.Code != CodeValidation || e.Field != c.field {
			t.Fatalf("%+v: %v, want %s on %s", c.in, err, CodeValidation, c.field)
		}
	}
	if len(f.endpoints)+len(f.audit.events) != 0 {
		t.Fatal("an invalid endpoint was written")
	}
	e, secret, err := w.CreateWebhookEndpoint(ctx, p, WebhookEndpointInput{URL: good, EventTypes: login}, Client{})
	if err != nil || e.URL != "https://hooks.example.com/in" || !slices.Equal(e.EventTypes, []string{ActionLogout}) ||
		e.DeliveredSeq != 41 || !slices.Equal(f.restarts, []bool{true}) {
		t.Fatalf("created %+v, %v; stream %v: want the normalized endpoint at the stream's end, the stream restarted", e, err, f.restarts)
	}
	if secret == "" || string(f.endpoints[0].SecretSealed) != "sealed:"+secret {
		t.Fatalf("stored secret %q, want the sealed form only", f.endpoints[0].SecretSealed)
	}
	if a := f.audit.events; len(a) != 1 || a[0].Action != ActionWebhookCreated || a[0].Details["url"] != e.URL ||
		strings.Contains(fmt.Sprint(a[0].Details), secret) {
		t.Fatalf("audit %+v, want webhook.created with the URL and without the secret", a)
	}
	for len(f.endpoints) < MaxWebhookEndpoints {
		f.endpoints = append(f.endpoints, WebhookEndpoint{ID: uuid.New()})
	}
	if _, _, err := w.CreateWebhookEndpoint(ctx, p, WebhookEndpointInput{URL: good, EventTypes: login}, Client{}); ErrorCode(err) != CodeConflict {
		t.Fatalf("beyond %d endpoints: %v, want %s", MaxWebhookEndpoints, err, CodeConflict)
	}
	member := p
	member.Role = RoleMember
	if _, _, err := w.CreateWebhookEndpoint(ctx, member, WebhookEndpointInput{URL: good, EventTypes: login}, Client{}); ErrorCode(err) != CodeForbidden {
		t.Fatalf("a member: %v, want %s", err, CodeForbidden)
	}
	off := NewWebhookService(s, nil, noSender{}, nil)
	if _, _, err := off.CreateWebhookEndpoint(ctx, p, WebhookEndpointInput{URL: good, EventTypes: login}, Client{}); ErrorCode(err) != CodeUnavailable {
		t.Fatalf("webhooks not configured: %v, want %s", err, CodeUnavailable)
	}
	if len(f.audit.events) != 1 {
		t.Fatalf("audit %v, want only the one creation", f.audit.actions())
	}
}
