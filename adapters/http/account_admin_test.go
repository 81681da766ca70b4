package http_test

// Account administration beyond the policy (docs/session-rules.md §5): the
// account-wide session list, revoking any session or all of one member's,
// member changes and removal under the last-owner rule, and the per-user
// session limit. Every request goes through h.do (validated against
// openapi.yaml) over the real handler and PostgreSQL.

import (
	"context"
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	httpadapter "github.com/sessiond/sessiond/adapters/http"
	"github.com/sessiond/sessiond/adapters/postgres/pgtest"
)

// --- helpers ---------------------------------------------------------------

type accountSessionItem struct {
	ID            uuid.UUID `json:"id"`
	UserID        uuid.UUID `json:"user_id"`
	UserEmail     string    `json:"user_email"`
	DeviceID      *string   `json:"device_id"`
	IPAddress     *string   `json:"ip_address"`
	UserAgent     *string   `json:"user_agent"`
	LastIPAddress *string   `json:"last_ip_address"`
	LastUserAgent *string   `json:"last_user_agent"`
	LastUsedAt    time.Time `json:"last_used_at"`
	IsCurrent     bool      `json:"is_current"`
}

type accountSessionPage struct {
	Items      []accountSessionItem `json:"items"`
	NextCursor *string              `json:"next_cursor"`
}

func (h *harness) accountSessions(t testing.TB, at string, q url.Values) accountSessionPage {
	t.Helper()
	path := "/api/v1/accounts/me/sessions"
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	res := h.mustDo(t, req{method: "GET", path: path, bearer: at}, http.StatusOK)
	var p accountSessionPage
	res.JSON(t, &p)
	return p
}

// allAccountSessions follows next_cursor to the end.
func (h *harness) allAccountSessions(t testing.TB, at string, q url.Values, limit int) []accountSessionItem {
	t.Helper()
	var out []accountSessionItem
	q2 := url.Values{}
	for k, v := range q {
		q2[k] = v
	}
	q2.Set("limit", fmt.Sprint(limit))
	for range 1000 {
		p := h.accountSessions(t, at, q2)
		if len(p.Items) > limit {
			t.Fatalf("page of %d items, limit %d", len(p.Items), limit)
		}
		out = append(out, p.Items...)
		if p.NextCursor == nil {
			return out
		}
		q2.Set("cursor", *p.NextCursor)
	}
	t.Fatal("pagination does not end")
	return nil
}

func (h *harness) patchMember(t testing.TB, at string, userID uuid.UUID, body any) response {
	t.Helper()
	return h.do(t, req{method: "PATCH", path: "/api/v1/accounts/me/members/" + userID.String(), bearer: at, body: body})
}

func (h *harness) removeMember(t testing.TB, at string, userID uuid.UUID) response {
	t.Helper()
	return h.do(t, req{method: "DELETE", path: "/api/v1/accounts/me/members/" + userID.String(), bearer: at})
}

func (h *harness) revokeMemberSessions(t testing.TB, at string, userID uuid.UUID) response {
	t.Helper()
	return h.do(t, req{method: "POST", path: "/api/v1/accounts/me/members/" + userID.String() + "/revoke-sessions", bearer: at})
}

func (h *harness) revokeAccountSession(t testing.TB, at string, sid uuid.UUID) response {
	t.Helper()
	return h.do(t, req{method: "DELETE", path: "/api/v1/accounts/me/sessions/" + sid.String(), bearer: at})
}

func (h *harness) loginRes(t testing.TB, u registered) response {
	t.Helper()
	return h.do(t, req{method: "POST", path: "/api/v1/auth/login/json", body: map[string]string{"email": u.Email, "password": u.Password}})
}

func expectAccessDead(t testing.TB, h *harness, tk tokens) {
	t.Helper()
	expectProblem(t, h.do(t, req{method: "GET", path: "/api/v1/auth/me", bearer: tk.AccessToken}), http.StatusUnauthorized, "invalid_token")
}

func expectAccessLive(t testing.TB, h *harness, tk tokens) {
	t.Helper()
	expectStatus(t, h.do(t, req{method: "GET", path: "/api/v1/auth/me", bearer: tk.AccessToken}), http.StatusOK, "access token of a live session refused")
}

// activeOwners counts the account's active owners as the database holds them.
func activeOwners(t testing.TB, h *harness, accountID uuid.UUID) int {
	t.Helper()
	n := 0
	for _, u := range h.db.Users(t, accountID, "") {
		if u.Role == "owner" && u.Active {
			n++
		}
	}
	return n
}

