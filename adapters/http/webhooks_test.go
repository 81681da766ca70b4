package http_test

import (
	"context"
	"errors"
	"net/http"
	"net/netip"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/sessiond/sessiond/adapters/audit"
	"github.com/sessiond/sessiond/adapters/clock"
)

// The owner's webhook API over the real handler and database, every answer
// checked against openapi.yaml. Deliveries themselves are tested in
// adapters/audit; here the test event goes to a name the stub resolver
// points at a private address, so the guard refuses it and no packet
// leaves the machine.

type stubResolver map[string][]netip.Addr

func (s stubResolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	if a, ok := s[host]; ok {
		return a, nil
	}
	return nil, errors.New("no such host " + host)
}

func newWebhookHarness(t *testing.T) *harness {
	t.Helper()
	return newHarnessOn(t, harnessSetup{Webhooks: func(clk *clock.Fake) (*audit.Sealer, *audit.Sender, *audit.Guard) {
		sealer, err := audit.NewSealer([]byte("0123456789abcdef0123456789abcdef"))
		if err != nil {
			t.Fatal(err)
		}
		guard := &audit.Guard{
			Resolver: stubResolver{"hooks.example.com": {netip.MustParseAddr("10.20.30.40")}},
			BeforeConnect: func(_, address string) error {
				t.Errorf("a connection to %s reached the last hook", address)
				return errors.New("test: no connection")
			},
		}
		return sealer, audit.NewSender(guard, clk, audit.SenderOptions{}), guard
	}})
}

type endpointBody struct {
	ID         uuid.UUID `json:"id"`
	URL        string    `json:"url"`
	EventTypes []string  `json:"event_types"`
	Enabled    bool      `json:"enabled"`
	Status     string    `json:"status"`
	Secret     string    `json:"secret"`
}

func TestWebhooks_WHK07_CRUD_SecretShownOnce_Audited(t *testing.T) {
	h := newWebhookHarness(t)
	_, tk := h.owner(t, "hooks")
	res := h.mustDo(t, req{method: "POST", path: "/api/v1/accounts/me/webhooks", bearer: tk.AccessToken, body: map[string]any{
		"url": "https://hooks.example.com/in", "description": "SIEM", "event_types": []string{"auth.login_failed", "auth.login_failed", "auth.logout"}}},
		http.StatusCreated)
	var ep endpointBody
	res.JSON(t, &ep)
	if !strings.HasPrefix(ep.Secret, "whsec_") || ep.Status != "active" || !ep.Enabled || len(ep.EventTypes) != 2 {
		t.Fatalf("created %+v", ep)
	}
	// The secret is never shown again, nor stored in clear.
	for _, r := range []response{
		h.mustDo(t, req{method: "GET", path: "/api/v1/accounts/me/webhooks", bearer: tk.AccessToken}, http.StatusOK),
		h.mustDo(t, req{method: "GET", path: "/api/v1/accounts/me/webhooks/" + ep.ID.String(), bearer: tk.AccessToken}, http.StatusOK),
	} {
		if strings.Contains(string(r.Body), ep.Secret) || strings.Contains(string(r.Body), "secret") {
			t.Errorf("a read shows the secret: %s", r.Body)
		}
	}
	if stored := h.db.WebhookSecretsHolding(t, []byte(ep.Secret)); stored != 0 {
		t.Errorf("the secret is stored in clear (%d endpoints)", stored)
	}
	res = h.mustDo(t, req{method: "PATCH", path: "/api/v1/accounts/me/webhooks/" + ep.ID.String(), bearer: tk.AccessToken,
		body: map[string]any{"enabled": false, "event_types": []string{"session.revoked"}}}, http.StatusOK)
	var upd endpointBody
	res.JSON(t, &upd)
	if upd.Enabled || len(upd.EventTypes) != 1 || upd.EventTypes[0] != "session.revoked" {
		t.Fatalf("updated %+v", upd)
	}
	res = h.mustDo(t, req{method: "POST", path: "/api/v1/accounts/me/webhooks/" + ep.ID.String() + "/rotate-secret", bearer: tk.AccessToken}, http.StatusOK)
	var rot endpointBody
	res.JSON(t, &rot)
	if !strings.HasPrefix(rot.Secret, "whsec_") || rot.Secret == ep.Secret {
		t.Fatalf("rotated secret %q", rot.Secret)
	}
	// The test event: the name resolves to 10.20.30.40, refused by the
	// guard; the attempt says so and is listed.
	res = h.mustDo(t, req{method: "POST", path: "/api/v1/accounts/me/webhooks/" + ep.ID.String() + "/test", bearer: tk.AccessToken}, http.StatusOK)
	var att struct {
		Outcome   string `json:"outcome"`
		EventType string `json:"event_type"`
		Error     string `json:"error"`
	}
	res.JSON(t, &att)
	if att.Outcome != "blocked" || att.EventType != "webhook.test" || !strings.Contains(att.Error, "10.20.30.40") {
		t.Fatalf("test event attempt %+v", att)
	}
	res = h.mustDo(t, req{method: "GET", path: "/api/v1/accounts/me/webhooks/" + ep.ID.String() + "/attempts?limit=10", bearer: tk.AccessToken}, http.StatusOK)
	if !strings.Contains(string(res.Body), `"outcome":"blocked"`) {
		t.Fatalf("attempts %s", res.Body)
	}
	h.mustDo(t, req{method: "DELETE", path: "/api/v1/accounts/me/webhooks/" + ep.ID.String(), bearer: tk.AccessToken}, http.StatusNoContent)
	expectProblem(t, h.do(t, req{method: "GET", path: "/api/v1/accounts/me/webhooks/" + ep.ID.String(), bearer: tk.AccessToken}), http.StatusNotFound, "not_found")

	// Every change is audited, and the audit rows carry no secret.
	res = h.mustDo(t, req{method: "GET", path: "/api/v1/accounts/me/audit-events?limit=20", bearer: tk.AccessToken}, http.StatusOK)
	for _, a := range []string{"webhook.created", "webhook.updated", "webhook.secret_rotated", "webhook.deleted"} {
		if !strings.Contains(string(res.Body), `"`+a+`"`) {
			t.Errorf("no %s audit event", a)
		}
	}
	if strings.Contains(string(res.Body), "whsec_") {
		t.Errorf("a secret in the audit trail: %s", res.Body)
	}
}

