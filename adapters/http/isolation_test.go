package http_test

// Tenant isolation from the outside: two tenants with data, and every
// endpoint called with tenant A's token and, where the endpoint takes any,
// tenant B's ids. A never sees B's data and never changes it; where an id
// of B's could reveal that it exists, the answer is the same 404 as for an
// id that does not exist (not 403). RLS is proven from the inside in
// adapters/postgres; this is the same promise seen by a client.

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	httpadapter "github.com/sessiond/sessiond/adapters/http"
	"github.com/sessiond/sessiond/core"
)

// tenantFixture is one tenant with an owner signed in on two devices (and,
// once member creation is built, a member signed in too).
type tenantFixture struct {
	owner    registered
	devices  []tokens // the owner's sessions
	member   *registered
	memberTk *tokens
}

func (f tenantFixture) sessionIDs() []uuid.UUID {
	var ids []uuid.UUID
	for _, d := range f.devices {
		ids = append(ids, d.SessionID)
	}
	if f.memberTk != nil {
		ids = append(ids, f.memberTk.SessionID)
	}
	return ids
}

// identifiers are strings that must never appear in another tenant's
// answers: ids, emails, session ids.
func (f tenantFixture) identifiers() []string {
	out := []string{f.owner.UserID.String(), f.owner.AccountID.String(), f.owner.Email}
	for _, id := range f.sessionIDs() {
		out = append(out, id.String())
	}
	if f.member != nil {
		out = append(out, f.member.UserID.String(), f.member.Email)
	}
	return out
}

func newTenant(t *testing.T, h *harness, prefix string) tenantFixture {
	t.Helper()
	f := tenantFixture{owner: h.register(t, uniqueEmail(prefix+"-owner"))}
	for _, dev := range []string{prefix + "-laptop", prefix + "-phone"} {
		f.devices = append(f.devices, h.login(t, f.owner, map[string]string{"X-Device-Id": dev}))
	}
	// A member of the account.
	m := h.addMember(t, f.devices[0].AccessToken, "member")
	tk := h.login(t, m, nil)
	f.member, f.memberTk = &m, &tk
	return f
}

// noneOf fails when body mentions any of the other tenant's identifiers.
func noneOf(t *testing.T, what string, body []byte, foreign []string) {
	t.Helper()
	for _, s := range foreign {
		if strings.Contains(strings.ToLower(string(body)), strings.ToLower(s)) {
			t.Fatalf("%s: tenant B's %q appears in tenant A's answer: %s", what, s, body)
		}
	}
}

// stillLive asserts that each access token's session still works.
func (h *harness) stillLive(t *testing.T, who string, tks ...tokens) {
	t.Helper()
	for _, tk := range tks {
		if res := h.do(t, req{method: "GET", path: "/api/v1/auth/me", bearer: tk.AccessToken}); res.Status != http.StatusOK {
			t.Fatalf("%s: session %s no longer live: %d %s", who, tk.SessionID, res.Status, res.Body)
		}
	}
}