func liveSessionsOf(t testing.TB, h *harness, userID uuid.UUID) int {
	t.Helper()
	return pgtest.Unrevoked(h.db.Sessions(t, uuid.Nil, userID))
}

// --- owner only, tenant isolation -----------------------------------------

func TestAccountAdmin_NewEndpoints_MemberGets403_AndChangesNothing(t *testing.T) {
	h := newHarness(t)
	owner, otk := h.owner(t, "adm403b")
	member := h.addMember(t, otk.AccessToken, "member")
	mtk := h.login(t, member, nil)

	calls := []req{
		{method: "GET", path: "/api/v1/accounts/me/sessions"},
		{method: "GET", path: "/api/v1/accounts/me/sessions?user_id=" + owner.UserID.String()},
		{method: "DELETE", path: "/api/v1/accounts/me/sessions/" + otk.SessionID.String()},
		{method: "POST", path: "/api/v1/accounts/me/members/" + owner.UserID.String() + "/revoke-sessions"},
		{method: "PATCH", path: "/api/v1/accounts/me/members/" + owner.UserID.String(), body: map[string]any{"is_active": false}},
		{method: "PATCH", path: "/api/v1/accounts/me/members/" + member.UserID.String(), body: map[string]any{"role": "owner"}},
		{method: "DELETE", path: "/api/v1/accounts/me/members/" + owner.UserID.String()},
	}
	for _, c := range calls {
		t.Run(c.method+" "+c.path, func(t *testing.T) {
			c.bearer = mtk.AccessToken
			expectProblem(t, h.do(t, c), http.StatusForbidden, "forbidden")
		})
	}
	expectAccessLive(t, h, otk)
	expectAccessLive(t, h, mtk)
	for _, m := range h.listMembers(t, otk.AccessToken) {
		if !m.IsActive || (m.ID == member.UserID && m.AccountRole != "member") {
			t.Errorf("a member's refused call changed %+v", m)
		}
	}
	for _, action := range []string{"session.revoked", "member.updated", "member.removed", "member.sessions_revoked"} {
		if n := len(auditRows(t, h, owner.AccountID, action)); n != 0 {
			t.Errorf("%d %s events after refused calls", n, action)
		}
	}
}

// Tenant A's owner with tenant B's ids: the same 404 as for ids that do not
// exist, and B's sessions and members untouched.
func TestIsolation_AccountAdmin_ForeignSessionAndMemberIDsAre404(t *testing.T) {
	h := newHarness(t)
	a := newTenant(t, h, "isoadm-a")
	b := newTenant(t, h, "isoadm-b")
	at := a.devices[0].AccessToken
	bIDs := b.identifiers()

	for _, sid := range append(b.sessionIDs(), uuid.New()) {
		expectProblem(t, h.revokeAccountSession(t, at, sid), http.StatusNotFound, "not_found")
	}
	for _, uid := range []uuid.UUID{b.owner.UserID, b.member.UserID, uuid.New()} {
		expectProblem(t, h.patchMember(t, at, uid, map[string]any{"is_active": false}), http.StatusNotFound, "not_found")
		expectProblem(t, h.patchMember(t, at, uid, map[string]any{"role": "member"}), http.StatusNotFound, "not_found")
		expectProblem(t, h.revokeMemberSessions(t, at, uid), http.StatusNotFound, "not_found")
		expectProblem(t, h.removeMember(t, at, uid), http.StatusNotFound, "not_found")
	}

	// A's list: only A's sessions; filtering by B's user finds nothing.
	all := h.allAccountSessions(t, at, nil, 2)
	if len(all) != len(a.sessionIDs()) {
		t.Errorf("A's list has %d sessions, want A's %d", len(all), len(a.sessionIDs()))
	}
	res := h.do(t, req{method: "GET", path: "/api/v1/accounts/me/sessions", bearer: at})
	noneOf(t, "account sessions", res.Body, bIDs)
	if p := h.accountSessions(t, at, url.Values{"user_id": {b.owner.UserID.String()}}); len(p.Items) != 0 {
		t.Errorf("filtering by B's owner returned %d sessions", len(p.Items))
	}

	h.stillLive(t, "tenant B", b.devices...)
	h.stillLive(t, "tenant B's member", *b.memberTk)
	if n := activeOwners(t, h, b.owner.AccountID); n != 1 {
		t.Errorf("tenant B has %d active owners", n)
	}
	h.login(t, *b.member, nil) // B's member still signs in
}

func init() {
	for _, op := range []string{"listAccountSessions", "revokeAccountSession", "revokeMemberSessions", "updateMember", "removeMember"} {
		isolationCovered[op] = true // TestIsolation_AccountAdmin_ForeignSessionAndMemberIDsAre404
	}
}