func TestWebhooks_WHK05_Validation_422_AndPrivateTargetsRefusedEarly(t *testing.T) {
	h := newWebhookHarness(t)
	_, tk := h.owner(t, "hooksval")
	for _, c := range []struct {
		body  map[string]any
		field string
	}{
		{map[string]any{"url": "http://hooks.example.com/in", "event_types": []string{"auth.logout"}}, "url"},
		{map[string]any{"url": "https://10.0.0.8/in", "event_types": []string{"auth.logout"}}, "url"},
		{map[string]any{"url": "https://169.254.169.254/latest", "event_types": []string{"auth.logout"}}, "url"},
		{map[string]any{"url": "https://127.0.0.1:8443/in", "event_types": []string{"auth.logout"}}, "url"},
		{map[string]any{"url": "https://localhost/in", "event_types": []string{"auth.logout"}}, "url"},
		{map[string]any{"url": "https://user:pw@hooks.example.com/in", "event_types": []string{"auth.logout"}}, "url"},
	} {
		p := expectProblem(t, h.do(t, req{method: "POST", path: "/api/v1/accounts/me/webhooks", bearer: tk.AccessToken, body: c.body}),
			http.StatusUnprocessableEntity, "validation_failed")
		if len(p.Errors) == 0 || p.Errors[0].Field != c.field {
			t.Errorf("%v: errors %+v, want field %s", c.body, p.Errors, c.field)
		}
	}
	// unknown event type and empty list: refused by the contract
	for _, types := range [][]string{{"auth.nope"}, {}} {
		if r := h.do(t, req{method: "POST", path: "/api/v1/accounts/me/webhooks", bearer: tk.AccessToken,
			body: map[string]any{"url": "https://hooks.example.com/in", "event_types": types}}); r.Status != http.StatusUnprocessableEntity && r.Status != http.StatusBadRequest {
			t.Errorf("event types %v: %d", types, r.Status)
		}
	}
	// at most 10 endpoints
	for i := range 10 {
		h.mustDo(t, req{method: "POST", path: "/api/v1/accounts/me/webhooks", bearer: tk.AccessToken,
			body: map[string]any{"url": "https://hooks.example.com/" + string(rune('a'+i)), "event_types": []string{"auth.logout"}}}, http.StatusCreated)
	}
	expectProblem(t, h.do(t, req{method: "POST", path: "/api/v1/accounts/me/webhooks", bearer: tk.AccessToken,
		body: map[string]any{"url": "https://hooks.example.com/z", "event_types": []string{"auth.logout"}}}), http.StatusConflict, "conflict")
}

func init() {
	for _, op := range []string{"listWebhookEndpoints", "createWebhookEndpoint", "getWebhookEndpoint", "updateWebhookEndpoint",
		"deleteWebhookEndpoint", "rotateWebhookSecret", "sendWebhookTest", "listWebhookAttempts"} {
		isolationCovered[op] = true // TestIsolation_Webhooks_MemberForbidden_ForeignEndpoint404
	}
}

