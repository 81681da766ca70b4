package http_test

// Second factor and recent authentication through the real handler
// (docs/session-rules.md §11; docs/security-checklist.md MFA-01…, SUDO-01…).

import (
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/sessiond/sessiond/adapters/totp"
)

// totpCode is the authenticator's code for secret at t.
func totpCode(t testing.TB, secret string, at time.Time) string {
	t.Helper()
	c, err := totp.Code(secret, at)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// enrolTOTP enrols and confirms a TOTP factor for the session of at and
// returns the secret, the recovery codes and the fresh access token.
func (h *harness) enrolTOTP(t testing.TB, at string) (secret string, codes []string, fresh string) {
	t.Helper()
	var e struct {
		Secret string `json:"secret"`
		URI    string `json:"otpauth_uri"`
	}
	res := h.mustDo(t, req{method: "POST", path: "/api/v1/auth/mfa/totp", bearer: at}, http.StatusCreated)
	res.JSON(t, &e)
	if e.Secret == "" || len(e.URI) < len("otpauth://totp/") || e.URI[:15] != "otpauth://totp/" {
		t.Fatalf("enrolment %+v", e)
	}
	if res.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("enrolment Cache-Control %q", res.Header.Get("Cache-Control"))
	}
	var c struct {
		RecoveryCodes []string `json:"recovery_codes"`
		AccessToken   string   `json:"access_token"`
	}
	h.mustDo(t, req{method: "POST", path: "/api/v1/auth/mfa/totp/confirm", bearer: at,
		body: map[string]string{"code": totpCode(t, e.Secret, h.clock.Now())}}, http.StatusOK).JSON(t, &c)
	if len(c.RecoveryCodes) != 10 || c.AccessToken == "" {
		t.Fatalf("confirmation %+v", c)
	}
	return e.Secret, c.RecoveryCodes, c.AccessToken
}

type challenge struct {
	Token     string    `json:"mfa_challenge_token"`
	ExpiresAt time.Time `json:"expires_at"`
	Methods   []string  `json:"methods"`
}

// loginChallenge signs in a user with a second factor: 202 and a challenge.
func (h *harness) loginChallenge(t testing.TB, u registered) challenge {
	t.Helper()
	res := h.mustDo(t, req{method: "POST", path: "/api/v1/auth/login/json",
		body: map[string]string{"email": u.Email, "password": u.Password}}, http.StatusAccepted)
	var c challenge
	res.JSON(t, &c)
	if c.Token == "" || !slices.Equal(c.Methods, []string{"totp", "recovery_code"}) {
		t.Fatalf("challenge %s", res.Body)
	}
	return c
}

func (h *harness) verify(t testing.TB, c challenge, field, value string) response {
	t.Helper()
	return h.do(t, req{method: "POST", path: "/api/v1/auth/mfa/verify",
		body: map[string]string{"mfa_challenge_token": c.Token, field: value}})
}

