package http_test

// End-to-end tests of checklist rows that were proved only in parts:
// SES-03/CK-03 (what the logs hold after a full flow), LGN-03 (the stored
// hash upgraded by a sign-in), AUD-01 (one audit row per event, with every
// field).

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"log/slog"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/sessiond/sessiond/adapters/argon2"
	"github.com/sessiond/sessiond/adapters/mailer"
	"github.com/sessiond/sessiond/adapters/postgres/pgtest"
	"github.com/sessiond/sessiond/core"
)

// syncBuffer is a log sink safe for the server's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// teeMailer hands each mail to every mailer: the test's recorder and the
// development log mailer, whose lines are scanned too.
type teeMailer []core.Mailer

func (t teeMailer) SendPasswordReset(ctx context.Context, to, token string, exp time.Time) error {
	for _, m := range t {
		if err := m.SendPasswordReset(ctx, to, token, exp); err != nil {
			return err
		}
	}
	return nil
}

func (t teeMailer) SendEmailVerification(ctx context.Context, to, token string, exp time.Time) error {
	for _, m := range t {
		if err := m.SendEmailVerification(ctx, to, token, exp); err != nil {
			return err
		}
	}
	return nil
}

func (t teeMailer) SendInvitation(ctx context.Context, inv core.InvitationMail) error {
	for _, m := range t {
		if err := m.SendInvitation(ctx, inv); err != nil {
			return err
		}
	}
	return nil
}

// SES-03 / CK-03: after a full flow — register, sign-in in both transports,
// refreshes (body and cookie), a token in a query string, a wrong password,
// change-password, a reset by mail, a refresh-token replay, logout,
// logout-all, a member created with a password — the captured logs, at
// debug level, in production's JSON format, hold no JWT (`eyJ`), no
// password, no raw refresh, access, reset or CSRF token: only ids and
// hashes.
func TestLogs_SES03_CK03_FullFlow_NoTokensOrPasswordsInLogs(t *testing.T) {
	var sink syncBuffer
	log := slog.New(slog.NewJSONHandler(&sink, &slog.HandlerOptions{Level: slog.LevelDebug}))
	rec := &fakeMailer{}
	h := newHarnessOn(t, harnessSetup{Log: log, Mailer: teeMailer{rec, mailer.NewLog(log)}}, withCookieSecure(true))
	var secrets []string
	keep := func(s ...string) { secrets = append(secrets, s...) }

	u := h.register(t, uniqueEmail("logs"))
	keep(u.Password)
	tk := h.login(t, u, map[string]string{"User-Agent": firefoxLinux})
	keep(tk.AccessToken, tk.RefreshToken)
	_, refreshCookie, csrf := h.cookieLogin(t, u)
	keep(refreshCookie.Value, csrf.Value)
	next := h.mustRefresh(t, tk.RefreshToken)
	keep(next.AccessToken, next.RefreshToken)
	cr := h.cookieRefresh(t, refreshCookie, csrf, csrfHeader(csrf))
	expectStatus(t, cr, http.StatusOK, "cookie refresh")
	for _, c := range setCookies(cr) {
		keep(c.Value)
	}
	h.mustDo(t, req{method: "GET", path: "/api/v1/auth/me", bearer: next.AccessToken}, http.StatusOK)
	// CK-03: a token in the query string authenticates nothing and is not logged.
	expectProblem(t, h.do(t, req{method: "GET", path: "/api/v1/auth/me?access_token=" + next.AccessToken + "&refresh_token=" + next.RefreshToken}),
		http.StatusUnauthorized, "invalid_token")
	wrong := "wrong-password-" + uuid.NewString()
	keep(wrong)
	expectProblem(t, h.signIn(t, u.Email, wrong), http.StatusUnauthorized, "invalid_credentials")
	changed := "changed password " + uuid.NewString()
	keep(changed)
	h.mustDo(t, req{method: "POST", path: "/api/v1/auth/change-password", bearer: next.AccessToken,
		body: map[string]string{"current_password": u.Password, "new_password": changed}}, http.StatusNoContent)
	h.mustDo(t, req{method: "POST", path: "/api/v1/auth/password-reset/request", body: map[string]string{"email": u.Email}}, http.StatusOK)
	mails := rec.mails(u.Email)
	if len(mails) != 1 {
		t.Fatalf("%d reset mails", len(mails))
	}
	reset := "reset password " + uuid.NewString()
	keep(mails[0].Token, reset)
	h.mustDo(t, req{method: "POST", path: "/api/v1/auth/password-reset/confirm",
		body: map[string]string{"token": mails[0].Token, "new_password": reset}}, http.StatusNoContent)
	u.Password = reset
	a := h.login(t, u, nil)
	keep(a.AccessToken, a.RefreshToken)
	b := h.mustRefresh(t, a.RefreshToken)
	keep(b.AccessToken, b.RefreshToken)
	h.clock.Advance(time.Minute) // past the grace window: a replay is reuse
	expectProblem(t, h.refresh(t, a.RefreshToken), http.StatusUnauthorized, "refresh_token_reused")
	c := h.login(t, u, nil)
	keep(c.AccessToken, c.RefreshToken)
	memberPassword := "member password " + uuid.NewString()
	keep(memberPassword)
	h.mustDo(t, req{method: "POST", path: "/api/v1/accounts/me/members", bearer: c.AccessToken,
		body: map[string]string{"email": uniqueEmail("logs-m"), "password": memberPassword, "name": "M", "role": "member"}}, http.StatusCreated)
	h.mustDo(t, req{method: "POST", path: "/api/v1/auth/logout", bearer: c.AccessToken,
		body: map[string]string{"refresh_token": c.RefreshToken}}, http.StatusNoContent)
	d := h.login(t, u, nil)
	keep(d.AccessToken, d.RefreshToken)
	h.mustDo(t, req{method: "POST", path: "/api/v1/auth/logout-all", bearer: d.AccessToken}, http.StatusOK)

	logs := sink.String()
	if n := strings.Count(logs, `"msg":"request"`); n < 15 {
		t.Fatalf("only %d access-log lines captured: is the capture broken?\n%s", n, logs)
	}
	for _, want := range []string{"login failed", "password reset mail not delivered", "refresh token reuse detected"} {
		if !strings.Contains(logs, want) {
			t.Errorf("the flow's %q line is missing: is the capture broken?", want)
		}
	}
	if i := strings.Index(logs, "eyJ"); i >= 0 {
		t.Errorf("a JWT in the logs: …%s…", logs[max(0, i-200):min(len(logs), i+100)])
	}
	for _, s := range secrets {
		if s == "" {
			continue
		}
		// The secret as it is, and as a log encoder could write it.
		for _, form := range []string{s, base64.StdEncoding.EncodeToString([]byte(s)), strconv.Quote(s)[1 : len(strconv.Quote(s))-1]} {
			if strings.Contains(logs, form) {
				t.Errorf("a secret (%.12s…) is in the logs", s)
			}
		}
	}
}

