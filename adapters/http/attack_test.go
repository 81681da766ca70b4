package http_test

// Token attack tests (SECURITY.md C, JWT-01..09) over real HTTP: every
// forged, stale, mangled or oversized token is refused with 401 and the
// right code — never a 500, never a response the contract does not
// document (h.do validates each one against openapi.yaml).

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	gojose "github.com/go-jose/go-jose/v4"
	"github.com/google/uuid"

	"github.com/sessiond/sessiond/adapters/jose"
)

// --- forging tokens by hand ---------------------------------------------

// jwtParts is a token taken apart: header and claims as generic JSON, so a
// test can change exactly one thing and sign again.
type jwtParts struct {
	header map[string]any
	claims map[string]any
}

func partsOf(t testing.TB, token string) jwtParts {
	t.Helper()
	return jwtParts{header: header(t, token), claims: claims(t, token)}
}

func (p jwtParts) clone() jwtParts {
	c := jwtParts{header: map[string]any{}, claims: map[string]any{}}
	for k, v := range p.header {
		c.header[k] = v
	}
	for k, v := range p.claims {
		c.claims[k] = v
	}
	return c
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func b64JSON(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b64(b)
}

// signingInput is the JWS signing input: header.claims, base64url.
func (p jwtParts) signingInput(t testing.TB) string {
	return b64JSON(t, p.header) + "." + b64JSON(t, p.claims)
}

// signEdDSA signs p with an Ed25519 key (alg is whatever p.header says).
func (p jwtParts) signEdDSA(t testing.TB, key ed25519.PrivateKey) string {
	t.Helper()
	in := p.signingInput(t)
	return in + "." + b64(ed25519.Sign(key, []byte(in)))
}

// signHS256 signs p with HMAC-SHA256 under secret.
func (p jwtParts) signHS256(t testing.TB, secret []byte) string {
	t.Helper()
	in := p.signingInput(t)
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(in))
	return in + "." + b64(m.Sum(nil))
}

// signES256 signs p with a P-256 key (JWS: fixed-size r||s).
func (p jwtParts) signES256(t testing.TB, key *ecdsa.PrivateKey) string {
	t.Helper()
	in := p.signingInput(t)
	sum := sha256.Sum256([]byte(in))
	r, s, err := ecdsa.Sign(rand.Reader, key, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	return in + "." + b64(sig)
}

// unsigned is p with an empty signature.
func (p jwtParts) unsigned(t testing.TB) string { return p.signingInput(t) + "." }

func (h *harness) priv(t testing.TB) ed25519.PrivateKey {
	t.Helper()
	k, ok := h.key.Key.(ed25519.PrivateKey)
	if !ok {
		t.Fatalf("harness key is %T, want ed25519.PrivateKey", h.key.Key)
	}
	return k
}

// publicKeyMaterials are the forms an attacker may use the server's public
// key in as an HMAC secret (JWT-02): raw bytes, the JWK's x, the JWK JSON,
// the whole JWKS document as served.
func (h *harness) publicKeyMaterials(t testing.TB) map[string][]byte {
	t.Helper()
	pub := h.priv(t).Public().(ed25519.PublicKey)
	jwk, err := json.Marshal(h.key.Public())
	if err != nil {
		t.Fatal(err)
	}
	jwks := h.do(t, req{method: "GET", path: "/.well-known/jwks.json"}).Body
	return map[string][]byte{
		"raw public key":  pub,
		"jwk x":           []byte(b64(pub)),
		"public jwk json": jwk,
		"served jwks":     jwks,
	}
}

// flipBit flips one bit of the decoded segment i (0 header, 1 claims,
// 2 signature) and re-encodes it, so the change is real (not in base64
// padding bits).
func flipBit(t testing.TB, token string, seg int) string {
	t.Helper()
	parts := strings.Split(token, ".")
	b, err := base64.RawURLEncoding.DecodeString(parts[seg])
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0x01
	parts[seg] = b64(b)
	return strings.Join(parts, ".")
}

// outboundCounter is an attacker's key server: it serves the attacker's JWKS
// and counts every request, so a test can prove the server fetched nothing
// (JWT-07).
type outboundCounter struct {
	srv  *httptest.Server
	hits atomic.Int64
}

func newOutboundCounter(t testing.TB, jwks []byte) *outboundCounter {
	t.Helper()
	c := &outboundCounter{}
	c.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		c.hits.Add(1)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(jwks)
	}))
	t.Cleanup(c.srv.Close)
	return c
}