func TestMFA01_EnrolConfirm_SignInNeedsTheCode_TokensCarryAmrAcrAuthTime_RefreshKeepsThem(t *testing.T) {
	h := newHarness(t)
	u := h.register(t, uniqueEmail("mfa01"))
	tk := h.login(t, u, nil)
	if c := claims(t, tk.AccessToken); c["acr"] != "aal1" || !slices.Equal(strs(c["amr"]), []string{"pwd"}) {
		t.Fatalf("password-only token claims %v", c)
	}
	secret, _, fresh := h.enrolTOTP(t, tk.AccessToken)
	if c := claims(t, fresh); c["acr"] != "aal2" || !slices.Equal(strs(c["amr"]), []string{"pwd", "otp"}) {
		t.Fatalf("confirmed session's token claims %v", c)
	}
	var st struct {
		Enabled   bool `json:"enabled"`
		Remaining int  `json:"recovery_codes_remaining"`
	}
	h.mustDo(t, req{method: "GET", path: "/api/v1/auth/mfa", bearer: fresh}, http.StatusOK).JSON(t, &st)
	if !st.Enabled || st.Remaining != 10 {
		t.Fatalf("status %+v", st)
	}

	h.clock.Advance(time.Minute)
	c := h.loginChallenge(t, u)
	if !c.ExpiresAt.Equal(h.clock.Now().Add(5 * time.Minute)) {
		t.Fatalf("challenge expires %v, want now+5m", c.ExpiresAt)
	}
	res := h.verify(t, c, "code", totpCode(t, secret, h.clock.Now()))
	expectStatus(t, res, http.StatusOK, "verify")
	var pair tokens
	res.JSON(t, &pair)
	ac := claims(t, pair.AccessToken)
	if ac["acr"] != "aal2" || !slices.Equal(strs(ac["amr"]), []string{"pwd", "otp"}) || num(t, ac, "auth_time") != h.clock.Now().Unix() {
		t.Fatalf("access claims %v", ac)
	}
	if len(res.Header.Values("Set-Cookie")) == 0 {
		t.Fatal("no device cookie after a second-factor sign-in")
	}
	authTime := h.clock.Now().Unix()
	h.clock.Advance(10 * time.Minute)
	next := h.mustRefresh(t, pair.RefreshToken)
	rc := claims(t, next.AccessToken)
	if rc["acr"] != "aal2" || !slices.Equal(strs(rc["amr"]), []string{"pwd", "otp"}) || num(t, rc, "auth_time") != authTime {
		t.Fatalf("refreshed access claims %v (auth_time want %d)", rc, authTime)
	}
	if n := len(auditRows(t, h, u.AccountID, "auth.mfa_enabled")); n != 1 {
		t.Fatalf("%d auth.mfa_enabled events", n)
	}
}

func strs(v any) []string {
	a, _ := v.([]any)
	out := make([]string, 0, len(a))
	for _, x := range a {
		s, _ := x.(string)
		out = append(out, s)
	}
	return out
}

func TestMFA02_ReplayedCodeRefused_SkewOneStepAccepted_TwoRefused(t *testing.T) {
	h := newHarness(t)
	u := h.register(t, uniqueEmail("mfa02"))
	tk := h.login(t, u, nil)
	secret, _, _ := h.enrolTOTP(t, tk.AccessToken)
	h.clock.Advance(10 * time.Minute)
	now := h.clock.Now()

	for _, d := range []time.Duration{-60 * time.Second, 60 * time.Second} {
		c := h.loginChallenge(t, u)
		expectProblem(t, h.verify(t, c, "code", totpCode(t, secret, now.Add(d))), http.StatusUnauthorized, "invalid_mfa_code")
	}
	c := h.loginChallenge(t, u)
	prev := totpCode(t, secret, now.Add(-30*time.Second))
	h.mustDo(t, req{method: "POST", path: "/api/v1/auth/mfa/verify",
		body: map[string]string{"mfa_challenge_token": c.Token, "code": prev}}, http.StatusOK)
	// The same code again, on a new challenge: refused (replay).
	c = h.loginChallenge(t, u)
	expectProblem(t, h.verify(t, c, "code", prev), http.StatusUnauthorized, "invalid_mfa_code")
	// One step ahead is accepted once.
	ahead := totpCode(t, secret, now.Add(30*time.Second))
	expectStatus(t, h.verify(t, c, "code", ahead), http.StatusOK, "+1 step")
	c = h.loginChallenge(t, u)
	expectProblem(t, h.verify(t, c, "code", ahead), http.StatusUnauthorized, "invalid_mfa_code")
	// The current step's code is older than the last accepted one: refused.
	expectProblem(t, h.verify(t, c, "code", totpCode(t, secret, now)), http.StatusUnauthorized, "invalid_mfa_code")
}

