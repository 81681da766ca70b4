package http_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"testing"
)

// pendingEndpoints are the operations that still answer 501
// not_implemented on this branch, because they are being built on other
// branches (sessions, account administration, password flows). The contract
// does not document 501, so a test that reaches one of them:
//   - skips (isolation tests) or accepts the 501 (fuzzing) ONLY while the
//     operation really answers 501;
//   - runs in full, with every response validated against openapi.yaml, as
//     soon as the operation answers anything else.
//
// TODO(after merge): delete this set and the 501 escape hatch in doPending;
// a 501 then fails every test like any other undocumented status.
var pendingEndpoints = map[string]bool{
	"GET /sessions":                              true,
	"DELETE /sessions/{session_id}":              true,
	"GET /accounts/me/security":                  true,
	"PATCH /accounts/me/security":                true,
	"POST /accounts/me/security/revoke-sessions": true,
	"GET /accounts/me/members":                   true,
	"POST /accounts/me/members":                  true,
	"GET /accounts/me/audit-events":              true,
	"POST /auth/change-password":                 true,
	"POST /auth/password-reset/request":          true,
	"POST /auth/password-reset/confirm":          true,
}

// doPending is h.do for an operation that may be pending: it returns
// pending=true, without validating, when op is in pendingEndpoints and the
// server answered 501. Any other answer is validated against the contract
// exactly as h.do does (a 501 from an operation not in the set fails).
func (h *harness) doPending(t testing.TB, op string, rq req) (res response, pending bool) {
	t.Helper()
	r, reqBody := h.newRequest(t, rq)
	hres, err := h.client.Do(r)
	if err != nil {
		t.Fatalf("%s %s: %v", rq.method, rq.path, err)
	}
	defer hres.Body.Close()
	body, err := io.ReadAll(hres.Body)
	if err != nil {
		t.Fatal(err)
	}
	res = response{Status: hres.StatusCode, Header: hres.Header, Body: body}
	if hres.StatusCode == http.StatusNotImplemented && pendingEndpoints[op] {
		return res, true
	}
	validateAgainstContract(t, r, reqBody, hres, body)
	return res, false
}

// skipWhilePending sends rq and skips the test while op answers 501 (see
// pendingEndpoints); otherwise it returns the validated response.
func (h *harness) skipWhilePending(t *testing.T, op string, rq req) response {
	t.Helper()
	res, pending := h.doPending(t, op, rq)
	if pending {
		t.Skipf("pending: %s answers 501 on this branch (see pendingEndpoints)", op)
	}
	return res
}

// newRequest builds rq the way h.do does; raw is the body as sent.
func (h *harness) newRequest(t testing.TB, rq req) (*http.Request, []byte) {
	t.Helper()
	var raw []byte
	var body io.Reader
	if rq.body != nil {
		switch b := rq.body.(type) {
		case string:
			raw = []byte(b)
		case []byte:
			raw = b
		default:
			var err error
			if raw, err = json.Marshal(b); err != nil {
				t.Fatal(err)
			}
		}
		body = bytes.NewReader(raw)
	}
	r, err := http.NewRequest(rq.method, h.srv.URL+rq.path, body)
	if err != nil {
		t.Fatal(err)
	}
	if rq.body != nil {
		ct := rq.contentType
		if ct == "" {
			ct = "application/json"
		}
		r.Header.Set("Content-Type", ct)
	}
	for k, v := range rq.headers {
		r.Header.Set(k, v)
	}
	for _, c := range rq.cookies {
		r.AddCookie(c)
	}
	if rq.bearer != "" {
		r.Header.Set("Authorization", "Bearer "+rq.bearer)
	}
	return r, raw
}
