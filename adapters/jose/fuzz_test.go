package jose_test

// Fuzz targets for token parsing. Each target feeds the verifier twice:
// the fuzzed token as is (almost always a bad signature: parsing and
// rejection must never panic), and the fuzzed header and payload signed
// with the real key (the signature is good, so everything after it —
// header checks, claim decoding, time rules — is explored). Whatever is
// accepted must satisfy the rules the verifier promises and must
// round-trip: signing the returned claims and verifying again gives the
// same claims.
//
// Seeds: f.Add below, and testdata/fuzz/<FuzzName>/ (committed).
//
//	go test -run '^$' -fuzz '^FuzzVerifyAccess$' -fuzztime 30s ./adapters/jose

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"

	gojose "github.com/go-jose/go-jose/v4"
	"github.com/google/uuid"

	"github.com/sessiond/sessiond/adapters/jose"
	"github.com/sessiond/sessiond/core"
)

const (
	fuzzIssuer   = "sessiond-fuzz"
	fuzzAudience = "sessiond-api"
	fuzzKID      = "fuzz-key"
	leeway       = 30 * time.Second
)

// fuzzNow is the seeds' "now"; the fuzzer moves it.
var fuzzNow = time.Date(2031, 3, 1, 9, 0, 0, 0, time.UTC)

// fuzzKey is deterministic, so tokens in the committed corpus stay valid.
func fuzzKey() ed25519.PrivateKey {
	seed := sha256.Sum256([]byte("sessiond fuzz signing key (test only)"))
	return ed25519.NewKeyFromSeed(seed[:])
}

func fuzzCodec(t testing.TB) *jose.Codec {
	t.Helper()
	b, err := json.Marshal(gojose.JSONWebKeySet{Keys: []gojose.JSONWebKey{{Key: fuzzKey(), KeyID: fuzzKID, Algorithm: string(gojose.EdDSA), Use: "sig"}}})
	if err != nil {
		t.Fatal(err)
	}
	ks, err := jose.ParseKeySet(b)
	if err != nil {
		t.Fatal(err)
	}
	c, err := jose.NewCodec(ks, fuzzIssuer, fuzzAudience, "fuzz-client")
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func fuzzB64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// signRaw signs header and payload bytes exactly as given.
func signRaw(header, payload []byte) string {
	in := fuzzB64(header) + "." + fuzzB64(payload)
	return in + "." + fuzzB64(ed25519.Sign(fuzzKey(), []byte(in)))
}

// clampNow maps any int64 to a time within ±5000 years of the seeds' now,
// where time arithmetic cannot overflow.
func clampNow(delta int64) time.Time {
	const span = int64(5000 * 365 * 24 * 3600)
	return time.Unix(fuzzNow.Unix()+delta%span, 0).UTC()
}

// acceptedHeader checks the protected header of a token the verifier
// accepted: pinned algorithm, our kid, the wanted typ, no key-location or
// critical headers (JWT-02, JWT-03, JWT-07).
func acceptedHeader(t *testing.T, token, wantTyp string) {
	t.Helper()
	seg, _, _ := strings.Cut(token, ".")
	raw, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		t.Fatalf("accepted a token whose header is not base64url: %q", token)
	}
	var h map[string]any
	if err := json.Unmarshal(raw, &h); err != nil {
		t.Fatalf("accepted a token whose header is not a JSON object: %s", raw)
	}
	if h["alg"] != "EdDSA" || h["kid"] != fuzzKID {
		t.Fatalf("accepted alg %v kid %v", h["alg"], h["kid"])
	}
	typ, _ := h["typ"].(string)
	if typ = strings.ToLower(typ); typ != wantTyp && typ != "application/"+wantTyp {
		t.Fatalf("accepted typ %q as %s", h["typ"], wantTyp)
	}
	for _, k := range []string{"jku", "x5u", "jwk", "crit", "x5c"} {
		if _, ok := h[k]; ok {
			t.Fatalf("accepted a token with a %q header", k)
		}
	}
}