// --- account-wide session list --------------------------------------------

func TestAccountSessions_EveryLiveSession_MostRecentActivityFirst_PaginatedAndFiltered(t *testing.T) {
	trusted := netip.MustParsePrefix("127.0.0.1/32")
	h := newHarness(t, withHTTPConfig(func(c *httpadapter.Config) { c.TrustedProxies = []netip.Prefix{trusted} }))
	owner, otk := h.owner(t, "acctsess")
	member := h.addMember(t, otk.AccessToken, "member")

	// Sessions at distinct instants; one of the member's is then refreshed
	// from another address and agent (latest activity), one is revoked.
	var memberTks []tokens
	for i := range 4 {
		h.clock.Advance(time.Minute)
		memberTks = append(memberTks, h.login(t, member, map[string]string{
			"X-Device-Id": fmt.Sprintf("m%d", i), "User-Agent": "signin-agent/1", "X-Forwarded-For": "203.0.113.10"}))
	}
	h.clock.Advance(time.Minute)
	ownerTk2 := h.login(t, owner, nil)
	h.clock.Advance(time.Minute)
	h.mustDo(t, req{method: "POST", path: "/api/v1/auth/refresh",
		headers: map[string]string{"User-Agent": "refresh-agent/2", "X-Forwarded-For": "198.51.100.20"},
		body:    map[string]string{"refresh_token": memberTks[0].RefreshToken}}, http.StatusOK)
	h.clock.Advance(time.Minute)
	otk = h.mustRefresh(t, otk.RefreshToken) // same session, an access token of now
	h.revokeAccountSession(t, otk.AccessToken, memberTks[3].SessionID)

	want := []uuid.UUID{otk.SessionID, memberTks[0].SessionID, ownerTk2.SessionID, memberTks[2].SessionID, memberTks[1].SessionID}
	for _, limit := range []int{1, 2, 50} {
		items := h.allAccountSessions(t, otk.AccessToken, nil, limit)
		var got []uuid.UUID
		for _, it := range items {
			got = append(got, it.ID)
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("limit %d: order %v\nwant           %v", limit, got, want)
		}
		for i := 1; i < len(items); i++ {
			if items[i].LastUsedAt.After(items[i-1].LastUsedAt) {
				t.Errorf("not most recent first at %d", i)
			}
		}
	}

	items := h.allAccountSessions(t, otk.AccessToken, nil, 50)
	byID := map[uuid.UUID]accountSessionItem{}
	for _, it := range items {
		byID[it.ID] = it
	}
	refreshed := byID[memberTks[0].SessionID]
	if refreshed.UserID != member.UserID || refreshed.UserEmail != member.Email {
		t.Errorf("item owner = %s %s, want %s %s", refreshed.UserID, refreshed.UserEmail, member.UserID, member.Email)
	}
	if refreshed.IPAddress == nil || *refreshed.IPAddress != "203.0.113.10" || refreshed.UserAgent == nil || *refreshed.UserAgent != "signin-agent/1" {
		t.Errorf("sign-in ip/agent = %v / %v", refreshed.IPAddress, refreshed.UserAgent)
	}
	if refreshed.LastIPAddress == nil || *refreshed.LastIPAddress != "198.51.100.20" ||
		refreshed.LastUserAgent == nil || *refreshed.LastUserAgent != "refresh-agent/2" {
		t.Errorf("latest ip/agent = %v / %v, want the refresh's", refreshed.LastIPAddress, refreshed.LastUserAgent)
	}
	if never := byID[memberTks[1].SessionID]; never.LastIPAddress == nil || *never.LastIPAddress != "203.0.113.10" {
		t.Errorf("never refreshed: last ip %v, want the sign-in's", never.LastIPAddress)
	}
	if !byID[otk.SessionID].IsCurrent || byID[ownerTk2.SessionID].IsCurrent {
		t.Errorf("is_current marks the wrong session")
	}

	// The member's own list shows the same activity fields.
	var own struct {
		Items []accountSessionItem `json:"items"`
	}
	h.do(t, req{method: "GET", path: "/api/v1/sessions", bearer: memberTks[1].AccessToken}).JSON(t, &own)
	for _, it := range own.Items {
		if it.ID == memberTks[0].SessionID && (it.LastUserAgent == nil || *it.LastUserAgent != "refresh-agent/2") {
			t.Errorf("GET /sessions last_user_agent = %v", it.LastUserAgent)
		}
	}

	// Filter: one user's sessions only, still ordered and paginated.
	only := h.allAccountSessions(t, otk.AccessToken, url.Values{"user_id": {member.UserID.String()}}, 2)
	if len(only) != 3 || only[0].ID != memberTks[0].SessionID {
		t.Fatalf("filtered by member: %+v", only)
	}
	for _, it := range only {
		if it.UserID != member.UserID {
			t.Errorf("filter leaked %s's session", it.UserEmail)
		}
	}

	// Bad parameters are 422 naming the parameter, never 500; a cursor
	// that is not one has its own code.
	for q, code := range map[string]string{"limit=0": "validation_failed", "limit=201": "validation_failed",
		"cursor=not-a-cursor": "invalid_cursor", "user_id=nope": "validation_failed"} {
		p := expectProblem(t, h.do(t, req{method: "GET", path: "/api/v1/accounts/me/sessions?" + q, bearer: otk.AccessToken}),
			http.StatusUnprocessableEntity, code)
		if name, _, _ := strings.Cut(q, "="); len(p.Errors) != 1 || p.Errors[0].Field != name {
			t.Errorf("%s: errors %+v, want one naming %s", q, p.Errors, name)
		}
	}
}

