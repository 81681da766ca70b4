package http_test

// The owner's lists answer precisely (docs/security-checklist.md, ADM-01 to
// ADM-05): members and the audit trail paged, filtered and sorted; unknown
// query parameters refused by name on every operation; cursors bound to
// their listing and filters; every refusal naming the field and the rule;
// no audit event for a change that changes nothing; the profile. Every
// request goes through h.do (validated against openapi.yaml) over the real
// handler and PostgreSQL.

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
)

type memberItem struct {
	ID        uuid.UUID `json:"id"`
	Email     string    `json:"email"`
	Name      string    `json:"name"`
	Role      string    `json:"account_role"`
	Active    bool      `json:"is_active"`
	CreatedAt time.Time `json:"created_at"`
}

type memberPage struct {
	Items      []memberItem `json:"items"`
	NextCursor *string      `json:"next_cursor"`
}

func (h *harness) memberPage(t testing.TB, at string, q url.Values) memberPage {
	t.Helper()
	path := "/api/v1/accounts/me/members"
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	res := h.mustDo(t, req{method: "GET", path: path, bearer: at}, http.StatusOK)
	var p memberPage
	res.JSON(t, &p)
	return p
}

// allMembers follows next_cursor to the end with the given page size.
func (h *harness) allMembers(t testing.TB, at string, q url.Values, limit int) []memberItem {
	t.Helper()
	q2 := url.Values{}
	for k, v := range q {
		q2[k] = v
	}
	q2.Set("limit", fmt.Sprint(limit))
	var out []memberItem
	for range 1000 {
		p := h.memberPage(t, at, q2)
		if len(p.Items) > limit || (p.NextCursor != nil && len(p.Items) != limit) {
			t.Fatalf("page of %d items (limit %d), next_cursor %v", len(p.Items), limit, p.NextCursor)
		}
		out = append(out, p.Items...)
		if p.NextCursor == nil {
			return out
		}
		q2.Set("cursor", *p.NextCursor)
	}
	t.Fatal("member listing does not end")
	return nil
}

func memberEmails(items []memberItem) []string {
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = it.Email
	}
	return out
}

// createMember adds a user with a chosen email and name.
func (h *harness) createMember(t testing.TB, ownerAT, email, name, role string) registered {
	t.Helper()
	pw := "initial password " + email
	res := h.mustDo(t, req{method: "POST", path: "/api/v1/accounts/me/members", bearer: ownerAT,
		body: map[string]string{"email": email, "password": pw, "name": name, "role": role}}, http.StatusCreated)
	var u struct {
		ID        uuid.UUID `json:"id"`
		AccountID uuid.UUID `json:"account_id"`
	}
	res.JSON(t, &u)
	return registered{UserID: u.ID, AccountID: u.AccountID, Email: email, Password: pw}
}

