package http_test

import (
	"bytes"
	"cmp"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
	gojose "github.com/go-jose/go-jose/v4"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.opentelemetry.io/otel/trace"

	"github.com/sessiond/sessiond/adapters/argon2"
	"github.com/sessiond/sessiond/adapters/audit"
	"github.com/sessiond/sessiond/adapters/clock"
	httpadapter "github.com/sessiond/sessiond/adapters/http"
	"github.com/sessiond/sessiond/adapters/jose"
	"github.com/sessiond/sessiond/adapters/postgres"
	"github.com/sessiond/sessiond/adapters/postgres/pgtest"
	"github.com/sessiond/sessiond/adapters/telemetry"
	"github.com/sessiond/sessiond/adapters/useragent"
	"github.com/sessiond/sessiond/cmd/sessiond/assemble"
	"github.com/sessiond/sessiond/core"
)

// t0 is where every test's fake clock starts. Whole seconds, so auth_time
// (Unix seconds) equals the clock.
var t0 = time.Date(2031, 3, 1, 9, 0, 0, 0, time.UTC)

// testMFAKey seals TOTP secrets in tests (MFA_ENCRYPTION_KEY).
var testMFAKey = bytes.Repeat([]byte{0x42}, 32)

// harness is the real stack: real handler over httptest, real PostgreSQL
// as the runtime role, real signing. Only the clock is fake.
type harness struct {
	t      testing.TB
	srv    *httptest.Server
	clock  *clock.Fake
	codec  *jose.Codec
	key    gojose.JSONWebKey // the private key behind codec (attack tests forge tokens with it)
	db     *pgtest.DB
	cfg    core.Config
	hcfg   httpadapter.Config
	client *http.Client
	// mailer captures what the service mails: the one fake in the stack,
	// because mail leaves our walls.
	mailer *fakeMailer
	store  *postgres.Store
}

type harnessOption func(*core.Config, *httpadapter.Config)

func withGrace(d time.Duration) harnessOption {
	return func(c *core.Config, _ *httpadapter.Config) { c.Grace = d }
}

func withHTTPConfig(f func(*httpadapter.Config)) harnessOption {
	return func(_ *core.Config, h *httpadapter.Config) { f(h) }
}

// withProductionSettings restores the server's defaults the harness
// otherwise turns around: EMAIL_VERIFICATION=required, MEMBER_PASSWORDS=off.
func withProductionSettings() harnessOption {
	return func(c *core.Config, _ *httpadapter.Config) {
		d := core.DefaultConfig()
		c.EmailVerification, c.MemberPasswords = d.EmailVerification, d.MemberPasswords
	}
}

// withCookieSecure sets COOKIE_SECURE (on by default, as in production).
func withCookieSecure(secure bool) harnessOption {
	return func(_ *core.Config, h *httpadapter.Config) { h.CookieSecure = secure }
}

// deviceNamer is the real user-agent parser, compiled once per test binary.
var deviceNamer = sync.OnceValues(func() (*useragent.Namer, error) { return useragent.New() })

func newHarness(t testing.TB, opts ...harnessOption) *harness {
	t.Helper()
	return newHarnessOn(t, harnessSetup{}, opts...)
}

// harnessSetup picks the database and the pool's settings (faults tests);
// the zero value is the package's shared database with the default pool.
type harnessSetup struct {
	DB   *pgtest.DB
	Pool postgres.PoolOptions
	// Key is the signing key (nil: a fresh one); two instances of one
	// deployment share it.
	Key *gojose.JSONWebKey
	// AppPool is a ready pool of DB to use instead of opening one
	// (perf_test.go counts the round trips of its connections).
	AppPool *pgxpool.Pool
	// Log receives the service's and the handler's logs (nil: discarded).
	Log *slog.Logger
	// Argon2 are the hasher's parameters (zero: the cheap test ones).
	Argon2 argon2.Params
	// WrapHasher, when set, wraps the hasher (a spy).
	WrapHasher func(core.PasswordHasher) core.PasswordHasher
	// Mailer replaces the fake mailer (h.mailer then records nothing).
	Mailer core.Mailer
	// HashLimiter, when set, is the hasher's admission control as
	// cmd/sessiond wires it: the server's early sign-in shedding and its
	// metrics (the hasher itself is WrapHasher's to limit); nil: the
	// hasher's own limiter, which sheds nothing.
	HashLimiter *argon2.Limiter
	// Webhooks, when set, gives the parts of the webhook administration
	// the server serves (webhooks_test.go); nil: not configured.
	Webhooks func(clk *clock.Fake) (*audit.Sealer, *audit.Sender, *audit.Guard)
	// Tracer, when set, traces requests and database round trips as
	// cmd/sessiond does with OTEL_TRACES_EXPORTER=otlp (tracing_test.go).
	Tracer trace.TracerProvider
}

