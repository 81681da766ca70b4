package http_test

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/sessiond/sessiond/adapters/postgres/pgtest"
)

// Verified emails in the production settings (EMAIL_VERIFICATION=required;
// docs/session-rules.md "Verified emails"; VER-* rows of
// docs/security-checklist.md).

// registerPending registers email with password (202, verification
// required) and returns the token of the newest verification mail to it
// ("" when none was sent).
func (h *harness) registerPending(t testing.TB, email, password string) (response, string) {
	t.Helper()
	res := h.mustDo(t, req{method: "POST", path: "/api/v1/auth/register", body: map[string]string{
		"email": email, "password": password, "name": "Pending User", "account_name": "Acme " + email,
	}}, http.StatusAccepted)
	mails := h.mailer.mailsOf("verify", email)
	if len(mails) == 0 {
		return res, ""
	}
	return res, mails[len(mails)-1].Token
}

// verifyEmail uses a verification token with the password of its
// registration (VER-08).
func (h *harness) verifyEmail(t testing.TB, token, password string) response {
	t.Helper()
	return h.do(t, req{method: "POST", path: "/api/v1/auth/verify-email", body: map[string]string{"token": token, "password": password}})
}

// verifiedOwner registers, verifies and signs in an owner under
// EMAIL_VERIFICATION=required.
func (h *harness) verifiedOwner(t testing.TB, prefix string) (registered, tokens) {
	t.Helper()
	email := uniqueEmail(prefix)
	u := registered{Email: email, Password: "correct horse " + email}
	_, token := h.registerPending(t, email, u.Password)
	h.mustDo(t, req{method: "POST", path: "/api/v1/auth/verify-email", body: map[string]string{"token": token, "password": u.Password}}, http.StatusNoContent)
	tk := h.login(t, u, nil)
	var me struct {
		ID        uuid.UUID `json:"id"`
		AccountID uuid.UUID `json:"account_id"`
	}
	h.mustDo(t, req{method: "GET", path: "/api/v1/auth/me", bearer: tk.AccessToken}, http.StatusOK).JSON(t, &me)
	u.UserID, u.AccountID = me.ID, me.AccountID
	return u, tk
}

func TestVerification_VER01_RegisterUnverified_SignIn403OnlyWithRightPassword_VerifyThenSignIn(t *testing.T) {
	h := newHarness(t, withProductionSettings())
	email := uniqueEmail("ver")
	u := registered{Email: email, Password: "correct horse " + email}
	res, token := h.registerPending(t, email, u.Password)
	var body struct{ Status, Message string }
	res.JSON(t, &body)
	if body.Status != "verification_required" || token == "" {
		t.Fatalf("register: %s, token %q", res.Body, token)
	}
	if m := h.mailer.mailsOf("verify", email); !m[0].ExpiresAt.Equal(t0.Add(24 * time.Hour)) {
		t.Errorf("expires %v", m[0].ExpiresAt)
	}
	// The right password: email_not_verified; a wrong one: as always.
	expectProblem(t, h.do(t, req{method: "POST", path: "/api/v1/auth/login/json", body: map[string]string{"email": email, "password": u.Password}}),
		http.StatusForbidden, "email_not_verified")
	expectProblem(t, h.do(t, req{method: "POST", path: "/api/v1/auth/login/json", body: map[string]string{"email": email, "password": "wrong password"}}),
		http.StatusUnauthorized, "invalid_credentials")

	h.mustDo(t, req{method: "POST", path: "/api/v1/auth/verify-email", body: map[string]string{"token": token, "password": u.Password}}, http.StatusNoContent)
	expectProblem(t, h.verifyEmail(t, token, u.Password), http.StatusBadRequest, "invalid_verification_token")
	expectProblem(t, h.verifyEmail(t, "no-such-token", u.Password), http.StatusBadRequest, "invalid_verification_token")
	tk := h.login(t, u, nil)
	var me struct {
		ID        uuid.UUID `json:"id"`
		AccountID uuid.UUID `json:"account_id"`
	}
	h.mustDo(t, req{method: "GET", path: "/api/v1/auth/me", bearer: tk.AccessToken}, http.StatusOK).JSON(t, &me)
	if a := auditRows(t, h, me.AccountID, "user.email_verified"); len(a) != 1 || a[0].ResourceID == nil || *a[0].ResourceID != me.ID.String() {
		t.Fatalf("audit %+v", a)
	}
}

