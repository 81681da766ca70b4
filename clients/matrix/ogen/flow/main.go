// Command flow runs a Go service's flow through the ogen client generated
// from openapi.yaml (clients/matrix/ogen/client, generated unedited by
// scripts/clients-matrix.sh with clients/matrix/ogen/ogen.yml) against a live
// server: register → login → me → rename → sessions → refresh → policy
// read/patch/clear-with-null → members (create, rename, list filtered,
// sorted and paged) → audit (filtered, paged) → JWKS → logout; then, against
// a second server whose database cannot answer in time, the owner
// operations that once lacked a documented 503 each return the typed
// ServiceUnavailable answer (not an untyped decoding error).
//
// SESSIOND_URL is the origin of the server, SESSIOND_FAULT_URL that of the
// second one (same signing keys, its database's sessions table locked,
// DB_STATEMENT_TIMEOUT 100ms).
package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/google/uuid"

	"github.com/sessiond/sessiond/clients/matrix/ogen/client"
)

var passed int

func check(ok bool, format string, args ...any) {
	if !ok {
		fmt.Printf("  FAIL "+format+"\n", args...)
		fmt.Printf("ogen-go: %d passed, 1 failed\n", passed)
		os.Exit(1)
	}
}

func step(name string) {
	passed++
	fmt.Printf("  ok   %s\n", name)
}

// bearer is the SecuritySource: the access token for both schemes that
// carry it; no refresh cookie (the refresh token travels in the body).
type bearer struct{ token string }

func (b *bearer) BearerAuth(context.Context, client.OperationName) (client.BearerAuth, error) {
	return client.BearerAuth{Token: b.token}, nil
}

func (b *bearer) Oauth2Password(context.Context, client.OperationName) (client.Oauth2Password, error) {
	return client.Oauth2Password{Token: b.token}, nil
}

func (b *bearer) RefreshCookie(context.Context, client.OperationName) (client.RefreshCookie, error) {
	return client.RefreshCookie{}, nil
}