func newHarnessOn(t testing.TB, setup harnessSetup, opts ...harnessOption) *harness {
	t.Helper()
	// The server is built as cmd/sessiond builds it, through the same
	// calls (cmd/sessiond/assemble); what goes in differs, each difference
	// named where it is made.
	db := setup.DB
	if db == nil {
		db = pgtest.Shared(t)
	}
	log := setup.Log
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	// Tracing: no exporter (OTEL_TRACES_EXPORTER=none), or the test's
	// in-memory one instead of OTLP.
	tel, flush, err := assemble.Telemetry(telemetry.TracingConfig{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(flush)
	tel.SetTracerProvider(setup.Tracer)
	// The pool: 30 connections (DB_MAX_CONNS) unless the test sizes it, or
	// a ready pool of the test's (untraced).
	if setup.Pool.MaxConns == 0 {
		setup.Pool.MaxConns = 30
	}
	pool := setup.AppPool
	if pool == nil {
		var closePool func()
		pool, closePool, err = assemble.Pool(context.Background(), db.AppURL, setup.Pool, tel)
		if err != nil {
			t.Fatalf("app pool: %v", err)
		}
		t.Cleanup(closePool)
	}
	store := assemble.Store(pool, setup.Pool, tel)
	// Settings: most tests register and sign in at once and create members
	// with a password: verification off and member passwords on, unless a
	// test asks for the production settings (withProductionSettings); a
	// fixed MFA_ENCRYPTION_KEY.
	cfg := core.DefaultConfig()
	cfg.EmailVerification, cfg.MemberPasswords = false, true
	cfg.MFAKey = testMFAKey
	hcfg := httpadapter.Config{CookieSecure: true}
	for _, o := range opts {
		o(&cfg, &hcfg)
	}
	// Signing: a fresh key (or the test's) instead of SIGNING_KEYS_FILE,
	// test issuer, audience and client id.
	key, err := jose.GenerateEd25519()
	if err != nil {
		t.Fatal(err)
	}
	if setup.Key != nil {
		key = *setup.Key
	}
	codec, err := jose.NewCodec(mustKeySet(t, key), "sessiond-test", "sessiond-api", "test-client")
	if err != nil {
		t.Fatal(err)
	}
	// Hashing: cheap argon2 parameters keep the suite fast under -race
	// (the production ones are tested in adapters/argon2), within no
	// admission limits (argon2.New: nothing is shed) unless the test
	// brings a limiter (setup.HashLimiter) or wraps the hasher.
	params := setup.Argon2
	if params == (argon2.Params{}) {
		params = argon2.Params{MemoryKiB: 1024, Iterations: 1, Parallelism: 1, SaltLen: 16, KeyLen: 32}
	}
	argonHasher, err := argon2.New(params)
	if err != nil {
		t.Fatal(err)
	}
	var hasher core.PasswordHasher = argonHasher
	if setup.WrapHasher != nil {
		hasher = setup.WrapHasher(hasher)
	}
	admission := cmp.Or(setup.HashLimiter, argonHasher.Limiter())
	namer, err := deviceNamer()
	if err != nil {
		t.Fatal(err)
	}
	// The fakes: the clock, and the mailer (unless the test brings one).
	clk := clock.NewFake(t0)
	mail := &fakeMailer{}
	var mailer core.Mailer = mail
	if setup.Mailer != nil {
		mailer = setup.Mailer
	}
	// A smaller verified-token cache than ACCESS_TOKEN_CACHE_SIZE's
	// default; revocation must bite through it
	// (TestJWT09_EveryBearerOperation_RefusesRevokedSession).
	svc, err := assemble.Service(store, codec, hasher, clk, namer.DeviceNamer(), mailer,
		assemble.ServiceOptions{Core: cfg, VerifyCacheSize: 1024}, log)
	if err != nil {
		t.Fatal(err)
	}
	api, err := assemble.API(svc, codec, store, pool, admission, tel, hcfg, log)
	if err != nil {
		t.Fatal(err)
	}
	// Webhooks: administered only when the test asks (no
	// WEBHOOK_SECRETS_KEY otherwise: 503), with its own sealer, guard and
	// sender; no delivery worker (WEBHOOK_DELIVERY=false).
	if setup.Webhooks != nil {
		sealer, sender, guard := setup.Webhooks(clk)
		assemble.Webhooks(api, svc, sealer, sender, guard)
	}
	srv := httptest.NewServer(api.Handler())
	t.Cleanup(srv.Close)
	return &harness{t: t, srv: srv, clock: clk, codec: codec, key: key, db: db, cfg: cfg, hcfg: hcfg, client: srv.Client(), mailer: mail, store: store}
}

// fakeMailer records password-reset mails instead of sending them.
type fakeMailer struct {
	mu    sync.Mutex
	sent  []sentMail
	fails bool
}

type sentMail struct {
	Kind      string // "reset", "verify", "invite"
	To, Token string
	ExpiresAt time.Time
	// HasAccount: an invitation to an address with an account already.
	HasAccount bool
}

func (m *fakeMailer) record(s sentMail) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fails {
		return errors.New("fake mailer: refused")
	}
	m.sent = append(m.sent, s)
	return nil
}

func (m *fakeMailer) SendPasswordReset(_ context.Context, to, token string, expiresAt time.Time) error {
	return m.record(sentMail{Kind: "reset", To: to, Token: token, ExpiresAt: expiresAt})
}

func (m *fakeMailer) SendEmailVerification(_ context.Context, to, token string, expiresAt time.Time) error {
	return m.record(sentMail{Kind: "verify", To: to, Token: token, ExpiresAt: expiresAt})
}

func (m *fakeMailer) SendInvitation(_ context.Context, inv core.InvitationMail) error {
	return m.record(sentMail{Kind: "invite", To: inv.To, Token: inv.Token, ExpiresAt: inv.ExpiresAt, HasAccount: inv.HasAccount})
}

// mails returns the password-reset mails sent to one address so far.
func (m *fakeMailer) mails(to string) []sentMail { return m.mailsOf("reset", to) }

// mailsOf returns the mails of one kind sent to one address so far.
func (m *fakeMailer) mailsOf(kind, to string) []sentMail {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []sentMail
	for _, s := range m.sent {
		if s.To == to && s.Kind == kind {
			out = append(out, s)
		}
	}
	return out
}

func mustKeySet(t testing.TB, keys ...any) *jose.KeySet {
	t.Helper()
	b, err := json.Marshal(map[string]any{"keys": keys})
	if err != nil {
		t.Fatal(err)
	}
	ks, err := jose.ParseKeySet(b)
	if err != nil {
		t.Fatal(err)
	}
	return ks
}

// The contract every response is checked against.
var (
	specOnce   sync.Once
	specRouter routers.Router
	specErr    error
)

func contractRouter(t testing.TB) routers.Router {
	t.Helper()
	specOnce.Do(func() {
		openapi3filter.RegisterBodyDecoder("application/problem+json", openapi3filter.JSONBodyDecoder)
		// GET /openapi.yaml is YAML text, typed `type: string` for
		// generators: compare it as text, not as a decoded document.
		openapi3filter.RegisterBodyDecoder("application/yaml", func(body io.Reader, _ http.Header, _ *openapi3.SchemaRef, _ openapi3filter.EncodingFn) (any, error) {
			b, err := io.ReadAll(body)
			return string(b), err
		})
		// `format: email` checked as zod's email() checks it (the strictest
		// common client validator), so every address the server returns is
		// one a generated client accepts.
		openapi3.DefineStringFormatCallback("email", func(s string) error {
			if !zodEmail(s) {
				return fmt.Errorf("not an email address to zod: %q", s)
			}
			return nil
		})
		openapi3.DefineStringFormatValidator("uuid", openapi3.NewRegexpFormatValidator(
			`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`))
		var doc *openapi3.T
		if doc, specErr = httpadapter.LoadSpec(); specErr != nil {
			return
		}
		specRouter, specErr = gorillamux.NewRouter(doc)
	})
	if specErr != nil {
		t.Fatalf("load contract: %v", specErr)
	}
	return specRouter
}

// zodEmail is zod's default z.string().email() pattern,
// /^(?!\.)(?!.*\.\.)([A-Z0-9_'+\-\.]*)[A-Z0-9_+-]@([A-Z0-9][A-Z0-9\-]*\.)+[A-Z]{2,}$/i,
// with the two lookaheads written out (Go's regexp has none).
func zodEmail(s string) bool {
	return zodEmailPattern.MatchString(s) && !strings.HasPrefix(s, ".") && !strings.Contains(s, "..")
}

var zodEmailPattern = regexp.MustCompile(`(?i)^[A-Z0-9_'+\-\.]*[A-Z0-9_+-]@([A-Z0-9][A-Z0-9\-]*\.)+[A-Z]{2,}$`)

// response is a received response, already validated against the contract.
type response struct {
	Status int
	Header http.Header
	Body   []byte
}

func (r response) JSON(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		t.Fatalf("decode %s: %v", r.Body, err)
	}
}

