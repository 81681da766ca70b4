package http_test

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/sessiond/sessiond/adapters/postgres/pgtest"
)

// --- helpers ---------------------------------------------------------------

// addMember has an owner create a user in their account through the API
// and returns the new user's credentials.
func (h *harness) addMember(t testing.TB, ownerAT, role string) registered {
	t.Helper()
	email := uniqueEmail(role)
	pw := "initial password " + email
	res := h.mustDo(t, req{method: "POST", path: "/api/v1/accounts/me/members", bearer: ownerAT,
		body: map[string]string{"email": email, "password": pw, "name": "Added " + role, "role": role}}, http.StatusCreated)
	var u struct {
		ID        uuid.UUID `json:"id"`
		AccountID uuid.UUID `json:"account_id"`
	}
	res.JSON(t, &u)
	return registered{UserID: u.ID, AccountID: u.AccountID, Email: email, Password: pw}
}

// memberOf adds a member to owner's account through the API from a
// short-lived owner session, which it ends again, so the owner's session
// list is as it was.
func (h *harness) memberOf(t testing.TB, owner registered) registered {
	t.Helper()
	tk := h.login(t, owner, nil)
	m := h.addMember(t, tk.AccessToken, "member")
	h.logout(t, tk.AccessToken)
	return m
}

// owner registers a new account and signs its owner in.
func (h *harness) owner(t testing.TB, prefix string) (registered, tokens) {
	t.Helper()
	u := h.register(t, uniqueEmail(prefix))
	return u, h.login(t, u, nil)
}

type policyMinutes struct {
	Idle int `json:"idle_minutes"`
	Abs  int `json:"absolute_minutes"`
}

// securityBody is the policy answer, in the seed's flat shape.
type securityBody struct {
	IdleMinutes        *int   `json:"idle_minutes"`
	AbsoluteMinutes    *int   `json:"absolute_minutes"`
	EffectiveIdle      int    `json:"effective_idle_minutes"`
	EffectiveAbs       int    `json:"effective_absolute_minutes"`
	IdleMin            int    `json:"idle_minutes_min"`
	IdleMax            int    `json:"idle_minutes_max"`
	AbsMin             int    `json:"absolute_minutes_min"`
	AbsMax             int    `json:"absolute_minutes_max"`
	MaxSessions        *int   `json:"max_sessions_per_user"`
	MaxSessionsMin     int    `json:"max_sessions_per_user_min"`
	MaxSessionsMax     int    `json:"max_sessions_per_user_max"`
	SessionLimitAction string `json:"session_limit_action"`
	// Effective gathers the two effective fields (filled by UnmarshalJSON).
	Effective policyMinutes `json:"-"`
}

func (b *securityBody) UnmarshalJSON(data []byte) error {
	type flat securityBody
	if err := json.Unmarshal(data, (*flat)(b)); err != nil {
		return err
	}
	b.Effective = policyMinutes{b.EffectiveIdle, b.EffectiveAbs}
	return nil
}

func (h *harness) getSecurity(t testing.TB, at string) securityBody {
	t.Helper()
	res := h.mustDo(t, req{method: "GET", path: "/api/v1/accounts/me/security", bearer: at}, http.StatusOK)
	var b securityBody
	res.JSON(t, &b)
	return b
}

func (h *harness) patchSecurity(t testing.TB, at string, body any) response {
	t.Helper()
	return h.do(t, req{method: "PATCH", path: "/api/v1/accounts/me/security", bearer: at, body: body})
}

func (h *harness) revokeAccountSessions(t testing.TB, at string, body any) response {
	t.Helper()
	return h.do(t, req{method: "POST", path: "/api/v1/accounts/me/security/revoke-sessions", bearer: at, body: body})
}

func (h *harness) mustRevokeAccountSessions(t testing.TB, at, scope string) int {
	t.Helper()
	res := h.revokeAccountSessions(t, at, map[string]string{"scope": scope})
	if res.Status != http.StatusOK {
		t.Fatalf("revoke-sessions %s: %d %s", scope, res.Status, res.Body)
	}
	var b struct {
		RevokedCount *int `json:"revoked_count"`
	}
	res.JSON(t, &b)
	if b.RevokedCount == nil {
		t.Fatalf("revoke-sessions answer lacks revoked_count: %s", res.Body)
	}
	return *b.RevokedCount
}

// rawFields decodes a JSON object into its raw members, to tell null from
// absent from 0.
func rawFields(t testing.TB, res response) map[string]json.RawMessage {
	t.Helper()
	var m map[string]json.RawMessage
	res.JSON(t, &m)
	return m
}

// sessionRevocation returns a session's revoked_at and revoke_reason.
func sessionRevocation(t testing.TB, h *harness, sid uuid.UUID) (*time.Time, *string) {
	t.Helper()
	s := h.db.Session(t, sid)
	return s.RevokedAt, s.RevokeReason
}

func liveSessions(t testing.TB, h *harness, accountID uuid.UUID) int {
	t.Helper()
	return pgtest.Unrevoked(h.db.Sessions(t, accountID, uuid.Nil))
}

func expectRefreshDead(t testing.TB, h *harness, tk tokens) {
	t.Helper()
	expectProblem(t, h.refresh(t, tk.RefreshToken), http.StatusUnauthorized, "invalid_refresh_token")
	expectProblem(t, h.do(t, req{method: "GET", path: "/api/v1/auth/me", bearer: tk.AccessToken}), http.StatusUnauthorized, "invalid_token")
}

func expectAlive(t testing.TB, h *harness, tk tokens) tokens {
	t.Helper()
	expectStatus(t, h.do(t, req{method: "GET", path: "/api/v1/auth/me", bearer: tk.AccessToken}), http.StatusOK, "access token of a surviving session refused")
	return h.mustRefresh(t, tk.RefreshToken)
}

// --- session policy --------------------------------------------------------

