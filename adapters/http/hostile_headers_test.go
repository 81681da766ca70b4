package http_test

import (
	"net/http"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// Hostile header text (HDR-01). User-Agent and
// X-Device-Id are stored with sessions and audit rows; before they were
// cleaned at the edge, a byte PostgreSQL refuses rolled back the whole
// transaction: an account-existence oracle at sign-in and reset, reuse
// detection switched off, legitimate sign-ins failing with 422.

const invalidUTF8UA = "\xff"

// longMultibyteUA is over 512 bytes with a two-byte character straddling
// the old 512-byte cut.
var longMultibyteUA = "Mozilla/5.0 " + strings.Repeat("x", 511-len("Mozilla/5.0 ")) + "é" + strings.Repeat("y", 40)

// cjkDeviceID is 100 characters (300 bytes): within the spec's maxLength
// 200, which counts characters.
var cjkDeviceID = strings.Repeat("端", 100)

// hostileHeaders are the header sets of HDR-01, each of which must be
// answered exactly like a clean request.
var hostileHeaders = map[string]map[string]string{
	"user agent not UTF-8":              {"User-Agent": invalidUTF8UA},
	"user agent cut inside a character": {"User-Agent": longMultibyteUA},
	"100-character CJK device id":       {"X-Device-Id": cjkDeviceID},
}

func TestSignIn_HDR01_HostileHeaders_AnsweredLikeCleanOnes(t *testing.T) {
	h := newHarness(t)
	u := h.register(t, uniqueEmail("hdr"))
	for name, headers := range hostileHeaders {
		t.Run(name, func(t *testing.T) {
			known := h.do(t, req{method: "POST", path: "/api/v1/auth/login/json", headers: headers,
				body: map[string]string{"email": u.Email, "password": "wrong password"}})
			unknown := h.do(t, req{method: "POST", path: "/api/v1/auth/login/json", headers: headers,
				body: map[string]string{"email": uniqueEmail("nobody"), "password": "wrong password"}})
			expectProblem(t, known, http.StatusUnauthorized, "invalid_credentials")
			sameAnswer(t, "known vs unknown email", known, unknown)

			tk := h.login(t, u, headers) // a legitimate sign-in succeeds
			row := h.db.Session(t, tk.SessionID)
			ua, device := row.UserAgent, row.DeviceID
			for field, v := range map[string]*string{"user_agent": ua, "device_id": device} {
				if v != nil && (!utf8.ValidString(*v) || strings.ContainsRune(*v, 0)) {
					t.Errorf("stored %s %q is not clean text", field, *v)
				}
			}
			if want := headers["X-Device-Id"]; want != "" && (device == nil || *device != want) {
				t.Errorf("stored device id %v, want %q", device, want)
			}
			if raw := headers["User-Agent"]; raw != "" {
				if ua == nil || utf8.RuneCountInString(*ua) > 512 {
					t.Fatalf("stored user agent %v: want at most 512 characters", ua)
				}
				if utf8.ValidString(raw) && !strings.HasPrefix(raw, *ua) {
					t.Errorf("stored user agent is not a prefix of the one sent (cut by characters)")
				}
			}
		})
	}
}

func TestPasswordResetRequest_HDR01_InvalidUTF8UserAgent_NoOracle(t *testing.T) {
	h := newHarness(t)
	u := h.register(t, uniqueEmail("hdr-reset"))
	for name, headers := range hostileHeaders {
		t.Run(name, func(t *testing.T) {
			known := h.do(t, req{method: "POST", path: "/api/v1/auth/password-reset/request", headers: headers,
				body: map[string]string{"email": u.Email}})
			unknown := h.do(t, req{method: "POST", path: "/api/v1/auth/password-reset/request", headers: headers,
				body: map[string]string{"email": uniqueEmail("nobody")}})
			expectStatus(t, known, http.StatusOK, "known email")
			sameAnswer(t, "known vs unknown email", known, unknown)
		})
	}
}

func TestRefreshReuse_HDR01_HostileHeaders_StillRevokeTheFamily(t *testing.T) {
	h := newHarness(t)
	u := h.register(t, uniqueEmail("hdr-reuse"))
	for name, headers := range hostileHeaders {
		t.Run(name, func(t *testing.T) {
			r0 := h.login(t, u, nil)
			r1 := h.mustRefresh(t, r0.RefreshToken)
			h.clock.Advance(h.cfg.Grace + time.Second)
			res := h.do(t, req{method: "POST", path: "/api/v1/auth/refresh", headers: headers,
				body: map[string]string{"refresh_token": r0.RefreshToken}})
			expectProblem(t, res, http.StatusUnauthorized, "refresh_token_reused")
			// The revocation committed with its audit row: the live token
			// of the family is dead too.
			expectProblem(t, h.refresh(t, r1.RefreshToken), http.StatusUnauthorized, "invalid_refresh_token")
			if n := len(auditRows(t, h, u.AccountID, "auth.refresh_reuse_detected").about(r0.SessionID.String())); n != 1 {
				t.Errorf("reuse audit rows: %d, want 1", n)
			}
		})
	}
}

// FuzzSignInHeaders sends fuzzed User-Agent and X-Device-Id values with a
// correct and a wrong sign-in (HDR-01). A correct sign-in succeeds unless
// the device id breaks the contract (422), a wrong one is the generic 401
// whatever the headers, and nothing is ever a 500.
//
//	scripts/pg.sh with-temp-cluster go test -run '^$' -fuzz '^FuzzSignInHeaders$' -fuzztime 30s ./adapters/http
func FuzzSignInHeaders(f *testing.F) {
	h := newHarness(f)
	u := h.register(f, uniqueEmail("fuzz-hdr"))
	for _, s := range []string{"", invalidUTF8UA, longMultibyteUA, cjkDeviceID, "a\x00b", "\xc3", "\xed\xa0\x80", strings.Repeat("€", 600)} {
		f.Add(s, "")
		f.Add("", s)
		f.Add(s, s)
	}
	f.Fuzz(func(t *testing.T, ua, device string) {
		if !sendableHeader(ua) || !sendableHeader(device) {
			return // not a header value an HTTP client can send
		}
		headers := map[string]string{"User-Agent": ua, "X-Device-Id": device}
		if device == "" {
			delete(headers, "X-Device-Id")
		}
		res := h.do(t, req{method: "POST", path: "/api/v1/auth/login/json", headers: headers,
			body: map[string]string{"email": u.Email, "password": u.Password}})
		switch {
		case res.Status == http.StatusOK:
		case res.Status == http.StatusUnprocessableEntity && utf8.RuneCountInString(device) > 200:
		default:
			t.Fatalf("correct sign-in with user agent %q, device id %q: %d %s", ua, device, res.Status, res.Body)
		}
		res = h.do(t, req{method: "POST", path: "/api/v1/auth/login/json", headers: headers,
			body: map[string]string{"email": u.Email, "password": "wrong password"}})
		if res.Status != http.StatusUnauthorized && !(res.Status == http.StatusUnprocessableEntity && utf8.RuneCountInString(device) > 200) {
			t.Fatalf("wrong sign-in with user agent %q, device id %q: %d %s", ua, device, res.Status, res.Body)
		}
	})
}

// sendableHeader reports whether an HTTP/1.1 client can send v as a header
// value (RFC 9110 field-value: no control characters but tab; obs-text,
// bytes 0x80-0xFF, allowed), as net/http's transport checks it.
func sendableHeader(v string) bool {
	for i := 0; i < len(v); i++ {
		if b := v[i]; (b < 0x20 && b != '\t') || b == 0x7f {
			return false
		}
	}
	return true
}