func TestMFA03_WrongCodes_CountedOnChallengeAndUser_Throttled(t *testing.T) {
	h := newHarness(t)
	u := h.register(t, uniqueEmail("mfa03"))
	tk := h.login(t, u, nil)
	secret, _, _ := h.enrolTOTP(t, tk.AccessToken)
	h.clock.Advance(time.Minute)
	wrong := func(c challenge) response {
		code := totpCode(t, secret, h.clock.Now())
		bad := []byte(code)
		bad[0] = '0' + (bad[0]-'0'+1)%10
		return h.verify(t, c, "code", string(bad))
	}
	failures := 0
	for failures < h.cfg.Throttle.Threshold {
		c := h.loginChallenge(t, u)
		for range 5 {
			expectProblem(t, wrong(c), http.StatusUnauthorized, "invalid_mfa_code")
			failures++
			if failures == h.cfg.Throttle.Threshold {
				break
			}
		}
		if failures < h.cfg.Throttle.Threshold {
			// Five wrong answers spend the challenge, even for the right code.
			expectProblem(t, h.verify(t, c, "code", totpCode(t, secret, h.clock.Now())), http.StatusUnauthorized, "invalid_mfa_challenge")
		}
	}
	// The user's counter is past its threshold: locked, whatever the code.
	c := h.loginChallenge(t, u)
	expectProblem(t, h.verify(t, c, "code", totpCode(t, secret, h.clock.Now())), http.StatusTooManyRequests, "rate_limited")
	if n := len(auditRows(t, h, u.AccountID, "auth.mfa_failed")); n != h.cfg.Throttle.Threshold {
		t.Fatalf("%d auth.mfa_failed events, want %d", n, h.cfg.Throttle.Threshold)
	}
	// After the lock, the right code works.
	h.clock.Advance(time.Hour)
	c = h.loginChallenge(t, u)
	expectStatus(t, h.verify(t, c, "code", totpCode(t, secret, h.clock.Now())), http.StatusOK, "after the lock")
}

func TestMFA04_RecoveryCodeWorksOnce_ChallengeSingleUseAndExpires(t *testing.T) {
	h := newHarness(t)
	u := h.register(t, uniqueEmail("mfa04"))
	tk := h.login(t, u, nil)
	_, codes, _ := h.enrolTOTP(t, tk.AccessToken)

	c := h.loginChallenge(t, u)
	expectStatus(t, h.verify(t, c, "recovery_code", codes[3]), http.StatusOK, "recovery code")
	// The challenge is spent.
	expectProblem(t, h.verify(t, c, "recovery_code", codes[4]), http.StatusUnauthorized, "invalid_mfa_challenge")
	// The code is spent.
	c = h.loginChallenge(t, u)
	expectProblem(t, h.verify(t, c, "recovery_code", codes[3]), http.StatusUnauthorized, "invalid_mfa_code")
	// A challenge expires after five minutes.
	c = h.loginChallenge(t, u)
	h.clock.Advance(5 * time.Minute)
	expectProblem(t, h.verify(t, c, "recovery_code", codes[5]), http.StatusUnauthorized, "invalid_mfa_challenge")
	// An unknown challenge.
	expectProblem(t, h.verify(t, challenge{Token: "not-a-challenge"}, "recovery_code", codes[5]), http.StatusUnauthorized, "invalid_mfa_challenge")
}

func TestMFA05_Disable_NeedsRecentAuth_ReauthenticateWithCode(t *testing.T) {
	h := newHarness(t)
	u := h.register(t, uniqueEmail("mfa05"))
	tk := h.login(t, u, nil)
	secret, _, _ := h.enrolTOTP(t, tk.AccessToken)
	h.clock.Advance(16 * time.Minute)
	at := h.mustRefresh(t, tk.RefreshToken)
	expectProblem(t, h.do(t, req{method: "DELETE", path: "/api/v1/auth/mfa/totp", bearer: at.AccessToken}), http.StatusForbidden, "reauthentication_required")
	// The password alone does not do when a factor is enrolled.
	expectProblem(t, h.do(t, req{method: "POST", path: "/api/v1/auth/reauthenticate", bearer: at.AccessToken,
		body: map[string]string{"password": u.Password}}), http.StatusUnauthorized, "invalid_mfa_code")
	expectProblem(t, h.do(t, req{method: "POST", path: "/api/v1/auth/reauthenticate", bearer: at.AccessToken,
		body: map[string]string{"password": "wrong password!", "code": totpCode(t, secret, h.clock.Now())}}), http.StatusUnauthorized, "invalid_credentials")
	var re struct {
		AccessToken string    `json:"access_token"`
		AuthTime    time.Time `json:"auth_time"`
	}
	h.mustDo(t, req{method: "POST", path: "/api/v1/auth/reauthenticate", bearer: at.AccessToken,
		body: map[string]string{"password": u.Password, "code": totpCode(t, secret, h.clock.Now())}}, http.StatusOK).JSON(t, &re)
	if num(t, claims(t, re.AccessToken), "auth_time") != h.clock.Now().Unix() || !re.AuthTime.Equal(h.clock.Now()) {
		t.Fatalf("reauthenticated token auth_time %v, body %v", claims(t, re.AccessToken)["auth_time"], re.AuthTime)
	}
	h.mustDo(t, req{method: "DELETE", path: "/api/v1/auth/mfa/totp", bearer: re.AccessToken}, http.StatusNoContent)
	h.login(t, u, nil) // no challenge any more
	if n := len(auditRows(t, h, u.AccountID, "auth.mfa_disabled")); n != 1 {
		t.Fatalf("%d auth.mfa_disabled events", n)
	}
}