func TestAccountSecurity_Get_NoOverride_DefaultsAndBounds(t *testing.T) {
	h := newHarness(t)
	_, tk := h.owner(t, "secget")

	res := h.mustDo(t, req{method: "GET", path: "/api/v1/accounts/me/security", bearer: tk.AccessToken}, http.StatusOK)
	raw := rawFields(t, res)
	// No override is an explicit null, not 0 and not absent.
	if string(raw["idle_minutes"]) != "null" || string(raw["absolute_minutes"]) != "null" {
		t.Errorf("override = %s / %s, want null / null", raw["idle_minutes"], raw["absolute_minutes"])
	}
	// The seed's flat shape, exactly: no nested objects, no other keys.
	wantKeys := []string{"idle_minutes", "absolute_minutes", "effective_idle_minutes", "effective_absolute_minutes",
		"idle_minutes_min", "idle_minutes_max", "absolute_minutes_min", "absolute_minutes_max",
		"max_sessions_per_user", "max_sessions_per_user_min", "max_sessions_per_user_max", "session_limit_action",
		"audit_retention_days", "effective_audit_retention_days", "audit_retention_days_min", "audit_retention_days_max",
		"mfa_required", "effective_mfa_required", "reauth_max_age_minutes", "effective_reauth_max_age_minutes",
		"reauth_max_age_minutes_min", "reauth_max_age_minutes_max"}
	if len(raw) != len(wantKeys) {
		t.Errorf("answer has %d keys, want %d: %s", len(raw), len(wantKeys), res.Body)
	}
	for _, k := range wantKeys {
		if _, ok := raw[k]; !ok {
			t.Errorf("answer lacks %q: %s", k, res.Body)
		}
	}
	if string(raw["max_sessions_per_user"]) != "null" {
		t.Errorf("max_sessions_per_user = %s, want null (unlimited)", raw["max_sessions_per_user"])
	}
	var b securityBody
	res.JSON(t, &b)
	if b.Effective != (policyMinutes{4320, 20160}) {
		t.Errorf("effective %+v, want the defaults 4320/20160", b.Effective)
	}
	if b.IdleMin != 15 || b.IdleMax != 43200 || b.AbsMin != 60 || b.AbsMax != 129600 {
		t.Errorf("bounds = %+v, want idle 15..43200, absolute 60..129600", b)
	}
	if b.MaxSessionsMin != 1 || b.MaxSessionsMax != 100 || b.SessionLimitAction != "evict_oldest" {
		t.Errorf("session limit = %d..%d %q, want 1..100 evict_oldest", b.MaxSessionsMin, b.MaxSessionsMax, b.SessionLimitAction)
	}
}

func TestAccountSecurity_TMO03_PatchPersists_NextLoginSnapshotsIt_LiveSessionsKeepTheirs(t *testing.T) {
	h := newHarness(t)
	u, tk := h.owner(t, "secpatch")

	res := h.patchSecurity(t, tk.AccessToken, map[string]any{"idle_minutes": 60, "absolute_minutes": 240})
	expectStatus(t, res, http.StatusOK, "patch")
	var b securityBody
	res.JSON(t, &b)
	if b.IdleMinutes == nil || *b.IdleMinutes != 60 || b.AbsoluteMinutes == nil || *b.AbsoluteMinutes != 240 ||
		b.Effective != (policyMinutes{60, 240}) {
		t.Fatalf("patch answer = %s", res.Body)
	}
	if got := h.getSecurity(t, tk.AccessToken); got.Effective != (policyMinutes{60, 240}) {
		t.Fatalf("GET after PATCH: effective %+v", got.Effective)
	}
	idle, abs := h.db.AccountPolicyMinutes(t, u.AccountID)
	if idle == nil || *idle != 60 || abs == nil || *abs != 240 {
		t.Fatalf("stored override = %v / %v", idle, abs)
	}

	// The next login snapshots the new policy.
	h.clock.Advance(time.Minute)
	now := h.clock.Now()
	next := h.login(t, u, nil)
	c := claims(t, next.RefreshToken)
	if num(t, c, "idle_max") != 3600 || num(t, c, "abs_max") != 14400 {
		t.Errorf("new login claims idle_max=%v abs_max=%v, want 3600/14400", c["idle_max"], c["abs_max"])
	}
	if num(t, c, "exp") != now.Unix()+3600 || num(t, c, "auth_time") != now.Unix() {
		t.Errorf("new login exp=%v auth_time=%v", c["exp"], c["auth_time"])
	}
	if !next.IdleExpiresAt.Equal(now.Add(time.Hour)) || !next.AbsoluteExpiresAt.Equal(now.Add(4*time.Hour)) {
		t.Errorf("new login deadlines %v / %v", next.IdleExpiresAt, next.AbsoluteExpiresAt)
	}

	// TMO-03, documented behaviour: a session started before the change
	// keeps its snapshot across refreshes.
	old := h.mustRefresh(t, tk.RefreshToken)
	if oc := claims(t, old.RefreshToken); num(t, oc, "idle_max") != defaultIdle || num(t, oc, "abs_max") != defaultAbs {
		t.Errorf("existing session's snapshot changed: %v / %v", oc["idle_max"], oc["abs_max"])
	}
}

