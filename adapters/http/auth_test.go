package http_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
)

func TestRegister_NormalisesEmail_Returns201_AndDoesNotSignIn(t *testing.T) {
	h := newHarness(t)
	email := uniqueEmail("Norm")
	res := h.mustDo(t, req{method: "POST", path: "/api/v1/auth/register", body: map[string]string{
		"email": "  " + strings.ToUpper(email) + " ", "password": "long enough pw", "name": "N", "account_name": "A",
	}}, http.StatusCreated)
	var u struct {
		Email, AccountRole string
	}
	res.JSON(t, &struct {
		Email       *string `json:"email"`
		AccountRole *string `json:"account_role"`
	}{&u.Email, &u.AccountRole})
	if u.Email != strings.ToLower(email) || u.AccountRole != "owner" {
		t.Fatalf("registered %+v", u)
	}
	if sc := res.Header.Values("Set-Cookie"); len(sc) != 0 {
		t.Fatalf("register set cookies: %v", sc)
	}
	// Duplicate, in another case: 409.
	dup := h.do(t, req{method: "POST", path: "/api/v1/auth/register", body: map[string]string{
		"email": strings.ToUpper(email), "password": "long enough pw", "name": "N", "account_name": "B",
	}})
	expectProblem(t, dup, http.StatusConflict, "email_taken")
}

func TestRegister_Validation_422NamesTheField(t *testing.T) {
	h := newHarness(t)
	valid := func() map[string]any {
		return map[string]any{"email": uniqueEmail("v"), "password": "long enough pw", "name": "N", "account_name": "A"}
	}
	cases := []struct {
		name  string
		edit  func(map[string]any)
		field string
	}{
		{"not an email", func(b map[string]any) { b["email"] = "not-an-email" }, "email"},
		{"password too short", func(b map[string]any) { b["password"] = "short" }, "password"},
		{"password too long", func(b map[string]any) { b["password"] = strings.Repeat("x", 129) }, "password"},
		{"missing name", func(b map[string]any) { delete(b, "name") }, ""},
		{"unknown field", func(b map[string]any) { b["role"] = "owner" }, ""},
		{"blank account name", func(b map[string]any) { b["account_name"] = "   " }, "account_name"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := valid()
			c.edit(b)
			p := expectProblem(t, h.do(t, req{method: "POST", path: "/api/v1/auth/register", body: b}), http.StatusUnprocessableEntity, "validation_failed")
			if c.field != "" && !strings.Contains(p.Detail, c.field) {
				t.Errorf("detail %q does not name %q", p.Detail, c.field)
			}
		})
	}
	t.Run("malformed JSON is 400", func(t *testing.T) {
		expectProblem(t, h.do(t, req{method: "POST", path: "/api/v1/auth/register", body: `{"email":`}), http.StatusBadRequest, "bad_request")
	})
	t.Run("wrong content type is 415", func(t *testing.T) {
		expectProblem(t, h.do(t, req{method: "POST", path: "/api/v1/auth/register", body: "email=x", contentType: "text/plain"}),
			http.StatusUnsupportedMediaType, "unsupported_media_type")
	})
	t.Run("a 1 MiB body is 413 before any hashing (LGN-04)", func(t *testing.T) {
		big := `{"email":"a@b.c","password":"` + strings.Repeat("p", 1<<20) + `","name":"n","account_name":"a"}`
		expectProblem(t, h.do(t, req{method: "POST", path: "/api/v1/auth/register", body: big}), http.StatusRequestEntityTooLarge, "payload_too_large")
	})
}

func TestLogin_LGN01_EveryFailureIsTheSameGenericAnswer(t *testing.T) {
	h := newHarness(t)
	u := h.register(t, uniqueEmail("generic"))
	inactive := h.register(t, uniqueEmail("inactive"))
	deactivate(t, h, inactive.UserID)
	attempts := map[string]map[string]string{
		"unknown user":   {"email": uniqueEmail("nobody"), "password": "whatever password"},
		"wrong password": {"email": u.Email, "password": u.Password + "x"},
		"inactive user":  {"email": inactive.Email, "password": inactive.Password},
		"weird email":    {"email": "<script>", "password": "x"},
	}
	var first *response
	for name, body := range attempts {
		res := h.do(t, req{method: "POST", path: "/api/v1/auth/login/json", body: body})
		expectProblem(t, res, http.StatusUnauthorized, "invalid_credentials")
		if first == nil {
			first = &res
			continue
		}
		// Status, body and every header but the request id (LGN-01).
		sameAnswer(t, name, *first, res)
	}
	// LGN-04: no truncation — the password plus a suffix is wrong.
	expectProblem(t, h.do(t, req{method: "POST", path: "/api/v1/auth/login/json",
		body: map[string]string{"email": u.Email, "password": u.Password + " "}}), http.StatusUnauthorized, "invalid_credentials")
}