// --- revoking one session, or one member's -------------------------------

func TestAccountSessions_RevokeAnyOne_TokensDieAtOnce_Audited_SecondTimeIs404(t *testing.T) {
	h := newHarness(t)
	owner, otk := h.owner(t, "revone")
	member := h.addMember(t, otk.AccessToken, "member")
	m1, m2 := h.login(t, member, nil), h.login(t, member, nil)

	expectStatus(t, h.revokeAccountSession(t, otk.AccessToken, m1.SessionID), http.StatusNoContent, "revoke")
	expectRefreshDead(t, h, m1) // access token (liveness) and refresh token, at once
	expectAlive(t, h, m2)
	if _, reason := sessionRevocation(t, h, m1.SessionID); reason == nil || *reason != "revoked_by_owner" {
		t.Errorf("revoke_reason = %v", reason)
	}
	rows := auditRows(t, h, owner.AccountID, "session.revoked")
	if len(rows) != 1 || rows[0].ResourceID == nil || *rows[0].ResourceID != m1.SessionID.String() ||
		*rows[0].ActorUserID != owner.UserID || rows[0].Details["user_id"] != member.UserID.String() {
		t.Fatalf("session.revoked audit = %+v", rows)
	}
	expectProblem(t, h.revokeAccountSession(t, otk.AccessToken, m1.SessionID), http.StatusNotFound, "not_found")
	if n := len(auditRows(t, h, owner.AccountID, "session.revoked")); n != 1 {
		t.Errorf("%d session.revoked events, want 1", n)
	}
}

func TestMembers_RevokeSessions_CountsEndsAllOfThem_OthersKept_Audited(t *testing.T) {
	h := newHarness(t)
	owner, otk := h.owner(t, "revmem")
	member := h.addMember(t, otk.AccessToken, "member")
	other := h.addMember(t, otk.AccessToken, "member")
	m := []tokens{h.login(t, member, nil), h.login(t, member, nil), h.login(t, member, nil)}
	o := h.login(t, other, nil)

	res := h.revokeMemberSessions(t, otk.AccessToken, member.UserID)
	expectStatus(t, res, http.StatusOK, "revoke member sessions")
	var n struct {
		RevokedCount int `json:"revoked_count"`
	}
	res.JSON(t, &n)
	if n.RevokedCount != 3 {
		t.Fatalf("revoked_count %d, want 3", n.RevokedCount)
	}
	for _, tk := range m {
		expectRefreshDead(t, h, tk)
	}
	expectAlive(t, h, o)
	expectAccessLive(t, h, otk)
	h.login(t, member, nil) // they may sign in again

	// A second later, so the audit rows read back in the order they were
	// written (auditRows orders by created_at, then by the random id).
	h.clock.Advance(time.Second)
	res = h.revokeMemberSessions(t, otk.AccessToken, other.UserID)
	res.JSON(t, &n)
	if n.RevokedCount != 1 {
		t.Errorf("second member: revoked_count %d", n.RevokedCount)
	}
	rows := auditRows(t, h, owner.AccountID, "member.sessions_revoked")
	if len(rows) != 2 || rows[0].Details["revoked_count"] != 3.0 || rows[0].Details["user_id"] != member.UserID.String() {
		t.Fatalf("audit = %+v", rows)
	}
}

// --- member changes -------------------------------------------------------