func TestAccountSecurity_Patch_OmittedUnchanged_NullClears(t *testing.T) {
	h := newHarness(t)
	_, tk := h.owner(t, "secmerge")

	expectStatus(t, h.patchSecurity(t, tk.AccessToken, map[string]any{"idle_minutes": 60, "absolute_minutes": 240}), http.StatusOK, "patch")
	// Omitted absolute: unchanged.
	expectStatus(t, h.patchSecurity(t, tk.AccessToken, map[string]any{"idle_minutes": 30}), http.StatusOK, "patch idle")
	if b := h.getSecurity(t, tk.AccessToken); *b.IdleMinutes != 30 || *b.AbsoluteMinutes != 240 {
		t.Fatalf("after idle-only patch: %+v", b)
	}
	// Null: cleared back to the default; the other override stays.
	res := h.patchSecurity(t, tk.AccessToken, `{"absolute_minutes": null}`)
	expectStatus(t, res, http.StatusOK, "patch null")
	raw := rawFields(t, res)
	if string(raw["absolute_minutes"]) != "null" || string(raw["idle_minutes"]) != "30" {
		t.Fatalf("after clearing absolute: %s", res.Body)
	}
	if b := h.getSecurity(t, tk.AccessToken); b.Effective != (policyMinutes{30, 20160}) {
		t.Fatalf("effective after clearing absolute: %+v", b.Effective)
	}
	// An empty patch changes nothing.
	expectStatus(t, h.patchSecurity(t, tk.AccessToken, map[string]any{}), http.StatusOK, "empty patch")
	if b := h.getSecurity(t, tk.AccessToken); b.IdleMinutes == nil || *b.IdleMinutes != 30 || b.AbsoluteMinutes != nil {
		t.Fatalf("after empty patch: %+v", b)
	}
}

func TestAccountSecurity_Patch_BoundsThenEffectiveInvariant_422_NothingStored(t *testing.T) {
	h := newHarness(t)
	u, tk := h.owner(t, "secbad")

	cases := []struct {
		name, body, code, field string
		detail                  []string // substrings of detail
	}{
		{"idle below min", `{"idle_minutes": 14}`, "policy_out_of_bounds", "idle_minutes",
			[]string{"idle_minutes", "15", "43200"}},
		{"idle above max", `{"idle_minutes": 43201}`, "policy_out_of_bounds", "idle_minutes",
			[]string{"idle_minutes", "15", "43200"}},
		{"absolute above max", `{"absolute_minutes": 129601}`, "policy_out_of_bounds", "absolute_minutes",
			[]string{"absolute_minutes", "60", "129600"}},
		{"absolute below min", `{"absolute_minutes": 59}`, "policy_out_of_bounds", "absolute_minutes",
			[]string{"absolute_minutes", "60", "129600"}},
		{"bounds are checked before the invariant", `{"idle_minutes": 14, "absolute_minutes": 10}`, "policy_out_of_bounds", "idle_minutes",
			[]string{"idle_minutes"}},
		{"idle above absolute, both set", `{"idle_minutes": 300, "absolute_minutes": 240}`, "policy_invariant_violated", "idle_minutes",
			[]string{"effective idle (300 min) cannot exceed effective absolute (240 min)"}},
		{"partial override against the absolute default", `{"idle_minutes": 43200, "absolute_minutes": null}`, "policy_invariant_violated", "idle_minutes",
			[]string{"effective idle (43200 min) cannot exceed effective absolute (20160 min)"}},
		{"absolute below the idle default", `{"absolute_minutes": 60}`, "policy_invariant_violated", "absolute_minutes",
			[]string{"effective idle (4320 min) cannot exceed effective absolute (60 min)"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := expectProblem(t, h.patchSecurity(t, tk.AccessToken, c.body), http.StatusUnprocessableEntity, c.code)
			for _, s := range c.detail {
				if !strings.Contains(p.Detail, s) {
					t.Errorf("detail %q does not mention %q", p.Detail, s)
				}
			}
			if len(p.Errors) != 1 || p.Errors[0].Field != c.field {
				t.Errorf("errors = %+v, want one naming %s", p.Errors, c.field)
			}
		})
	}
	if b := h.getSecurity(t, tk.AccessToken); b.IdleMinutes != nil || b.AbsoluteMinutes != nil {
		t.Fatalf("a rejected patch was stored: %+v", b)
	}
	if n := len(auditRows(t, h, u.AccountID, "account.session_policy_update")); n != 0 {
		t.Fatalf("%d audit events for rejected patches", n)
	}
	// Not a number at all: schema validation, still 422 and never 500.
	p := expectProblem(t, h.patchSecurity(t, tk.AccessToken, `{"idle_minutes": "sixty"}`), http.StatusUnprocessableEntity, "validation_failed")
	if !strings.Contains(p.Detail, "idle_minutes") {
		t.Errorf("schema error detail %q does not name the field", p.Detail)
	}
}

func TestAccountSecurity_Patch_AUD01_OneAuditEventWithOldNewAndEffective(t *testing.T) {
	h := newHarness(t)
	u, tk := h.owner(t, "secaudit")

	expectStatus(t, h.patchSecurity(t, tk.AccessToken, map[string]any{"idle_minutes": 60}), http.StatusOK, "patch")
	rows := auditRows(t, h, u.AccountID, "account.session_policy_update")
	if len(rows) != 1 {
		t.Fatalf("%d policy audit events, want exactly 1", len(rows))
	}
	r := rows[0]
	if r.ActorUserID == nil || *r.ActorUserID != u.UserID || r.ResourceType != "account" || r.ResourceID == nil || *r.ResourceID != u.AccountID.String() {
		t.Errorf("audit row actor=%v resource=%s/%v", r.ActorUserID, r.ResourceType, r.ResourceID)
	}
	limit := func(m map[string]any, retention any) map[string]any {
		m["max_sessions_per_user"], m["session_limit_action"], m["audit_retention_days"] = nil, "evict_oldest", retention
		m["mfa_required"], m["reauth_max_age_minutes"] = nil, nil
		return m
	}
	effective := func(m map[string]any) map[string]any {
		m = limit(m, 90.0)
		m["mfa_required"], m["reauth_max_age_minutes"] = "off", 15.0
		return m
	}
	want := map[string]any{
		"old":           limit(map[string]any{"idle_minutes": nil, "absolute_minutes": nil}, nil),
		"new":           limit(map[string]any{"idle_minutes": 60.0, "absolute_minutes": nil}, nil),
		"effective_old": effective(map[string]any{"idle_minutes": 4320.0, "absolute_minutes": 20160.0}),
		"effective_new": effective(map[string]any{"idle_minutes": 60.0, "absolute_minutes": 20160.0}),
	}
	if fmt.Sprint(r.Details) != fmt.Sprint(want) {
		t.Errorf("details = %s\nwant      %v", r.RawDetails, want)
	}
}