func TestMembers_ADM03_ListPagedFilteredAndSorted_CursorBoundToFiltersAndSort(t *testing.T) {
	h := newHarness(t)
	owner, otk := h.owner(t, "mlist")
	tag := uuid.NewString()[:6]
	// Members at distinct instants, names out of creation order; emails
	// whose prefixes differ only where LIKE has wildcards ("_" and "%" must
	// be matched literally).
	type spec struct{ local, name, role string }
	specs := []spec{
		{"carol", "Carol", "member"}, {"a_b", "Zed", "member"}, {"axb", "Amy", "owner"},
		{"dave", "Dave", "member"}, {"a-c", "Bob", "member"}, {"erin", "Erin", "member"},
	}
	byLocal := map[string]registered{}
	for _, s := range specs {
		h.clock.Advance(time.Second)
		byLocal[s.local] = h.createMember(t, otk.AccessToken, s.local+"."+tag+"@example.com", s.name, s.role)
	}
	h.clock.Advance(time.Second)
	h.mustDo(t, req{method: "PATCH", path: "/api/v1/accounts/me/members/" + byLocal["dave"].UserID.String(), bearer: otk.AccessToken,
		body: map[string]any{"is_active": false}}, http.StatusOK)

	all := h.allMembers(t, otk.AccessToken, nil, 50)
	if len(all) != len(specs)+1 || all[0].ID != owner.UserID {
		t.Fatalf("default listing: %v", memberEmails(all))
	}
	// Every order, walked with every page size, is the same full order.
	orders := map[string]func(a, b memberItem) bool{
		"created_at":  func(a, b memberItem) bool { return a.CreatedAt.Before(b.CreatedAt) },
		"-created_at": func(a, b memberItem) bool { return a.CreatedAt.After(b.CreatedAt) },
		"name":        func(a, b memberItem) bool { return a.Name < b.Name },
		"-name":       func(a, b memberItem) bool { return a.Name > b.Name },
	}
	for order, less := range orders {
		want := slices.Clone(all)
		sort.SliceStable(want, func(i, j int) bool { return less(want[i], want[j]) })
		for _, limit := range []int{1, 2, 3, 200} {
			got := h.allMembers(t, otk.AccessToken, url.Values{"sort": {order}}, limit)
			if fmt.Sprint(memberEmails(got)) != fmt.Sprint(memberEmails(want)) {
				t.Errorf("sort=%s limit=%d:\n got  %v\n want %v", order, limit, memberEmails(got), memberEmails(want))
			}
		}
	}

	// Filters, alone and combined, still paged.
	for q, want := range map[string][]string{
		"role=owner":                    {owner.Email, byLocal["axb"].Email},
		"active=false":                  {byLocal["dave"].Email},
		"role=member&active=true":       {byLocal["carol"].Email, byLocal["a_b"].Email, byLocal["a-c"].Email, byLocal["erin"].Email},
		"email_prefix=A_":               {byLocal["a_b"].Email},
		"email_prefix=a%25":             {},
		"email_prefix=a&sort=-name":     {byLocal["a_b"].Email, byLocal["a-c"].Email, byLocal["axb"].Email},
		"email_prefix=nobody-" + tag:    {},
		"email_prefix=carol." + tag:     {byLocal["carol"].Email},
		"role=owner&email_prefix=carol": {},
	} {
		vals, err := url.ParseQuery(q)
		if err != nil {
			t.Fatal(err)
		}
		got := memberEmails(h.allMembers(t, otk.AccessToken, vals, 1))
		if fmt.Sprint(got) != fmt.Sprint(want) && !(len(got) == 0 && len(want) == 0) {
			t.Errorf("%s: got %v, want %v", q, got, want)
		}
	}

	// A cursor is bound to its filters and sort: with other ones it is
	// refused, naming the cursor, never applied to another order.
	first := h.memberPage(t, otk.AccessToken, url.Values{"limit": {"1"}, "sort": {"name"}})
	for _, q := range []url.Values{
		{"sort": {"-name"}}, {"sort": {"created_at"}}, {"sort": {"name"}, "role": {"member"}},
		{"sort": {"name"}, "email_prefix": {"a"}}, {"sort": {"name"}, "active": {"true"}},
	} {
		q.Set("cursor", *first.NextCursor)
		p := expectProblem(t, h.do(t, req{method: "GET", path: "/api/v1/accounts/me/members?" + q.Encode(), bearer: otk.AccessToken}),
			http.StatusUnprocessableEntity, "invalid_cursor")
		if len(p.Errors) != 1 || p.Errors[0].Field != "cursor" || !strings.Contains(p.Detail, "other filters") {
			t.Errorf("%v: %+v", q, p)
		}
	}
	// Only limit may change between pages.
	q := url.Values{"sort": {"name"}, "limit": {"50"}, "cursor": {*first.NextCursor}}
	if rest := h.memberPage(t, otk.AccessToken, q); len(rest.Items) != len(all)-1 {
		t.Errorf("rest of the pages after one: %d items, want %d", len(rest.Items), len(all)-1)
	}
}