func TestMembers_Deactivate_KillsLiveTokensAtOnce_SignInGeneric401_ReactivateSignsIn(t *testing.T) {
	h := newHarness(t)
	owner, otk := h.owner(t, "deact")
	member := h.addMember(t, otk.AccessToken, "member")
	mtk, mtk2 := h.login(t, member, nil), h.login(t, member, nil)
	expectAccessLive(t, h, mtk)

	res := h.patchMember(t, otk.AccessToken, member.UserID, map[string]any{"is_active": false})
	expectStatus(t, res, http.StatusOK, "deactivate")
	var u userBody
	res.JSON(t, &u)
	if u.IsActive || u.AccountRole != "member" || u.ID != member.UserID {
		t.Fatalf("answer = %+v", u)
	}
	// The member's live access token (minutes from expiry) dies at once.
	expectRefreshDead(t, h, mtk)
	expectRefreshDead(t, h, mtk2)
	if _, reason := sessionRevocation(t, h, mtk.SessionID); reason == nil || *reason != "member_deactivated" {
		t.Errorf("revoke_reason = %v", reason)
	}
	// Sign-in: the generic 401, identical to a wrong password.
	deact := h.loginRes(t, member)
	expectProblem(t, deact, http.StatusUnauthorized, "invalid_credentials")
	wrong := h.loginRes(t, registered{Email: member.Email, Password: "not the password"})
	if string(deact.Body) != string(wrong.Body) {
		t.Errorf("deactivated %s\nwrong pw    %s", deact.Body, wrong.Body)
	}
	rows := auditRows(t, h, owner.AccountID, "member.updated")
	if len(rows) != 1 || fmt.Sprint(rows[0].Details["old"]) != "map[is_active:true role:member]" ||
		fmt.Sprint(rows[0].Details["new"]) != "map[is_active:false role:member]" || rows[0].Details["revoked_count"] != 2.0 {
		t.Fatalf("member.updated = %+v", rows)
	}

	// Reactivation lets them in again; nothing else changed.
	expectStatus(t, h.patchMember(t, otk.AccessToken, member.UserID, map[string]any{"is_active": true}), http.StatusOK, "reactivate")
	expectAccessLive(t, h, h.login(t, member, nil))
	// An empty or no-op patch changes and audits nothing.
	for _, body := range []any{map[string]any{}, map[string]any{"is_active": true, "role": "member"}} {
		expectStatus(t, h.patchMember(t, otk.AccessToken, member.UserID, body), http.StatusOK, "no-op patch")
	}
	if n := len(auditRows(t, h, owner.AccountID, "member.updated")); n != 2 {
		t.Errorf("%d member.updated events, want 2", n)
	}
	expectProblem(t, h.patchMember(t, otk.AccessToken, member.UserID, map[string]any{"role": "admin"}),
		http.StatusUnprocessableEntity, "validation_failed")
}

func TestMembers_PromoteAndDemote_RoleTakesEffectOnAdminRights(t *testing.T) {
	h := newHarness(t)
	_, otk := h.owner(t, "promote")
	member := h.addMember(t, otk.AccessToken, "member")
	mtk := h.login(t, member, nil)

	expectStatus(t, h.patchMember(t, otk.AccessToken, member.UserID, map[string]any{"role": "owner"}), http.StatusOK, "promote")
	// A fresh token carries the new role and has admin rights.
	ntk := h.mustRefresh(t, mtk.RefreshToken)
	if c := claims(t, ntk.AccessToken); c["role"] != "owner" {
		t.Fatalf("role after promotion = %v", c["role"])
	}
	h.getSecurity(t, ntk.AccessToken)
	// Demoted again: the still-valid owner token loses admin rights at once.
	expectStatus(t, h.patchMember(t, otk.AccessToken, member.UserID, map[string]any{"role": "member"}), http.StatusOK, "demote")
	expectProblem(t, h.do(t, req{method: "GET", path: "/api/v1/accounts/me/sessions", bearer: ntk.AccessToken}),
		http.StatusForbidden, "forbidden")
}