// Problem decodes a problem+json body.
func (r response) Problem(t testing.TB) problem {
	t.Helper()
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/problem+json") {
		t.Fatalf("status %d: content type %q, want problem+json; body %s", r.Status, ct, r.Body)
	}
	var p problem
	r.JSON(t, &p)
	return p
}

type problem struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail"`
	Code   string `json:"code"`
	Errors []struct {
		Field   string `json:"field"`
		Message string `json:"message"`
	} `json:"errors"`
}

type req struct {
	method, path string
	body         any    // JSON-encoded unless string (sent as is)
	contentType  string // default application/json when body is set
	headers      map[string]string
	cookies      []*http.Cookie
	bearer       string
}

// do sends a request and validates the response against openapi.yaml:
// status documented, headers and body matching the schema. A response the
// contract does not describe fails the test, whichever test sent it.
func (h *harness) do(t testing.TB, rq req) response {
	t.Helper()
	var body io.Reader
	var raw []byte
	if rq.body != nil {
		switch b := rq.body.(type) {
		case string:
			raw = []byte(b)
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
	res, err := h.client.Do(r)
	if err != nil {
		t.Fatalf("%s %s: %v", rq.method, rq.path, err)
	}
	defer res.Body.Close()
	resBody, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	validateAgainstContract(t, r, raw, res, resBody)
	return response{Status: res.StatusCode, Header: res.Header, Body: resBody}
}

func validateAgainstContract(t testing.TB, r *http.Request, reqBody []byte, res *http.Response, resBody []byte) {
	t.Helper()
	router := contractRouter(t)
	// A CORS preflight is transport, not an operation of the contract (the
	// spec has no OPTIONS operations, so that generators make no methods
	// for them): it must be a bodiless 204, whatever the origin.
	if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
		if res.StatusCode != http.StatusNoContent || len(resBody) != 0 {
			t.Fatalf("OPTIONS %s (preflight) → %d %q, want a bodiless 204", r.URL.Path, res.StatusCode, resBody)
		}
		return
	}
	// Route on a copy of the request as the client sent it.
	rr := r.Clone(context.Background())
	rr.Body = io.NopCloser(bytes.NewReader(reqBody))
	route, params, err := router.FindRoute(rr)
	if err != nil {
		if res.StatusCode == http.StatusNotFound || res.StatusCode == http.StatusMethodNotAllowed {
			return // a path outside the contract: nothing to validate against
		}
		t.Fatalf("%s %s: no route in openapi.yaml: %v", r.Method, r.URL.Path, err)
	}
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: rr, PathParams: params, Route: route},
		Status:                 res.StatusCode,
		Header:                 res.Header,
		Body:                   io.NopCloser(bytes.NewReader(resBody)),
		Options:                &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true},
	}
	if err := openapi3filter.ValidateResponse(context.Background(), in); err != nil {
		t.Fatalf("%s %s → %d does not match openapi.yaml: %v\nbody: %s", r.Method, r.URL.Path, res.StatusCode, err, resBody)
	}
}