var phc = regexp.MustCompile(`^\$argon2id\$v=19\$m=(\d+),t=(\d+),p=(\d+)\$([A-Za-z0-9+/]+)\$([A-Za-z0-9+/]+)$`)

type phcHash struct {
	m, t, p int
	salt    []byte
}

func storedHash(t testing.TB, db *pgtest.DB, userID uuid.UUID) (string, phcHash) {
	t.Helper()
	enc := db.User(t, userID).PasswordHash
	m := phc.FindStringSubmatch(enc)
	if m == nil {
		t.Fatalf("stored hash %q is not an argon2id PHC string", enc)
	}
	var h phcHash
	h.m, _ = strconv.Atoi(m[1])
	h.t, _ = strconv.Atoi(m[2])
	h.p, _ = strconv.Atoi(m[3])
	salt, err := base64.RawStdEncoding.DecodeString(m[4])
	if err != nil {
		t.Fatalf("salt of %q: %v", enc, err)
	}
	h.salt = salt
	return enc, h
}

// LGN-03, end to end: two users registered with the same password under
// weaker parameters get distinct ≥16-byte salts; after the operator raises
// the parameters to OWASP's (m=19456 KiB, t=2, p=1), the next successful
// sign-in stores a hash with the new parameters (audited as
// hash_upgraded), the password still works, a second sign-in does not
// rehash again, and the user who did not sign in keeps the old hash.
func TestRehash_LGN03_StoredHashUpgradedAtSignInAfterRaisingParameters(t *testing.T) {
	db := pgtest.Shared(t)
	weak := argon2.Params{MemoryKiB: 1024, Iterations: 1, Parallelism: 1, SaltLen: 16, KeyLen: 32}
	low := newHarnessOn(t, harnessSetup{DB: db, Argon2: weak})
	u := low.register(t, uniqueEmail("lgn03-a"))
	// The second user with the same password.
	var v registered
	low.mustDo(t, req{method: "POST", path: "/api/v1/auth/register", body: map[string]string{
		"email": uniqueEmail("lgn03-b"), "password": u.Password, "name": "B", "account_name": "B",
	}}, http.StatusCreated).JSON(t, &struct {
		ID *uuid.UUID `json:"id"`
	}{&v.UserID})
	encU, hu := storedHash(t, db, u.UserID)
	encV, hv := storedHash(t, db, v.UserID)
	if hu.m != 1024 || hu.t != 1 || hu.p != 1 {
		t.Fatalf("registered with m=%d t=%d p=%d, want the weak parameters", hu.m, hu.t, hu.p)
	}
	if len(hu.salt) < 16 || bytes.Equal(hu.salt, hv.salt) || encU == encV {
		t.Fatalf("salts: %x / %x (want distinct, ≥16 bytes)", hu.salt, hv.salt)
	}

	high := newHarnessOn(t, harnessSetup{DB: db, Argon2: argon2.OWASPParams()})
	high.login(t, u, nil)
	enc2, h2 := storedHash(t, db, u.UserID)
	if h2.m < 19456 || h2.t < 2 || h2.p != 1 || enc2 == encU || len(h2.salt) < 16 {
		t.Fatalf("after sign-in the stored hash is %q, want m≥19456, t≥2, p=1", enc2)
	}
	rows := auditRows(t, high, u.AccountID, "auth.login_succeeded")
	if len(rows) != 1 || rows[0].Details["hash_upgraded"] != true {
		t.Fatalf("login audit rows: %+v", rows)
	}
	high.clock.Advance(time.Minute)
	high.login(t, u, nil)
	if enc3, _ := storedHash(t, db, u.UserID); enc3 != enc2 {
		t.Fatal("a second sign-in rehashed an up-to-date hash")
	}
	if rows := auditRows(t, high, u.AccountID, "auth.login_succeeded"); len(rows) != 2 || rows[1].Details["hash_upgraded"] != false {
		t.Fatalf("second login audit: %+v", rows)
	}
	if encV2, _ := storedHash(t, db, v.UserID); encV2 != encV {
		t.Fatal("the user who did not sign in had their hash changed")
	}
}