// setPolicy patches the account's policy (the owner's session is recent).
func (h *harness) setPolicy(t testing.TB, ownerAT string, body map[string]any) {
	t.Helper()
	h.mustDo(t, req{method: "PATCH", path: "/api/v1/accounts/me/security", bearer: ownerAT, body: body}, http.StatusOK)
}

func TestMFA06_PolicyAll_EnrolOnlySession_FullAfterConfirm_LiveSessionsGrandfathered(t *testing.T) {
	h := newHarness(t)
	owner, otk := h.owner(t, "mfa06")
	member := h.addMember(t, otk.AccessToken, "member")
	live := h.login(t, member, nil)

	h.setPolicy(t, otk.AccessToken, map[string]any{"mfa_required": "all"})
	var sec struct {
		MFA          *string `json:"mfa_required"`
		EffectiveMFA string  `json:"effective_mfa_required"`
	}
	h.mustDo(t, req{method: "GET", path: "/api/v1/accounts/me/security", bearer: otk.AccessToken}, http.StatusOK).JSON(t, &sec)
	if sec.MFA == nil || *sec.MFA != "all" || sec.EffectiveMFA != "all" {
		t.Fatalf("policy %+v", sec)
	}
	// A session signed in before the change goes on (tightening applies
	// at the next sign-in).
	h.mustDo(t, req{method: "GET", path: "/api/v1/sessions", bearer: live.AccessToken}, http.StatusOK)

	tk := h.login(t, member, nil)
	if claims(t, tk.AccessToken)["mfa_enrol_only"] != true {
		t.Fatalf("claims %v", claims(t, tk.AccessToken))
	}
	for _, rq := range []req{
		{method: "GET", path: "/api/v1/sessions"},
		{method: "POST", path: "/api/v1/auth/logout-all"},
		{method: "GET", path: "/api/v1/accounts/me/security"},
	} {
		rq.bearer = tk.AccessToken
		expectProblem(t, h.do(t, rq), http.StatusForbidden, "mfa_enrollment_required")
	}
	h.mustDo(t, req{method: "GET", path: "/api/v1/auth/me", bearer: tk.AccessToken}, http.StatusOK)
	_, _, fresh := h.enrolTOTP(t, tk.AccessToken)
	if c := claims(t, fresh); c["mfa_enrol_only"] != nil || c["acr"] != "aal2" {
		t.Fatalf("after confirmation %v", c)
	}
	h.mustDo(t, req{method: "GET", path: "/api/v1/sessions", bearer: fresh}, http.StatusOK)
	// The refresh token of the same session now yields full tokens.
	next := h.mustRefresh(t, tk.RefreshToken)
	if c := claims(t, next.AccessToken); c["mfa_enrol_only"] != nil || c["acr"] != "aal2" {
		t.Fatalf("refreshed %v", c)
	}
	// The owner is required too: their next sign-in is enrol-only.
	if claims(t, h.login(t, owner, nil).AccessToken)["mfa_enrol_only"] != true {
		t.Fatal("owner's sign-in under mfa_required=all is not enrol-only")
	}
}