func TestLists_ADM03_CursorOfAnotherListing_RefusedWithInvalidCursor(t *testing.T) {
	h := newHarness(t)
	owner, otk := h.owner(t, "xcursor")
	for range 3 {
		h.login(t, owner, nil)
	}
	h.addMember(t, otk.AccessToken, "member")
	audit := h.auditPage(t, otk.AccessToken, url.Values{"limit": {"1"}})
	members := h.memberPage(t, otk.AccessToken, url.Values{"limit": {"1"}})
	sessions := h.accountSessions(t, otk.AccessToken, url.Values{"limit": {"1"}})
	if audit.NextCursor == nil || members.NextCursor == nil || sessions.NextCursor == nil {
		t.Fatal("need a next cursor from every listing")
	}
	cases := []struct{ path, cursor, from string }{
		{"/api/v1/accounts/me/sessions", *audit.NextCursor, "audit_events"},
		{"/api/v1/accounts/me/members", *audit.NextCursor, "audit_events"},
		{"/api/v1/accounts/me/audit-events", *sessions.NextCursor, "account_sessions"},
		{"/api/v1/accounts/me/audit-events", *members.NextCursor, "members"},
		{"/api/v1/accounts/me/sessions", *members.NextCursor, "members"},
	}
	for _, c := range cases {
		p := expectProblem(t, h.do(t, req{method: "GET", path: c.path + "?cursor=" + url.QueryEscape(c.cursor), bearer: otk.AccessToken}),
			http.StatusUnprocessableEntity, "invalid_cursor")
		if len(p.Errors) != 1 || p.Errors[0].Field != "cursor" || !strings.Contains(p.Detail, "another listing ("+c.from+")") {
			t.Errorf("%s with a %s cursor: %+v", c.path, c.from, p)
		}
	}
	// The session list's cursor is bound to its user_id filter too.
	member := h.addMember(t, otk.AccessToken, "member")
	h.login(t, member, nil)
	h.login(t, member, nil)
	mine := h.accountSessions(t, otk.AccessToken, url.Values{"limit": {"1"}, "user_id": {member.UserID.String()}})
	expectProblem(t, h.do(t, req{method: "GET", path: "/api/v1/accounts/me/sessions?cursor=" + url.QueryEscape(*mine.NextCursor), bearer: otk.AccessToken}),
		http.StatusUnprocessableEntity, "invalid_cursor")
}

// auditActions is the actions of items, in order.
func auditActionsOf(items []auditItem) []string {
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = it.Action
	}
	return out
}