// --- flows -----------------------------------------------------------------

type registered struct {
	UserID    uuid.UUID
	AccountID uuid.UUID
	Email     string
	Password  string
}

// mustDo is h.do for a request the test depends on: any status but the
// expected one fails the test at once, with the body.
func (h *harness) mustDo(t testing.TB, rq req, status int) response {
	t.Helper()
	res := h.do(t, rq)
	if res.Status != status {
		t.Fatalf("%s %s: status %d, want %d; body %s", rq.method, rq.path, res.Status, status, res.Body)
	}
	return res
}

// concurrently runs fn(0) … fn(n-1) in n goroutines released together by
// one start barrier, as close to simultaneously as the scheduler allows,
// and returns when every one has. In fn, t.Error reports; t.Fatal would
// end only fn's goroutine.
func concurrently(n int, fn func(i int)) {
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			fn(i)
		})
	}
	close(start)
	wg.Wait()
}

// listItems GETs an unpaginated list (200) and returns its items.
func listItems[T any](t testing.TB, h *harness, path, accessToken string) []T {
	t.Helper()
	var body struct {
		Items []T `json:"items"`
	}
	h.mustDo(t, req{method: "GET", path: path, bearer: accessToken}, http.StatusOK).JSON(t, &body)
	return body.Items
}