// TMO-03 under concurrency: policy changes racing with sign-ins. Every
// session must carry exactly one of the policies the account ever had
// (never a mix of two, never one breaking idle ≤ absolute).
func TestAccountSecurity_TMO03_PatchRacingLogins_EverySnapshotIsOneWholePolicy(t *testing.T) {
	h := newHarness(t)
	owner, otk := h.owner(t, "secrace")
	member := h.addMember(t, otk.AccessToken, "member")

	type snap struct{ idle, abs int64 }
	policies := []struct {
		body string
		want snap
	}{
		{`{"idle_minutes": 60, "absolute_minutes": 240}`, snap{3600, 14400}},
		{`{"idle_minutes": 30, "absolute_minutes": 60}`, snap{1800, 3600}},
		{`{"idle_minutes": null, "absolute_minutes": null}`, snap{defaultIdle, defaultAbs}},
		{`{"idle_minutes": 240, "absolute_minutes": 240}`, snap{14400, 14400}},
	}
	allowed := map[snap]bool{}
	for _, p := range policies {
		allowed[p.want] = true
	}

	const patchers, loginers, rounds = 3, 4, 8
	var mu sync.Mutex
	issued := map[uuid.UUID]snap{}
	concurrently(patchers+loginers, func(i int) {
		if i < patchers {
			for r := range rounds {
				p := policies[(i+r)%len(policies)]
				if res := h.patchSecurity(t, otk.AccessToken, p.body); res.Status != http.StatusOK {
					t.Errorf("patch %s: %d %s", p.body, res.Status, res.Body)
					return
				}
			}
			return
		}
		u := owner
		if (i-patchers)%2 == 1 {
			u = member
		}
		for range rounds {
			tk := h.login(t, u, nil)
			c := claims(t, tk.RefreshToken)
			mu.Lock()
			issued[tk.SessionID] = snap{num(t, c, "idle_max"), num(t, c, "abs_max")}
			mu.Unlock()
		}
	})
	if t.Failed() {
		return
	}

	seen := 0
	for _, row := range h.db.Sessions(t, owner.AccountID, uuid.Nil) {
		id, s := row.ID, snap{int64(row.IdleSeconds), int64(row.AbsoluteSeconds)}
		seen++
		if s.idle > s.abs {
			t.Errorf("session %s: idle %d s > absolute %d s", id, s.idle, s.abs)
		}
		if !allowed[s] {
			t.Errorf("session %s snapshot %+v is not one of the account's policies", id, s)
		}
		if c, ok := issued[id]; ok && c != s {
			t.Errorf("session %s: token claims %+v differ from the row %+v", id, c, s)
		}
	}
	if want := loginers*rounds + 1; seen != want {
		t.Errorf("%d sessions, want %d", seen, want)
	}
	// One event per PATCH that changed the policy: two racing patchers may
	// set the same policy twice in a row, and the second writes nothing
	// (ADM-04), so never an event whose old equals its new.
	events := auditRows(t, h, owner.AccountID, "account.session_policy_update")
	if n := len(events); n == 0 || n > patchers*rounds {
		t.Errorf("%d policy audit events, want 1 to %d (one per PATCH that changed something)", n, patchers*rounds)
	}
	for _, e := range events {
		if fmt.Sprint(e.Details["old"]) == fmt.Sprint(e.Details["new"]) {
			t.Errorf("event %s records no change: %s", e.ID, e.RawDetails)
		}
	}
	final := h.getSecurity(t, otk.AccessToken).Effective
	if !allowed[snap{int64(final.Idle) * 60, int64(final.Abs) * 60}] {
		t.Errorf("final effective policy %+v is not one of those set", final)
	}
}

// --- owner only ------------------------------------------------------------

func TestAccountAdmin_MemberGets403OnEveryEndpoint_AndChangesNothing(t *testing.T) {
	h := newHarness(t)
	owner, otk := h.owner(t, "adm403")
	member := h.addMember(t, otk.AccessToken, "member")
	mtk := h.login(t, member, nil)

	calls := []req{
		{method: "GET", path: "/api/v1/accounts/me/security"},
		{method: "PATCH", path: "/api/v1/accounts/me/security", body: map[string]any{"idle_minutes": 60}},
		{method: "POST", path: "/api/v1/accounts/me/security/revoke-sessions", body: map[string]any{"scope": "all"}},
		{method: "POST", path: "/api/v1/accounts/me/security/revoke-sessions"},
		{method: "GET", path: "/api/v1/accounts/me/members"},
		{method: "POST", path: "/api/v1/accounts/me/members", body: map[string]any{
			"email": uniqueEmail("sneaky"), "password": "long enough password", "name": "Sneaky", "role": "owner"}},
		{method: "GET", path: "/api/v1/accounts/me/audit-events"},
	}
	for _, c := range calls {
		t.Run(c.method+" "+c.path, func(t *testing.T) {
			c.bearer = mtk.AccessToken
			expectProblem(t, h.do(t, c), http.StatusForbidden, "forbidden")
		})
	}
	if b := h.getSecurity(t, otk.AccessToken); b.IdleMinutes != nil {
		t.Errorf("member's PATCH was applied: %+v", b)
	}
	if n := liveSessions(t, h, owner.AccountID); n != 2 {
		t.Errorf("%d live sessions after a member's bulk revoke, want 2", n)
	}
	for _, action := range []string{"account.session_policy_update", "account.sessions_revoked_bulk"} {
		if n := len(auditRows(t, h, owner.AccountID, action)); n != 0 {
			t.Errorf("%d %s events after refused calls", n, action)
		}
	}
	if n := len(auditRows(t, h, owner.AccountID, "member.created")); n != 1 {
		t.Errorf("%d member.created events, want 1 (the owner's)", n)
	}
}