// register tells nobody which emails exist: a verified account's email is
// answered as a free one, and nothing changes for that account.
func TestVerification_VER02_RegisterExistingVerifiedEmail_SameAnswer_NothingCreated(t *testing.T) {
	h := newHarness(t, withProductionSettings())
	owner, _ := h.verifiedOwner(t, "taken")
	fresh := uniqueEmail("free")
	a, _ := h.registerPending(t, owner.Email, "an attacker's password")
	b, _ := h.registerPending(t, fresh, "a newcomer's password")
	sameAnswer(t, "register taken vs free", a, b)
	if m := h.mailer.mailsOf("verify", owner.Email); len(m) != 1 { // the owner's own, from their registration
		t.Fatalf("verification mails to the taken email: %d", len(m))
	}
	h.login(t, owner, nil)
	expectProblem(t, h.do(t, req{method: "POST", path: "/api/v1/auth/login/json",
		body: map[string]string{"email": owner.Email, "password": "an attacker's password"}}), http.StatusUnauthorized, "invalid_credentials")
}

// Re-registering an unverified email replaces the pending registration
// and mails a new link; the old link is dead.
func TestVerification_VER03_ReRegisterUnverified_NewMail_OldLinkDead(t *testing.T) {
	h := newHarness(t, withProductionSettings())
	email := uniqueEmail("again")
	_, first := h.registerPending(t, email, "first password here")
	// Inside the mail interval a re-registration keeps the pending one.
	_, same := h.registerPending(t, email, "second password here")
	if same != first {
		t.Fatalf("re-registration inside the mail interval replaced the registration")
	}
	h.clock.Advance(2 * time.Minute)
	_, second := h.registerPending(t, email, "second password here")
	if second == "" || second == first {
		t.Fatalf("no new verification mail")
	}
	expectProblem(t, h.verifyEmail(t, first, "first password here"), http.StatusBadRequest, "invalid_verification_token")
	expectProblem(t, h.verifyEmail(t, first, "second password here"), http.StatusBadRequest, "invalid_verification_token")
	h.mustDo(t, req{method: "POST", path: "/api/v1/auth/verify-email", body: map[string]string{"token": second, "password": "second password here"}}, http.StatusNoContent)
	h.login(t, registered{Email: email, Password: "second password here"}, nil)
	if accounts := h.db.AccountsNamed(t, "Acme "+email); accounts != 1 {
		t.Fatalf("%d accounts of the email's registrations, want the reclaimed one gone", accounts)
	}
}

// An unverified registration expires: its link stops working and the
// email is free for whoever registers it next.
func TestVerification_VER04_UnverifiedExpires_LinkDead_EmailFreed(t *testing.T) {
	h := newHarness(t, withProductionSettings())
	email := uniqueEmail("expire")
	_, stale := h.registerPending(t, email, "squatter's password")
	h.clock.Advance(24*time.Hour + time.Second)
	expectProblem(t, h.verifyEmail(t, stale, "squatter's password"), http.StatusBadRequest, "invalid_verification_token")
	_, fresh := h.registerPending(t, email, "the real owner's password")
	h.mustDo(t, req{method: "POST", path: "/api/v1/auth/verify-email", body: map[string]string{"token": fresh, "password": "the real owner's password"}}, http.StatusNoContent)
	h.login(t, registered{Email: email, Password: "the real owner's password"}, nil)
	expectProblem(t, h.do(t, req{method: "POST", path: "/api/v1/auth/login/json",
		body: map[string]string{"email": email, "password": "squatter's password"}}), http.StatusUnauthorized, "invalid_credentials")
	// An invitation of an email held by an unverified registration
	// reclaims it too.
	_, otk := h.verifiedOwner(t, "reclaim")
	held := uniqueEmail("held")
	h.registerPending(t, held, "held's password here")
	_, token := h.invite(t, otk.AccessToken, held, "member")
	expectStatus(t, h.accept(t, token, "Held", "held's invited password", nil), http.StatusOK, "accept over an unverified registration")
}

// The resend answers the same for every address and mails only an
// unverified registration, at most once per interval.
func TestVerification_VER05_Resend_SameAnswerForEveryEmail_MailsOnlyPending_Bounded(t *testing.T) {
	h := newHarness(t, withProductionSettings())
	verified, _ := h.verifiedOwner(t, "done")
	pending := uniqueEmail("pending")
	h.registerPending(t, pending, "pending's password")
	h.clock.Advance(2 * time.Minute)
	resend := func(email string) response {
		return h.mustDo(t, req{method: "POST", path: "/api/v1/auth/verify-email/resend", body: map[string]string{"email": email}}, http.StatusAccepted)
	}
	a, b, c := resend(verified.Email), resend(pending), resend(uniqueEmail("nobody"))
	sameAnswer(t, "resend verified vs pending", a, b)
	sameAnswer(t, "resend pending vs unknown", b, c)
	if n := len(h.mailer.mailsOf("verify", verified.Email)); n != 1 {
		t.Errorf("verified got %d mails", n)
	}
	mails := h.mailer.mailsOf("verify", pending)
	if len(mails) != 2 {
		t.Fatalf("pending got %d mails, want 2", len(mails))
	}
	resend(pending)
	if n := len(h.mailer.mailsOf("verify", pending)); n != 2 {
		t.Errorf("a resend inside the interval mailed (%d mails)", n)
	}
	// Both links work until one is used.
	h.mustDo(t, req{method: "POST", path: "/api/v1/auth/verify-email", body: map[string]string{"token": mails[1].Token, "password": "pending's password"}}, http.StatusNoContent)
	expectProblem(t, h.verifyEmail(t, mails[0].Token, "pending's password"), http.StatusBadRequest, "invalid_verification_token")
}