func main() {
	base, faultBase := os.Getenv("SESSIOND_URL"), os.Getenv("SESSIOND_FAULT_URL")
	if base == "" || faultBase == "" {
		fmt.Fprintln(os.Stderr, "SESSIOND_URL and SESSIOND_FAULT_URL must be set")
		os.Exit(2)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	fmt.Println("ogen-go:")
	sec := &bearer{}
	c, err := client.NewClient(base, sec)
	check(err == nil, "client: %v", err)

	email := fmt.Sprintf("ogen.%d@example.com", time.Now().UnixNano())
	const password = "correct horse battery staple"
	reg, err := c.RegisterUser(ctx, &client.RegisterRequest{Email: email, Password: password, Name: "Ogen", AccountName: "Ogen Co"})
	owner, ok := reg.(*client.User)
	check(err == nil && ok && owner.Email == email, "register: %v %#v", err, reg)
	step("register")

	login, err := c.LoginJson(ctx, &client.LoginRequest{Email: email, Password: password},
		client.LoginJsonParams{XDeviceID: client.NewOptString("ogen-go")})
	tk, ok := login.(*client.TokenIssuedHeaders)
	check(err == nil && ok && tk.Response.RefreshToken.Set, "login: %v %#v", err, login)
	sec.token = tk.Response.AccessToken
	rt := tk.Response.RefreshToken.Value
	step("login (X-Device-Id sent)")

	me, err := c.GetMe(ctx)
	u, ok := me.(*client.User)
	check(err == nil && ok && u.Email == email, "me: %v %#v", err, me)
	renamed, err := c.UpdateMe(ctx, &client.ProfilePatch{Name: client.NewOptString("  Ogen Owner ")})
	u, ok = renamed.(*client.User)
	check(err == nil && ok && u.Name == "Ogen Owner", "rename self: %v %#v", err, renamed)
	step("me; PATCH /auth/me renames (trimmed)")

	sessions, err := c.ListSessions(ctx)
	sl, ok := sessions.(*client.SessionList)
	check(err == nil && ok && len(sl.Items) == 1 && sl.Items[0].IsCurrent, "sessions: %v %#v", err, sessions)
	step("sessions")

	refreshed, err := c.RefreshToken(ctx, client.NewOptRefreshRequest(client.RefreshRequest{RefreshToken: client.NewOptString(rt)}), client.RefreshTokenParams{})
	tk, ok = refreshed.(*client.TokenIssuedHeaders)
	check(err == nil && ok && tk.Response.RefreshToken.Set, "refresh: %v %#v", err, refreshed)
	sec.token, rt = tk.Response.AccessToken, tk.Response.RefreshToken.Value
	step("refresh")

	read, err := c.GetAccountSecurity(ctx)
	_, ok = read.(*client.AccountSecurity)
	check(err == nil && ok, "policy read: %v %#v", err, read)
	set, err := c.UpdateAccountSecurity(ctx, &client.SessionPolicyPatch{IdleMinutes: client.NewOptNilInt(60)})
	as, ok := set.(*client.AccountSecurity)
	check(err == nil && ok && as.IdleMinutes.Value == 60 && !as.IdleMinutes.Null, "policy patch: %v %#v", err, set)
	clear := client.OptNilInt{}
	clear.SetToNull()
	cleared, err := c.UpdateAccountSecurity(ctx, &client.SessionPolicyPatch{IdleMinutes: clear})
	as, ok = cleared.(*client.AccountSecurity)
	check(err == nil && ok && as.IdleMinutes.Null, "policy clear with null: %v %#v", err, cleared)
	step("policy read / patch / clear with null (OptNilInt)")

	var members []uuid.UUID
	for _, name := range []string{"Carol", "Alan", "Bea"} {
		res, err := c.CreateMember(ctx, &client.CreateMemberRequest{
			Email: fmt.Sprintf("%s.%s", name, email), Password: password, Name: name, Role: client.AccountRoleMember})
		m, ok := res.(*client.User)
		check(err == nil && ok, "create member %s: %v %#v", name, err, res)
		members = append(members, m.ID)
	}
	upd, err := c.UpdateMember(ctx, &client.MemberPatch{Name: client.NewOptString("Abe")}, client.UpdateMemberParams{UserID: members[0]})
	m, ok := upd.(*client.User)
	check(err == nil && ok && m.Name == "Abe", "rename member: %v %#v", err, upd)
	var names []string
	params := client.ListMembersParams{Role: client.NewOptAccountRole(client.AccountRoleMember),
		Sort: client.NewOptMemberSort(client.MemberSortName), Limit: client.NewOptInt(2)}
	for range 10 {
		res, err := c.ListMembers(ctx, params)
		page, ok := res.(*client.MemberPage)
		check(err == nil && ok, "list members: %v %#v", err, res)
		for _, it := range page.Items {
			names = append(names, it.Name)
		}
		if page.NextCursor.Null {
			break
		}
		params.Cursor = client.NewOptString(page.NextCursor.Value)
	}
	check(fmt.Sprint(names) == "[Abe Alan Bea]", "members by name, paged by 2: %v", names)
	step("members: create, rename, list by role sorted by name in pages of 2")

	var actions []client.AuditAction
	ap := client.ListAuditEventsParams{ActionPrefix: client.NewOptString("member."), ActorUserID: client.NewOptUUID(owner.ID), Limit: client.NewOptInt(1)}
	for range 10 {
		res, err := c.ListAuditEvents(ctx, ap)
		page, ok := res.(*client.AuditEventPage)
		check(err == nil && ok, "audit: %v %#v", err, res)
		for _, e := range page.Items {
			actions = append(actions, e.Action)
		}
		if page.NextCursor.Null {
			break
		}
		ap.Cursor = client.NewOptString(page.NextCursor.Value)
	}
	check(len(actions) == 4 && actions[0] == client.AuditActionMemberUpdated, "audit member.* by the owner: %v", actions)
	bad, err := c.ListAuditEvents(ctx, client.ListAuditEventsParams{ActionPrefix: client.NewOptString("nothing.")})
	p, ok := bad.(*client.ListAuditEventsUnprocessableEntity)
	check(err == nil && ok && p.Code == client.ProblemCodeValidationFailed && len(p.Errors) == 1 && p.Errors[0].Field == "action_prefix",
		"audit with a prefix that matches nothing: %v %#v", err, bad)
	step("audit: typed actions, filtered by prefix and actor, paged; typed 422 naming the parameter")

	jwks, err := c.GetJwks(ctx)
	ks, ok := jwks.(*client.JWKSet)
	check(err == nil && ok && len(ks.Keys) > 0, "jwks: %v %#v", err, jwks)
	step("jwks (same base URL)")

	// The fault server: same keys, so the token is valid there, but its
	// database cannot read the session in time: every owner operation
	// answers 503, which the client decodes as its typed answer.
	fc, err := client.NewClient(faultBase, sec)
	check(err == nil, "fault client: %v", err)
	unavailable := func(what string, res any, err error) {
		su, ok := res.(*client.ServiceUnavailableHeaders)
		check(err == nil && ok && su.Response.Code == client.ProblemCodeServiceUnavailable && su.RetryAfter >= 1,
			"%s on the fault server: want a typed 503, got %v %#v", what, err, res)
	}
	res1, err := fc.UpdateMember(ctx, &client.MemberPatch{Name: client.NewOptString("X")}, client.UpdateMemberParams{UserID: members[1]})
	unavailable("updateMember", res1, err)
	res2, err := fc.RemoveMember(ctx, client.RemoveMemberParams{UserID: members[1]})
	unavailable("removeMember", res2, err)
	res3, err := fc.RevokeMemberSessions(ctx, client.RevokeMemberSessionsParams{UserID: members[1]})
	unavailable("revokeMemberSessions", res3, err)
	res4, err := fc.ListAccountSessions(ctx, client.ListAccountSessionsParams{})
	unavailable("listAccountSessions", res4, err)
	res5, err := fc.RevokeAccountSession(ctx, client.RevokeAccountSessionParams{SessionID: uuid.New()})
	unavailable("revokeAccountSession", res5, err)
	res6, err := fc.ListMembers(ctx, client.ListMembersParams{})
	unavailable("listMembers", res6, err)
	step("503 typed (ServiceUnavailable, Retry-After) on updateMember, removeMember, revokeMemberSessions, listAccountSessions, revokeAccountSession, listMembers")

	out, err := c.Logout(ctx, client.NewOptLogoutRequest(client.LogoutRequest{RefreshToken: client.NewOptString(rt)}), client.LogoutParams{})
	_, ok = out.(*client.LogoutNoContent)
	check(err == nil && ok, "logout: %v %#v", err, out)
	after, err := c.GetMe(ctx)
	un, ok := after.(*client.GetMeUnauthorized)
	check(err == nil && ok && un.Code == client.ProblemCodeInvalidToken, "me after logout: %v %#v", err, after)
	step("logout; typed ProblemCode invalid_token after")
	fmt.Printf("ogen-go: %d passed, 0 failed\n", passed)
}