// registered claims as the verifier decodes them (struct decoding, so the
// same field matching as go-jose's).
type stdClaims struct {
	Issuer    string          `json:"iss"`
	Audience  json.RawMessage `json:"aud"`
	NotBefore *float64        `json:"nbf"`
}

func payloadOf(t *testing.T, token string) stdClaims {
	t.Helper()
	parts := strings.Split(token, ".")
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatalf("accepted a token whose payload is not base64url")
	}
	var c stdClaims
	if err := json.Unmarshal(raw, &c); err != nil {
		t.Fatalf("accepted a token whose payload does not decode: %v", err)
	}
	return c
}

func audienceContains(raw json.RawMessage, want string) bool {
	var one string
	if json.Unmarshal(raw, &one) == nil {
		return one == want
	}
	var many []string
	if json.Unmarshal(raw, &many) == nil {
		for _, a := range many {
			if a == want {
				return true
			}
		}
	}
	return false
}

func checkAcceptedAccess(t *testing.T, codec *jose.Codec, token string, c core.AccessClaims, now time.Time) {
	t.Helper()
	acceptedHeader(t, token, jose.TypeAccess)
	p := payloadOf(t, token)
	if p.Issuer != fuzzIssuer || !audienceContains(p.Audience, fuzzAudience) {
		t.Fatalf("accepted iss %q aud %s", p.Issuer, p.Audience)
	}
	if !now.Before(c.ExpiresAt) {
		t.Fatalf("accepted an expired token: exp %v, now %v", c.ExpiresAt, now)
	}
	if c.IssuedAt.After(now.Add(leeway)) || (p.NotBefore != nil && time.Unix(int64(*p.NotBefore), 0).After(now.Add(leeway))) {
		t.Fatalf("accepted a token not valid yet: iat %v nbf %v, now %v", c.IssuedAt, p.NotBefore, now)
	}
	if c.JTI == "" || !c.Role.Valid() {
		t.Fatalf("accepted claims without jti or a known role: %+v", c)
	}
	// Round trip: our own signature over the returned claims verifies to
	// the same claims.
	again, err := codec.SignAccess(c)
	if err != nil {
		t.Fatalf("re-sign accepted claims %+v: %v", c, err)
	}
	c2, err := codec.VerifyAccess(again, now)
	if err != nil {
		t.Fatalf("re-signed accepted claims %+v do not verify: %v", c, err)
	}
	if c2.Subject != c.Subject || c2.SessionID != c.SessionID || c2.AccountID != c.AccountID || c2.Role != c.Role ||
		c2.JTI != c.JTI || !c2.IssuedAt.Equal(c.IssuedAt) || !c2.ExpiresAt.Equal(c.ExpiresAt) {
		t.Fatalf("round trip changed the claims:\n got  %+v\n want %+v", c2, c)
	}
}