// An access token outlives a role change by up to its lifetime; admin
// rights must not.
func TestAccountAdmin_DemotedOrDeactivatedOwner_RefusedWithStillValidToken(t *testing.T) {
	inactive := false
	for name, change := range map[string]pgtest.UserChange{
		"demoted":     {Role: "member"},
		"deactivated": {Active: &inactive},
	} {
		t.Run(name, func(t *testing.T) {
			h := newHarness(t)
			_, otk := h.owner(t, "demote")
			second := h.addMember(t, otk.AccessToken, "owner")
			stk := h.login(t, second, nil)
			if role := claims(t, stk.AccessToken)["role"]; role != "owner" {
				t.Fatalf("second owner's token role = %v", role)
			}
			h.getSecurity(t, stk.AccessToken) // allowed while an owner

			h.db.ChangeUser(t, second.UserID, change)
			expectProblem(t, h.do(t, req{method: "GET", path: "/api/v1/accounts/me/security", bearer: stk.AccessToken}),
				http.StatusForbidden, "forbidden")
			expectProblem(t, h.revokeAccountSessions(t, stk.AccessToken, map[string]string{"scope": "all"}),
				http.StatusForbidden, "forbidden")
		})
	}
}

// --- bulk revocation -------------------------------------------------------

func TestBulkRevoke_REV05_ScopeAll_EveryAccountSessionIncludingCallers_OtherTenantUntouched(t *testing.T) {
	h := newHarness(t)
	owner, otk := h.owner(t, "bulkall")
	otk2 := h.login(t, owner, nil) // the owner's second device
	member := h.addMember(t, otk.AccessToken, "member")
	mtk := h.login(t, member, nil)
	mtk = h.mustRefresh(t, mtk.RefreshToken) // a used token in the family too

	other, xtk := h.owner(t, "bulkother")
	otherLive := liveSessions(t, h, other.AccountID)

	h.clock.Advance(time.Minute)
	if n := h.mustRevokeAccountSessions(t, otk.AccessToken, "all"); n != 3 {
		t.Fatalf("revoked_count = %d, want 3 (owner ×2, member ×1)", n)
	}
	// The caller's own session is gone too: its refresh token and, at once,
	// its access token.
	expectRefreshDead(t, h, otk)
	expectRefreshDead(t, h, otk2)
	expectRefreshDead(t, h, mtk)

	for _, sid := range []uuid.UUID{otk.SessionID, otk2.SessionID, mtk.SessionID} {
		at, reason := sessionRevocation(t, h, sid)
		if at == nil || !at.Equal(h.clock.Now()) || reason == nil || *reason != "bulk_revoke" {
			t.Errorf("session %s revoked_at=%v reason=%v", sid, at, reason)
		}
	}
	if unrevoked := liveSessions(t, h, owner.AccountID); unrevoked != 0 {
		t.Errorf("%d sessions (token families) of the account left unrevoked", unrevoked)
	}

	// The other tenant is untouched.
	if n := liveSessions(t, h, other.AccountID); n != otherLive {
		t.Errorf("other tenant's live sessions %d → %d", otherLive, n)
	}
	expectAlive(t, h, xtk)

	rows := auditRows(t, h, owner.AccountID, "account.sessions_revoked_bulk")
	if len(rows) != 1 {
		t.Fatalf("%d bulk-revoke audit events, want 1", len(rows))
	}
	if d := rows[0].Details; d["scope"] != "all" || d["revoked_count"] != 3.0 || rows[0].ActorUserID == nil || *rows[0].ActorUserID != owner.UserID {
		t.Errorf("audit details = %s, actor %v", rows[0].RawDetails, rows[0].ActorUserID)
	}
	if n := len(auditRows(t, h, other.AccountID, "account.sessions_revoked_bulk")); n != 0 {
		t.Errorf("other tenant got %d bulk-revoke events", n)
	}
}

func TestBulkRevoke_REV05_ScopeOthers_KeepsAllCallersSessions_SecondCallCountsZero(t *testing.T) {
	h := newHarness(t)
	owner, otk := h.owner(t, "bulkothers")
	otk2 := h.login(t, owner, nil)
	member := h.addMember(t, otk.AccessToken, "member")
	mtk := h.login(t, member, nil)
	second := h.addMember(t, otk.AccessToken, "owner")
	stk := h.login(t, second, nil)
	_, xtk := h.owner(t, "bulkothersx")

	if n := h.mustRevokeAccountSessions(t, otk.AccessToken, "others"); n != 2 {
		t.Fatalf("revoked_count = %d, want 2 (the member and the other owner)", n)
	}
	otk = expectAlive(t, h, otk)
	expectAlive(t, h, otk2)
	expectRefreshDead(t, h, mtk)
	expectRefreshDead(t, h, stk)
	expectAlive(t, h, xtk)

	// Idempotent: nothing is left to revoke, nothing is re-stamped.
	before, _ := sessionRevocation(t, h, mtk.SessionID)
	h.clock.Advance(time.Minute)
	if n := h.mustRevokeAccountSessions(t, otk.AccessToken, "others"); n != 0 {
		t.Fatalf("second call revoked_count = %d, want 0", n)
	}
	if after, _ := sessionRevocation(t, h, mtk.SessionID); !after.Equal(*before) {
		t.Errorf("revoked session re-stamped: %v → %v", before, after)
	}
	rows := auditRows(t, h, owner.AccountID, "account.sessions_revoked_bulk")
	if len(rows) != 2 || rows[0].Details["scope"] != "others" || rows[0].Details["revoked_count"] != 2.0 ||
		rows[1].Details["revoked_count"] != 0.0 {
		t.Fatalf("bulk-revoke audit events: %+v", rows)
	}
}

