package http_test

import (
	"encoding/json"
	"net/http"
	"sort"
	"testing"
	"time"

	"github.com/google/uuid"
)

const (
	firefoxLinux  = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
	chromeAndroid = "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Mobile Safari/537.36"
)

type sessionItem struct {
	ID                uuid.UUID `json:"id"`
	DeviceName        *string   `json:"device_name"`
	DeviceID          *string   `json:"device_id"`
	IPAddress         *string   `json:"ip_address"`
	UserAgent         *string   `json:"user_agent"`
	CreatedAt         time.Time `json:"created_at"`
	LastUsedAt        time.Time `json:"last_used_at"`
	IdleExpiresAt     time.Time `json:"idle_expires_at"`
	AbsoluteExpiresAt time.Time `json:"absolute_expires_at"`
	IsCurrent         bool      `json:"is_current"`
}

func (h *harness) listSessions(t testing.TB, access string) []sessionItem {
	t.Helper()
	return listItems[sessionItem](t, h, "/api/v1/sessions", access)
}

func (h *harness) revokeSession(t testing.TB, access string, id uuid.UUID) response {
	t.Helper()
	return h.do(t, req{method: "DELETE", path: "/api/v1/sessions/" + id.String(), bearer: access})
}

func str(p *string) string {
	if p == nil {
		return "<null>"
	}
	return *p
}

// twoDevices signs u in on a laptop (Firefox on Linux), then a minute later
// on a phone (Chrome on Android).
func twoDevices(t *testing.T, h *harness, u registered) (laptop, phone tokens) {
	t.Helper()
	laptop = h.login(t, u, map[string]string{"X-Device-Id": "laptop-1", "User-Agent": firefoxLinux})
	h.clock.Advance(time.Minute)
	phone = h.login(t, u, map[string]string{"X-Device-Id": "phone-1", "User-Agent": chromeAndroid})
	return laptop, phone
}

func TestSessions_TwoDevices_ListedWithDeviceInfoAndIsCurrent(t *testing.T) {
	h := newHarness(t)
	u := h.register(t, uniqueEmail("devices"))
	laptop, phone := twoDevices(t, h, u)

	items := h.listSessions(t, laptop.AccessToken)
	if len(items) != 2 {
		t.Fatalf("%d sessions listed, want 2: %+v", len(items), items)
	}
	// Most recently used first: the phone signed in last.
	p, l := items[0], items[1]
	if p.ID != phone.SessionID || l.ID != laptop.SessionID {
		t.Fatalf("order = %s, %s; want phone %s then laptop %s", p.ID, l.ID, phone.SessionID, laptop.SessionID)
	}
	if !l.IsCurrent || p.IsCurrent {
		t.Errorf("is_current: laptop %v, phone %v; want the caller's (laptop) only", l.IsCurrent, p.IsCurrent)
	}
	if str(l.DeviceName) != "Firefox on Linux" || str(l.DeviceID) != "laptop-1" || str(l.UserAgent) != firefoxLinux {
		t.Errorf("laptop = %s / %s / %s", str(l.DeviceName), str(l.DeviceID), str(l.UserAgent))
	}
	if str(p.DeviceName) != "Chrome Mobile on Android" || str(p.DeviceID) != "phone-1" {
		t.Errorf("phone = %s / %s", str(p.DeviceName), str(p.DeviceID))
	}
	if str(l.IPAddress) != "127.0.0.1" {
		t.Errorf("ip_address = %s", str(l.IPAddress))
	}
	if !l.CreatedAt.Equal(t0) || !l.LastUsedAt.Equal(t0) || !l.IdleExpiresAt.Equal(laptop.IdleExpiresAt) ||
		!l.AbsoluteExpiresAt.Equal(laptop.AbsoluteExpiresAt) {
		t.Errorf("laptop times = %+v", l)
	}
	// Seen from the phone, the phone is current.
	for _, it := range h.listSessions(t, phone.AccessToken) {
		if it.IsCurrent != (it.ID == phone.SessionID) {
			t.Errorf("from the phone: %s is_current=%v", it.ID, it.IsCurrent)
		}
	}
	// Using the laptop moves it to the top.
	h.clock.Advance(time.Minute)
	laptop = h.mustRefresh(t, laptop.RefreshToken)
	if items := h.listSessions(t, laptop.AccessToken); items[0].ID != laptop.SessionID || !items[0].LastUsedAt.Equal(h.clock.Now()) {
		t.Errorf("after a refresh the laptop is not first / last_used_at not now: %+v", items[0])
	}
}