func TestIsolation_TenantAWithTenantBsIds_NeverSeesOrChangesB(t *testing.T) {
	h := newHarness(t)
	a := newTenant(t, h, "iso-a")
	b := newTenant(t, h, "iso-b")
	bIDs := b.identifiers()
	bLive := func(t *testing.T) {
		t.Helper()
		h.stillLive(t, "tenant B", b.devices...)
		if b.memberTk != nil {
			h.stillLive(t, "tenant B's member", *b.memberTk)
		}
	}
	// A fresh session of A's owner for subtests that end sessions.
	aFresh := func(t *testing.T) tokens { return h.login(t, a.owner, nil) }

	t.Run("GET /auth/me", func(t *testing.T) {
		res := h.mustDo(t, req{method: "GET", path: "/api/v1/auth/me", bearer: a.devices[0].AccessToken}, http.StatusOK)
		noneOf(t, "me", res.Body, bIDs)
		// Naming B in a tenant header is refused outright (JWT-08).
		res = h.do(t, req{method: "GET", path: "/api/v1/auth/me", bearer: a.devices[0].AccessToken,
			headers: map[string]string{"X-Tenant-ID": b.owner.AccountID.String()}})
		expectProblem(t, res, http.StatusForbidden, "tenant_mismatch")
		noneOf(t, "me", res.Body, bIDs)
	})

	t.Run("POST /auth/refresh", func(t *testing.T) {
		tk := aFresh(t)
		res := h.refresh(t, tk.RefreshToken)
		expectStatus(t, res, http.StatusOK, "refresh")
		noneOf(t, "refresh", res.Body, bIDs)
		// B's refresh token in the body with A's access token in the
		// Authorization header: the header is read as the refresh token
		// and refused, so B's token is never even looked at (this proves
		// only that the header wins; RT-04 below presents B's token itself).
		res = h.do(t, req{method: "POST", path: "/api/v1/auth/refresh", bearer: tk.AccessToken,
			body: map[string]string{"refresh_token": b.devices[1].RefreshToken}})
		expectProblem(t, res, http.StatusUnauthorized, "invalid_refresh_token")
		bLive(t)
	})

	// RT-04: B's current refresh token, signed
	// by us with the real key, presented as tenant A's, or as A's user's.
	// Only the tenant or the user differs from the genuine token; both are
	// refused and B's family is untouched: the genuine token still rotates.
	t.Run("RT-04: B's refresh token with A's tenant or A's user", func(t *testing.T) {
		genuine := b.devices[1].RefreshToken
		c := claims(t, genuine)
		authTime := time.Unix(num(t, c, "auth_time"), 0)
		forge := func(sub, tid uuid.UUID) string {
			tok, err := h.codec.SignRefresh(core.RefreshClaims{
				Subject: sub, SessionID: uuid.MustParse(c["sid"].(string)), AccountID: tid, JTI: c["jti"].(string),
				IssuedAt: time.Unix(num(t, c, "iat"), 0), ExpiresAt: time.Unix(num(t, c, "exp"), 0),
				AuthTime: &authTime, IdleMax: num(t, c, "idle_max"), AbsMax: num(t, c, "abs_max"),
			})
			if err != nil {
				t.Fatal(err)
			}
			return tok
		}
		for name, tok := range map[string]string{
			"tenant A":                 forge(b.owner.UserID, a.owner.AccountID),
			"A's owner as the subject": forge(a.owner.UserID, b.owner.AccountID),
			"A's owner and A's tenant": forge(a.owner.UserID, a.owner.AccountID),
		} {
			t.Run(name, func(t *testing.T) {
				expectProblem(t, h.refresh(t, tok), http.StatusUnauthorized, "invalid_refresh_token")
			})
		}
		bLive(t)
		b.devices[1] = h.mustRefresh(t, genuine)
	})

	t.Run("POST /auth/logout with B's refresh token", func(t *testing.T) {
		tk := aFresh(t)
		res := h.do(t, req{method: "POST", path: "/api/v1/auth/logout", bearer: tk.AccessToken,
			body: map[string]string{"refresh_token": b.devices[0].RefreshToken}})
		// A's session ends, B's token is ignored (REV-06).
		expectStatus(t, res, http.StatusNoContent, "logout")
		bLive(t)
		// B's refresh token still rotates, so its family was not revoked.
		next := h.mustRefresh(t, b.devices[0].RefreshToken)
		b.devices[0] = next
	})

	t.Run("POST /auth/logout-all", func(t *testing.T) {
		tk := aFresh(t)
		h.mustDo(t, req{method: "POST", path: "/api/v1/auth/logout-all", bearer: tk.AccessToken}, http.StatusOK)
		bLive(t)
		// A's owner's sessions are gone; sign in again for what follows.
		a.devices = []tokens{aFresh(t), aFresh(t)}
	})

	t.Run("GET /sessions", func(t *testing.T) {
		res := h.mustDo(t, req{method: "GET", path: "/api/v1/sessions", bearer: a.devices[0].AccessToken}, http.StatusOK)
		noneOf(t, "sessions", res.Body, bIDs)
		var list struct {
			Items []struct {
				ID        uuid.UUID `json:"id"`
				IsCurrent bool      `json:"is_current"`
			} `json:"items"`
		}
		res.JSON(t, &list)
		mine := map[uuid.UUID]bool{}
		for _, d := range a.devices {
			mine[d.SessionID] = true
		}
		current := 0
		for _, s := range list.Items {
			if !mine[s.ID] {
				t.Errorf("session %s listed for A's owner is not one of theirs", s.ID)
			}
			if s.IsCurrent {
				current++
				if s.ID != a.devices[0].SessionID {
					t.Errorf("is_current on %s, want %s", s.ID, a.devices[0].SessionID)
				}
			}
		}
		if current != 1 || len(list.Items) != len(a.devices) {
			t.Errorf("listed %d sessions (%d current), want %d (1 current)", len(list.Items), current, len(a.devices))
		}
	})

	t.Run("DELETE /sessions/{B's session id} is the same 404 as an unknown id", func(t *testing.T) {
		unknown := h.do(t, req{method: "DELETE",
			path: "/api/v1/sessions/" + uuid.NewString(), bearer: a.devices[0].AccessToken})
		expectProblem(t, unknown, http.StatusNotFound, "not_found")
		for _, id := range b.sessionIDs() {
			res := h.do(t, req{method: "DELETE",
				path: "/api/v1/sessions/" + id.String(), bearer: a.devices[0].AccessToken})
			p := expectProblem(t, res, http.StatusNotFound, "not_found")
			if up := unknown.Problem(t); p.Title != up.Title || p.Detail != up.Detail || p.Type != up.Type {
				t.Errorf("B's session answers %+v, an unknown one %+v: an existence oracle", p, up)
			}
			noneOf(t, "delete session", res.Body, bIDs)
		}
		bLive(t)
	})

	t.Run("GET /accounts/me/security shows A's policy, PATCH changes only A's", func(t *testing.T) {
		// B's owner sets an override; A has none.
		h.mustDo(t, req{method: "PATCH", path: "/api/v1/accounts/me/security",
			bearer: b.devices[0].AccessToken, body: map[string]any{"idle_minutes": 60}}, http.StatusOK)
		type security struct {
			IdleMinutes     *int `json:"idle_minutes"`
			AbsoluteMinutes *int `json:"absolute_minutes"`
		}
		get := func(t *testing.T, tk tokens) security {
			res := h.mustDo(t, req{method: "GET", path: "/api/v1/accounts/me/security", bearer: tk.AccessToken}, http.StatusOK)
			var s security
			res.JSON(t, &s)
			return s
		}
		if s := get(t, a.devices[0]); s.IdleMinutes != nil || s.AbsoluteMinutes != nil {
			t.Fatalf("A sees an override it never set: %+v", s)
		}
		h.mustDo(t, req{method: "PATCH", path: "/api/v1/accounts/me/security",
			bearer: a.devices[0].AccessToken, body: map[string]any{"idle_minutes": 120, "absolute_minutes": 1440}}, http.StatusOK)
		if s := get(t, b.devices[0]); s.IdleMinutes == nil || *s.IdleMinutes != 60 || s.AbsoluteMinutes != nil {
			t.Fatalf("A's patch changed B's policy: %+v", s)
		}
	})

	t.Run("GET /accounts/me/members lists only A's users", func(t *testing.T) {
		res := h.mustDo(t, req{method: "GET", path: "/api/v1/accounts/me/members", bearer: a.devices[0].AccessToken}, http.StatusOK)
		noneOf(t, "members", res.Body, bIDs)
		var list struct {
			Items []struct {
				AccountID uuid.UUID `json:"account_id"`
			} `json:"items"`
		}
		res.JSON(t, &list)
		for _, u := range list.Items {
			if u.AccountID != a.owner.AccountID {
				t.Errorf("member of account %s listed for A", u.AccountID)
			}
		}
	})

	t.Run("POST /accounts/me/members creates in A, whatever the body says", func(t *testing.T) {
		body := map[string]any{"email": uniqueEmail("iso-new"), "password": "a long password", "name": "New", "role": "member"}
		res := h.mustDo(t, req{method: "POST", path: "/api/v1/accounts/me/members", bearer: a.devices[0].AccessToken, body: body}, http.StatusCreated)
		var u struct {
			AccountID uuid.UUID `json:"account_id"`
		}
		res.JSON(t, &u)
		if u.AccountID != a.owner.AccountID {
			t.Fatalf("member created in account %s, want A's %s", u.AccountID, a.owner.AccountID)
		}
		// An account_id naming B is not part of the contract: refused.
		body["email"], body["account_id"] = uniqueEmail("iso-new"), b.owner.AccountID.String()
		res = h.do(t, req{method: "POST", path: "/api/v1/accounts/me/members", bearer: a.devices[0].AccessToken, body: body})
		expectProblem(t, res, http.StatusUnprocessableEntity, "validation_failed")
	})

	t.Run("GET /accounts/me/audit-events shows only A's events, even with B's cursor", func(t *testing.T) {
		res := h.mustDo(t, req{method: "GET", path: "/api/v1/accounts/me/audit-events?limit=200", bearer: a.devices[0].AccessToken}, http.StatusOK)
		noneOf(t, "audit events", res.Body, bIDs)
		var page struct {
			Items      []map[string]any `json:"items"`
			NextCursor *string          `json:"next_cursor"`
		}
		res.JSON(t, &page)
		if len(page.Items) == 0 {
			t.Fatal("A's audit trail is empty, though A registered and signed in")
		}
		// B's cursor in A's request pages through A's events (or is
		// refused), never B's.
		res = h.do(t, req{method: "GET", path: "/api/v1/accounts/me/audit-events?limit=1", bearer: b.devices[0].AccessToken})
		var bPage struct {
			NextCursor *string `json:"next_cursor"`
		}
		res.JSON(t, &bPage)
		if bPage.NextCursor == nil {
			t.Fatal("B's trail has one page only; the fixture should give it several")
		}
		res = h.do(t, req{method: "GET",
			path: "/api/v1/accounts/me/audit-events?limit=200&cursor=" + *bPage.NextCursor, bearer: a.devices[0].AccessToken})
		if res.Status != http.StatusOK && res.Status != http.StatusUnprocessableEntity {
			t.Fatalf("A with B's cursor: %d %s", res.Status, res.Body)
		}
		noneOf(t, "audit events with B's cursor", res.Body, bIDs)
	})

	t.Run("POST /accounts/me/security/revoke-sessions revokes only A's", func(t *testing.T) {
		tk := aFresh(t)
		res := h.mustDo(t, req{method: "POST",
			path: "/api/v1/accounts/me/security/revoke-sessions", bearer: tk.AccessToken, body: map[string]string{"scope": "all"}}, http.StatusOK)
		var n struct {
			RevokedCount int `json:"revoked_count"`
		}
		res.JSON(t, &n)
		// A's live sessions: the owner's two devices, tk, and the member's.
		want := len(a.devices) + 1
		if a.memberTk != nil {
			want++
		}
		if n.RevokedCount != want {
			t.Errorf("revoked_count %d, want A's %d sessions", n.RevokedCount, want)
		}
		bLive(t)
		a.devices = []tokens{aFresh(t), aFresh(t)}
	})

	t.Run("POST /auth/change-password changes only A's owner", func(t *testing.T) {
		tk := aFresh(t)
		newPassword := "a brand new password for A"
		h.mustDo(t, req{method: "POST", path: "/api/v1/auth/change-password",
			bearer: tk.AccessToken, body: map[string]string{"current_password": a.owner.Password, "new_password": newPassword}}, http.StatusNoContent)
		a.owner.Password = newPassword
		bLive(t)
		h.login(t, b.owner, nil) // B's password is unchanged
	})

	// Whatever ran above, B's data is intact.
	bLive(t)
	h.mustRefresh(t, b.devices[1].RefreshToken)
}

// isolationCovered are the operations TestIsolation_* exercises with
// tenant A's token against tenant B's data. Every operation that needs an
// access token or takes an id must be here, so a new endpoint cannot ship
// without its isolation test.
var isolationCovered = map[string]bool{
	"getMe": true, "refreshToken": true, "logout": true, "logoutAll": true, "changePassword": true,
	"listSessions": true, "revokeSession": true,
	"getAccountSecurity": true, "updateAccountSecurity": true, "revokeAccountSessions": true,
	"listMembers": true, "createMember": true, "listAuditEvents": true,
}

func TestIsolation_EveryAuthenticatedOrIDTakingOperationIsCovered(t *testing.T) {
	doc, err := httpadapter.LoadSpec()
	if err != nil {
		t.Fatal(err)
	}
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			needsToken := false
			if op.Security != nil {
				for _, r := range *op.Security {
					if _, ok := r["bearerAuth"]; ok {
						needsToken = true
					}
				}
			}
			if (needsToken || strings.Contains(path, "{")) && !isolationCovered[op.OperationID] {
				t.Errorf("%s %s (%s) has no tenant-isolation test in isolation_test.go", method, path, op.OperationID)
			}
		}
	}
}