func TestMFA07_PolicyOwners_OnlyOwnersEnrolOnly(t *testing.T) {
	h := newHarness(t)
	owner, otk := h.owner(t, "mfa07")
	member := h.addMember(t, otk.AccessToken, "member")
	h.setPolicy(t, otk.AccessToken, map[string]any{"mfa_required": "owners", "reauth_max_age_minutes": 30})
	if claims(t, h.login(t, member, nil).AccessToken)["mfa_enrol_only"] != nil {
		t.Fatal("member is enrol-only under mfa_required=owners")
	}
	if claims(t, h.login(t, owner, nil).AccessToken)["mfa_enrol_only"] != true {
		t.Fatal("owner is not enrol-only under mfa_required=owners")
	}
	expectProblem(t, h.do(t, req{method: "PATCH", path: "/api/v1/accounts/me/security", bearer: otk.AccessToken,
		body: map[string]any{"reauth_max_age_minutes": 0}}), http.StatusUnprocessableEntity, "policy_out_of_bounds")
}

func TestMFA08_OwnerResetsMembersFactor_SessionsEnd_OtherTenantCannot(t *testing.T) {
	h := newHarness(t)
	_, otk := h.owner(t, "mfa08")
	member := h.addMember(t, otk.AccessToken, "member")
	mtk := h.login(t, member, nil)
	h.enrolTOTP(t, mtk.AccessToken)
	mfaEnabled := func() map[uuid.UUID]bool {
		var page struct {
			Items []struct {
				ID  uuid.UUID `json:"id"`
				MFA *bool     `json:"mfa_enabled"`
			} `json:"items"`
		}
		h.mustDo(t, req{method: "GET", path: "/api/v1/accounts/me/members", bearer: otk.AccessToken}, http.StatusOK).JSON(t, &page)
		out := map[uuid.UUID]bool{}
		for _, it := range page.Items {
			if it.MFA == nil {
				t.Fatalf("member %s without mfa_enabled", it.ID)
			}
			out[it.ID] = *it.MFA
		}
		return out
	}
	if m := mfaEnabled(); !m[member.UserID] || len(m) != 2 {
		t.Fatalf("member list mfa_enabled %v", m)
	}
	_, otherOwner := h.owner(t, "mfa08b")
	path := "/api/v1/accounts/me/members/" + member.UserID.String() + "/mfa/reset"
	expectProblem(t, h.do(t, req{method: "POST", path: path, bearer: otherOwner.AccessToken}), http.StatusNotFound, "not_found")
	expectProblem(t, h.do(t, req{method: "POST", path: path, bearer: mtk.AccessToken}), http.StatusForbidden, "forbidden")
	var rc struct {
		N int `json:"revoked_count"`
	}
	h.mustDo(t, req{method: "POST", path: path, bearer: otk.AccessToken}, http.StatusOK).JSON(t, &rc)
	if rc.N != 1 {
		t.Fatalf("revoked %d sessions, want 1", rc.N)
	}
	expectProblem(t, h.do(t, req{method: "GET", path: "/api/v1/sessions", bearer: mtk.AccessToken}), http.StatusUnauthorized, "invalid_token")
	h.login(t, member, nil) // password only again
	if m := mfaEnabled(); m[member.UserID] {
		t.Fatalf("after the reset: mfa_enabled %v", m)
	}
	if n := len(auditRows(t, h, member.AccountID, "member.mfa_reset")); n != 1 {
		t.Fatalf("%d member.mfa_reset events", n)
	}
	expectProblem(t, h.do(t, req{method: "POST", path: path, bearer: otk.AccessToken}), http.StatusNotFound, "not_found")
}

func TestREV03_RevokingTheCurrentSessionThroughTheDevicePath_Is400(t *testing.T) {
	h := newHarness(t)
	u := h.register(t, uniqueEmail("rev03"))
	tk := h.login(t, u, nil)
	expectProblem(t, h.do(t, req{method: "DELETE", path: "/api/v1/sessions/" + tk.SessionID.String(), bearer: tk.AccessToken}),
		http.StatusBadRequest, "cannot_revoke_current_session")
	h.mustDo(t, req{method: "GET", path: "/api/v1/sessions", bearer: tk.AccessToken}, http.StatusOK)
}

