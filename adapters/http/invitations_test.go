package http_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
)

// Invitations (docs/session-rules.md "Invitations"; INV-* rows of
// docs/security-checklist.md).

type invitationBody struct {
	ID         uuid.UUID  `json:"id"`
	Email      string     `json:"email"`
	Role       string     `json:"role"`
	Status     string     `json:"status"`
	InvitedBy  *uuid.UUID `json:"invited_by"`
	ExpiresAt  time.Time  `json:"expires_at"`
	LastSentAt time.Time  `json:"last_sent_at"`
	SendCount  int        `json:"send_count"`
}

// invite invites email as role (201) and returns the invitation and the
// token its mail carries.
func (h *harness) invite(t testing.TB, ownerAT, email, role string) (invitationBody, string) {
	t.Helper()
	res := h.mustDo(t, req{method: "POST", path: "/api/v1/accounts/me/invitations", bearer: ownerAT,
		body: map[string]string{"email": email, "role": role}}, http.StatusCreated)
	var inv invitationBody
	res.JSON(t, &inv)
	mails := h.mailer.mailsOf("invite", inv.Email)
	if len(mails) == 0 {
		t.Fatalf("no invitation mail to %s", email)
	}
	return inv, mails[len(mails)-1].Token
}

func (h *harness) accept(t testing.TB, token, name, password string, headers map[string]string) response {
	t.Helper()
	return h.do(t, req{method: "POST", path: "/api/v1/auth/invitations/accept", headers: headers,
		body: map[string]string{"token": token, "name": name, "password": password}})
}

func (h *harness) pendingInvitations(t testing.TB, ownerAT string) []invitationBody {
	t.Helper()
	return listItems[invitationBody](t, h, "/api/v1/accounts/me/invitations", ownerAT)
}

func TestInvitations_INV01_InviteAcceptListRevoke_SignedInLikeLogin(t *testing.T) {
	h := newHarness(t, withProductionSettings())
	owner, otk := h.verifiedOwner(t, "inv")
	email := uniqueEmail("invitee")

	inv, token := h.invite(t, otk.AccessToken, "  "+strings.ToUpper(email)+" ", "member")
	if inv.Email != email || inv.Role != "member" || inv.Status != "pending" || inv.SendCount != 1 ||
		inv.InvitedBy == nil || *inv.InvitedBy != owner.UserID || !inv.ExpiresAt.Equal(t0.Add(7*24*time.Hour)) {
		t.Fatalf("invitation %+v", inv)
	}
	if m := h.mailer.mailsOf("invite", email); len(m) != 1 || m[0].HasAccount || m[0].Token == "" {
		t.Fatalf("mails %+v", m)
	}
	if got := h.pendingInvitations(t, otk.AccessToken); len(got) != 1 || got[0].ID != inv.ID {
		t.Fatalf("pending %+v", got)
	}

	// Accepted in cookie transport: the answer of a cookie sign-in.
	res := h.accept(t, token, "  Ivy Invitee ", "ivy's own password", cookieTransport)
	expectStatus(t, res, http.StatusOK, "accept")
	assertNoRefreshInBody(t, res)
	cs := setCookies(res)
	if cs[secureRefreshCookie] == nil || cs[secureCSRFCookie] == nil || len(cs) < 3 {
		t.Fatalf("accept set %v", res.Header.Values("Set-Cookie"))
	}
	var tk tokens
	res.JSON(t, &tk)
	var me struct {
		ID        uuid.UUID `json:"id"`
		AccountID uuid.UUID `json:"account_id"`
		Email     string    `json:"email"`
		Name      string    `json:"name"`
		Role      string    `json:"account_role"`
	}
	h.mustDo(t, req{method: "GET", path: "/api/v1/auth/me", bearer: tk.AccessToken}, http.StatusOK).JSON(t, &me)
	if me.AccountID != owner.AccountID || me.Email != email || me.Name != "Ivy Invitee" || me.Role != "member" {
		t.Fatalf("me %+v", me)
	}
	// Their own password signs them in (verified by the acceptance).
	h.login(t, registered{Email: email, Password: "ivy's own password"}, nil)
	if got := h.pendingInvitations(t, otk.AccessToken); len(got) != 0 {
		t.Fatalf("pending after accept %+v", got)
	}
	expectProblem(t, h.accept(t, token, "Again", "another password", nil), http.StatusBadRequest, "invitation_used")
	if a := auditRows(t, h, owner.AccountID, "invitation.accepted").about(inv.ID.String()); len(a) != 1 || a[0].Details["user_id"] != me.ID.String() {
		t.Fatalf("accepted audit %+v", a)
	}
	if a := auditRows(t, h, owner.AccountID, "invitation.created").about(inv.ID.String()); len(a) != 1 || a[0].Details["email"] != email {
		t.Fatalf("created audit %+v", a)
	}

	// Revoked: the link answers invitation_revoked; revoking again changes
	// nothing and records nothing.
	inv2, token2 := h.invite(t, otk.AccessToken, uniqueEmail("revoked"), "owner")
	h.mustDo(t, req{method: "DELETE", path: "/api/v1/accounts/me/invitations/" + inv2.ID.String(), bearer: otk.AccessToken}, http.StatusNoContent)
	h.mustDo(t, req{method: "DELETE", path: "/api/v1/accounts/me/invitations/" + inv2.ID.String(), bearer: otk.AccessToken}, http.StatusNoContent)
	if a := auditRows(t, h, owner.AccountID, "invitation.revoked").about(inv2.ID.String()); len(a) != 1 {
		t.Fatalf("revoked audit %+v", a)
	}
	expectProblem(t, h.accept(t, token2, "Rex", "rex's own password", nil), http.StatusBadRequest, "invitation_revoked")
	if got := h.pendingInvitations(t, otk.AccessToken); len(got) != 0 {
		t.Fatalf("pending after revoke %+v", got)
	}
	expectProblem(t, h.do(t, req{method: "DELETE", path: "/api/v1/accounts/me/invitations/" + inv.ID.String(), bearer: otk.AccessToken}),
		http.StatusConflict, "conflict")
	expectProblem(t, h.do(t, req{method: "DELETE", path: "/api/v1/accounts/me/invitations/" + uuid.NewString(), bearer: otk.AccessToken}),
		http.StatusNotFound, "not_found")
	expectProblem(t, h.accept(t, "no-such-token", "Nobody", "nobody's password", nil), http.StatusBadRequest, "invalid_invitation_token")
}