func FuzzVerifyAccess(f *testing.F) {
	codec := fuzzCodec(f)
	valid := func(mutate func(*core.AccessClaims)) string {
		c := core.AccessClaims{
			Subject: uuid.MustParse("7c9e6679-7425-40de-944b-e07fc1f90ae7"), SessionID: uuid.MustParse("0b6f5e8e-2f4c-4a53-9a3e-6f1d9c2b7a10"),
			AccountID: uuid.MustParse("3f333df6-90a4-4fda-8dd3-9485d27cee36"), Role: core.RoleOwner, JTI: "seed-jti",
			IssuedAt: fuzzNow, ExpiresAt: fuzzNow.Add(5 * time.Minute),
		}
		if mutate != nil {
			mutate(&c)
		}
		tok, err := codec.SignAccess(c)
		if err != nil {
			f.Fatal(err)
		}
		return tok
	}
	good := valid(nil)
	parts := strings.Split(good, ".")
	hdr, _ := base64.RawURLEncoding.DecodeString(parts[0])
	pl, _ := base64.RawURLEncoding.DecodeString(parts[1])
	f.Add(good, hdr, pl, int64(0))
	f.Add(good, hdr, pl, int64(301)) // just expired
	f.Add(valid(func(c *core.AccessClaims) { c.Role = "admin" }), []byte(`{"alg":"EdDSA","kid":"fuzz-key","typ":"AT+JWT"}`), pl, int64(-29))
	f.Add("", []byte(`{"alg":"none","typ":"at+jwt"}`), pl, int64(0))
	f.Add(parts[0]+"."+parts[1]+".", []byte(`{"alg":"HS256","kid":"fuzz-key","typ":"at+jwt"}`), pl, int64(0))
	f.Add(good[:len(good)/2], []byte(`{"alg":"EdDSA","kid":"fuzz-key","typ":"application/at+jwt","jku":"http://127.0.0.1:1/k"}`), pl, int64(0))
	f.Add("a.b.c.d.e", []byte(`{"alg":"EdDSA","kid":"fuzz-key","typ":"at+jwt","crit":["exp"]}`),
		[]byte(`{"iss":"sessiond-fuzz","aud":["x","sessiond-api"],"sub":"7c9e6679-7425-40de-944b-e07fc1f90ae7","sid":"0b6f5e8e-2f4c-4a53-9a3e-6f1d9c2b7a10","tid":"3f333df6-90a4-4fda-8dd3-9485d27cee36","role":"member","jti":"j","iat":1930122000,"nbf":1930122100,"exp":1.9301223e9}`), int64(0))
	f.Add(strings.Repeat("A", jose.MaxTokenLength+1), []byte(`{"alg":"EdDSA","kid":"fuzz-key","typ":"rt+jwt"}`), pl, int64(0))

	f.Fuzz(func(t *testing.T, token string, header, payload []byte, nowDelta int64) {
		now := clampNow(nowDelta)
		if c, err := codec.VerifyAccess(token, now); err == nil {
			checkAcceptedAccess(t, codec, token, c, now)
		} else if core.ErrorCode(err) != core.CodeInvalidToken {
			t.Fatalf("refusal with code %q, want invalid_token: %v", core.ErrorCode(err), err)
		}
		forged := signRaw(header, payload)
		if c, err := codec.VerifyAccess(forged, now); err == nil {
			checkAcceptedAccess(t, codec, forged, c, now)
		} else if core.ErrorCode(err) != core.CodeInvalidToken {
			t.Fatalf("refusal with code %q, want invalid_token: %v", core.ErrorCode(err), err)
		}
	})
}

func checkAcceptedRefresh(t *testing.T, codec *jose.Codec, token string, c core.RefreshClaims) {
	t.Helper()
	acceptedHeader(t, token, jose.TypeRefresh)
	p := payloadOf(t, token)
	// A refresh token's aud is the issuer; the access audience is accepted
	// from tokens signed before refresh tokens had their own (JWT-10).
	if p.Issuer != fuzzIssuer || !(audienceContains(p.Audience, fuzzIssuer) || audienceContains(p.Audience, fuzzAudience)) {
		t.Fatalf("accepted iss %q aud %s", p.Issuer, p.Audience)
	}
	if c.JTI == "" || c.ExpiresAt.IsZero() {
		t.Fatalf("accepted a refresh token without jti or exp: %+v", c)
	}
	if c.Legacy() {
		if c.IdleMax != 0 || c.AbsMax != 0 {
			t.Fatalf("legacy token with a partial snapshot: %+v", c)
		}
	} else if c.IdleMax <= 0 || c.AbsMax <= 0 {
		t.Fatalf("accepted a snapshot with non-positive windows: %+v", c)
	}
	// Round trip. nbf is not compared: we never issue one on refresh
	// tokens (SignRefresh has none to write); DecideRefresh judges it.
	again, err := codec.SignRefresh(c)
	if err != nil {
		t.Fatalf("re-sign accepted claims %+v: %v", c, err)
	}
	c2, err := codec.VerifyRefresh(again)
	if err != nil {
		t.Fatalf("re-signed accepted claims %+v do not verify: %v", c, err)
	}
	sameAuth := (c.AuthTime == nil) == (c2.AuthTime == nil) && (c.AuthTime == nil || c.AuthTime.Equal(*c2.AuthTime))
	if c2.Subject != c.Subject || c2.SessionID != c.SessionID || c2.AccountID != c.AccountID || c2.JTI != c.JTI ||
		!c2.IssuedAt.Equal(c.IssuedAt) || !c2.ExpiresAt.Equal(c.ExpiresAt) || !sameAuth ||
		c2.IdleMax != c.IdleMax || c2.AbsMax != c.AbsMax {
		t.Fatalf("round trip changed the claims:\n got  %+v\n want %+v", c2, c)
	}
}