// TestSUDO01_EverySensitiveOperation_PastTheWindow_RefusedThenAcceptedAfterReauth:
// each operation that needs a recent authentication answers 403
// reauthentication_required once the session's authentication is older
// than the window (15 min by default), and works after POST
// /auth/reauthenticate.
func TestSUDO01_EverySensitiveOperation_PastTheWindow_RefusedThenAcceptedAfterReauth(t *testing.T) {
	h := newHarness(t)
	type setup struct {
		owner  registered
		member registered
		other  tokens // another session of the owner
	}
	cases := []struct {
		name   string
		mfa    bool // the owner enrols a factor first
		rq     func(s setup) req
		status int
	}{
		{"change password", false, func(s setup) req {
			return req{method: "POST", path: "/api/v1/auth/change-password",
				body: map[string]string{"current_password": s.owner.Password, "new_password": "a brand new passphrase"}}
		}, http.StatusNoContent},
		{"revoke another device", false, func(s setup) req {
			return req{method: "DELETE", path: "/api/v1/sessions/" + s.other.SessionID.String()}
		}, http.StatusNoContent},
		{"enrol when enrolled", true, func(setup) req { return req{method: "POST", path: "/api/v1/auth/mfa/totp"} }, http.StatusCreated},
		{"disable the factor", true, func(setup) req { return req{method: "DELETE", path: "/api/v1/auth/mfa/totp"} }, http.StatusNoContent},
		{"regenerate recovery codes", true, func(setup) req { return req{method: "POST", path: "/api/v1/auth/mfa/recovery-codes"} }, http.StatusOK},
		{"policy", false, func(setup) req {
			return req{method: "PATCH", path: "/api/v1/accounts/me/security", body: map[string]any{"idle_minutes": 60}}
		}, http.StatusOK},
		{"bulk revoke", false, func(setup) req {
			return req{method: "POST", path: "/api/v1/accounts/me/security/revoke-sessions", body: map[string]any{"scope": "others"}}
		}, http.StatusOK},
		{"member create", false, func(setup) req {
			e := uniqueEmail("sudo")
			return req{method: "POST", path: "/api/v1/accounts/me/members",
				body: map[string]string{"email": e, "password": "initial password " + e, "name": "New", "role": "member"}}
		}, http.StatusCreated},
		{"member update", false, func(s setup) req {
			return req{method: "PATCH", path: "/api/v1/accounts/me/members/" + s.member.UserID.String(), body: map[string]any{"name": "Renamed"}}
		}, http.StatusOK},
		{"member remove", false, func(s setup) req {
			return req{method: "DELETE", path: "/api/v1/accounts/me/members/" + s.member.UserID.String()}
		}, http.StatusNoContent},
		{"member revoke sessions", false, func(s setup) req {
			return req{method: "POST", path: "/api/v1/accounts/me/members/" + s.member.UserID.String() + "/revoke-sessions"}
		}, http.StatusOK},
		{"account session revoke", false, func(s setup) req {
			return req{method: "DELETE", path: "/api/v1/accounts/me/sessions/" + s.other.SessionID.String()}
		}, http.StatusNoContent},
		{"invitation create", false, func(setup) req {
			return req{method: "POST", path: "/api/v1/accounts/me/invitations",
				body: map[string]string{"email": uniqueEmail("sudo-invite"), "role": "member"}}
		}, http.StatusCreated},
		{"member mfa reset", false, func(s setup) req {
			return req{method: "POST", path: "/api/v1/accounts/me/members/" + s.member.UserID.String() + "/mfa/reset"}
		}, http.StatusOK},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			owner, otk := h.owner(t, "sudo")
			s := setup{owner: owner, member: h.addMember(t, otk.AccessToken, "member"), other: h.login(t, owner, nil)}
			if tc.name == "member mfa reset" {
				h.enrolTOTP(t, h.login(t, s.member, nil).AccessToken)
			}
			var secret string
			if tc.mfa {
				secret, _, _ = h.enrolTOTP(t, otk.AccessToken)
			}
			h.clock.Advance(16 * time.Minute)
			at := h.mustRefresh(t, otk.RefreshToken)
			rq := tc.rq(s)
			rq.bearer = at.AccessToken
			expectProblem(t, h.do(t, rq), http.StatusForbidden, "reauthentication_required")
			body := map[string]string{"password": owner.Password}
			if tc.mfa {
				body["code"] = totpCode(t, secret, h.clock.Now())
			}
			var re struct {
				AccessToken string `json:"access_token"`
			}
			h.mustDo(t, req{method: "POST", path: "/api/v1/auth/reauthenticate", bearer: at.AccessToken, body: body}, http.StatusOK).JSON(t, &re)
			rq = tc.rq(s)
			rq.bearer = re.AccessToken
			h.mustDo(t, rq, tc.status)
		})
	}
}