type attackCase struct {
	name string
	// token forges the attack from own (a genuine token of the kind under
	// test) and other (a genuine token of the other kind, same session).
	token func(t *testing.T, own, other string) string
}

// attackSuite is the list of forgeries shared by the access-token and the
// refresh-token tests. Each changes exactly one thing in a genuine token.
func attackSuite(h *harness, keyMaterials map[string][]byte, attacker *outboundCounter, attackerJWK gojose.JSONWebKey) []attackCase {
	now := func() time.Time { return h.clock.Now() }
	attackerKey := attackerJWK.Key.(ed25519.PrivateKey)
	// parts hands f a copy of the genuine token's header and claims.
	parts := func(f func(t *testing.T, p jwtParts) string) func(t *testing.T, own, other string) string {
		return func(t *testing.T, own, _ string) string { return f(t, partsOf(t, own).clone()) }
	}
	// withOurKey changes the token and signs it again with the server's own
	// key: only the change can be the reason for a refusal.
	withOurKey := func(change func(p jwtParts)) func(t *testing.T, own, other string) string {
		return parts(func(t *testing.T, p jwtParts) string {
			change(p)
			return p.signEdDSA(t, h.priv(t))
		})
	}
	raw := func(f func(t *testing.T, own string) string) func(t *testing.T, own, other string) string {
		return func(t *testing.T, own, _ string) string { return f(t, own) }
	}
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}

	cases := []attackCase{
		// JWT-01: alg none in any spelling, and an empty signature.
		{"JWT01 alg none", parts(func(t *testing.T, p jwtParts) string { p.header["alg"] = "none"; return p.unsigned(t) })},
		{"JWT01 alg None", parts(func(t *testing.T, p jwtParts) string { p.header["alg"] = "None"; return p.unsigned(t) })},
		{"JWT01 alg nOnE", parts(func(t *testing.T, p jwtParts) string { p.header["alg"] = "nOnE"; return p.unsigned(t) })},
		{"JWT01 alg none keeping the real signature", func(t *testing.T, own, _ string) string {
			p := partsOf(t, own).clone()
			p.header["alg"] = "none"
			return p.signingInput(t) + "." + strings.Split(own, ".")[2]
		}},
		{"JWT01 EdDSA with an empty signature", parts(func(t *testing.T, p jwtParts) string { return p.unsigned(t) })},
		// JWT-02: the other allowed family, a foreign key of the right
		// family, an algorithm outside the allowlist.
		{"JWT02 ES256 with a P-256 key under our kid", parts(func(t *testing.T, p jwtParts) string {
			p.header["alg"] = "ES256"
			return p.signES256(t, ecKey)
		})},
		{"JWT02 EdDSA signed by another key under our kid", parts(func(t *testing.T, p jwtParts) string {
			return p.signEdDSA(t, attackerKey)
		})},
		{"JWT02 alg RS256 on our EdDSA signature", withOurKey(func(p jwtParts) { p.header["alg"] = "RS256" })},
		// JWT-07: kid games.
		{"JWT07 unknown kid", withOurKey(func(p jwtParts) { p.header["kid"] = "no-such-key" })},
		{"JWT07 kid path traversal", withOurKey(func(p jwtParts) { p.header["kid"] = "../../../../../../dev/null" })},
		{"JWT07 kid SQL", withOurKey(func(p jwtParts) { p.header["kid"] = "' OR 1=1 --" })},
		{"JWT07 kid missing", withOurKey(func(p jwtParts) { delete(p.header, "kid") })},
		{"JWT07 kid not a string", withOurKey(func(p jwtParts) { p.header["kid"] = 7 })},
		// JWT-07: key-location headers pointing at the attacker's key.
		{"JWT07 jku to the attacker's JWKS, attacker's key", parts(func(t *testing.T, p jwtParts) string {
			p.header["jku"], p.header["kid"] = attacker.srv.URL+"/jwks.json", attackerJWK.KeyID
			return p.signEdDSA(t, attackerKey)
		})},
		{"JWT07 x5u to the attacker, attacker's key", parts(func(t *testing.T, p jwtParts) string {
			p.header["x5u"], p.header["kid"] = attacker.srv.URL+"/cert.pem", attackerJWK.KeyID
			return p.signEdDSA(t, attackerKey)
		})},
		{"JWT07 embedded jwk, attacker's key and kid", parts(func(t *testing.T, p jwtParts) string {
			p.header["jwk"], p.header["kid"] = attackerJWK.Public(), attackerJWK.KeyID
			return p.signEdDSA(t, attackerKey)
		})},
		{"JWT07 embedded jwk under our kid, attacker's key", parts(func(t *testing.T, p jwtParts) string {
			p.header["jwk"] = attackerJWK.Public()
			return p.signEdDSA(t, attackerKey)
		})},
		{"JWT07 jku on an otherwise valid token", withOurKey(func(p jwtParts) { p.header["jku"] = attacker.srv.URL + "/jwks.json" })},
		{"JWT07 x5u on an otherwise valid token", withOurKey(func(p jwtParts) { p.header["x5u"] = attacker.srv.URL + "/cert.pem" })},
		{"JWT07 crit header", withOurKey(func(p jwtParts) { p.header["crit"] = []string{"exp"} })},
		// JWT-03: the type is checked explicitly.
		{"JWT03 typ absent", withOurKey(func(p jwtParts) { delete(p.header, "typ") })},
		{"JWT03 typ JWT", withOurKey(func(p jwtParts) { p.header["typ"] = "JWT" })},
		{"JWT03 the other kind of token", func(_ *testing.T, _, other string) string { return other }},
		{"JWT03 the other kind's typ on these claims", func(t *testing.T, own, other string) string {
			p := partsOf(t, own).clone()
			p.header["typ"] = header(t, other)["typ"]
			return p.signEdDSA(t, h.priv(t))
		}},
		// JWT-04: issuer and audience.
		{"JWT04 wrong iss", withOurKey(func(p jwtParts) { p.claims["iss"] = "https://evil.example" })},
		{"JWT04 missing iss", withOurKey(func(p jwtParts) { delete(p.claims, "iss") })},
		{"JWT04 wrong aud", withOurKey(func(p jwtParts) { p.claims["aud"] = "another-api" })},
		{"JWT04 wrong aud list", withOurKey(func(p jwtParts) { p.claims["aud"] = []string{"another-api", "third-api"} })},
		{"JWT04 missing aud", withOurKey(func(p jwtParts) { delete(p.claims, "aud") })},
		// JWT-05: time claims. (Expiry is per endpoint: an expired refresh
		// token is idle expiry, with its own code.)
		{"JWT05 not yet valid (nbf in an hour)", withOurKey(func(p jwtParts) { p.claims["nbf"] = now().Add(time.Hour).Unix() })},
		{"JWT05 nbf beyond the leeway", withOurKey(func(p jwtParts) { p.claims["nbf"] = now().Add(2 * time.Minute).Unix() })},
		{"JWT05 exp not a number", withOurKey(func(p jwtParts) { p.claims["exp"] = "tomorrow" })},
		{"JWT05 missing exp", withOurKey(func(p jwtParts) { delete(p.claims, "exp") })},
		// Claims that are not what we issue.
		{"missing jti", withOurKey(func(p jwtParts) { delete(p.claims, "jti") })},
		{"sub not a uuid", withOurKey(func(p jwtParts) { p.claims["sub"] = "admin" })},
		{"sid not a uuid", withOurKey(func(p jwtParts) { p.claims["sid"] = "1 OR 1=1" })},
		{"unknown sid", withOurKey(func(p jwtParts) { p.claims["sid"] = uuid.NewString() })},
		// Mangled tokens.
		{"truncated: no signature", raw(func(_ *testing.T, own string) string { return own[:strings.LastIndex(own, ".")] })},
		{"truncated: header only", raw(func(_ *testing.T, own string) string { return strings.Split(own, ".")[0] })},
		{"truncated: last 10 characters", raw(func(_ *testing.T, own string) string { return own[:len(own)-10] })},
		{"truncated: half", raw(func(_ *testing.T, own string) string { return own[:len(own)/2] })},
		{"bit flipped in the header", raw(func(t *testing.T, own string) string { return flipBit(t, own, 0) })},
		{"bit flipped in the claims", raw(func(t *testing.T, own string) string { return flipBit(t, own, 1) })},
		{"bit flipped in the signature", raw(func(t *testing.T, own string) string { return flipBit(t, own, 2) })},
		{"four segments", raw(func(_ *testing.T, own string) string { return own + ".e30" })},
		{"JWE-shaped (five segments)", raw(func(*testing.T, string) string { return "eyJhbGciOiJkaXIiLCJlbmMiOiJBMjU2R0NNIn0..AAAA.AAAA.AAAA" })},
		{"not base64", raw(func(*testing.T, string) string { return "!!!.???.***" })},
		{"JWS JSON serialization", raw(func(_ *testing.T, own string) string {
			s := strings.Split(own, ".")
			return `{"protected":"` + s[0] + `","payload":"` + s[1] + `","signature":"` + s[2] + `"}`
		})},
		// Oversized: a token we really signed, padded past MaxTokenLength.
		{"oversized token (validly signed, > 4096 bytes)", withOurKey(func(p jwtParts) {
			p.claims["pad"] = strings.Repeat("A", jose.MaxTokenLength)
		})},
	}
	// JWT-02: HS256 keyed with the public key, in each form an attacker
	// could pick it up in, under both token types.
	for name, secret := range keyMaterials {
		for _, typ := range []string{jose.TypeAccess, jose.TypeRefresh} {
			cases = append(cases, attackCase{"JWT02 HS256 keyed with the " + name + " as " + typ, parts(func(t *testing.T, p jwtParts) string {
				p.header["alg"], p.header["typ"] = "HS256", typ
				return p.signHS256(t, secret)
			})})
		}
	}
	return cases
}