func TestAuditEvents_ADM03_FiltersByActorSubjectSessionActionAndTime_Paged(t *testing.T) {
	h := newHarness(t)
	owner, otk := h.owner(t, "afilter")
	member := h.addMember(t, otk.AccessToken, "member") // member.created, about member
	start := h.clock.Now()

	h.clock.Advance(30 * time.Second)
	s1 := h.login(t, member, nil) // auth.login_succeeded, actor member, on s1
	h.clock.Advance(30 * time.Second)
	expectProblem(t, h.do(t, req{method: "POST", path: "/api/v1/auth/login/json",
		body: map[string]string{"email": member.Email, "password": "wrong password!"}}), http.StatusUnauthorized, "invalid_credentials")
	mid := h.clock.Now() // auth.login_failed at mid
	h.clock.Advance(30 * time.Second)
	h.mustDo(t, req{method: "DELETE", path: "/api/v1/accounts/me/sessions/" + s1.SessionID.String(), bearer: otk.AccessToken},
		http.StatusNoContent) // session.revoked, actor owner, about member, on s1
	h.clock.Advance(30 * time.Second)
	h.mustDo(t, req{method: "PATCH", path: "/api/v1/accounts/me/members/" + member.UserID.String(), bearer: otk.AccessToken,
		body: map[string]any{"role": "owner"}}, http.StatusOK) // member.updated
	h.clock.Advance(30 * time.Second)
	s2 := h.login(t, member, nil)
	h.clock.Advance(30 * time.Second)
	h.logout(t, s2.AccessToken) // auth.logout, actor member, on s2
	h.clock.Advance(30 * time.Second)
	expectStatus(t, h.patchSecurity(t, otk.AccessToken, map[string]any{"idle_minutes": 60}), http.StatusOK, "patch")
	end := h.clock.Now()

	cases := []struct {
		name string
		q    url.Values
		want []string // actions, newest first
	}{
		{"actor member", url.Values{"actor_user_id": {member.UserID.String()}},
			[]string{"auth.logout", "auth.login_succeeded", "auth.login_failed", "auth.login_succeeded"}},
		{"about member", url.Values{"user_id": {member.UserID.String()}},
			[]string{"auth.logout", "auth.login_succeeded", "member.updated", "session.revoked", "auth.login_failed", "auth.login_succeeded", "member.created"}},
		{"session s1", url.Values{"session_id": {s1.SessionID.String()}},
			[]string{"session.revoked", "auth.login_succeeded"}},
		{"actor owner about member", url.Values{"actor_user_id": {owner.UserID.String()}, "user_id": {member.UserID.String()}},
			[]string{"member.updated", "session.revoked", "member.created"}},
		{"prefix member.", url.Values{"action_prefix": {"member."}}, []string{"member.updated", "member.created"}},
		{"prefix auth.login_ about member", url.Values{"action_prefix": {"auth.login_"}, "user_id": {member.UserID.String()}},
			[]string{"auth.login_succeeded", "auth.login_failed", "auth.login_succeeded"}},
		{"exact action", url.Values{"action": {"auth.login_failed"}}, []string{"auth.login_failed"}},
		{"since mid, about member", url.Values{"since": {mid.Format(time.RFC3339)}, "user_id": {member.UserID.String()}},
			[]string{"auth.logout", "auth.login_succeeded", "member.updated", "session.revoked", "auth.login_failed"}},
		{"until mid (exclusive), about member", url.Values{"until": {mid.Format(time.RFC3339)}, "user_id": {member.UserID.String()}},
			[]string{"auth.login_succeeded", "member.created"}},
		{"window", url.Values{"since": {start.Add(time.Second).Format(time.RFC3339)}, "until": {end.Format(time.RFC3339)}, "actor_user_id": {owner.UserID.String()}},
			[]string{"member.updated", "session.revoked"}},
		{"nobody", url.Values{"actor_user_id": {uuid.NewString()}}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for _, limit := range []int{1, 2, 200} {
				q := url.Values{}
				for k, v := range c.q {
					q[k] = v
				}
				got := auditActionsOf(h.allAuditPages(t, otk.AccessToken, q, limit))
				if fmt.Sprint(got) != fmt.Sprint(c.want) && !(len(got) == 0 && len(c.want) == 0) {
					t.Errorf("limit %d: %v, want %v", limit, got, c.want)
				}
			}
		})
	}

	// A cursor issued under one filter is refused under another.
	page := h.auditPage(t, otk.AccessToken, url.Values{"limit": {"1"}, "actor_user_id": {member.UserID.String()}})
	for _, q := range []url.Values{{}, {"actor_user_id": {owner.UserID.String()}}, {"actor_user_id": {member.UserID.String()}, "action_prefix": {"auth."}}} {
		q.Set("cursor", *page.NextCursor)
		expectProblem(t, h.do(t, req{method: "GET", path: "/api/v1/accounts/me/audit-events?" + q.Encode(), bearer: otk.AccessToken}),
			http.StatusUnprocessableEntity, "invalid_cursor")
	}

	// Filters that cannot match are errors naming the parameter and why.
	for q, field := range map[string]string{
		"action_prefix=nope.":                                   "action_prefix",
		"action=member.created&action_prefix=member.":           "action_prefix",
		"since=2031-03-01T10:00:00Z&until=2031-03-01T10:00:00Z": "until",
		"since=2031-03-01T11:00:00Z&until=2031-03-01T10:00:00Z": "until",
		"action=member.deleted":                                 "action",
		"action_prefix=Member.":                                 "action_prefix",
	} {
		p := expectProblem(t, h.do(t, req{method: "GET", path: "/api/v1/accounts/me/audit-events?" + q, bearer: otk.AccessToken}),
			http.StatusUnprocessableEntity, "validation_failed")
		if len(p.Errors) != 1 || p.Errors[0].Field != field {
			t.Errorf("%s: errors %+v, want one naming %s", q, p.Errors, field)
		}
	}
}