func TestInvitations_INV02_ExpiredThenResent_OldLinkDead_ResendRateLimited(t *testing.T) {
	h := newHarness(t)
	owner, otk := h.owner(t, "invexp")
	email := uniqueEmail("late")
	inv, oldToken := h.invite(t, otk.AccessToken, email, "member")

	// A resend at once is refused with its wait.
	res := h.do(t, req{method: "POST", path: "/api/v1/accounts/me/invitations/" + inv.ID.String() + "/resend", bearer: otk.AccessToken})
	expectProblem(t, res, http.StatusTooManyRequests, "rate_limited")
	if res.Header.Get("Retry-After") != "60" {
		t.Errorf("Retry-After %q", res.Header.Get("Retry-After"))
	}

	h.clock.Advance(7*24*time.Hour + time.Second)
	otk = h.login(t, owner, nil)
	if got := h.pendingInvitations(t, otk.AccessToken); len(got) != 1 || got[0].Status != "expired" {
		t.Fatalf("listed %+v", got)
	}
	expectProblem(t, h.accept(t, oldToken, "Late", "late's own password", nil), http.StatusBadRequest, "invitation_expired")

	var resent invitationBody
	h.mustDo(t, req{method: "POST", path: "/api/v1/accounts/me/invitations/" + inv.ID.String() + "/resend", bearer: otk.AccessToken},
		http.StatusOK).JSON(t, &resent)
	if resent.Status != "pending" || resent.SendCount != 2 || !resent.ExpiresAt.Equal(h.clock.Now().Add(7*24*time.Hour)) {
		t.Fatalf("resent %+v", resent)
	}
	mails := h.mailer.mailsOf("invite", email)
	if len(mails) != 2 || mails[1].Token == oldToken {
		t.Fatalf("mails %+v", mails)
	}
	expectProblem(t, h.accept(t, oldToken, "Late", "late's own password", nil), http.StatusBadRequest, "invalid_invitation_token")
	expectStatus(t, h.accept(t, mails[1].Token, "Late", "late's own password", nil), http.StatusOK, "accept resent")
	if a := auditRows(t, h, owner.AccountID, "invitation.resent").about(inv.ID.String()); len(a) != 1 {
		t.Fatalf("resent audit %+v", a)
	}
	expectProblem(t, h.do(t, req{method: "POST", path: "/api/v1/accounts/me/invitations/" + inv.ID.String() + "/resend", bearer: otk.AccessToken}),
		http.StatusConflict, "conflict")
}