// auditFull is one audit row with every column.
type auditFull struct {
	Action, ResourceType string
	Actor                *uuid.UUID
	ResourceID           *string
	Details              map[string]any
	IP                   *string
	UserAgent            *string
	At                   time.Time
}

// AUD-01, end to end: sign-in success and failure, a refresh, reuse
// detection, logout, a device revoked by its user, an owner's bulk
// revocation — each event is one row, in order, carrying the tenant, the
// actor, the subject (resource), the session concerned, the client's IP
// (through a trusted proxy), its user agent, and the time (UTC, the
// service's clock). A successful refresh writes none (the session row
// records it). No row holds a secret.
func TestAudit_AUD01_FullFlow_OneRowPerEventWithEveryField(t *testing.T) {
	h := productionHarness(t)
	const ip, ua = "198.51.100.44", firefoxLinux
	client := map[string]string{"X-Forwarded-For": ip, "User-Agent": ua}
	owner := h.register(t, uniqueEmail("aud01"))
	member := h.memberOf(t, owner)
	since := h.clock.Now().Add(time.Second)
	h.clock.Advance(time.Minute)

	type expected struct {
		action, resourceType, resourceID string
		actor                            uuid.UUID
		session                          string // the session concerned, in resource_id or details
		at                               time.Time
	}
	var want []expected
	step := func() time.Time { h.clock.Advance(7 * time.Second); return h.clock.Now() }

	at := step()
	s1 := h.login(t, owner, client)
	want = append(want, expected{"auth.login_succeeded", "session", s1.SessionID.String(), owner.UserID, s1.SessionID.String(), at})
	at = step()
	expectProblem(t, h.do(t, req{method: "POST", path: "/api/v1/auth/login/json", headers: client,
		body: map[string]string{"email": owner.Email, "password": "wrong password"}}), http.StatusUnauthorized, "invalid_credentials")
	want = append(want, expected{"auth.login_failed", "user", owner.UserID.String(), owner.UserID, "", at})
	step()
	s1b := h.mustRefresh(t, s1.RefreshToken) // no row
	at = step()
	h.clock.Advance(time.Minute) // past the grace window
	at = at.Add(time.Minute)
	expectProblem(t, h.do(t, req{method: "POST", path: "/api/v1/auth/refresh", headers: client,
		body: map[string]string{"refresh_token": s1.RefreshToken}}), http.StatusUnauthorized, "refresh_token_reused")
	want = append(want, expected{"auth.refresh_reuse_detected", "session", s1.SessionID.String(), owner.UserID, s1.SessionID.String(), at})
	_ = s1b
	at = step()
	s2 := h.login(t, owner, client)
	want = append(want, expected{"auth.login_succeeded", "session", s2.SessionID.String(), owner.UserID, s2.SessionID.String(), at})
	at = step()
	h.mustDo(t, req{method: "POST", path: "/api/v1/auth/logout", bearer: s2.AccessToken, headers: client}, http.StatusNoContent)
	want = append(want, expected{"auth.logout", "session", s2.SessionID.String(), owner.UserID, s2.SessionID.String(), at})
	at = step()
	s3 := h.login(t, owner, client)
	want = append(want, expected{"auth.login_succeeded", "session", s3.SessionID.String(), owner.UserID, s3.SessionID.String(), at})
	at = step()
	s4 := h.login(t, owner, client)
	want = append(want, expected{"auth.login_succeeded", "session", s4.SessionID.String(), owner.UserID, s4.SessionID.String(), at})
	at = step()
	h.mustDo(t, req{method: "DELETE", path: "/api/v1/sessions/" + s4.SessionID.String(), bearer: s3.AccessToken, headers: client}, http.StatusNoContent)
	want = append(want, expected{"session.revoked", "session", s4.SessionID.String(), owner.UserID, s4.SessionID.String(), at})
	at = step()
	m1 := h.login(t, member, client)
	want = append(want, expected{"auth.login_succeeded", "session", m1.SessionID.String(), member.UserID, m1.SessionID.String(), at})
	at = step()
	h.mustDo(t, req{method: "POST", path: "/api/v1/accounts/me/security/revoke-sessions", bearer: s3.AccessToken, headers: client,
		body: map[string]string{"scope": "others"}}, http.StatusOK)
	want = append(want, expected{"account.sessions_revoked_bulk", "account", owner.AccountID.String(), owner.UserID, "", at})

	var got []auditFull
	for _, e := range h.db.AuditEvents(t, owner.AccountID, since) {
		r := auditFull{Action: e.Action, ResourceType: e.ResourceType, Actor: e.ActorUserID, ResourceID: e.ResourceID, IP: e.IP, UserAgent: e.UserAgent, At: e.CreatedAt}
		if err := json.Unmarshal([]byte(e.Details), &r.Details); err != nil {
			t.Fatal(err)
		}
		got = append(got, r)
	}
	if len(got) != len(want) {
		var names []string
		for _, r := range got {
			names = append(names, r.Action)
		}
		t.Fatalf("%d audit rows %v, want %d (one per event)", len(got), names, len(want))
	}
	for i, w := range want {
		g := got[i]
		where := strconv.Itoa(i) + " " + w.action
		if g.Action != w.action || g.ResourceType != w.resourceType || g.ResourceID == nil || *g.ResourceID != w.resourceID {
			t.Errorf("%s: got %s %s/%v", where, g.Action, g.ResourceType, g.ResourceID)
		}
		if g.Actor == nil || *g.Actor != w.actor {
			t.Errorf("%s: actor %v, want %s", where, g.Actor, w.actor)
		}
		if w.session != "" && *g.ResourceID != w.session && g.Details["session_id"] != w.session {
			t.Errorf("%s: the session %s is named neither as resource nor in details %v", where, w.session, g.Details)
		}
		if g.IP == nil || *g.IP != ip {
			t.Errorf("%s: ip %v, want %s", where, g.IP, ip)
		}
		if g.UserAgent == nil || *g.UserAgent != ua {
			t.Errorf("%s: user agent %v", where, g.UserAgent)
		}
		if !g.At.Equal(w.at) {
			t.Errorf("%s: created_at %s, want %s", where, g.At, w.at)
		}
		for k, v := range g.Details {
			if s, ok := v.(string); ok && strings.HasPrefix(s, "eyJ") {
				t.Errorf("%s: details[%s] holds a token", where, k)
			}
		}
	}
}