func newAttacker(t *testing.T) (*outboundCounter, gojose.JSONWebKey) {
	t.Helper()
	jwk, err := jose.GenerateEd25519()
	if err != nil {
		t.Fatal(err)
	}
	set, err := json.Marshal(map[string]any{"keys": []any{jwk.Public()}})
	if err != nil {
		t.Fatal(err)
	}
	return newOutboundCounter(t, set), jwk
}

func TestAttack_AccessToken_EveryForgeryIs401InvalidToken(t *testing.T) {
	h := newHarness(t)
	u := h.register(t, uniqueEmail("atk-at"))
	tk := h.login(t, u, nil)
	attacker, attackerJWK := newAttacker(t)
	me := func(t *testing.T, tok string) response {
		return h.do(t, req{method: "GET", path: "/api/v1/auth/me", bearer: tok})
	}

	// Control: the forging helpers make tokens the server accepts when
	// nothing is wrong, so each refusal below is due to its one change.
	t.Run("control: genuine claims re-signed with our key are accepted", func(t *testing.T) {
		expectStatus(t, me(t, partsOf(t, tk.AccessToken).signEdDSA(t, h.priv(t))), http.StatusOK, "re-signed genuine token refused")
	})

	for _, c := range attackSuite(h, h.publicKeyMaterials(t), attacker, attackerJWK) {
		t.Run(c.name, func(t *testing.T) {
			p := expectProblem(t, me(t, c.token(t, tk.AccessToken, tk.RefreshToken)), http.StatusUnauthorized, "invalid_token")
			if strings.Contains(p.Detail, "eyJ") {
				t.Errorf("the problem echoes the token: %q", p.Detail)
			}
		})
	}

	t.Run("JWT05 expired (exp = now)", func(t *testing.T) {
		p := partsOf(t, tk.AccessToken).clone()
		p.claims["exp"] = h.clock.Now().Unix()
		expectProblem(t, me(t, p.signEdDSA(t, h.priv(t))), http.StatusUnauthorized, "invalid_token")
	})
	t.Run("JWT05 expired (exp an hour ago)", func(t *testing.T) {
		p := partsOf(t, tk.AccessToken).clone()
		p.claims["exp"] = h.clock.Now().Add(-time.Hour).Unix()
		expectProblem(t, me(t, p.signEdDSA(t, h.priv(t))), http.StatusUnauthorized, "invalid_token")
	})
	t.Run("JWT05 issued in the future (iat in an hour)", func(t *testing.T) {
		p := partsOf(t, tk.AccessToken).clone()
		p.claims["iat"] = h.clock.Now().Add(time.Hour).Unix()
		expectProblem(t, me(t, p.signEdDSA(t, h.priv(t))), http.StatusUnauthorized, "invalid_token")
	})
	t.Run("JWT06 issued access token carries the RFC 9068 claims", func(t *testing.T) {
		c := claims(t, tk.AccessToken)
		for _, k := range []string{"iss", "exp", "aud", "sub", "client_id", "iat", "jti", "tid", "sid"} {
			if _, ok := c[k]; !ok {
				t.Errorf("claim %q missing from %v", k, c)
			}
		}
		if ttl := num(t, c, "exp") - num(t, c, "iat"); ttl > int64((5 * time.Minute).Seconds()) {
			t.Errorf("exp-iat = %d s, above the documented 5 min", ttl)
		}
	})
	t.Run("JWT05 genuine token after its lifetime (clock advanced)", func(t *testing.T) {
		h2 := newHarness(t)
		u2 := h2.register(t, uniqueEmail("atk-exp"))
		tk2 := h2.login(t, u2, nil)
		h2.clock.Advance(h2.cfg.AccessTTL)
		expectProblem(t, h2.do(t, req{method: "GET", path: "/api/v1/auth/me", bearer: tk2.AccessToken}), http.StatusUnauthorized, "invalid_token")
	})
	t.Run("oversized Authorization header (64 KiB)", func(t *testing.T) {
		// The handler bounds what it parses (jose.MaxTokenLength). The
		// production http.Server refuses such a header earlier, with 431
		// before routing: see cmd/sessiond's TestHTTPServer_*.
		res := h.do(t, req{method: "GET", path: "/api/v1/auth/me", headers: map[string]string{
			"Authorization": "Bearer " + strings.Repeat("A", 64<<10),
		}})
		expectProblem(t, res, http.StatusUnauthorized, "invalid_token")
	})
	t.Run("Authorization scheme other than Bearer", func(t *testing.T) {
		res := h.do(t, req{method: "GET", path: "/api/v1/auth/me", headers: map[string]string{"Authorization": "Basic " + tk.AccessToken}})
		expectProblem(t, res, http.StatusUnauthorized, "invalid_token")
	})

	if n := attacker.hits.Load(); n != 0 {
		t.Errorf("JWT-07: the server made %d outbound request(s) to a key URL named in a token", n)
	}
	// The genuine token still works: nothing above disturbed the session.
	expectStatus(t, me(t, tk.AccessToken), http.StatusOK, "genuine token refused after the attacks")
}