func TestLists_ADM01_UnknownQueryParameter_400NamingIt_OnEveryKindOfOperation(t *testing.T) {
	h := newHarness(t)
	_, otk := h.owner(t, "unknownq")
	at := otk.AccessToken
	for _, c := range []struct {
		method, path, param string
		body                any
	}{
		// The examples: filters that were silently ignored.
		{"GET", "/api/v1/accounts/me/audit-events?sort=created_at", "sort", nil},
		{"GET", "/api/v1/accounts/me/members?actor_user_id=" + uuid.NewString() + "&since=2031-01-01T00:00:00Z", "actor_user_id", nil},
		{"GET", "/api/v1/accounts/me/sessions?sort=created_at", "sort", nil},
		{"GET", "/api/v1/accounts/me/members?sort_by=name", "sort_by", nil},
		{"GET", "/api/v1/sessions?limit=1", "limit", nil},
		{"GET", "/api/v1/auth/me?fields=email", "fields", nil},
		{"PATCH", "/api/v1/accounts/me/security?dry_run=true", "dry_run", map[string]any{"idle_minutes": 60}},
		{"DELETE", "/api/v1/sessions/" + uuid.NewString() + "?force=true", "force", nil},
		{"GET", "/healthz?verbose=1", "verbose", nil},
		{"GET", "/.well-known/jwks.json?kid=x", "kid", nil},
	} {
		res := h.do(t, req{method: c.method, path: c.path, bearer: at, body: c.body})
		p := expectProblem(t, res, http.StatusBadRequest, "unknown_parameter")
		if len(p.Errors) != 1 || p.Errors[0].Field != c.param || !strings.Contains(p.Detail, fmt.Sprintf("%q", c.param)) {
			t.Errorf("%s %s: %+v", c.method, c.path, p)
		}
	}
	// The message lists what the operation takes.
	p := expectProblem(t, h.do(t, req{method: "GET", path: "/api/v1/accounts/me/members?sort_by=name", bearer: at}),
		http.StatusBadRequest, "unknown_parameter")
	if !strings.Contains(p.Detail, "active, cursor, email_prefix, limit, role, sort") {
		t.Errorf("detail %q does not list the parameters", p.Detail)
	}
	// A declared parameter given twice is refused too (only one would apply).
	p = expectProblem(t, h.do(t, req{method: "GET", path: "/api/v1/accounts/me/audit-events?limit=1&limit=2", bearer: at}),
		http.StatusBadRequest, "unknown_parameter")
	if len(p.Errors) != 1 || p.Errors[0].Field != "limit" || !strings.Contains(p.Detail, "2 times") {
		t.Errorf("duplicate limit: %+v", p)
	}
	// Nothing changed: the PATCH with an unknown parameter did not apply.
	if sec := h.getSecurity(t, at); sec.IdleMinutes != nil {
		t.Errorf("refused PATCH applied: idle %d", *sec.IdleMinutes)
	}
	// Declared parameters still work.
	h.mustDo(t, req{method: "GET", path: "/api/v1/accounts/me/members?limit=1&sort=name", bearer: at}, http.StatusOK)
}