// logout ends the session of accessToken (POST /auth/logout, 204).
func (h *harness) logout(t testing.TB, accessToken string) {
	t.Helper()
	h.mustDo(t, req{method: "POST", path: "/api/v1/auth/logout", bearer: accessToken}, http.StatusNoContent)
}

func uniqueEmail(prefix string) string {
	return prefix + "-" + uuid.NewString()[:8] + "@example.com"
}

func (h *harness) register(t testing.TB, email string) registered {
	t.Helper()
	pw := "correct horse " + email
	res := h.mustDo(t, req{method: "POST", path: "/api/v1/auth/register", body: map[string]string{
		"email": email, "password": pw, "name": "Test User", "account_name": "Acme " + email,
	}}, http.StatusCreated)
	var u struct {
		ID        uuid.UUID `json:"id"`
		AccountID uuid.UUID `json:"account_id"`
	}
	res.JSON(t, &u)
	return registered{UserID: u.ID, AccountID: u.AccountID, Email: email, Password: pw}
}

type tokens struct {
	AccessToken       string    `json:"access_token"`
	RefreshToken      string    `json:"refresh_token"`
	TokenType         string    `json:"token_type"`
	ExpiresIn         int       `json:"expires_in"`
	IdleExpiresAt     time.Time `json:"idle_expires_at"`
	AbsoluteExpiresAt time.Time `json:"absolute_expires_at"`
	SessionID         uuid.UUID `json:"session_id"`
}

func (h *harness) login(t testing.TB, u registered, headers map[string]string) tokens {
	t.Helper()
	res := h.mustDo(t, req{method: "POST", path: "/api/v1/auth/login/json", headers: headers,
		body: map[string]string{"email": u.Email, "password": u.Password}}, http.StatusOK)
	var tk tokens
	res.JSON(t, &tk)
	return tk
}

func (h *harness) refresh(t testing.TB, rt string) response {
	t.Helper()
	return h.do(t, req{method: "POST", path: "/api/v1/auth/refresh", body: map[string]string{"refresh_token": rt}})
}

func (h *harness) mustRefresh(t testing.TB, rt string) tokens {
	t.Helper()
	res := h.refresh(t, rt)
	expectStatus(t, res, http.StatusOK, "refresh")
	var tk tokens
	res.JSON(t, &tk)
	return tk
}

func expectProblem(t testing.TB, res response, status int, code string) problem {
	t.Helper()
	if res.Status != status {
		t.Fatalf("status %d, want %d; body %s", res.Status, status, res.Body)
	}
	p := res.Problem(t)
	if p.Code != code {
		t.Fatalf("code %q, want %q; body %s", p.Code, code, res.Body)
	}
	return p
}