func TestBulkRevoke_REV05_AlreadyRevokedRowsNotRestamped_DefaultScopeIsAll(t *testing.T) {
	h := newHarness(t)
	owner, otk := h.owner(t, "bulkstamp")
	member := h.addMember(t, otk.AccessToken, "member")
	gone := h.login(t, member, nil)
	h.logout(t, gone.AccessToken)
	loggedOutAt := h.clock.Now()
	mtk := h.login(t, member, nil)

	h.clock.Advance(time.Minute)
	res := h.revokeAccountSessions(t, otk.AccessToken, nil) // no body: scope all
	expectStatus(t, res, http.StatusOK, "revoke-sessions")
	var b struct {
		RevokedCount int `json:"revoked_count"`
	}
	res.JSON(t, &b)
	if b.RevokedCount != 2 {
		t.Fatalf("revoked_count = %d, want 2 (owner and member's live session)", b.RevokedCount)
	}
	at, reason := sessionRevocation(t, h, gone.SessionID)
	if at == nil || !at.Equal(loggedOutAt) || *reason != "logout" {
		t.Errorf("logged-out session re-stamped: %v %v", at, reason)
	}
	expectRefreshDead(t, h, mtk)
	if rows := auditRows(t, h, owner.AccountID, "account.sessions_revoked_bulk"); len(rows) != 1 || rows[0].Details["scope"] != "all" {
		t.Errorf("audit events: %+v", rows)
	}
}

// REV-05: the body can name nothing but a scope; wildcards and foreign ids
// are rejected, so a request cannot reach beyond the caller's account.
func TestBulkRevoke_REV05_WildcardsAndForeignIDsRejected(t *testing.T) {
	h := newHarness(t)
	owner, otk := h.owner(t, "bulkwild")
	other, _ := h.owner(t, "bulkwildx")
	otherLive := liveSessions(t, h, other.AccountID)

	for _, body := range []string{
		`{"scope": "*"}`,
		`{"scope": "account"}`,
		fmt.Sprintf(`{"scope": "all", "account_id": %q}`, other.AccountID),
		fmt.Sprintf(`{"user_ids": [%q]}`, other.UserID),
	} {
		expectProblem(t, h.revokeAccountSessions(t, otk.AccessToken, body), http.StatusUnprocessableEntity, "validation_failed")
	}
	if n := liveSessions(t, h, owner.AccountID); n != 1 {
		t.Errorf("caller's account: %d live sessions, want 1", n)
	}
	if n := liveSessions(t, h, other.AccountID); n != otherLive {
		t.Errorf("other tenant's live sessions %d → %d", otherLive, n)
	}
	if n := len(auditRows(t, h, owner.AccountID, "account.sessions_revoked_bulk")); n != 0 {
		t.Errorf("%d audit events for rejected requests", n)
	}
}

// --- members ---------------------------------------------------------------

type userBody struct {
	ID          uuid.UUID `json:"id"`
	Email       string    `json:"email"`
	Name        string    `json:"name"`
	AccountID   uuid.UUID `json:"account_id"`
	AccountRole string    `json:"account_role"`
	IsActive    bool      `json:"is_active"`
	CreatedAt   time.Time `json:"created_at"`
}

func (h *harness) listMembers(t testing.TB, at string) []userBody {
	t.Helper()
	return listItems[userBody](t, h, "/api/v1/accounts/me/members", at)
}

func TestMembers_Create_NormalisesEmail_CanSignIn_Listed_AuditedWithoutPassword(t *testing.T) {
	h := newHarness(t)
	owner, otk := h.owner(t, "members")
	_, xtk := h.owner(t, "membersx") // another tenant

	email := uniqueEmail("bob")
	pw := "bobs initial password"
	h.clock.Advance(time.Second)
	res := h.mustDo(t, req{method: "POST", path: "/api/v1/accounts/me/members", bearer: otk.AccessToken,
		body: map[string]string{"email": "  " + strings.ToUpper(email) + " ", "password": pw, "name": " Bob ", "role": "member"}}, http.StatusCreated)
	var bob userBody
	res.JSON(t, &bob)
	if bob.Email != email || bob.Name != "Bob" || bob.AccountID != owner.AccountID || bob.AccountRole != "member" ||
		!bob.IsActive || !bob.CreatedAt.Equal(h.clock.Now()) {
		t.Fatalf("created member = %+v", bob)
	}

	// The member signs in with the initial password, as a member.
	mtk := h.login(t, registered{UserID: bob.ID, AccountID: owner.AccountID, Email: email, Password: pw}, nil)
	if c := claims(t, mtk.AccessToken); c["role"] != "member" || c["tid"] != owner.AccountID.String() {
		t.Errorf("member token claims = %v", c)
	}

	list := h.listMembers(t, otk.AccessToken)
	if len(list) != 2 || list[0].ID != owner.UserID || list[0].AccountRole != "owner" || list[1].ID != bob.ID {
		t.Fatalf("members = %+v, want the owner then Bob", list)
	}
	for _, u := range h.listMembers(t, xtk.AccessToken) {
		if u.AccountID == owner.AccountID {
			t.Fatalf("another tenant's owner sees %+v", u)
		}
	}

	rows := auditRows(t, h, owner.AccountID, "member.created")
	if len(rows) != 1 {
		t.Fatalf("%d member.created events, want 1", len(rows))
	}
	r := rows[0]
	if r.Details["user_id"] != bob.ID.String() || r.Details["role"] != "member" || r.ResourceType != "user" ||
		r.ResourceID == nil || *r.ResourceID != bob.ID.String() || r.ActorUserID == nil || *r.ActorUserID != owner.UserID {
		t.Errorf("member.created row = %+v", r)
	}
	if strings.Contains(r.RawDetails, pw) || strings.Contains(strings.ToLower(r.RawDetails), "password") {
		t.Errorf("audit details carry the password: %s", r.RawDetails)
	}
}