func TestErrors_ADM02_EveryRefusalNamesTheFieldAndTheRule(t *testing.T) {
	h := newHarness(t)
	_, otk := h.owner(t, "precise")
	at := otk.AccessToken
	member := h.addMember(t, at, "member")
	for _, c := range []struct {
		name, method, path string
		body               any
		contentType        string
		status             int
		code, field, rule  string
	}{
		{"limit 0", "GET", "/api/v1/accounts/me/audit-events?limit=0", nil, "", 422, "validation_failed", "limit", "limit must be an integer from 1 to 200"},
		{"limit 500", "GET", "/api/v1/accounts/me/members?limit=500", nil, "", 422, "validation_failed", "limit", "limit must be an integer from 1 to 200"},
		{"limit ten", "GET", "/api/v1/accounts/me/sessions?limit=ten", nil, "", 422, "validation_failed", "limit", "limit must be an integer from 1 to 200"},
		{"query uuid", "GET", "/api/v1/accounts/me/sessions?user_id=nope", nil, "", 422, "validation_failed", "user_id", "user_id must be a UUID"},
		{"audit actor uuid", "GET", "/api/v1/accounts/me/audit-events?actor_user_id=42", nil, "", 422, "validation_failed", "actor_user_id", "must be a UUID"},
		{"path uuid", "PATCH", "/api/v1/accounts/me/members/not-a-uuid", map[string]any{"role": "owner"}, "", 422, "validation_failed", "user_id", "path parameter user_id must be a UUID"},
		{"enum", "GET", "/api/v1/accounts/me/members?role=admin", nil, "", 422, "validation_failed", "role", "role must be one of: owner, member"},
		{"sort enum", "GET", "/api/v1/accounts/me/members?sort=email", nil, "", 422, "validation_failed", "sort", "one of: created_at, -created_at, name, -name"},
		{"boolean", "GET", "/api/v1/accounts/me/members?active=maybe", nil, "", 422, "validation_failed", "active", "active must be true or false"},
		{"date-time", "GET", "/api/v1/accounts/me/audit-events?since=yesterday", nil, "", 422, "validation_failed", "since", "must be an RFC 3339 date-time"},
		{"unknown body field", "PATCH", "/api/v1/accounts/me/security", map[string]any{"idle_minutes": 60, "idle_minute": 60}, "", 422, "validation_failed", "idle_minute", "idle_minute is not a field of this request; allowed: absolute_minutes, audit_retention_days, idle_minutes"},
		{"unknown member field", "PATCH", "/api/v1/accounts/me/members/" + member.UserID.String(), map[string]any{"active": false}, "", 422, "validation_failed", "active", "allowed: is_active, name, role"},
		{"body bounds", "POST", "/api/v1/accounts/me/members", map[string]any{"email": "x@example.com", "password": "short", "name": "X", "role": "member"}, "", 422, "validation_failed", "password", "password must be a string of 8 to 128 characters"},
		{"body enum", "PATCH", "/api/v1/accounts/me/members/" + member.UserID.String(), map[string]any{"role": "admin"}, "", 422, "validation_failed", "role", "role must be one of: owner, member"},
		{"body required", "POST", "/api/v1/accounts/me/members", map[string]any{"email": "x@example.com", "password": "long enough pw", "role": "member"}, "", 422, "validation_failed", "name", "name is required"},
		{"415 json", "PATCH", "/api/v1/accounts/me/security", "idle_minutes=60", "text/plain", 415, "unsupported_media_type", "Content-Type", "Content-Type must be application/json"},
		{"415 form", "POST", "/api/v1/auth/login", "{}", "text/plain", 415, "unsupported_media_type", "Content-Type", "application/x-www-form-urlencoded"},
	} {
		t.Run(c.name, func(t *testing.T) {
			res := h.do(t, req{method: c.method, path: c.path, bearer: at, body: c.body, contentType: c.contentType})
			p := expectProblem(t, res, c.status, c.code)
			if len(p.Errors) != 1 || p.Errors[0].Field != c.field || !strings.Contains(p.Errors[0].Message, c.rule) || p.Detail != p.Errors[0].Message {
				t.Errorf("detail %q, errors %+v; want one naming %q with %q", p.Detail, p.Errors, c.field, c.rule)
			}
		})
	}
}

// auditCount counts an account's audit events of one action.
func auditCount(t testing.TB, h *harness, accountID uuid.UUID, action string) int {
	t.Helper()
	return len(auditRows(t, h, accountID, action))
}