func TestSUDO02_WrongReauthPasswords_Throttled(t *testing.T) {
	h := newHarness(t)
	u := h.register(t, uniqueEmail("sudo02"))
	tk := h.login(t, u, nil)
	for range h.cfg.Throttle.Threshold {
		expectProblem(t, h.do(t, req{method: "POST", path: "/api/v1/auth/reauthenticate", bearer: tk.AccessToken,
			body: map[string]string{"password": "not the password"}}), http.StatusUnauthorized, "invalid_credentials")
	}
	expectProblem(t, h.do(t, req{method: "POST", path: "/api/v1/auth/reauthenticate", bearer: tk.AccessToken,
		body: map[string]string{"password": u.Password}}), http.StatusTooManyRequests, "rate_limited")
}

func init() {
	for _, op := range []string{"verifyMfa", "getMfaStatus", "enrolTotp", "confirmTotp", "disableTotp", "regenerateRecoveryCodes", "reauthenticate", "resetMemberMfa"} {
		isolationCovered[op] = true // TestIsolation_MFA_FactorsStayInTheirTenant, TestMFA08_…
	}
}

// TestIsolation_MFA_FactorsStayInTheirTenant: every second-factor operation
// of tenant B's owner acts on B's user only; A's factor, codes and
// challenge are neither seen nor changed.
func TestIsolation_MFA_FactorsStayInTheirTenant(t *testing.T) {
	h := newHarness(t)
	a, atk := h.owner(t, "isomfa-a")
	secret, codes, _ := h.enrolTOTP(t, atk.AccessToken)
	_, btk := h.owner(t, "isomfa-b")

	var st struct {
		Enabled bool `json:"enabled"`
	}
	h.mustDo(t, req{method: "GET", path: "/api/v1/auth/mfa", bearer: btk.AccessToken}, http.StatusOK).JSON(t, &st)
	if st.Enabled {
		t.Fatal("B sees a factor")
	}
	expectProblem(t, h.do(t, req{method: "DELETE", path: "/api/v1/auth/mfa/totp", bearer: btk.AccessToken}), http.StatusNotFound, "not_found")
	expectProblem(t, h.do(t, req{method: "POST", path: "/api/v1/auth/mfa/recovery-codes", bearer: btk.AccessToken}), http.StatusNotFound, "not_found")
	expectProblem(t, h.do(t, req{method: "POST", path: "/api/v1/auth/mfa/totp/confirm", bearer: btk.AccessToken,
		body: map[string]string{"code": totpCode(t, secret, h.clock.Now())}}), http.StatusNotFound, "not_found")
	h.mustDo(t, req{method: "POST", path: "/api/v1/auth/reauthenticate", bearer: btk.AccessToken,
		body: map[string]string{"password": a.Password}}, http.StatusUnauthorized)
	expectProblem(t, h.do(t, req{method: "POST", path: "/api/v1/accounts/me/members/" + a.UserID.String() + "/mfa/reset", bearer: btk.AccessToken}),
		http.StatusNotFound, "not_found")
	// B enrols its own factor; A's is untouched: A still needs its code,
	// and A's recovery code works.
	h.mustDo(t, req{method: "POST", path: "/api/v1/auth/mfa/totp", bearer: btk.AccessToken}, http.StatusCreated)
	c := h.loginChallenge(t, a)
	expectStatus(t, h.verify(t, c, "recovery_code", codes[0]), http.StatusOK, "A's recovery code")
}