func TestLoginForm_OAuth2PasswordForm_SameResult(t *testing.T) {
	h := newHarness(t)
	u := h.register(t, uniqueEmail("form"))
	res := h.mustDo(t, req{method: "POST", path: "/api/v1/auth/login", contentType: "application/x-www-form-urlencoded",
		body: "grant_type=password&username=" + strings.ToUpper(u.Email) + "&password=" + strings.ReplaceAll(u.Password, " ", "+")}, http.StatusOK)
	var tk tokens
	res.JSON(t, &tk)
	if tk.RefreshToken == "" || tk.AccessToken == "" || res.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("form login: %+v cache=%q", tk, res.Header.Get("Cache-Control"))
	}
}

func TestMe_ReturnsTheCaller(t *testing.T) {
	h := newHarness(t)
	u := h.register(t, uniqueEmail("me"))
	tk := h.login(t, u, nil)
	res := h.mustDo(t, req{method: "GET", path: "/api/v1/auth/me", bearer: tk.AccessToken}, http.StatusOK)
	var me struct {
		ID        uuid.UUID `json:"id"`
		AccountID uuid.UUID `json:"account_id"`
	}
	res.JSON(t, &me)
	if me.ID != u.UserID || me.AccountID != u.AccountID {
		t.Fatalf("me = %+v", me)
	}
	expectProblem(t, h.do(t, req{method: "GET", path: "/api/v1/auth/me"}), http.StatusUnauthorized, "invalid_token")
	expectProblem(t, h.do(t, req{method: "GET", path: "/api/v1/auth/me", bearer: "garbage"}), http.StatusUnauthorized, "invalid_token")
}

func TestLogout_REV01_EndsSession_RefreshAndAccessRejected_Idempotent(t *testing.T) {
	h := newHarness(t)
	u := h.register(t, uniqueEmail("logout"))
	tk := h.login(t, u, nil)
	other := h.login(t, u, nil) // a second device stays signed in

	h.logout(t, tk.AccessToken)
	expectProblem(t, h.refresh(t, tk.RefreshToken), http.StatusUnauthorized, "invalid_refresh_token")
	expectProblem(t, h.do(t, req{method: "GET", path: "/api/v1/auth/me", bearer: tk.AccessToken}), http.StatusUnauthorized, "invalid_token")
	// Idempotent: logging out again with the same (still unexpired) token is 204.
	h.logout(t, tk.AccessToken)
	// The other device is untouched.
	h.mustRefresh(t, other.RefreshToken)

	if events := len(auditRows(t, h, u.AccountID, "auth.logout")); events != 1 {
		t.Fatalf("logout audit events = %d, want 1", events)
	}
}

func TestLogout_WithRefreshTokenOfAnotherOwnSession_EndsBoth(t *testing.T) {
	h := newHarness(t)
	u := h.register(t, uniqueEmail("logout2"))
	a := h.login(t, u, nil)
	b := h.login(t, u, nil)
	h.mustDo(t, req{method: "POST", path: "/api/v1/auth/logout", bearer: a.AccessToken, body: map[string]string{"refresh_token": b.RefreshToken}}, http.StatusNoContent)
	expectProblem(t, h.refresh(t, b.RefreshToken), http.StatusUnauthorized, "invalid_refresh_token")

	// Someone else's refresh token is ignored: their session survives, the
	// caller's ends (REV-06, TestLogout_REV06_…).
	v := h.register(t, uniqueEmail("victim"))
	vt := h.login(t, v, nil)
	c := h.login(t, u, nil)
	h.mustDo(t, req{method: "POST", path: "/api/v1/auth/logout", bearer: c.AccessToken, body: map[string]string{"refresh_token": vt.RefreshToken}},
		http.StatusNoContent)
	h.mustRefresh(t, vt.RefreshToken)
	expectProblem(t, h.refresh(t, c.RefreshToken), http.StatusUnauthorized, "invalid_refresh_token")
}

func TestLogoutAll_EndsEverySessionOfTheCaller_OnlyTheirs(t *testing.T) {
	h := newHarness(t)
	u := h.register(t, uniqueEmail("all"))
	s1, s2, s3 := h.login(t, u, nil), h.login(t, u, nil), h.login(t, u, nil)
	bystander := h.register(t, uniqueEmail("bystander"))
	bt := h.login(t, bystander, nil)

	res := h.mustDo(t, req{method: "POST", path: "/api/v1/auth/logout-all", bearer: s1.AccessToken}, http.StatusOK)
	var out struct {
		RevokedCount int `json:"revoked_count"`
	}
	res.JSON(t, &out)
	if out.RevokedCount != 3 {
		t.Fatalf("revoked_count = %d, want 3", out.RevokedCount)
	}
	for _, s := range []tokens{s1, s2, s3} {
		expectProblem(t, h.refresh(t, s.RefreshToken), http.StatusUnauthorized, "invalid_refresh_token")
	}
	h.mustRefresh(t, bt.RefreshToken)
}