func TestAttack_RefreshToken_EveryForgeryIs401InvalidRefreshToken(t *testing.T) {
	h := newHarness(t)
	u := h.register(t, uniqueEmail("atk-rt"))
	attacker, attackerJWK := newAttacker(t)
	refresh := func(t *testing.T, tok string) response {
		return h.do(t, req{method: "POST", path: "/api/v1/auth/refresh", bearer: tok})
	}
	t.Run("control: genuine claims re-signed with our key rotate", func(t *testing.T) {
		tk := h.login(t, u, nil)
		expectStatus(t, refresh(t, partsOf(t, tk.RefreshToken).signEdDSA(t, h.priv(t))), http.StatusOK, "re-signed genuine token refused")
	})

	for _, c := range attackSuite(h, h.publicKeyMaterials(t), attacker, attackerJWK) {
		t.Run(c.name, func(t *testing.T) {
			// Each case has its own session, so that a forgery wrongly
			// accepted (a rotation) cannot leak into the next case.
			tk := h.login(t, u, nil)
			expectProblem(t, refresh(t, c.token(t, tk.RefreshToken, tk.AccessToken)), http.StatusUnauthorized, "invalid_refresh_token")
			// The session the forgery was made from is untouched: its
			// genuine token still rotates (the forgery neither rotated it
			// nor revoked its family).
			expectStatus(t, refresh(t, tk.RefreshToken), http.StatusOK, "genuine refresh token of the attacked session refused afterwards")
		})
	}

	t.Run("JWT05 expired (exp = now) is idle expiry", func(t *testing.T) {
		tk := h.login(t, u, nil)
		p := partsOf(t, tk.RefreshToken).clone()
		p.claims["exp"] = h.clock.Now().Unix()
		expectProblem(t, refresh(t, p.signEdDSA(t, h.priv(t))), http.StatusUnauthorized, "session_expired_idle")
	})
	t.Run("JWT05 genuine token after its idle window", func(t *testing.T) {
		h2 := newHarness(t)
		u2 := h2.register(t, uniqueEmail("atk-rt-exp"))
		tk := h2.login(t, u2, nil)
		h2.clock.Advance(time.Duration(num(t, claims(t, tk.RefreshToken), "idle_max")) * time.Second)
		expectProblem(t, h2.refresh(t, tk.RefreshToken), http.StatusUnauthorized, "session_expired_idle")
	})
	t.Run("oversized Authorization header (64 KiB)", func(t *testing.T) {
		res := h.do(t, req{method: "POST", path: "/api/v1/auth/refresh", headers: map[string]string{
			"Authorization": "Bearer " + strings.Repeat("A", 64<<10),
		}})
		expectProblem(t, res, http.StatusUnauthorized, "invalid_refresh_token")
	})
	t.Run("oversized token in the JSON body is refused by the schema (422)", func(t *testing.T) {
		// RefreshRequest.refresh_token has maxLength 4096 in the contract,
		// so the request is invalid before any token is looked at.
		res := h.refresh(t, strings.Repeat("A", jose.MaxTokenLength+1))
		expectProblem(t, res, http.StatusUnprocessableEntity, "validation_failed")
	})
	t.Run("forged token in the JSON body", func(t *testing.T) {
		tk := h.login(t, u, nil)
		p := partsOf(t, tk.RefreshToken).clone()
		p.header["alg"] = "none"
		expectProblem(t, h.refresh(t, p.unsigned(t)), http.StatusUnauthorized, "invalid_refresh_token")
	})

	if n := attacker.hits.Load(); n != 0 {
		t.Errorf("JWT-07: the server made %d outbound request(s) to a key URL named in a token", n)
	}
}