func TestInvitations_INV03_ConcurrentAcceptOfOneToken_ExactlyOneMember(t *testing.T) {
	h := newHarness(t)
	owner, otk := h.owner(t, "invrace")
	email := uniqueEmail("racer")
	_, token := h.invite(t, otk.AccessToken, email, "member")
	var ok, used atomic.Int64
	concurrently(8, func(i int) {
		res := h.do(t, req{method: "POST", path: "/api/v1/auth/invitations/accept",
			body: map[string]string{"token": token, "name": "Racer", "password": "racer's own password"}})
		switch {
		case res.Status == http.StatusOK:
			ok.Add(1)
		case res.Status == http.StatusBadRequest && res.Problem(t).Code == "invitation_used":
			used.Add(1)
		default:
			t.Errorf("accept %d: %d %s", i, res.Status, res.Body)
		}
	})
	if ok.Load() != 1 || used.Load() != 7 {
		t.Fatalf("ok %d, used %d", ok.Load(), used.Load())
	}
	if n := len(h.db.Users(t, owner.AccountID, email)); n != 1 {
		t.Fatalf("%d users with the invited email", n)
	}
}

// An invitation to an email that has an account anywhere in the service
// is answered as any other (no oracle); its mail says what to do; its
// acceptance fails with its own code.
func TestInvitations_INV04_EmailWithAnAccount_SameAnswer_MailSaysWhatToDo_AcceptRefused(t *testing.T) {
	h := newHarness(t)
	_, otk := h.owner(t, "invorc")
	elsewhere := h.register(t, uniqueEmail("elsewhere"))
	fresh := uniqueEmail("fresh")

	a := h.do(t, req{method: "POST", path: "/api/v1/accounts/me/invitations", bearer: otk.AccessToken,
		body: map[string]string{"email": elsewhere.Email, "role": "member"}})
	b := h.do(t, req{method: "POST", path: "/api/v1/accounts/me/invitations", bearer: otk.AccessToken,
		body: map[string]string{"email": fresh, "role": "member"}})
	if a.Status != http.StatusCreated || b.Status != http.StatusCreated {
		t.Fatalf("statuses %d %d", a.Status, b.Status)
	}
	var ka, kb map[string]json.RawMessage
	a.JSON(t, &ka)
	b.JSON(t, &kb)
	if len(ka) != len(kb) || string(ka["status"]) != string(kb["status"]) || string(ka["send_count"]) != string(kb["send_count"]) {
		t.Fatalf("answers differ:\n%s\n%s", a.Body, b.Body)
	}
	ma, mb := h.mailer.mailsOf("invite", elsewhere.Email), h.mailer.mailsOf("invite", fresh)
	if len(ma) != 1 || !ma[0].HasAccount || len(mb) != 1 || mb[0].HasAccount {
		t.Fatalf("mails %+v %+v", ma, mb)
	}
	expectProblem(t, h.accept(t, ma[0].Token, "Else", "else's own password", nil), http.StatusConflict, "invitation_email_taken")
	// The existing account is untouched.
	h.login(t, elsewhere, nil)
}