func TestMembers_Create_EmailTaken409_EvenInAnotherTenantOrCase(t *testing.T) {
	h := newHarness(t)
	_, otk := h.owner(t, "dup")
	other, _ := h.owner(t, "dupx")
	member := h.addMember(t, otk.AccessToken, "member")

	for _, email := range []string{member.Email, strings.ToUpper(member.Email), other.Email} {
		p := expectProblem(t, h.do(t, req{method: "POST", path: "/api/v1/accounts/me/members", bearer: otk.AccessToken,
			body: map[string]string{"email": email, "password": "long enough password", "name": "Dup", "role": "member"}}),
			http.StatusConflict, "email_taken")
		if !strings.Contains(p.Detail, "email") {
			t.Errorf("detail %q does not name the field", p.Detail)
		}
	}
	if n := len(h.listMembers(t, otk.AccessToken)); n != 2 {
		t.Errorf("%d users after conflicts, want 2", n)
	}
}

func TestMembers_Create_InvalidInput_422NamingTheField(t *testing.T) {
	h := newHarness(t)
	_, otk := h.owner(t, "badmember")
	valid := func() map[string]string {
		return map[string]string{"email": uniqueEmail("m"), "password": "long enough password", "name": "M", "role": "member"}
	}
	cases := map[string]struct {
		field, value string
	}{
		"email not an address": {"email", "not-an-email"},
		"password too short":   {"password", "short"},
		"name only spaces":     {"name", "   "},
		"unknown role":         {"role", "admin"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			body := valid()
			body[c.field] = c.value
			p := expectProblem(t, h.do(t, req{method: "POST", path: "/api/v1/accounts/me/members", bearer: otk.AccessToken, body: body}),
				http.StatusUnprocessableEntity, "validation_failed")
			if !strings.Contains(p.Detail, c.field) {
				t.Errorf("detail %q does not name %s", p.Detail, c.field)
			}
		})
	}
	if n := len(h.listMembers(t, otk.AccessToken)); n != 1 {
		t.Errorf("%d users after rejected creations, want 1", n)
	}
}

// --- audit trail -----------------------------------------------------------

type auditItem struct {
	ID           uuid.UUID       `json:"id"`
	Action       string          `json:"action"`
	ActorUserID  *uuid.UUID      `json:"actor_user_id"`
	ResourceType string          `json:"resource_type"`
	ResourceID   *string         `json:"resource_id"`
	Details      json.RawMessage `json:"details"`
	IPAddress    *string         `json:"ip_address"`
	UserAgent    *string         `json:"user_agent"`
	CreatedAt    time.Time       `json:"created_at"`
}

type auditPage struct {
	Items      []auditItem `json:"items"`
	NextCursor *string     `json:"next_cursor"`
}

func (h *harness) auditPage(t testing.TB, at string, q url.Values) auditPage {
	t.Helper()
	path := "/api/v1/accounts/me/audit-events"
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	res := h.mustDo(t, req{method: "GET", path: path, bearer: at}, http.StatusOK)
	if _, ok := rawFields(t, res)["next_cursor"]; !ok {
		t.Fatalf("next_cursor absent: %s", res.Body)
	}
	var p auditPage
	res.JSON(t, &p)
	return p
}

// allAuditPages walks the listing to its end, checking page sizes.
func (h *harness) allAuditPages(t testing.TB, at string, q url.Values, limit int) []auditItem {
	t.Helper()
	var all []auditItem
	q.Set("limit", fmt.Sprint(limit))
	for range 1000 {
		p := h.auditPage(t, at, q)
		if len(p.Items) > limit {
			t.Fatalf("page of %d items, limit %d", len(p.Items), limit)
		}
		all = append(all, p.Items...)
		if p.NextCursor == nil {
			return all
		}
		if len(p.Items) != limit {
			t.Fatalf("short page (%d of %d) with a next cursor", len(p.Items), limit)
		}
		q.Set("cursor", *p.NextCursor)
	}
	t.Fatal("listing did not end")
	return nil
}

func itemIDs(items []auditItem) []uuid.UUID {
	ids := make([]uuid.UUID, len(items))
	for i, it := range items {
		ids[i] = it.ID
	}
	return ids
}

func TestAuditEvents_AUD01_PaginatesWithoutGapsOrRepeats_NeverAnotherTenants(t *testing.T) {
	h := newHarness(t)
	owner, otk := h.owner(t, "auditpages")
	other, xtk := h.owner(t, "auditpagesx")

	// Many events at identical instants (the fake clock stands still), in
	// both tenants, interleaved; then more a minute later.
	for i := range 40 {
		h.login(t, owner, nil)
		h.login(t, other, nil)
		if i%6 == 0 {
			expectStatus(t, h.patchSecurity(t, otk.AccessToken, map[string]any{"idle_minutes": 60 + i}), http.StatusOK, "patch")
		}
	}
	h.clock.Advance(time.Minute)
	for range 5 {
		h.login(t, owner, nil)
		h.login(t, other, nil)
	}

	want := auditIDs(t, h, owner.AccountID, "")
	if len(want) < 30 {
		t.Fatalf("only %d events generated", len(want))
	}
	foreign := map[uuid.UUID]bool{}
	for _, id := range auditIDs(t, h, other.AccountID, "") {
		foreign[id] = true
	}
	for _, limit := range []int{1, 7, 50, 200} {
		got := itemIDs(h.allAuditPages(t, otk.AccessToken, url.Values{}, limit))
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("limit %d: listing (%d) differs from the account's events newest-first (%d)", limit, len(got), len(want))
		}
		for _, id := range got {
			if foreign[id] {
				t.Fatalf("limit %d: another tenant's event %s listed", limit, id)
			}
		}
	}

	// The default page is 50 and says there is more.
	first := h.auditPage(t, otk.AccessToken, nil)
	if len(first.Items) != 50 || first.NextCursor == nil {
		t.Fatalf("default page: %d items, next_cursor %v", len(first.Items), first.NextCursor)
	}
	if !first.Items[0].CreatedAt.Equal(h.clock.Now()) {
		t.Errorf("newest first: first item at %v, want %v", first.Items[0].CreatedAt, h.clock.Now())
	}

	// Another tenant's cursor is only a position: used by this tenant's
	// owner it still lists only this tenant's events.
	xfirst := h.auditPage(t, xtk.AccessToken, url.Values{"limit": {"3"}})
	cross := h.auditPage(t, otk.AccessToken, url.Values{"cursor": {*xfirst.NextCursor}, "limit": {"200"}})
	for _, it := range cross.Items {
		if foreign[it.ID] {
			t.Fatalf("foreign cursor leaked event %s", it.ID)
		}
	}
	for _, it := range h.allAuditPages(t, xtk.AccessToken, url.Values{}, 200) {
		for _, mine := range want {
			if it.ID == mine {
				t.Fatalf("the other tenant sees event %s", it.ID)
			}
		}
	}
}