func TestMembers_Remove_SessionsEnd_SignInImpossible_EmailReusable_AuditKeepsActor(t *testing.T) {
	h := newHarness(t)
	owner, otk := h.owner(t, "remove")
	member := h.addMember(t, otk.AccessToken, "member")
	mtk := h.login(t, member, nil)
	// The member acts (an audited change of their own) before removal.
	expectStatus(t, h.do(t, req{method: "POST", path: "/api/v1/auth/logout-all", bearer: h.login(t, member, nil).AccessToken}), http.StatusOK, "logout-all")
	mtk = h.login(t, member, nil)

	expectStatus(t, h.removeMember(t, otk.AccessToken, member.UserID), http.StatusNoContent, "remove")
	expectRefreshDead(t, h, mtk)
	expectProblem(t, h.loginRes(t, member), http.StatusUnauthorized, "invalid_credentials")
	for _, m := range h.listMembers(t, otk.AccessToken) {
		if m.ID == member.UserID {
			t.Fatal("removed member still listed")
		}
	}
	expectProblem(t, h.removeMember(t, otk.AccessToken, member.UserID), http.StatusNotFound, "not_found")

	rows := auditRows(t, h, owner.AccountID, "member.removed")
	if len(rows) != 1 || rows[0].Details["email"] != member.Email || rows[0].Details["role"] != "member" ||
		rows[0].Details["revoked_count"] != 1.0 || *rows[0].ActorUserID != owner.UserID {
		t.Fatalf("member.removed = %+v", rows)
	}
	if acted := auditRows(t, h, owner.AccountID, "auth.logout_all"); len(acted) != 1 || *acted[0].ActorUserID != member.UserID {
		t.Fatalf("the removed member's own audit rows lost their actor: %+v", acted)
	}

	// The email is free again: added back, a new user signs in with it.
	res := h.mustDo(t, req{method: "POST", path: "/api/v1/accounts/me/members", bearer: otk.AccessToken,
		body: map[string]string{"email": member.Email, "password": "a new password!", "name": "Back", "role": "member"}}, http.StatusCreated)
	var back userBody
	res.JSON(t, &back)
	if back.ID == member.UserID {
		t.Fatal("re-added user has the removed user's id")
	}
	h.login(t, registered{Email: member.Email, Password: "a new password!"}, nil)
}

func TestMembers_LastOwner_CannotBeDemotedDeactivatedOrRemoved_409(t *testing.T) {
	h := newHarness(t)
	owner, otk := h.owner(t, "lastowner")
	member := h.addMember(t, otk.AccessToken, "member")

	for _, body := range []any{map[string]any{"role": "member"}, map[string]any{"is_active": false},
		map[string]any{"role": "member", "is_active": false}} {
		expectProblem(t, h.patchMember(t, otk.AccessToken, owner.UserID, body), http.StatusConflict, "last_owner")
	}
	expectProblem(t, h.removeMember(t, otk.AccessToken, owner.UserID), http.StatusConflict, "last_owner")
	expectAccessLive(t, h, otk)
	if n := activeOwners(t, h, owner.AccountID); n != 1 {
		t.Fatalf("%d active owners", n)
	}
	// An inactive owner does not count: promote, deactivate the second
	// owner, and the first is still the last active one.
	h.patchMember(t, otk.AccessToken, member.UserID, map[string]any{"role": "owner"})
	expectStatus(t, h.patchMember(t, otk.AccessToken, member.UserID, map[string]any{"is_active": false}), http.StatusOK, "deactivate second owner")
	expectProblem(t, h.patchMember(t, otk.AccessToken, owner.UserID, map[string]any{"role": "member"}), http.StatusConflict, "last_owner")
	// With another active owner, an owner may step down or leave.
	h.patchMember(t, otk.AccessToken, member.UserID, map[string]any{"is_active": true})
	expectStatus(t, h.removeMember(t, otk.AccessToken, owner.UserID), http.StatusNoContent, "owner leaving with another owner left")
	expectAccessDead(t, h, otk)
	if n := len(auditRows(t, h, owner.AccountID, "member.removed")); n != 1 {
		t.Errorf("%d member.removed events", n)
	}
}

// Two concurrent demotions of an account's two owners: exactly one
// succeeds, the other is 409 last_owner, and one active owner remains —
// whoever sends them (each owner demoting the other, or one owner both) and
// whether they demote or deactivate. To make the two requests truly
// overlap, a transaction of the test holds the owners' row locks until both
// requests are past their owner check and waiting for those locks; then
// both go at once. Without the lock both would count two owners and both
// succeed.
func TestMembers_LastOwner_TwoConcurrentDemotions_ExactlyOneSucceeds(t *testing.T) {
	h := newHarness(t)
	for round := range 6 {
		t.Run(fmt.Sprint("round ", round), func(t *testing.T) {
			a, atk := h.owner(t, "race")
			b := h.addMember(t, atk.AccessToken, "owner")
			btk := h.login(t, b, nil)
			type call struct {
				at     string
				target uuid.UUID
			}
			change := map[string]any{"role": "member"}
			if round >= 4 {
				change = map[string]any{"is_active": false}
			}
			calls := []call{{atk.AccessToken, b.UserID}, {btk.AccessToken, a.UserID}} // each demotes the other
			if round%2 == 1 {
				calls = []call{{atk.AccessToken, b.UserID}, {atk.AccessToken, a.UserID}} // one owner demotes both
			}

			gate := h.db.LockActiveOwners(t, a.AccountID)
			var wg sync.WaitGroup
			results := make([]response, len(calls))
			for i, c := range calls {
				wg.Add(1)
				go func() {
					defer wg.Done()
					results[i] = h.patchMember(t, c.at, c.target, change)
				}()
			}
			waitForLockWaiters(t, h, 2, "account_role = 'owner' AND is_active")
			gate.Release()
			wg.Wait()

			var ok, conflict int
			for _, r := range results {
				switch {
				case r.Status == http.StatusOK:
					ok++
				case r.Status == http.StatusConflict && r.Problem(t).Code == "last_owner":
					conflict++
				}
			}
			if ok != 1 || conflict != 1 {
				t.Fatalf("%d × 200, %d × 409 last_owner; want one each: %d %s / %d %s",
					ok, conflict, results[0].Status, results[0].Body, results[1].Status, results[1].Body)
			}
			if n := activeOwners(t, h, a.AccountID); n != 1 {
				t.Fatalf("%d active owners after the race, want 1", n)
			}
		})
	}
}