func TestAudit_ADM04_ChangesThatChangeNothingWriteNoEvent(t *testing.T) {
	h := newHarness(t)
	owner, otk := h.owner(t, "noop")
	at := otk.AccessToken
	member := h.createMember(t, at, uniqueEmail("noopm"), "Bob", "member")
	total := func() int { return len(auditRows(t, h, owner.AccountID, "")) }

	before := total()
	for _, body := range []any{map[string]any{}, map[string]any{"idle_minutes": nil}, map[string]any{"session_limit_action": "evict_oldest"},
		map[string]any{"max_sessions_per_user": nil, "absolute_minutes": nil}} {
		if res := h.patchSecurity(t, at, body); res.Status != http.StatusOK {
			t.Fatalf("patch %v: %d %s", body, res.Status, res.Body)
		}
	}
	if n := total(); n != before {
		t.Errorf("no-op policy patches wrote %d events", n-before)
	}
	if res := h.patchSecurity(t, at, map[string]any{"idle_minutes": 60}); res.Status != http.StatusOK {
		t.Fatal(res.Status)
	}
	if res := h.patchSecurity(t, at, map[string]any{"idle_minutes": 60}); res.Status != http.StatusOK {
		t.Fatal(res.Status)
	}
	if n := auditCount(t, h, owner.AccountID, "account.session_policy_update"); n != 1 {
		t.Errorf("a change then the same values again: %d events, want 1", n)
	}

	before = total()
	for _, body := range []any{map[string]any{}, map[string]any{"role": "member"}, map[string]any{"is_active": true},
		map[string]any{"name": "Bob"}, map[string]any{"name": "  Bob  "}, map[string]any{"role": "member", "is_active": true, "name": "Bob"}} {
		h.mustDo(t, req{method: "PATCH", path: "/api/v1/accounts/me/members/" + member.UserID.String(), bearer: at, body: body}, http.StatusOK)
	}
	for _, body := range []any{map[string]any{}, map[string]any{"name": "Test User"}} {
		h.mustDo(t, req{method: "PATCH", path: "/api/v1/auth/me", bearer: at, body: body}, http.StatusOK)
	}
	if n := total(); n != before {
		t.Errorf("no-op member and profile patches wrote %d events", n-before)
	}
	updatedAt := h.db.User(t, member.UserID).UpdatedAt
	h.clock.Advance(time.Hour)
	at = h.login(t, owner, nil).AccessToken
	h.mustDo(t, req{method: "PATCH", path: "/api/v1/accounts/me/members/" + member.UserID.String(), bearer: at,
		body: map[string]any{"name": "Bob"}}, http.StatusOK)
	if again := h.db.User(t, member.UserID).UpdatedAt; !again.Equal(updatedAt) {
		t.Errorf("a no-op member patch rewrote the row (updated_at %v → %v)", updatedAt, again)
	}
}