func TestAuditEvents_FilterByAction_DetailsIsAnObject(t *testing.T) {
	h := newHarness(t)
	owner, otk := h.owner(t, "auditfilter")
	for i := range 5 {
		h.clock.Advance(time.Second) // distinct instants: "newest" is then the last patch
		expectStatus(t, h.patchSecurity(t, otk.AccessToken, map[string]any{"idle_minutes": 60 + i}), http.StatusOK, "patch")
		h.login(t, owner, nil)
	}

	items := h.allAuditPages(t, otk.AccessToken, url.Values{"action": {"account.session_policy_update"}}, 2)
	want := auditIDs(t, h, owner.AccountID, "account.session_policy_update")
	if len(want) != 5 || fmt.Sprint(itemIDs(items)) != fmt.Sprint(want) {
		t.Fatalf("filtered listing %v, want %v", itemIDs(items), want)
	}
	newest := items[0]
	var d map[string]map[string]any
	if err := json.Unmarshal(newest.Details, &d); err != nil {
		t.Fatalf("details is not an object of objects: %s", newest.Details)
	}
	if d["new"]["idle_minutes"] != 64.0 || d["old"]["idle_minutes"] != 63.0 || d["effective_new"]["absolute_minutes"] != 20160.0 {
		t.Errorf("details = %s", newest.Details)
	}
	if newest.ActorUserID == nil || *newest.ActorUserID != owner.UserID || newest.ResourceType != "account" ||
		newest.ResourceID == nil || *newest.ResourceID != owner.AccountID.String() ||
		newest.IPAddress == nil || *newest.IPAddress != "127.0.0.1" || newest.UserAgent == nil {
		t.Errorf("event = %+v", newest)
	}
	// An action the service never writes is an error naming the allowed
	// values, not an empty page (ADM-05).
	p := expectProblem(t, h.do(t, req{method: "GET", path: "/api/v1/accounts/me/audit-events?action=no.such.action", bearer: otk.AccessToken}),
		http.StatusUnprocessableEntity, "validation_failed")
	if len(p.Errors) != 1 || p.Errors[0].Field != "action" || !strings.Contains(p.Detail, "account.session_policy_update") {
		t.Errorf("unknown action: %+v", p)
	}
}

func TestAuditEvents_BadCursorOrLimit_422NamingTheParameter(t *testing.T) {
	h := newHarness(t)
	_, otk := h.owner(t, "auditbad")
	enc := base64.RawURLEncoding.EncodeToString
	cursors := map[string]string{
		"not base64":       "!!not-a-cursor!!",
		"not json":         enc([]byte("hello")),
		"bad id":           enc([]byte(`{"t":1,"id":"nope"}`)),
		"no time":          enc([]byte(fmt.Sprintf(`{"id":%q}`, uuid.New()))),
		"unknown field":    enc([]byte(fmt.Sprintf(`{"t":1,"id":%q,"tid":%q}`, uuid.New(), uuid.New()))),
		"trailing garbage": enc([]byte(fmt.Sprintf(`{"t":1,"id":%q}x`, uuid.New()))),
	}
	for name, c := range cursors {
		t.Run(name, func(t *testing.T) {
			p := expectProblem(t, h.do(t, req{method: "GET", path: "/api/v1/accounts/me/audit-events?cursor=" + url.QueryEscape(c), bearer: otk.AccessToken}),
				http.StatusUnprocessableEntity, "invalid_cursor")
			if len(p.Errors) != 1 || p.Errors[0].Field != "cursor" {
				t.Errorf("errors = %+v, want one naming cursor", p.Errors)
			}
		})
	}
	for _, limit := range []string{"0", "201", "-1", "ten"} {
		t.Run("limit "+limit, func(t *testing.T) {
			p := expectProblem(t, h.do(t, req{method: "GET", path: "/api/v1/accounts/me/audit-events?limit=" + limit, bearer: otk.AccessToken}),
				http.StatusUnprocessableEntity, "validation_failed")
			if !strings.Contains(p.Detail, "limit") {
				t.Errorf("detail %q does not name limit", p.Detail)
			}
		})
	}
}

// revoked_count counts live sessions: one that already ended by its idle
// deadline is not revoked again.
func TestBulkRevoke_ExpiredSessionsNotCounted(t *testing.T) {
	h := newHarness(t)
	owner, otk := h.owner(t, "bulkexpired")
	expectStatus(t, h.patchSecurity(t, otk.AccessToken, map[string]any{"idle_minutes": 15, "absolute_minutes": 60}), http.StatusOK, "patch")
	member := h.addMember(t, otk.AccessToken, "member")
	stale := h.login(t, member, nil) // idle window 15 min

	h.clock.Advance(16 * time.Minute)
	fresh := h.login(t, member, nil)
	otk = h.login(t, owner, nil)
	if n := h.mustRevokeAccountSessions(t, otk.AccessToken, "others"); n != 1 {
		t.Fatalf("revoked_count = %d, want 1 (only the member's live session)", n)
	}
	if at, _ := sessionRevocation(t, h, stale.SessionID); at != nil {
		t.Errorf("expired session stamped revoked at %v", at)
	}
	expectRefreshDead(t, h, fresh)
}