func FuzzVerifyRefresh(f *testing.F) {
	codec := fuzzCodec(f)
	at := fuzzNow
	valid := func(mutate func(*core.RefreshClaims)) string {
		c := core.RefreshClaims{
			Subject: uuid.MustParse("7c9e6679-7425-40de-944b-e07fc1f90ae7"), SessionID: uuid.MustParse("0b6f5e8e-2f4c-4a53-9a3e-6f1d9c2b7a10"),
			AccountID: uuid.MustParse("3f333df6-90a4-4fda-8dd3-9485d27cee36"), JTI: "seed-jti",
			IssuedAt: fuzzNow, ExpiresAt: fuzzNow.Add(72 * time.Hour), AuthTime: &at, IdleMax: 259200, AbsMax: 1209600,
		}
		if mutate != nil {
			mutate(&c)
		}
		tok, err := codec.SignRefresh(c)
		if err != nil {
			f.Fatal(err)
		}
		return tok
	}
	good := valid(nil)
	legacy := valid(func(c *core.RefreshClaims) { c.AuthTime, c.IdleMax, c.AbsMax, c.AccountID = nil, 0, 0, uuid.Nil })
	parts := strings.Split(good, ".")
	hdr, _ := base64.RawURLEncoding.DecodeString(parts[0])
	pl, _ := base64.RawURLEncoding.DecodeString(parts[1])
	f.Add(good, hdr, pl)
	f.Add(legacy, hdr, []byte(`{"iss":"sessiond-fuzz","aud":"sessiond-api","sub":"7c9e6679-7425-40de-944b-e07fc1f90ae7","sid":"0b6f5e8e-2f4c-4a53-9a3e-6f1d9c2b7a10","jti":"j","exp":1930381200}`))
	f.Add("", hdr, []byte(`{"iss":"sessiond-fuzz","aud":"sessiond-api","sub":"7c9e6679-7425-40de-944b-e07fc1f90ae7","sid":"0b6f5e8e-2f4c-4a53-9a3e-6f1d9c2b7a10","jti":"j","exp":1930381200,"auth_time":1930122000,"idle_max":0,"abs_max":-1}`))
	f.Add(parts[0]+"."+parts[1]+".", []byte(`{"alg":"none","typ":"rt+jwt"}`), pl)
	f.Add(good[:len(good)-3], []byte(`{"alg":"EdDSA","kid":"fuzz-key","typ":"at+jwt"}`), pl)
	f.Add("e30.e30.e30", []byte(`{"alg":"EdDSA","kid":"fuzz-key","typ":"RT+JWT","x5u":"http://127.0.0.1:1/c"}`), []byte(`{"tid":"not-a-uuid"}`))
	f.Add(good, []byte(`{"alg":"EdDSA","kid":"../../etc/passwd","typ":"rt+jwt"}`), []byte(`{"iss":"sessiond-fuzz","aud":"other"}`))

	f.Fuzz(func(t *testing.T, token string, header, payload []byte) {
		if c, err := codec.VerifyRefresh(token); err == nil {
			checkAcceptedRefresh(t, codec, token, c)
		} else if core.ErrorCode(err) != core.CodeInvalidRefreshToken {
			t.Fatalf("refusal with code %q, want invalid_refresh_token: %v", core.ErrorCode(err), err)
		}
		forged := signRaw(header, payload)
		if c, err := codec.VerifyRefresh(forged); err == nil {
			checkAcceptedRefresh(t, codec, forged, c)
		} else if core.ErrorCode(err) != core.CodeInvalidRefreshToken {
			t.Fatalf("refusal with code %q, want invalid_refresh_token: %v", core.ErrorCode(err), err)
		}
	})
}