// A password reset proves the mailbox as a verification link does: the
// owner of an unverified registration who resets its password can sign in
// with the new one, and the registration's pending link is spent.
func TestVerification_VER06_PasswordResetOfUnverified_VerifiesEmail(t *testing.T) {
	h := newHarness(t, withProductionSettings())
	email := uniqueEmail("reset-unverified")
	_, link := h.registerPending(t, email, "someone's first password")
	u := registered{Email: email, Password: "someone's first password"}
	token := h.resetToken(t, u)
	const next = "the mailbox owner's password"
	h.mustDo(t, req{method: "POST", path: "/api/v1/auth/password-reset/confirm",
		body: map[string]string{"token": token, "new_password": next}}, http.StatusNoContent)
	expectProblem(t, h.verifyEmail(t, link, next), http.StatusBadRequest, "invalid_verification_token")
	tk := h.login(t, registered{Email: email, Password: next}, nil)
	var me struct {
		AccountID uuid.UUID `json:"account_id"`
	}
	h.mustDo(t, req{method: "GET", path: "/api/v1/auth/me", bearer: tk.AccessToken}, http.StatusOK).JSON(t, &me)
	if a := auditRows(t, h, me.AccountID, "user.email_verified"); len(a) != 1 {
		t.Fatalf("user.email_verified events: %d", len(a))
	}
	if s := h.loginStatus(t, email, "someone's first password"); s != http.StatusUnauthorized {
		t.Errorf("old password: login %d", s)
	}
}

// Re-registering the email of an unverified owner whose account has other
// users (the owner signed in and invited while EMAIL_VERIFICATION was
// off) reclaims nothing: the account and its members stay, the owner's
// password is unchanged.
func TestVerification_VER07_ReRegisterUnverifiedOwnerWithMembers_NothingReclaimed(t *testing.T) {
	h := newHarness(t, withProductionSettings())
	owner, otk := h.verifiedOwner(t, "shared")
	member := uniqueEmail("member")
	_, token := h.invite(t, otk.AccessToken, member, "member")
	expectStatus(t, h.accept(t, token, "Member", "the member's password", nil), http.StatusOK, "accept")
	h.db.ChangeUser(t, owner.UserID, pgtest.UserChange{EmailUnverified: true})
	h.clock.Advance(h.cfg.ResetMail.MaxDelay)
	h.registerPending(t, owner.Email, "a squatter's password")
	if users := len(h.db.Users(t, owner.AccountID, "")); users != 2 {
		t.Fatalf("%d users left in the owner's account, want 2", users)
	}
	expectProblem(t, h.do(t, req{method: "POST", path: "/api/v1/auth/login/json",
		body: map[string]string{"email": owner.Email, "password": owner.Password}}), http.StatusForbidden, "email_not_verified")
	h.login(t, registered{Email: member, Password: "the member's password"}, nil)
}