func TestProfile_RenameSelfAndMember_Trimmed_Audited_Validated(t *testing.T) {
	h := newHarness(t)
	owner, otk := h.owner(t, "profile")
	member := h.addMember(t, otk.AccessToken, "member")
	mtk := h.login(t, member, nil)

	// A member renames themselves (not owner-only).
	res := h.mustDo(t, req{method: "PATCH", path: "/api/v1/auth/me", bearer: mtk.AccessToken, body: map[string]any{"name": "  Robert  "}}, http.StatusOK)
	var u memberItem
	res.JSON(t, &u)
	if u.Name != "Robert" || u.ID != member.UserID {
		t.Fatalf("PATCH /auth/me answered %+v", u)
	}
	h.mustDo(t, req{method: "GET", path: "/api/v1/auth/me", bearer: mtk.AccessToken}, http.StatusOK).JSON(t, &u)
	if u.Name != "Robert" {
		t.Errorf("GET /auth/me name %q", u.Name)
	}
	ev := auditRows(t, h, owner.AccountID, "user.profile_updated")
	if len(ev) != 1 || ev[0].ActorUserID == nil || *ev[0].ActorUserID != member.UserID ||
		fmt.Sprint(ev[0].Details["old"]) != "map[name:Added member]" || fmt.Sprint(ev[0].Details["new"]) != "map[name:Robert]" {
		t.Errorf("profile events %+v", ev)
	}

	// The owner renames the member: audited member.updated with the names.
	res = h.mustDo(t, req{method: "PATCH", path: "/api/v1/accounts/me/members/" + member.UserID.String(), bearer: otk.AccessToken,
		body: map[string]any{"name": "Bobby"}}, http.StatusOK)
	res.JSON(t, &u)
	if u.Name != "Bobby" || u.Role != "member" || !u.Active {
		t.Errorf("member after rename: %+v", u)
	}
	upd := auditRows(t, h, owner.AccountID, "member.updated")
	if len(upd) != 1 {
		t.Fatalf("member.updated events: %+v", upd)
	}
	old, _ := upd[0].Details["old"].(map[string]any)
	nw, _ := upd[0].Details["new"].(map[string]any)
	if old["name"] != "Robert" || nw["name"] != "Bobby" || upd[0].Details["revoked_count"] != 0.0 {
		t.Errorf("member.updated details %s", upd[0].RawDetails)
	}
	expectAccessLive(t, h, mtk) // a rename ends no session

	// Names are checked like at sign-up, naming the field.
	for _, body := range []map[string]any{{"name": ""}, {"name": "   "}, {"name": strings.Repeat("x", 201)}, {"name": "a\x00b"}} {
		for _, path := range []string{"/api/v1/auth/me", "/api/v1/accounts/me/members/" + member.UserID.String()} {
			p := expectProblem(t, h.do(t, req{method: "PATCH", path: path, bearer: otk.AccessToken, body: body}), http.StatusUnprocessableEntity, "validation_failed")
			if len(p.Errors) != 1 || p.Errors[0].Field != "name" {
				t.Errorf("%s %q: %+v", path, body["name"], p)
			}
		}
	}
	// An ended session cannot rename.
	h.logout(t, mtk.AccessToken)
	expectProblem(t, h.do(t, req{method: "PATCH", path: "/api/v1/auth/me", bearer: mtk.AccessToken, body: map[string]any{"name": "Z"}}),
		http.StatusUnauthorized, "invalid_token")
}

// Tenant A with tenant B's names and ids: renaming oneself changes only the
// caller; A's member and audit filters never reach B's rows.
func TestIsolation_ProfileAndListFilters_StayInTheCallersTenant(t *testing.T) {
	h := newHarness(t)
	a := newTenant(t, h, "isoprof-a")
	b := newTenant(t, h, "isoprof-b")
	at := a.devices[0].AccessToken
	bIDs := b.identifiers()

	// Naming tenant B in a header is refused outright (JWT-08) ...
	expectProblem(t, h.do(t, req{method: "PATCH", path: "/api/v1/auth/me", bearer: at, headers: map[string]string{"X-Tenant-ID": b.owner.AccountID.String()},
		body: map[string]any{"name": "Renamed A"}}), http.StatusForbidden, "tenant_mismatch")
	// ... and without it the rename touches only the caller.
	res := h.mustDo(t, req{method: "PATCH", path: "/api/v1/auth/me", bearer: at,
		body: map[string]any{"name": "Renamed A"}}, http.StatusOK)
	noneOf(t, "PATCH /auth/me", res.Body, bIDs)
	var names []string
	for _, u := range h.db.Users(t, b.owner.AccountID, "") {
		names = append(names, u.Name)
	}
	if slices.Contains(names, "Renamed A") || len(names) == 0 {
		t.Errorf("tenant B's names: %v", names)
	}

	for _, q := range []url.Values{{"email_prefix": {b.owner.Email}}, {"email_prefix": {b.member.Email[:3]}}} {
		res := h.mustDo(t, req{method: "GET", path: "/api/v1/accounts/me/members?" + q.Encode(), bearer: at}, http.StatusOK)
		noneOf(t, "members "+q.Encode(), res.Body, bIDs)
	}
	for _, q := range []url.Values{{"user_id": {b.owner.UserID.String()}}, {"actor_user_id": {b.owner.UserID.String()}},
		{"session_id": {b.devices[0].SessionID.String()}}} {
		if p := h.auditPage(t, at, q); len(p.Items) != 0 {
			t.Errorf("audit %s: %d of B's events", q.Encode(), len(p.Items))
		}
	}
	h.stillLive(t, "tenant B", b.devices...)
}

func init() {
	isolationCovered["updateMe"] = true // TestIsolation_ProfileAndListFilters_StayInTheCallersTenant
}