// JWT-08: the tenant comes only from the verified token. A tenant-selecting
// header (X-Tenant-ID, X-Account-ID, X-Tenant) that names another tenant
// than the token's — or names none at all — is refused with 403
// tenant_mismatch on every bearer operation, before anything runs; one
// naming the token's own tenant is accepted. A token naming another
// tenant's session or user is refused rather than served from that tenant.
func TestAttack_JWT08_TenantComesOnlyFromTheVerifiedClaim(t *testing.T) {
	h := newHarness(t)
	a := h.register(t, uniqueEmail("jwt08-a"))
	b := h.register(t, uniqueEmail("jwt08-b"))
	ta := h.login(t, a, nil)
	tb := h.login(t, b, nil)

	for _, hdr := range []string{"X-Tenant-ID", "X-Account-ID", "X-Tenant", "x-tenant-id"} {
		for _, rq := range []req{
			{method: "GET", path: "/api/v1/auth/me"},
			{method: "GET", path: "/api/v1/sessions"},
			{method: "GET", path: "/api/v1/accounts/me/audit-events"},
			{method: "POST", path: "/api/v1/accounts/me/security/revoke-sessions", body: map[string]string{"scope": "all"}},
			{method: "POST", path: "/api/v1/auth/logout"},
		} {
			for _, v := range []string{b.AccountID.String(), "not-a-tenant", strings.ToUpper(b.AccountID.String())} {
				rq := rq
				rq.bearer, rq.headers = ta.AccessToken, map[string]string{hdr: v}
				p := expectProblem(t, h.do(t, rq), http.StatusForbidden, "tenant_mismatch")
				if strings.Contains(p.Detail, b.AccountID.String()) {
					t.Errorf("the refusal echoes the header: %q", p.Detail)
				}
			}
		}
		// The token's own tenant, in any case: served.
		res := h.mustDo(t, req{method: "GET", path: "/api/v1/auth/me", bearer: ta.AccessToken,
			headers: map[string]string{hdr: strings.ToUpper(a.AccountID.String())}}, http.StatusOK)
		var me struct {
			ID        uuid.UUID `json:"id"`
			AccountID uuid.UUID `json:"account_id"`
		}
		res.JSON(t, &me)
		if me.ID != a.UserID || me.AccountID != a.AccountID {
			t.Fatalf("%s: got %+v", hdr, me)
		}
	}
	// Nothing the refused requests asked for happened: A's session lives,
	// B's too.
	h.mustDo(t, req{method: "GET", path: "/api/v1/auth/me", bearer: ta.AccessToken}, http.StatusOK)
	h.mustDo(t, req{method: "GET", path: "/api/v1/auth/me", bearer: tb.AccessToken}, http.StatusOK)

	// Validly signed tokens that mix tenants (a stolen key aside, only the
	// server could mint these; they prove the database scope, not the
	// signature, keeps B's rows out of A's requests).
	pa := partsOf(t, ta.AccessToken)
	pb := partsOf(t, tb.AccessToken)
	mixes := map[string]func(p jwtParts){
		"A's tenant, B's session and user": func(p jwtParts) { p.claims["sid"], p.claims["sub"] = pb.claims["sid"], pb.claims["sub"] },
		"B's tenant, A's session and user": func(p jwtParts) { p.claims["tid"] = pb.claims["tid"] },
		"A's tenant and session, B's user": func(p jwtParts) { p.claims["sub"] = pb.claims["sub"] },
	}
	for name, mix := range mixes {
		t.Run("access: "+name, func(t *testing.T) {
			p := pa.clone()
			mix(p)
			res := h.do(t, req{method: "GET", path: "/api/v1/auth/me", bearer: p.signEdDSA(t, h.priv(t))})
			if strings.Contains(string(res.Body), b.Email) {
				t.Fatalf("tenant B's user served: %s", res.Body)
			}
			expectProblem(t, res, http.StatusUnauthorized, "invalid_token")
		})
	}
	t.Run("refresh: B's token relabelled with A's tenant", func(t *testing.T) {
		p := partsOf(t, tb.RefreshToken).clone()
		p.claims["tid"] = a.AccountID.String()
		expectProblem(t, h.refresh(t, p.signEdDSA(t, h.priv(t))), http.StatusUnauthorized, "invalid_refresh_token")
		// B's family is untouched.
		h.mustRefresh(t, tb.RefreshToken)
	})
}