// claims decodes a JWT's payload without verifying it (the server verified
// it; tests look at what was issued).
func claims(t testing.TB, token string) map[string]any {
	t.Helper()
	return jwsPart(t, token, 1)
}

func header(t testing.TB, token string) map[string]any {
	t.Helper()
	return jwsPart(t, token, 0)
}

// jwsPart decodes part i (0 header, 1 payload) of a compact JWS as JSON.
func jwsPart(t testing.TB, token string, i int) map[string]any {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWS: %q", token)
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[i])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func num(t testing.TB, m map[string]any, k string) int64 {
	t.Helper()
	v, ok := m[k].(float64)
	if !ok {
		t.Fatalf("claim %q missing or not a number in %v", k, m)
	}
	return int64(v)
}

// sameAnswer fails unless a and b are the same answer: status, body and
// every header but the request id (and Date, the response's wall clock).
func sameAnswer(t testing.TB, what string, a, b response) {
	t.Helper()
	if a.Status != b.Status || string(a.Body) != string(b.Body) {
		t.Errorf("%s: %d %s vs %d %s", what, a.Status, a.Body, b.Status, b.Body)
	}
	names := map[string]bool{}
	for k := range a.Header {
		names[k] = true
	}
	for k := range b.Header {
		names[k] = true
	}
	for k := range names {
		if k == "X-Request-Id" || k == "Date" {
			continue
		}
		if strings.Join(a.Header.Values(k), "\n") != strings.Join(b.Header.Values(k), "\n") {
			t.Errorf("%s: header %s: %q vs %q", what, k, a.Header.Values(k), b.Header.Values(k))
		}
	}
}

// auditRow is one audit event as the database holds it.
type auditRow struct {
	ID           uuid.UUID
	ActorUserID  *uuid.UUID
	ResourceType string
	ResourceID   *string
	Details      map[string]any
	RawDetails   string
}

// auditTrail is an account's audit events, oldest first.
type auditTrail []auditRow

// auditRows is the one reader of the audit trail in these tests: an
// account's events of one action ("" for every action), oldest first (by
// created_at, then id), straight from the database (admin connection:
// assertions only).
func auditRows(t testing.TB, h *harness, accountID uuid.UUID, action string) auditTrail {
	t.Helper()
	var out auditTrail
	for _, e := range h.db.AuditEvents(t, accountID, time.Time{}) {
		if action != "" && e.Action != action {
			continue
		}
		r := auditRow{ID: e.ID, ActorUserID: e.ActorUserID, ResourceType: e.ResourceType, ResourceID: e.ResourceID, RawDetails: e.Details}
		if err := json.Unmarshal([]byte(r.RawDetails), &r.Details); err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	return out
}

// deactivate sets a user inactive behind the API's back (an owner would
// through PATCH members; these tests need it without one).
func deactivate(t testing.TB, h *harness, userID uuid.UUID) {
	t.Helper()
	inactive := false
	h.db.ChangeUser(t, userID, pgtest.UserChange{Active: &inactive})
}

// deref is *p, or "" for nil.
func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// about keeps the events about one resource (resource_id).
func (a auditTrail) about(resourceID string) auditTrail {
	var out auditTrail
	for _, r := range a {
		if r.ResourceID != nil && *r.ResourceID == resourceID {
			out = append(out, r)
		}
	}
	return out
}

// auditIDs is the account's events in the listing's order (newest first):
// auditRows reversed.
func auditIDs(t testing.TB, h *harness, accountID uuid.UUID, action string) []uuid.UUID {
	t.Helper()
	rows := auditRows(t, h, accountID, action)
	ids := make([]uuid.UUID, len(rows))
	for i, r := range rows {
		ids[len(rows)-1-i] = r.ID
	}
	return ids
}

// expectStatus fails the test at once when res has another status than
// want, naming what was asked (what) and showing the body.
func expectStatus(t testing.TB, res response, want int, what string) {
	t.Helper()
	if res.Status != want {
		t.Fatalf("%s: status %d, want %d; body %s", what, res.Status, want, res.Body)
	}
}