// Owner only; another account's endpoint is 404, as an unknown one; an
// endpoint created by A is listed for A only.
func TestIsolation_Webhooks_WHK06_MemberForbidden_ForeignEndpoint404(t *testing.T) {
	h := newWebhookHarness(t)
	a, atk := h.owner(t, "hooksa")
	_, btk := h.owner(t, "hooksb")
	res := h.mustDo(t, req{method: "POST", path: "/api/v1/accounts/me/webhooks", bearer: atk.AccessToken,
		body: map[string]any{"url": "https://hooks.example.com/a", "event_types": []string{"auth.logout"}}}, http.StatusCreated)
	var ep endpointBody
	res.JSON(t, &ep)
	m := h.memberOf(t, a)
	mtk := h.login(t, m, nil)
	expectProblem(t, h.do(t, req{method: "GET", path: "/api/v1/accounts/me/webhooks", bearer: mtk.AccessToken}), http.StatusForbidden, "forbidden")
	expectProblem(t, h.do(t, req{method: "POST", path: "/api/v1/accounts/me/webhooks", bearer: mtk.AccessToken,
		body: map[string]any{"url": "https://hooks.example.com/m", "event_types": []string{"auth.logout"}}}), http.StatusForbidden, "forbidden")
	for _, rq := range []req{
		{method: "GET", path: "/api/v1/accounts/me/webhooks/" + ep.ID.String()},
		{method: "PATCH", path: "/api/v1/accounts/me/webhooks/" + ep.ID.String(), body: map[string]any{"enabled": false}},
		{method: "DELETE", path: "/api/v1/accounts/me/webhooks/" + ep.ID.String()},
		{method: "POST", path: "/api/v1/accounts/me/webhooks/" + ep.ID.String() + "/rotate-secret"},
		{method: "POST", path: "/api/v1/accounts/me/webhooks/" + ep.ID.String() + "/test"},
		{method: "GET", path: "/api/v1/accounts/me/webhooks/" + ep.ID.String() + "/attempts"},
	} {
		rq.bearer = btk.AccessToken
		expectProblem(t, h.do(t, rq), http.StatusNotFound, "not_found")
	}
	res = h.mustDo(t, req{method: "GET", path: "/api/v1/accounts/me/webhooks", bearer: btk.AccessToken}, http.StatusOK)
	if strings.Contains(string(res.Body), ep.ID.String()) {
		t.Fatal("B lists A's endpoint")
	}
}

// Without WEBHOOK_SECRETS_KEY the API answers 503, documented.
func TestWebhooks_NotConfigured_503(t *testing.T) {
	h := newHarness(t)
	_, tk := h.owner(t, "hooksoff")
	expectProblem(t, h.do(t, req{method: "GET", path: "/api/v1/accounts/me/webhooks", bearer: tk.AccessToken}), http.StatusServiceUnavailable, "service_unavailable")
}

// WHK-08: the account's audit retention is a policy field with bounds;
// events older than it are not listed.
func TestAuditRetention_WHK08_PolicyField_BoundsAndListingHorizon(t *testing.T) {
	h := newHarness(t)
	u, tk := h.owner(t, "retention")
	expectProblem(t, h.patchSecurity(t, tk.AccessToken, map[string]any{"audit_retention_days": 3}), http.StatusUnprocessableEntity, "policy_out_of_bounds")
	expectProblem(t, h.patchSecurity(t, tk.AccessToken, map[string]any{"audit_retention_days": 400}), http.StatusUnprocessableEntity, "policy_out_of_bounds")
	res := h.patchSecurity(t, tk.AccessToken, map[string]any{"audit_retention_days": 10})
	if res.Status != http.StatusOK || !strings.Contains(string(res.Body), `"effective_audit_retention_days":10`) {
		t.Fatalf("patch: %d %s", res.Status, res.Body)
	}
	// An event 11 days old (written directly, as the database holds it)
	// is not listed; today's are.
	h.db.InsertAuditEvent(t, u.AccountID, "auth.logout", "session", t0.AddDate(0, 0, -11))
	res = h.mustDo(t, req{method: "GET", path: "/api/v1/accounts/me/audit-events?action=auth.logout", bearer: tk.AccessToken}, http.StatusOK)
	if strings.Contains(string(res.Body), `"auth.logout"`) {
		t.Fatalf("an event past the retention is listed: %s", res.Body)
	}
	res = h.patchSecurity(t, tk.AccessToken, map[string]any{"audit_retention_days": nil})
	if !strings.Contains(string(res.Body), `"effective_audit_retention_days":90`) {
		t.Fatalf("cleared: %s", res.Body)
	}
	res = h.mustDo(t, req{method: "GET", path: "/api/v1/accounts/me/audit-events?action=auth.logout", bearer: tk.AccessToken}, http.StatusOK)
	if !strings.Contains(string(res.Body), `"auth.logout"`) {
		t.Fatalf("within the default retention, not listed: %s", res.Body)
	}
}
