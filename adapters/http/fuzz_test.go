package http_test

import (
	"net/http"
	"strings"
	"sync"
	"testing"
)

// fuzzOperation is an operation whose request body FuzzRequestBodies
// fuzzes.
type fuzzOperation struct {
	op          string // "METHOD /path" as in the contract
	path        string
	contentType string
	auth        bool // sends the fuzz user's access token
	endsSession bool // may end the caller's session: sign in again afterwards
}

// fuzzOperations are all the operations that take a request body.
var fuzzOperations = []fuzzOperation{
	{op: "POST /auth/register", path: "/api/v1/auth/register", contentType: "application/json"},
	{op: "POST /auth/login/json", path: "/api/v1/auth/login/json", contentType: "application/json"},
	{op: "POST /auth/login", path: "/api/v1/auth/login", contentType: "application/x-www-form-urlencoded"},
	{op: "POST /auth/refresh", path: "/api/v1/auth/refresh", contentType: "application/json"},
	{op: "POST /auth/logout", path: "/api/v1/auth/logout", contentType: "application/json", auth: true, endsSession: true},
	{op: "POST /auth/password-reset/request", path: "/api/v1/auth/password-reset/request", contentType: "application/json"},
	{op: "POST /auth/password-reset/confirm", path: "/api/v1/auth/password-reset/confirm", contentType: "application/json"},
	{op: "POST /auth/change-password", path: "/api/v1/auth/change-password", contentType: "application/json", auth: true},
	{op: "PATCH /accounts/me/security", path: "/api/v1/accounts/me/security", contentType: "application/json", auth: true},
	{op: "POST /accounts/me/security/revoke-sessions", path: "/api/v1/accounts/me/security/revoke-sessions", contentType: "application/json", auth: true, endsSession: true},
	{op: "POST /accounts/me/members", path: "/api/v1/accounts/me/members", contentType: "application/json", auth: true},
}

// Content types other than the documented one, picked now and then so
// the 415 path is fuzzed too.
var otherContentTypes = []string{"text/plain", "application/json; charset=utf-8", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "application/octet-stream"}

// FuzzRequestBodies sends fuzzed bytes as the body of every operation that
// takes one, through the real handler and a real database. The server must
// answer with a status the contract documents for that operation, with a
// body and headers that match it (h.do's validation), and never 500.
//
//	make fuzz-smoke, or:
//	scripts/pg.sh with-temp-cluster go test -run '^$' -fuzz '^FuzzRequestBodies$' -fuzztime 30s ./adapters/http
func FuzzRequestBodies(f *testing.F) {
	h := newHarness(f)
	u := h.register(f, uniqueEmail("fuzz"))
	var mu sync.Mutex
	access := h.login(f, u, nil).AccessToken

	for i := range fuzzOperations {
		sel := uint8(i)
		f.Add(sel, uint8(0), []byte(`{}`))
		f.Add(sel, uint8(0), []byte(``))
		f.Add(sel, uint8(0), []byte(`{"email":"a@b.c","password":"correct horse","name":"n","account_name":"a","refresh_token":"x.y.z","token":"t","new_password":"another password","current_password":"p","idle_minutes":60,"absolute_minutes":null,"scope":"others","role":"member"}`))
		f.Add(sel, uint8(0), []byte(`username=a%40b.c&password=x&grant_type=password`))
		f.Add(sel, uint8(1), []byte(`{"email":`))
		f.Add(sel, uint8(2), []byte(`null`))
		f.Add(sel, uint8(7), []byte(`{}`)) // text/plain
	}
	f.Add(uint8(8), uint8(0), []byte(`{"idle_minutes":43200}`))
	f.Add(uint8(8), uint8(0), []byte(`{"idle_minutes":-1,"absolute_minutes":99999999999999999999}`))
	f.Add(uint8(9), uint8(0), []byte(`{"scope":"everyone"}`))
	f.Add(uint8(1), uint8(0), []byte(`{"email":"a@b.c","password":"`+strings.Repeat("x", 70<<10)+`"}`)) // over the 64 KiB body limit
	f.Add(uint8(0), uint8(0), []byte(`{"email":"  A@B.C ","password":"\u0000\u0000\u0000\u0000\u0000\u0000\u0000\u0000","name":" ","account_name":"\ud800"}`))

	f.Fuzz(func(t *testing.T, sel, ctSel uint8, body []byte) {
		op := fuzzOperations[int(sel)%len(fuzzOperations)]
		ct := op.contentType
		if ctSel%8 == 7 {
			ct = otherContentTypes[int(ctSel/8)%len(otherContentTypes)]
		}
		rq := req{method: "POST", path: op.path, body: string(body), contentType: ct}
		rq.method, _, _ = strings.Cut(op.op, " ")
		if op.auth {
			mu.Lock()
			rq.bearer = access
			mu.Unlock()
		}
		res := h.do(t, rq)
		if res.Status >= http.StatusInternalServerError {
			t.Fatalf("%s with body %q (%s): %d %s", op.op, body, ct, res.Status, res.Body)
		}
		if op.endsSession && (res.Status == http.StatusNoContent || res.Status == http.StatusOK) {
			mu.Lock()
			access = h.login(t, u, nil).AccessToken
			mu.Unlock()
		}
	})
}

// NUL characters cannot be stored in PostgreSQL text. FuzzRequestBodies
// found that a NUL in a login email (JSON or form) or in a name at
// registration answered 500; these are the fixed answers. A member's name
// follows the same user-input rule as a registrant's (core.NewUser), so a
// NUL there is refused naming the field too, not left to the database.
func TestRequestBodies_NULCharacters_AreDocumentedAnswersNot500(t *testing.T) {
	h := newHarness(t)
	u := h.register(t, uniqueEmail("nul"))
	owner := h.login(t, u, nil).AccessToken
	for _, c := range []struct {
		name, path, ct, body string
		status               int
		code, field          string
		bearer               string
	}{
		{"login json: NUL in email is an unknown email", "/api/v1/auth/login/json", "application/json",
			`{"email":"` + strings.Replace(u.Email, "@", `\u0000@`, 1) + `","password":"` + u.Password + `"}`, 401, "invalid_credentials", "", ""},
		{"login form: NUL in username is an unknown email", "/api/v1/auth/login", "application/x-www-form-urlencoded",
			"username=a%00b&password=x", 401, "invalid_credentials", "", ""},
		{"register: NUL in name", "/api/v1/auth/register", "application/json",
			`{"email":"` + uniqueEmail("nul-name") + `","password":"password 1","name":"a\u0000b","account_name":"Acme"}`, 422, "validation_failed", "name", ""},
		{"register: NUL in account_name", "/api/v1/auth/register", "application/json",
			`{"email":"` + uniqueEmail("nul-acct") + `","password":"password 1","name":"Ann","account_name":"\u0000"}`, 422, "validation_failed", "account_name", ""},
		{"create member: NUL in name", "/api/v1/accounts/me/members", "application/json",
			`{"email":"` + uniqueEmail("nul-member") + `","password":"password 1","name":"a\u0000b","role":"member"}`, 422, "validation_failed", "name", owner},
	} {
		t.Run(c.name, func(t *testing.T) {
			res := h.do(t, req{method: "POST", path: c.path, contentType: c.ct, body: c.body, bearer: c.bearer})
			p := expectProblem(t, res, c.status, c.code)
			if c.field != "" && (len(p.Errors) != 1 || p.Errors[0].Field != c.field) {
				t.Errorf("errors = %+v, want the field %q", p.Errors, c.field)
			}
		})
	}
}