// Account pre-hijacking (VER-08, docs/session-rules.md §9): an attacker
// registers the victim's address first with a password of their own; the
// victim's click on the mailed link does not verify that registration
// (the link needs its registration's password), the victim registers
// again, which kills the attacker's links, and ends up the only holder of
// the account.
func TestVerification_VER08_PreHijacking_VerifyNeedsTheRegistrationsPassword(t *testing.T) {
	h := newHarness(t, withProductionSettings())
	victim := uniqueEmail("victim")
	const attackerPW, victimPW = "the attacker's password", "the victim's own password"
	_, planted := h.registerPending(t, victim, attackerPW)
	if planted == "" {
		t.Fatal("no verification mail for the attacker's registration")
	}
	// The victim opens the link from their mailbox with their password.
	p := expectProblem(t, h.verifyEmail(t, planted, victimPW), http.StatusBadRequest, "verification_password_mismatch")
	if !strings.Contains(p.Detail, "register again") {
		t.Errorf("detail %q", p.Detail)
	}
	row := h.db.UserByEmail(t, victim)
	accountID, verified := row.AccountID, row.EmailVerifiedAt
	if verified != nil {
		t.Fatalf("the attacker's registration was verified at %v", verified)
	}
	// Audited as a failed sign-in of the email.
	if a := auditRows(t, h, accountID, "auth.login_failed"); len(a) != 1 || a[0].Details["reason"] != "verification_password_mismatch" {
		t.Fatalf("auth.login_failed rows %+v", a)
	}
	expectProblem(t, h.signIn(t, victim, attackerPW), http.StatusForbidden, "email_not_verified")

	// The victim registers again after the mail interval: a new mail, the
	// attacker's registration (and every link of it) gone.
	h.clock.Advance(2 * time.Minute)
	_, own := h.registerPending(t, victim, victimPW)
	if own == "" || own == planted {
		t.Fatal("no new verification mail for the victim's registration")
	}
	expectProblem(t, h.verifyEmail(t, planted, attackerPW), http.StatusBadRequest, "invalid_verification_token")
	expectProblem(t, h.verifyEmail(t, planted, victimPW), http.StatusBadRequest, "invalid_verification_token")
	// Nor can the attacker use the victim's link (were it to leak) with
	// their password.
	expectProblem(t, h.verifyEmail(t, own, attackerPW), http.StatusBadRequest, "verification_password_mismatch")
	h.mustDo(t, req{method: "POST", path: "/api/v1/auth/verify-email",
		body: map[string]string{"token": own, "password": victimPW}}, http.StatusNoContent)
	h.login(t, registered{Email: victim, Password: victimPW}, nil)
	expectProblem(t, h.signIn(t, victim, attackerPW), http.StatusUnauthorized, "invalid_credentials")

	// The password is required (the schema), not just checked.
	expectProblem(t, h.do(t, req{method: "POST", path: "/api/v1/auth/verify-email",
		body: map[string]string{"token": own}}), http.StatusUnprocessableEntity, "validation_failed")
}

// The attacker re-registers after the victim (replacing the victim's
// password with theirs): the newest link in the victim's mailbox is the
// attacker's registration's, and the victim's password does not verify it.
func TestVerification_VER08_AttackerReRegistersAfterVictim_NewestLinkRefused(t *testing.T) {
	h := newHarness(t, withProductionSettings())
	victim := uniqueEmail("victim-late")
	const attackerPW, victimPW = "the attacker's password", "the victim's own password"
	_, first := h.registerPending(t, victim, victimPW)
	h.clock.Advance(2 * time.Minute)
	_, newest := h.registerPending(t, victim, attackerPW)
	if newest == "" || newest == first {
		t.Fatal("no mail for the attacker's re-registration")
	}
	expectProblem(t, h.verifyEmail(t, first, victimPW), http.StatusBadRequest, "invalid_verification_token")
	expectProblem(t, h.verifyEmail(t, newest, victimPW), http.StatusBadRequest, "verification_password_mismatch")
	expectProblem(t, h.signIn(t, victim, attackerPW), http.StatusForbidden, "email_not_verified")
}

// Wrong passwords on the verification count on the email's brute-force
// counter as failed sign-ins (LGN-05 rule): past the threshold the
// verification and the sign-in of the email are 429; the token survives
// and, after the lock, works with the right password.
func TestVerification_VER08_WrongPasswordBurst_HitsTheSignInCounter(t *testing.T) {
	h := newHarness(t, withProductionSettings())
	email := uniqueEmail("ver-bf")
	const pw = "the registrant's password"
	_, token := h.registerPending(t, email, pw)
	threshold := h.cfg.Throttle.Threshold
	for i := range threshold {
		expectProblem(t, h.verifyEmail(t, token, "guess "+strconv.Itoa(i)), http.StatusBadRequest, "verification_password_mismatch")
	}
	res := h.verifyEmail(t, token, pw)
	expectProblem(t, res, http.StatusTooManyRequests, "rate_limited")
	retryAfter(t, res)
	expectProblem(t, h.signIn(t, email, pw), http.StatusTooManyRequests, "rate_limited")
	accountID := h.db.UserByEmail(t, email).AccountID
	if n := len(auditRows(t, h, accountID, "auth.login_failed")); n != threshold {
		t.Fatalf("%d auth.login_failed rows, want %d", n, threshold)
	}
	h.clock.Advance(h.cfg.Throttle.BaseDelay)
	h.mustDo(t, req{method: "POST", path: "/api/v1/auth/verify-email",
		body: map[string]string{"token": token, "password": pw}}, http.StatusNoContent)
	h.login(t, registered{Email: email, Password: pw}, nil)
}