func TestSES03_DatabaseHoldsNoRawTokens(t *testing.T) {
	h := newHarness(t)
	u := h.register(t, uniqueEmail("ses03"))
	tk := h.login(t, u, nil)
	next := h.mustRefresh(t, tk.RefreshToken)
	jti := claims(t, next.RefreshToken)["jti"].(string)

	// The session row holds the whole token family (migrations/00004):
	// hashes of the current and previous jti, and the current one sealed.
	dump := h.db.TenantText(t, u.AccountID)
	for name, secret := range map[string]string{
		"refresh token": next.RefreshToken, "access token": next.AccessToken, "jti": jti, "password": u.Password,
		"first refresh token": tk.RefreshToken,
	} {
		if strings.Contains(dump, secret) {
			t.Errorf("the database holds the raw %s", name)
		}
	}
}

func TestPlatformEndpoints_AtTheRoot(t *testing.T) {
	h := newHarness(t)
	for _, p := range []string{"/healthz", "/readyz", "/.well-known/jwks.json", "/openapi.yaml"} {
		res := h.do(t, req{method: "GET", path: p})
		if res.Status != http.StatusOK {
			t.Errorf("GET %s: %d", p, res.Status)
		}
	}
	var set struct {
		Keys []map[string]any `json:"keys"`
	}
	h.do(t, req{method: "GET", path: "/.well-known/jwks.json"}).JSON(t, &set)
	if len(set.Keys) != 1 || set.Keys[0]["d"] != nil || set.Keys[0]["kid"] == nil {
		t.Fatalf("jwks = %v (must be public keys with kid)", set.Keys)
	}
	// Outside the contract: a problem, never a panic or HTML.
	res := h.do(t, req{method: "GET", path: "/api/v1/nope"})
	expectProblem(t, res, http.StatusNotFound, "not_found")
	expectProblem(t, h.do(t, req{method: "GET", path: "/api/v1/healthz"}), http.StatusNotFound, "not_found")
}

func TestCK03_TokenInQueryString_Rejected(t *testing.T) {
	h := newHarness(t)
	u := h.register(t, uniqueEmail("query"))
	tk := h.login(t, u, nil)
	expectProblem(t, h.do(t, req{method: "GET", path: "/api/v1/auth/me?access_token=" + tk.AccessToken}), http.StatusUnauthorized, "invalid_token")
	// A query parameter refresh does not declare is refused by name before
	// anything reads it (ADM-01).
	p := expectProblem(t, h.do(t, req{method: "POST", path: "/api/v1/auth/refresh?refresh_token=" + tk.RefreshToken}), http.StatusBadRequest, "unknown_parameter")
	if len(p.Errors) != 1 || p.Errors[0].Field != "refresh_token" || strings.Contains(p.Detail, tk.RefreshToken) {
		t.Errorf("refresh with a query token: %+v", p)
	}
	h.mustRefresh(t, tk.RefreshToken) // and it did not consume the token
	res := h.do(t, req{method: "POST", path: "/api/v1/auth/login/json", body: map[string]string{"email": u.Email, "password": u.Password}})
	if cc := res.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("token response Cache-Control = %q, want no-store", cc)
	}
}

func TestAudit_LoginSuccessAndFailure_AreRecordedWithoutSecrets(t *testing.T) {
	h := newHarness(t)
	u := h.register(t, uniqueEmail("audit"))
	h.do(t, req{method: "POST", path: "/api/v1/auth/login/json", body: map[string]string{"email": u.Email, "password": "wrong password!"}})
	tk := h.login(t, u, map[string]string{"User-Agent": "audit-agent/2"})

	got := map[string]int{}
	for _, r := range h.db.AuditEvents(t, u.AccountID, time.Time{}) {
		action, actor, details := r.Action, r.ActorUserID, r.Details
		rid, ip, ua := deref(r.ResourceID), deref(r.IP), deref(r.UserAgent)
		got[action]++
		if actor == nil || *actor != u.UserID || ip != "127.0.0.1" {
			t.Errorf("%s: actor %v ip %q", action, actor, ip)
		}
		if strings.Contains(details, "wrong password") || strings.Contains(details, tk.RefreshToken) {
			t.Errorf("%s: secret in details %s", action, details)
		}
		if action == "auth.login_succeeded" && (rid != tk.SessionID.String() || ua != "audit-agent/2") {
			t.Errorf("login event: resource %q ua %q", rid, ua)
		}
	}
	if got["account.created"] != 1 || got["auth.login_failed"] != 1 || got["auth.login_succeeded"] != 1 {
		t.Fatalf("audit events = %v", got)
	}
}