func TestInvitations_INV05_ListPaged_UnknownParameter400_ForeignCursor422_MembersCannot(t *testing.T) {
	h := newHarness(t)
	owner, otk := h.owner(t, "invlist")
	var ids []uuid.UUID
	for range 3 {
		inv, _ := h.invite(t, otk.AccessToken, uniqueEmail("page"), "member")
		ids = append(ids, inv.ID)
		h.clock.Advance(time.Second)
	}
	var p1, p2 struct {
		Items      []invitationBody `json:"items"`
		NextCursor *string          `json:"next_cursor"`
	}
	h.mustDo(t, req{method: "GET", path: "/api/v1/accounts/me/invitations?limit=2", bearer: otk.AccessToken}, http.StatusOK).JSON(t, &p1)
	if len(p1.Items) != 2 || p1.Items[0].ID != ids[0] || p1.Items[1].ID != ids[1] || p1.NextCursor == nil {
		t.Fatalf("page 1 %+v", p1)
	}
	h.mustDo(t, req{method: "GET", path: "/api/v1/accounts/me/invitations?limit=2&cursor=" + *p1.NextCursor, bearer: otk.AccessToken}, http.StatusOK).JSON(t, &p2)
	if len(p2.Items) != 1 || p2.Items[0].ID != ids[2] || p2.NextCursor != nil {
		t.Fatalf("page 2 %+v", p2)
	}
	expectProblem(t, h.do(t, req{method: "GET", path: "/api/v1/accounts/me/invitations?status=pending", bearer: otk.AccessToken}),
		http.StatusBadRequest, "unknown_parameter")
	var members struct {
		NextCursor *string `json:"next_cursor"`
	}
	h.addMember(t, otk.AccessToken, "member")
	h.mustDo(t, req{method: "GET", path: "/api/v1/accounts/me/members?limit=1", bearer: otk.AccessToken}, http.StatusOK).JSON(t, &members)
	expectProblem(t, h.do(t, req{method: "GET", path: "/api/v1/accounts/me/invitations?cursor=" + *members.NextCursor, bearer: otk.AccessToken}),
		http.StatusUnprocessableEntity, "invalid_cursor")

	m := h.memberOf(t, owner)
	mtk := h.login(t, m, nil)
	expectProblem(t, h.do(t, req{method: "GET", path: "/api/v1/accounts/me/invitations", bearer: mtk.AccessToken}), http.StatusForbidden, "forbidden")
	expectProblem(t, h.do(t, req{method: "POST", path: "/api/v1/accounts/me/invitations", bearer: mtk.AccessToken,
		body: map[string]string{"email": uniqueEmail("x"), "role": "owner"}}), http.StatusForbidden, "forbidden")
	expectProblem(t, h.do(t, req{method: "POST", path: "/api/v1/accounts/me/invitations/" + ids[0].String() + "/resend", bearer: mtk.AccessToken}),
		http.StatusForbidden, "forbidden")
	expectProblem(t, h.do(t, req{method: "DELETE", path: "/api/v1/accounts/me/invitations/" + ids[0].String(), bearer: mtk.AccessToken}),
		http.StatusForbidden, "forbidden")
}

// MEMBER_PASSWORDS defaults to off: an owner-set password is refused with
// its own code, and nothing is created.
func TestMembers_INV06_MemberPasswordsOffByDefault_403(t *testing.T) {
	h := newHarness(t, withProductionSettings())
	owner, otk := h.verifiedOwner(t, "mpw")
	email := uniqueEmail("pw")
	expectProblem(t, h.do(t, req{method: "POST", path: "/api/v1/accounts/me/members", bearer: otk.AccessToken,
		body: map[string]string{"email": email, "password": "an owner-chosen password", "name": "Pat", "role": "member"}}),
		http.StatusForbidden, "member_passwords_disabled")
	if a := auditRows(t, h, owner.AccountID, "member.created"); len(a) != 0 {
		t.Fatalf("audit %+v", a)
	}
}

func init() {
	for _, op := range []string{"listInvitations", "createInvitation", "resendInvitation", "revokeInvitation"} {
		isolationCovered[op] = true // TestIsolation_INV07_ForeignInvitationIDsAre404_ListsStayInTheTenant
	}
}

// Tenant A's owner never sees, resends or revokes tenant B's invitations,
// and A's invitations land in A.
func TestIsolation_INV07_ForeignInvitationIDsAre404_ListsStayInTheTenant(t *testing.T) {
	h := newHarness(t)
	_, atk := h.owner(t, "isoa")
	_, btk := h.owner(t, "isob")
	bInv, bToken := h.invite(t, btk.AccessToken, uniqueEmail("bguest"), "member")
	aInv, _ := h.invite(t, atk.AccessToken, uniqueEmail("aguest"), "member")
	if got := h.pendingInvitations(t, atk.AccessToken); len(got) != 1 || got[0].ID != aInv.ID {
		t.Fatalf("A lists %+v", got)
	}
	h.clock.Advance(2 * time.Minute)
	expectProblem(t, h.do(t, req{method: "POST", path: "/api/v1/accounts/me/invitations/" + bInv.ID.String() + "/resend", bearer: atk.AccessToken}),
		http.StatusNotFound, "not_found")
	expectProblem(t, h.do(t, req{method: "DELETE", path: "/api/v1/accounts/me/invitations/" + bInv.ID.String(), bearer: atk.AccessToken}),
		http.StatusNotFound, "not_found")
	if got := h.pendingInvitations(t, btk.AccessToken); len(got) != 1 || got[0].ID != bInv.ID || got[0].SendCount != 1 {
		t.Fatalf("B lists %+v", got)
	}
	expectStatus(t, h.accept(t, bToken, "B Guest", "b guest's password", nil), http.StatusOK, "B's invitation after A's attempts")
}