func TestSessions_UnknownDeviceFields_AreNull(t *testing.T) {
	h := newHarness(t)
	u := h.register(t, uniqueEmail("nulls"))
	tk := h.login(t, u, map[string]string{"User-Agent": "test-agent/1.0"})
	res := h.do(t, req{method: "GET", path: "/api/v1/sessions", bearer: tk.AccessToken})
	var raw struct {
		Items []map[string]json.RawMessage `json:"items"`
	}
	res.JSON(t, &raw)
	if len(raw.Items) != 1 {
		t.Fatalf("items = %s", res.Body)
	}
	for _, k := range []string{"device_name", "device_id"} {
		if v, ok := raw.Items[0][k]; !ok || string(v) != "null" {
			t.Errorf("%s = %s (present %v), want null", k, v, ok)
		}
	}
}

// REV-02: only the caller's sessions, never a colleague's or another
// tenant's, and no token or hash fields.
func TestSessions_REV02_ListShowsOnlyCallersSessions(t *testing.T) {
	h := newHarness(t)
	u1 := h.register(t, uniqueEmail("rev02-u1"))
	u2 := h.memberOf(t, u1)
	u3 := h.register(t, uniqueEmail("rev02-u3"))
	a := h.login(t, u1, nil)
	b := h.login(t, u1, nil)
	h.login(t, u2, nil)
	h.login(t, u3, nil)

	res := h.do(t, req{method: "GET", path: "/api/v1/sessions", bearer: a.AccessToken})
	var raw struct {
		Items []map[string]json.RawMessage `json:"items"`
	}
	res.JSON(t, &raw)
	var ids []string
	for _, it := range raw.Items {
		var id string
		_ = json.Unmarshal(it["id"], &id)
		ids = append(ids, id)
		var keys []string
		for k := range it {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		want := []string{"absolute_expires_at", "created_at", "device_id", "device_name", "id", "idle_expires_at", "ip_address", "is_current",
			"last_ip_address", "last_used_at", "last_user_agent", "user_agent"}
		if len(keys) != len(want) {
			t.Errorf("session fields %v, want exactly %v", keys, want)
		}
	}
	sort.Strings(ids)
	want := []string{a.SessionID.String(), b.SessionID.String()}
	sort.Strings(want)
	if len(ids) != 2 || ids[0] != want[0] || ids[1] != want[1] {
		t.Fatalf("listed %v, want only u1's %v", ids, want)
	}
}

// REV-01 / JWT-09 through the session list: revoking the other device ends
// its refresh token and, at once, its access token.
func TestSessions_RevokeOtherDevice_ItsTokensStopWorking(t *testing.T) {
	h := newHarness(t)
	u := h.register(t, uniqueEmail("revoke"))
	laptop, phone := twoDevices(t, h, u)

	expectStatus(t, h.revokeSession(t, laptop.AccessToken, phone.SessionID), http.StatusNoContent, "revoke")
	expectProblem(t, h.refresh(t, phone.RefreshToken), http.StatusUnauthorized, "invalid_refresh_token")
	expectProblem(t, h.do(t, req{method: "GET", path: "/api/v1/auth/me", bearer: phone.AccessToken}), http.StatusUnauthorized, "invalid_token")
	items := h.listSessions(t, laptop.AccessToken)
	if len(items) != 1 || items[0].ID != laptop.SessionID {
		t.Fatalf("after revoke: %+v", items)
	}
	h.mustRefresh(t, laptop.RefreshToken) // the caller's own session is untouched

	var n int
	var reason string
	for _, e := range auditRows(t, h, u.AccountID, "session.revoked").about(phone.SessionID.String()) {
		if e.ActorUserID != nil && *e.ActorUserID == u.UserID {
			n++
		}
	}
	if _, r := sessionRevocation(t, h, phone.SessionID); r != nil {
		reason = *r
	}
	if n != 1 || reason != "revoked_by_user" {
		t.Errorf("audit events = %d, reason = %q", n, reason)
	}
	// Revoking it again: it has ended, so it is not found.
	expectProblem(t, h.revokeSession(t, laptop.AccessToken, phone.SessionID), http.StatusNotFound, "not_found")
}

// REV-03: another user's, another tenant's, an unknown and an ended session
// id all get the same 404, and the foreign sessions survive.
func TestSessions_REV03_ForeignOrUnknownSessionID_Same404(t *testing.T) {
	h := newHarness(t)
	u1 := h.register(t, uniqueEmail("rev03-u1"))
	u2 := h.memberOf(t, u1)
	u3 := h.register(t, uniqueEmail("rev03-u3"))
	me := h.login(t, u1, nil)
	ended := h.login(t, u1, nil)
	expectStatus(t, h.revokeSession(t, me.AccessToken, ended.SessionID), http.StatusNoContent, "revoke own")
	colleague := h.login(t, u2, nil)
	stranger := h.login(t, u3, nil)

	var first []byte
	for name, id := range map[string]uuid.UUID{
		"same tenant, other user": colleague.SessionID,
		"other tenant":            stranger.SessionID,
		"unknown":                 uuid.New(),
		"already ended":           ended.SessionID,
	} {
		res := h.revokeSession(t, me.AccessToken, id)
		expectProblem(t, res, http.StatusNotFound, "not_found")
		if first == nil {
			first = res.Body
		} else if string(res.Body) != string(first) {
			t.Errorf("%s: body %s differs from %s (an oracle)", name, res.Body, first)
		}
	}
	h.mustRefresh(t, colleague.RefreshToken)
	h.mustRefresh(t, stranger.RefreshToken)
}

// REV-03: the current session is not revoked through the "revoke a
// device" path (400); logout ends it.
func TestSessions_REV03_RevokeCurrentSession_Is400_LogoutEndsIt(t *testing.T) {
	h := newHarness(t)
	u := h.register(t, uniqueEmail("self"))
	tk := h.login(t, u, nil)
	expectProblem(t, h.revokeSession(t, tk.AccessToken, tk.SessionID), http.StatusBadRequest, "cannot_revoke_current_session")
	h.logout(t, tk.AccessToken)
	expectProblem(t, h.do(t, req{method: "GET", path: "/api/v1/sessions", bearer: tk.AccessToken}), http.StatusUnauthorized, "invalid_token")
	expectProblem(t, h.refresh(t, tk.RefreshToken), http.StatusUnauthorized, "invalid_refresh_token")
}

func TestSessions_MalformedIDOrNoToken_NeverA500(t *testing.T) {
	h := newHarness(t)
	u := h.register(t, uniqueEmail("badid"))
	tk := h.login(t, u, nil)
	expectProblem(t, h.do(t, req{method: "DELETE", path: "/api/v1/sessions/not-a-uuid", bearer: tk.AccessToken}), http.StatusUnprocessableEntity, "validation_failed")
	expectProblem(t, h.do(t, req{method: "GET", path: "/api/v1/sessions"}), http.StatusUnauthorized, "invalid_token")
	expectProblem(t, h.do(t, req{method: "DELETE", path: "/api/v1/sessions/" + uuid.NewString()}), http.StatusUnauthorized, "invalid_token")
}