// waitForLockWaiters waits until n backends running a query containing
// text are blocked on a lock (the requests under test reached the lock; on
// Citus, on a worker: pgtest.LockWaiters).
func waitForLockWaiters(t testing.TB, h *harness, n int, text string) {
	t.Helper()
	conn := h.db.Admin(t)
	deadline := time.Now().Add(30 * time.Second) // a hang guard, not a timing assertion
	for {
		waiting, err := pgtest.LockWaiters(context.Background(), conn, text, "")
		if err != nil {
			t.Fatal(err)
		}
		if waiting >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d requests reached the lock", waiting, n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// --- session limit --------------------------------------------------------

func TestSessionLimit_Patch_BoundsNullAndAction_AuditedOldNewEffective(t *testing.T) {
	h := newHarness(t)
	owner, otk := h.owner(t, "limpatch")

	for _, c := range []struct{ body, code string }{
		{`{"max_sessions_per_user": 0}`, "policy_out_of_bounds"},
		{`{"max_sessions_per_user": 101}`, "policy_out_of_bounds"},
		{`{"max_sessions_per_user": -1}`, "policy_out_of_bounds"},
		{`{"max_sessions_per_user": 2147483648}`, "policy_out_of_bounds"},
		{`{"session_limit_action": "kick_everyone"}`, "validation_failed"},
		{`{"session_limit_action": null}`, "validation_failed"},
	} {
		p := expectProblem(t, h.patchSecurity(t, otk.AccessToken, c.body), http.StatusUnprocessableEntity, c.code)
		if c.code == "policy_out_of_bounds" && (len(p.Errors) != 1 || p.Errors[0].Field != "max_sessions_per_user") {
			t.Errorf("%s: errors %+v", c.body, p.Errors)
		}
	}
	res := h.patchSecurity(t, otk.AccessToken, map[string]any{"max_sessions_per_user": 3, "session_limit_action": "deny"})
	expectStatus(t, res, http.StatusOK, "patch")
	var b securityBody
	res.JSON(t, &b)
	if b.MaxSessions == nil || *b.MaxSessions != 3 || b.SessionLimitAction != "deny" || b.IdleMinutes != nil {
		t.Fatalf("answer %s", res.Body)
	}
	if g := h.getSecurity(t, otk.AccessToken); g.MaxSessions == nil || *g.MaxSessions != 3 || g.SessionLimitAction != "deny" {
		t.Fatalf("GET after PATCH: %+v", g)
	}
	// null clears the limit; the action stays.
	h.clock.Advance(time.Second)
	res = h.patchSecurity(t, otk.AccessToken, `{"max_sessions_per_user": null}`)
	if raw := rawFields(t, res); string(raw["max_sessions_per_user"]) != "null" || string(raw["session_limit_action"]) != `"deny"` {
		t.Fatalf("after clearing: %s", res.Body)
	}
	rows := auditRows(t, h, owner.AccountID, "account.session_policy_update")
	if len(rows) != 2 {
		t.Fatalf("%d policy events, want 2 (rejected patches write none)", len(rows))
	}
	d := rows[0].Details
	field := func(k, f string) any { return d[k].(map[string]any)[f] }
	if field("old", "max_sessions_per_user") != nil || field("old", "session_limit_action") != "evict_oldest" ||
		field("new", "max_sessions_per_user") != 3.0 || field("new", "session_limit_action") != "deny" ||
		field("effective_new", "max_sessions_per_user") != 3.0 || field("effective_old", "session_limit_action") != "evict_oldest" ||
		field("effective_new", "idle_minutes") != 4320.0 {
		t.Errorf("details = %s", rows[0].RawDetails)
	}
	if d := rows[1].Details; d["new"].(map[string]any)["max_sessions_per_user"] != nil || d["old"].(map[string]any)["max_sessions_per_user"] != 3.0 {
		t.Errorf("clearing: details = %s", rows[1].RawDetails)
	}
}

func TestSessionLimit_EvictOldest_RevokesLeastRecentlyUsed_Audited(t *testing.T) {
	h := newHarness(t)
	owner, otk := h.owner(t, "limevict")
	member := h.addMember(t, otk.AccessToken, "member")
	expectStatus(t, h.patchSecurity(t, otk.AccessToken, map[string]any{"max_sessions_per_user": 2}), http.StatusOK, "patch")
	h.clock.Advance(time.Minute)
	s1 := h.login(t, member, nil)
	h.clock.Advance(time.Minute)
	s2 := h.login(t, member, nil)
	h.clock.Advance(time.Minute)
	s1 = h.mustRefresh(t, s1.RefreshToken) // s1 is now the more recently used
	h.clock.Advance(time.Minute)
	s3 := h.login(t, member, nil) // evicts s2, the least recently used

	expectRefreshDead(t, h, s2)
	expectAlive(t, h, s1)
	expectAccessLive(t, h, s3)
	if _, reason := sessionRevocation(t, h, s2.SessionID); reason == nil || *reason != "evicted" {
		t.Errorf("revoke_reason = %v, want evicted", reason)
	}
	rows := auditRows(t, h, owner.AccountID, "session.evicted")
	if len(rows) != 1 || *rows[0].ResourceID != s2.SessionID.String() || rows[0].Details["new_session_id"] != s3.SessionID.String() ||
		rows[0].Details["max_sessions_per_user"] != 2.0 || rows[0].Details["user_id"] != member.UserID.String() {
		t.Fatalf("session.evicted = %+v", rows)
	}
	// The limit is per user: the owner's sessions are not counted with the member's.
	expectAccessLive(t, h, otk)
}

// 20 concurrent sign-ins of one user with a limit of 3: never more than 3
// live sessions. evict_oldest: all 20 succeed and exactly 3 stay live;
// deny: exactly 3 succeed and 17 are refused with 409.
func TestSessionLimit_20ConcurrentSignIns_Limit3_Atomic(t *testing.T) {
	for _, action := range []string{"evict_oldest", "deny"} {
		t.Run(action, func(t *testing.T) {
			h := newHarness(t)
			owner, otk := h.owner(t, "lim20")
			member := h.addMember(t, otk.AccessToken, "member")
			expectStatus(t, h.patchSecurity(t, otk.AccessToken, map[string]any{"max_sessions_per_user": 3, "session_limit_action": action}), http.StatusOK, "patch")
			const n = 20
			results := make([]response, n)
			concurrently(n, func(i int) { results[i] = h.loginRes(t, member) })
			codes := map[string]int{}
			for _, r := range results {
				key := fmt.Sprint(r.Status)
				if r.Status != http.StatusOK {
					key += " " + r.Problem(t).Code
				}
				codes[key]++
			}
			live := liveSessionsOf(t, h, member.UserID)
			switch action {
			case "evict_oldest":
				if codes["200"] != n || live != 3 {
					t.Fatalf("results %v, %d live sessions; want 20 × 200 and exactly 3 live", codes, live)
				}
				if e := len(auditRows(t, h, owner.AccountID, "session.evicted")); e != n-3 {
					t.Errorf("%d session.evicted events, want %d", e, n-3)
				}
			case "deny":
				if codes["200"] != 3 || codes["409 session_limit_reached"] != n-3 || live != 3 {
					t.Fatalf("results %v, %d live sessions; want 3 × 200, 17 × 409 session_limit_reached, 3 live", codes, live)
				}
				if total := len(h.db.Sessions(t, uuid.Nil, member.UserID)); total != 3 {
					t.Errorf("%d session rows: a refused sign-in created one", total)
				}
				// Making room lets the next sign-in in.
				var sids []uuid.UUID
				for _, r := range results {
					if r.Status == http.StatusOK {
						var tk tokens
						r.JSON(t, &tk)
						sids = append(sids, tk.SessionID)
					}
				}
				sort.Slice(sids, func(i, j int) bool { return sids[i].String() < sids[j].String() })
				h.revokeAccountSession(t, otk.AccessToken, sids[0])
				h.login(t, member, nil)
				expectProblem(t, h.loginRes(t, member), http.StatusConflict, "session_limit_reached")
			}
		})
	}
}
