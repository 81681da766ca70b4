package jose_test

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	gojose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/google/uuid"

	"github.com/sessiond/sessiond/adapters/jose"
	"github.com/sessiond/sessiond/core"
)

const (
	testIssuer   = "iss"
	testAudience = "aud"
	testClient   = "client"
)

var (
	// now is whole seconds: NumericDate carries seconds only.
	now       = time.Unix(1_750_000_000, 0).UTC()
	testUser  = uuid.MustParse("aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa")
	testSess  = uuid.MustParse("bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb")
	testAcct  = uuid.MustParse("cccccccc-cccc-4ccc-8ccc-cccccccccccc")
	b64       = base64.RawURLEncoding
	errNotErr = errors.New("no error")
)

func newEd25519(t *testing.T) gojose.JSONWebKey {
	t.Helper()
	k, err := jose.GenerateEd25519()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func newP256(t *testing.T, kid string) gojose.JSONWebKey {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return gojose.JSONWebKey{Key: priv, KeyID: kid, Algorithm: string(gojose.ES256), Use: "sig"}
}

func marshalSet(t *testing.T, keys ...gojose.JSONWebKey) []byte {
	t.Helper()
	b, err := json.Marshal(gojose.JSONWebKeySet{Keys: keys})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func keySet(t *testing.T, keys ...gojose.JSONWebKey) *jose.KeySet {
	t.Helper()
	ks, err := jose.ParseKeySet(marshalSet(t, keys...))
	if err != nil {
		t.Fatalf("ParseKeySet: %v", err)
	}
	return ks
}

func codec(t *testing.T, keys ...gojose.JSONWebKey) *jose.Codec {
	t.Helper()
	c, err := jose.NewCodec(keySet(t, keys...), testIssuer, testAudience, testClient)
	if err != nil {
		t.Fatalf("NewCodec: %v", err)
	}
	return c
}

func edPriv(k gojose.JSONWebKey) ed25519.PrivateKey { return k.Key.(ed25519.PrivateKey) }

// forge builds a compact JWS by hand: any header, any claims, any
// signature (nil sign: empty signature).
func forge(t *testing.T, header, claims map[string]any, sign func(input []byte) []byte) string {
	t.Helper()
	h, err := json.Marshal(header)
	if err != nil {
		t.Fatal(err)
	}
	p, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	input := b64.EncodeToString(h) + "." + b64.EncodeToString(p)
	var sig []byte
	if sign != nil {
		sig = sign([]byte(input))
	}
	return input + "." + b64.EncodeToString(sig)
}

func edSigner(k gojose.JSONWebKey) func([]byte) []byte {
	return func(in []byte) []byte { return ed25519.Sign(edPriv(k), in) }
}

func hmacSigner(secret []byte) func([]byte) []byte {
	return func(in []byte) []byte {
		m := hmac.New(sha256.New, secret)
		m.Write(in)
		return m.Sum(nil)
	}
}

func accessHeader(kid string) map[string]any {
	return map[string]any{"alg": "EdDSA", "kid": kid, "typ": "at+jwt"}
}

func accessClaimsMap() map[string]any {
	return map[string]any{
		"iss": testIssuer, "aud": []string{testAudience}, "sub": testUser.String(),
		"sid": testSess.String(), "tid": testAcct.String(), "role": "member", "client_id": testClient,
		"jti": "access-jti", "iat": now.Unix() - 10, "nbf": now.Unix() - 10, "exp": now.Unix() + 290,
	}
}

func refreshClaimsMap() map[string]any {
	return map[string]any{
		"iss": testIssuer, "aud": []string{testAudience}, "sub": testUser.String(),
		"sid": testSess.String(), "tid": testAcct.String(), "jti": "refresh-jti",
		"iat": now.Unix(), "exp": now.Unix() + 3600,
		"auth_time": now.Unix() - 600, "idle_max": 3600, "abs_max": 86400,
	}
}

func merge(m map[string]any, kv ...any) map[string]any {
	out := map[string]any{}
	for k, v := range m {
		out[k] = v
	}
	for i := 0; i < len(kv); i += 2 {
		if kv[i+1] == nil {
			delete(out, kv[i].(string))
		} else {
			out[kv[i].(string)] = kv[i+1]
		}
	}
	return out
}

// goJoseSign signs claims with go-jose itself (for attacks that need a
// real second key or library-made headers).
func goJoseSign(t *testing.T, alg gojose.SignatureAlgorithm, key any, opts *gojose.SignerOptions, claims any) string {
	t.Helper()
	s, err := gojose.NewSigner(gojose.SigningKey{Algorithm: alg, Key: key}, opts)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := jwt.Signed(s).Claims(claims).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func wantCode(t *testing.T, err error, code core.Code) {
	t.Helper()
	if err == nil {
		err = errNotErr
	}
	var e *core.Error
	if !errors.As(err, &e) || e.Code != code {
		t.Fatalf("error = %v (%T), want *core.Error with code %q", err, err, code)
	}
}

func flipSignatureBit(t *testing.T, tok string) string {
	t.Helper()
	i := strings.LastIndexByte(tok, '.')
	sig, err := b64.DecodeString(tok[i+1:])
	if err != nil || len(sig) == 0 {
		t.Fatalf("signature of %q: %v", tok, err)
	}
	sig[len(sig)/2] ^= 0x01
	return tok[:i+1] + b64.EncodeToString(sig)
}

func decodePart(t *testing.T, tok string, part int) map[string]any {
	t.Helper()
	b, err := b64.DecodeString(strings.Split(tok, ".")[part])
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]any{}
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func sampleAccess() core.AccessClaims {
	return core.AccessClaims{
		Subject: testUser, SessionID: testSess, AccountID: testAcct, Role: core.RoleOwner,
		JTI: "at-jti", IssuedAt: now, ExpiresAt: now.Add(5 * time.Minute),
	}
}

func sampleRefresh() core.RefreshClaims {
	at := now.Add(-2 * time.Hour)
	return core.RefreshClaims{
		Subject: testUser, SessionID: testSess, AccountID: testAcct, JTI: "rt-jti",
		IssuedAt: now, ExpiresAt: now.Add(time.Hour), AuthTime: &at, IdleMax: 3600, AbsMax: 86400,
	}
}

func TestCodec_AccessToken_RoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name string
		key  func(t *testing.T) gojose.JSONWebKey
		alg  string
	}{
		{"EdDSA", newEd25519, "EdDSA"},
		{"ES256", func(t *testing.T) gojose.JSONWebKey { return newP256(t, "ec-1") }, "ES256"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			key := tc.key(t)
			c := codec(t, key)
			in := sampleAccess()
			tok, err := c.SignAccess(in)
			if err != nil {
				t.Fatal(err)
			}
			got, err := c.VerifyAccess(tok, now.Add(time.Minute))
			if err != nil {
				t.Fatalf("VerifyAccess: %v", err)
			}
			if got.Subject != in.Subject || got.SessionID != in.SessionID || got.AccountID != in.AccountID ||
				got.Role != in.Role || got.JTI != in.JTI || !got.IssuedAt.Equal(in.IssuedAt) || !got.ExpiresAt.Equal(in.ExpiresAt) {
				t.Fatalf("VerifyAccess = %+v, want %+v", got, in)
			}
			h := decodePart(t, tok, 0)
			if h["typ"] != "at+jwt" || h["alg"] != tc.alg || h["kid"] != key.KeyID {
				t.Fatalf("header = %v, want typ at+jwt, alg %s, kid %s", h, tc.alg, key.KeyID)
			}
		})
	}
}

func TestCodec_JWT06_AccessTokenCarriesRFC9068Claims(t *testing.T) {
	c := codec(t, newEd25519(t))
	tok, err := c.SignAccess(sampleAccess())
	if err != nil {
		t.Fatal(err)
	}
	p := decodePart(t, tok, 1)
	want := map[string]any{
		"iss": testIssuer, "sub": testUser.String(), "client_id": testClient, "jti": "at-jti",
		"tid": testAcct.String(), "sid": testSess.String(), "role": "owner",
		"iat": float64(now.Unix()), "exp": float64(now.Add(5 * time.Minute).Unix()),
	}
	for k, v := range want {
		if p[k] != v {
			t.Errorf("claim %s = %v, want %v", k, p[k], v)
		}
	}
	aud, _ := json.Marshal(p["aud"])
	if string(aud) != `["aud"]` && string(aud) != `"aud"` {
		t.Errorf("claim aud = %s, want aud", aud)
	}
}

func TestCodec_RefreshToken_RoundTrip(t *testing.T) {
	c := codec(t, newEd25519(t))

	t.Run("SnapshotClaimsCarried", func(t *testing.T) {
		in := sampleRefresh()
		tok, err := c.SignRefresh(in)
		if err != nil {
			t.Fatal(err)
		}
		got, err := c.VerifyRefresh(tok)
		if err != nil {
			t.Fatalf("VerifyRefresh: %v", err)
		}
		if got.Legacy() || !got.AuthTime.Equal(*in.AuthTime) || got.IdleMax != in.IdleMax || got.AbsMax != in.AbsMax ||
			got.Subject != in.Subject || got.SessionID != in.SessionID || got.AccountID != in.AccountID ||
			got.JTI != in.JTI || !got.IssuedAt.Equal(in.IssuedAt) || !got.ExpiresAt.Equal(in.ExpiresAt) {
			t.Fatalf("VerifyRefresh = %+v, want %+v", got, in)
		}
		if h := decodePart(t, tok, 0); h["typ"] != "rt+jwt" {
			t.Fatalf("refresh typ = %v, want rt+jwt", h["typ"])
		}
	})

	t.Run("LegacyWithoutAuthTimeStaysLegacy", func(t *testing.T) {
		in := sampleRefresh()
		in.AuthTime, in.IdleMax, in.AbsMax, in.AccountID = nil, 0, 0, uuid.Nil
		tok, err := c.SignRefresh(in)
		if err != nil {
			t.Fatal(err)
		}
		p := decodePart(t, tok, 1)
		for _, k := range []string{"auth_time", "idle_max", "abs_max", "tid"} {
			if _, ok := p[k]; ok {
				t.Errorf("legacy token carries %s", k)
			}
		}
		got, err := c.VerifyRefresh(tok)
		if err != nil {
			t.Fatalf("VerifyRefresh: %v", err)
		}
		if !got.Legacy() || got.IdleMax != 0 || got.AbsMax != 0 || got.AccountID != uuid.Nil || got.JTI != in.JTI {
			t.Fatalf("VerifyRefresh = %+v, want legacy claims", got)
		}
	})

	t.Run("ExpiryNotJudgedByVerifyRefresh", func(t *testing.T) {
		in := sampleRefresh()
		in.ExpiresAt = now.Add(-365 * 24 * time.Hour)
		tok, err := c.SignRefresh(in)
		if err != nil {
			t.Fatal(err)
		}
		got, err := c.VerifyRefresh(tok)
		if err != nil {
			t.Fatalf("VerifyRefresh of an expired token: %v (expiry belongs to DecideRefresh)", err)
		}
		if !got.ExpiresAt.Equal(in.ExpiresAt) {
			t.Fatalf("ExpiresAt = %v, want %v", got.ExpiresAt, in.ExpiresAt)
		}
	})
}

func TestCodec_VerifyAccess_Attacks(t *testing.T) {
	key := newEd25519(t)
	kid := key.KeyID
	c := codec(t, key)
	pub := edPriv(key).Public().(ed25519.PublicKey)
	pubJWK, err := json.Marshal(key.Public())
	if err != nil {
		t.Fatal(err)
	}
	attacker := newEd25519(t)
	good := edSigner(key)
	claims := accessClaimsMap()

	issued, err := c.SignAccess(sampleAccess())
	if err != nil {
		t.Fatal(err)
	}
	refresh, err := c.SignRefresh(sampleRefresh())
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name   string
		token  func(t *testing.T) string
		wantOK bool
	}{
		// Controls: the hand-built path makes tokens that do verify, so each
		// rejection below is due to the one thing that case changes.
		{"Control_HandForgedWithConfiguredKey_Passes", func(t *testing.T) string {
			return forge(t, accessHeader(kid), claims, good)
		}, true},
		{"Control_IssuedToken_Passes", func(t *testing.T) string { return issued }, true},
		{"JWT03_TypAtJwt_Passes", func(t *testing.T) string {
			return forge(t, merge(accessHeader(kid), "typ", "at+jwt"), claims, good)
		}, true},
		{"JWT03_TypApplicationATJWTUpperCase_Passes", func(t *testing.T) string {
			return forge(t, merge(accessHeader(kid), "typ", "application/AT+JWT"), claims, good)
		}, true},
		{"JWT05_IatAndNbfExactly30sAhead_Passes", func(t *testing.T) string {
			return forge(t, accessHeader(kid), merge(claims, "iat", now.Unix()+30, "nbf", now.Unix()+30), good)
		}, true},
		{"JWT05_ExpOneSecondAhead_Passes", func(t *testing.T) string {
			return forge(t, accessHeader(kid), merge(claims, "exp", now.Unix()+1), good)
		}, true},

		// JWT-01: alg none, any case, empty signature.
		{"JWT01_AlgNone_EmptySignature_Rejected", func(t *testing.T) string {
			return forge(t, merge(accessHeader(kid), "alg", "none"), claims, nil)
		}, false},
		{"JWT01_AlgNoneCapitalized_EmptySignature_Rejected", func(t *testing.T) string {
			return forge(t, merge(accessHeader(kid), "alg", "None"), claims, nil)
		}, false},
		{"JWT01_AlgNoneMixedCase_EmptySignature_Rejected", func(t *testing.T) string {
			return forge(t, merge(accessHeader(kid), "alg", "nOnE"), claims, nil)
		}, false},
		{"JWT01_AlgNoneWithoutKid_Rejected", func(t *testing.T) string {
			return forge(t, map[string]any{"alg": "none", "typ": "at+jwt"}, claims, nil)
		}, false},
		{"JWT01_AlgEdDSA_EmptySignature_Rejected", func(t *testing.T) string {
			return forge(t, accessHeader(kid), claims, nil)
		}, false},
		{"JWT01_AlgMissing_Rejected", func(t *testing.T) string {
			return forge(t, merge(accessHeader(kid), "alg", nil), claims, good)
		}, false},

		// JWT-02: HMAC with the public key; another key, same kid.
		{"JWT02_HS256WithPublicKeyBytesAsSecret_Rejected", func(t *testing.T) string {
			return forge(t, merge(accessHeader(kid), "alg", "HS256"), claims, hmacSigner(pub))
		}, false},
		{"JWT02_HS256WithPublicJWKJSONAsSecret_Rejected", func(t *testing.T) string {
			return forge(t, merge(accessHeader(kid), "alg", "HS256"), claims, hmacSigner(pubJWK))
		}, false},
		{"JWT02_ES256ByAnotherKeySameKid_Rejected", func(t *testing.T) string {
			return goJoseSign(t, gojose.ES256, newP256(t, kid), (&gojose.SignerOptions{}).WithType("at+jwt"), claims)
		}, false},
		{"JWT02_EdDSAByAnotherKeySameKid_Rejected", func(t *testing.T) string {
			return forge(t, accessHeader(kid), claims, edSigner(attacker))
		}, false},

		// JWT-07: kid and key-locating headers.
		{"JWT07_UnknownKid_Rejected", func(t *testing.T) string {
			return forge(t, merge(accessHeader(kid), "kid", "no-such-key"), claims, good)
		}, false},
		{"JWT07_KidPathTraversal_Rejected", func(t *testing.T) string {
			return forge(t, merge(accessHeader(kid), "kid", "../../etc/passwd"), claims, good)
		}, false},
		{"JWT07_KidSQLInjection_Rejected", func(t *testing.T) string {
			return forge(t, merge(accessHeader(kid), "kid", "' OR 1=1 --"), claims, good)
		}, false},
		{"JWT07_KidMissing_Rejected", func(t *testing.T) string {
			return forge(t, merge(accessHeader(kid), "kid", nil), claims, good)
		}, false},
		{"JWT07_EmbeddedJWKOfAttackerKey_Rejected", func(t *testing.T) string {
			opts := (&gojose.SignerOptions{EmbedJWK: true}).WithType("at+jwt").WithHeader("kid", kid)
			return goJoseSign(t, gojose.EdDSA, edPriv(attacker), opts, claims)
		}, false},
		{"JWT07_EmbeddedJWKHeaderEvenWithValidSignature_Rejected", func(t *testing.T) string {
			var jwk map[string]any
			if err := json.Unmarshal(pubJWK, &jwk); err != nil {
				t.Fatal(err)
			}
			return forge(t, merge(accessHeader(kid), "jwk", jwk), claims, good)
		}, false},
		{"JWT07_JkuHeader_Rejected", func(t *testing.T) string {
			return forge(t, merge(accessHeader(kid), "jku", "https://attacker.example/jwks.json"), claims, good)
		}, false},
		{"JWT07_X5uHeader_Rejected", func(t *testing.T) string {
			return forge(t, merge(accessHeader(kid), "x5u", "https://attacker.example/cert.pem"), claims, good)
		}, false},
		{"CritHeader_Rejected", func(t *testing.T) string {
			return forge(t, merge(accessHeader(kid), "crit", []string{"exp"}), claims, good)
		}, false},

		// JWT-03: explicit typing.
		{"JWT03_TypAbsent_Rejected", func(t *testing.T) string {
			return forge(t, merge(accessHeader(kid), "typ", nil), claims, good)
		}, false},
		{"JWT03_TypJWT_Rejected", func(t *testing.T) string {
			return forge(t, merge(accessHeader(kid), "typ", "JWT"), claims, good)
		}, false},
		{"JWT03_TypRefresh_Rejected", func(t *testing.T) string {
			return forge(t, merge(accessHeader(kid), "typ", "rt+jwt"), claims, good)
		}, false},
		{"JWT03_TypWithTrailingSpace_Rejected", func(t *testing.T) string {
			return forge(t, merge(accessHeader(kid), "typ", "at+jwt "), claims, good)
		}, false},
		{"JWT03_TypNotAString_Rejected", func(t *testing.T) string {
			return forge(t, merge(accessHeader(kid), "typ", 1), claims, good)
		}, false},
		{"JWT03_IssuedRefreshTokenAsAccess_Rejected", func(t *testing.T) string { return refresh }, false},

		// JWT-04: issuer and audience.
		{"JWT04_WrongIssuer_Rejected", func(t *testing.T) string {
			return forge(t, accessHeader(kid), merge(claims, "iss", "https://evil.example"), good)
		}, false},
		{"JWT04_MissingIssuer_Rejected", func(t *testing.T) string {
			return forge(t, accessHeader(kid), merge(claims, "iss", nil), good)
		}, false},
		{"JWT04_WrongAudience_Rejected", func(t *testing.T) string {
			return forge(t, accessHeader(kid), merge(claims, "aud", []string{"other-api"}), good)
		}, false},
		{"JWT04_MissingAudience_Rejected", func(t *testing.T) string {
			return forge(t, accessHeader(kid), merge(claims, "aud", nil), good)
		}, false},

		// JWT-05: time claims (exp strict, 30 s skew for iat/nbf).
		{"JWT05_ExpInThePast_Rejected", func(t *testing.T) string {
			return forge(t, accessHeader(kid), merge(claims, "exp", now.Unix()-1), good)
		}, false},
		{"JWT05_ExpEqualsNow_Rejected", func(t *testing.T) string {
			return forge(t, accessHeader(kid), merge(claims, "exp", now.Unix()), good)
		}, false},
		{"JWT05_MissingExp_Rejected", func(t *testing.T) string {
			return forge(t, accessHeader(kid), merge(claims, "exp", nil), good)
		}, false},
		{"JWT05_IatMoreThan30sInFuture_Rejected", func(t *testing.T) string {
			return forge(t, accessHeader(kid), merge(claims, "iat", now.Unix()+31, "nbf", nil), good)
		}, false},
		{"JWT05_NbfMoreThan30sInFuture_Rejected", func(t *testing.T) string {
			return forge(t, accessHeader(kid), merge(claims, "nbf", now.Unix()+31), good)
		}, false},
		{"JWT05_MissingIat_Rejected", func(t *testing.T) string {
			return forge(t, accessHeader(kid), merge(claims, "iat", nil), good)
		}, false},

		// JWT-06/08: required identity claims well-formed.
		{"MissingJti_Rejected", func(t *testing.T) string {
			return forge(t, accessHeader(kid), merge(claims, "jti", nil), good)
		}, false},
		{"JWT08_MissingTenant_Rejected", func(t *testing.T) string {
			return forge(t, accessHeader(kid), merge(claims, "tid", nil), good)
		}, false},
		{"JWT08_MalformedTenant_Rejected", func(t *testing.T) string {
			return forge(t, accessHeader(kid), merge(claims, "tid", "tenant-b"), good)
		}, false},
		{"MalformedSubject_Rejected", func(t *testing.T) string {
			return forge(t, accessHeader(kid), merge(claims, "sub", "admin"), good)
		}, false},
		{"MissingSessionID_Rejected", func(t *testing.T) string {
			return forge(t, accessHeader(kid), merge(claims, "sid", nil), good)
		}, false},
		{"UnknownRole_Rejected", func(t *testing.T) string {
			return forge(t, accessHeader(kid), merge(claims, "role", "admin"), good)
		}, false},

		// Malformed transport.
		{"Empty_Rejected", func(t *testing.T) string { return "" }, false},
		{"Garbage_Rejected", func(t *testing.T) string { return "not.a.jwt" }, false},
		{"Truncated_Rejected", func(t *testing.T) string { return issued[:len(issued)-10] }, false},
		{"HeaderAndPayloadOnly_Rejected", func(t *testing.T) string { return issued[:strings.LastIndexByte(issued, '.')] }, false},
		{"OneFlippedBitInSignature_Rejected", func(t *testing.T) string { return flipSignatureBit(t, issued) }, false},
		{"OneFlippedBitInPayload_Rejected", func(t *testing.T) string {
			parts := strings.Split(issued, ".")
			p, _ := b64.DecodeString(parts[1])
			p = []byte(strings.Replace(string(p), `"owner"`, `"ownes"`, 1))
			return parts[0] + "." + b64.EncodeToString(p) + "." + parts[2]
		}, false},
		{"TenKilobyteTokenValidlySigned_Rejected", func(t *testing.T) string {
			return forge(t, accessHeader(kid), merge(claims, "pad", strings.Repeat("A", 10*1024)), good)
		}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok := tt.token(t)
			got, err := c.VerifyAccess(tok, now)
			if tt.wantOK {
				if err != nil {
					t.Fatalf("VerifyAccess: %v", err)
				}
				if got.Subject != testUser || got.SessionID != testSess || got.AccountID != testAcct {
					t.Fatalf("VerifyAccess = %+v", got)
				}
				return
			}
			wantCode(t, err, core.CodeInvalidToken)
			if !reflect.DeepEqual(got, core.AccessClaims{}) {
				t.Fatalf("rejected token still returned claims %+v", got)
			}
		})
	}
}

// countingTransport fails and counts every request sent through the default
// HTTP client.
type countingTransport struct{ n atomic.Int64 }

func (c *countingTransport) RoundTrip(*http.Request) (*http.Response, error) {
	c.n.Add(1)
	return nil, errors.New("outbound HTTP is not allowed in this test")
}

func TestCodec_JWT07_KeyLocatingHeaders_NoOutboundFetch(t *testing.T) {
	ct := &countingTransport{}
	orig := http.DefaultTransport
	http.DefaultTransport = ct
	t.Cleanup(func() { http.DefaultTransport = orig })

	key := newEd25519(t)
	attacker := newEd25519(t)
	c := codec(t, key)
	claims := accessClaimsMap()
	for _, h := range []map[string]any{
		merge(accessHeader("attacker"), "jku", "http://127.0.0.1:1/jwks.json"),
		merge(accessHeader("attacker"), "x5u", "http://127.0.0.1:1/cert.pem"),
	} {
		tok := forge(t, h, claims, edSigner(attacker))
		_, err := c.VerifyAccess(tok, now)
		wantCode(t, err, core.CodeInvalidToken)
		_, err = c.VerifyRefresh(tok)
		wantCode(t, err, core.CodeInvalidRefreshToken)
	}
	if n := ct.n.Load(); n != 0 {
		t.Fatalf("%d outbound HTTP requests, want 0", n)
	}
}

func TestCodec_VerifyRefresh_Rejections(t *testing.T) {
	key := newEd25519(t)
	kid := key.KeyID
	c := codec(t, key)
	good := edSigner(key)
	hdr := map[string]any{"alg": "EdDSA", "kid": kid, "typ": "rt+jwt"}
	claims := refreshClaimsMap()

	access, err := c.SignAccess(sampleAccess())
	if err != nil {
		t.Fatal(err)
	}
	issued, err := c.SignRefresh(sampleRefresh())
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name   string
		token  string
		wantOK bool
	}{
		{"Control_HandForgedSnapshotClaims_Passes", forge(t, hdr, claims, good), true},
		{"Control_HandForgedLegacyClaims_Passes", forge(t, hdr, merge(claims, "auth_time", nil, "idle_max", nil, "abs_max", nil), good), true},
		{"Control_TypApplicationRTJWT_Passes", forge(t, merge(hdr, "typ", "application/RT+JWT"), claims, good), true},

		{"JWT03_AccessTokenAsRefresh_Rejected", access, false},
		{"JWT03_TypAtJwt_Rejected", forge(t, merge(hdr, "typ", "at+jwt"), claims, good), false},
		{"JWT03_TypAbsent_Rejected", forge(t, merge(hdr, "typ", nil), claims, good), false},
		{"BadSignature_Rejected", flipSignatureBit(t, issued), false},
		{"SignedByAnotherKeySameKid_Rejected", forge(t, hdr, claims, edSigner(newEd25519(t))), false},
		{"JWT01_AlgNone_Rejected", forge(t, merge(hdr, "alg", "none"), claims, nil), false},
		{"JWT02_HS256WithPublicKey_Rejected", forge(t, merge(hdr, "alg", "HS256"), claims,
			hmacSigner(edPriv(key).Public().(ed25519.PublicKey))), false},
		{"JWT07_UnknownKid_Rejected", forge(t, merge(hdr, "kid", "../../etc/passwd"), claims, good), false},
		{"AuthTimeWithoutIdleMax_Rejected", forge(t, hdr, merge(claims, "idle_max", nil), good), false},
		{"AuthTimeWithoutAbsMax_Rejected", forge(t, hdr, merge(claims, "abs_max", nil), good), false},
		{"IdleMaxWithoutAuthTime_Rejected", forge(t, hdr, merge(claims, "auth_time", nil), good), false},
		{"IdleMaxZero_Rejected", forge(t, hdr, merge(claims, "idle_max", 0), good), false},
		{"AbsMaxNegative_Rejected", forge(t, hdr, merge(claims, "abs_max", -1), good), false},
		{"WrongIssuer_Rejected", forge(t, hdr, merge(claims, "iss", "https://evil.example"), good), false},
		{"MissingJti_Rejected", forge(t, hdr, merge(claims, "jti", nil), good), false},
		{"MissingExp_Rejected", forge(t, hdr, merge(claims, "exp", nil), good), false},
		{"MalformedSubject_Rejected", forge(t, hdr, merge(claims, "sub", "x"), good), false},
		{"MalformedSessionID_Rejected", forge(t, hdr, merge(claims, "sid", "x"), good), false},
		{"RT04_MalformedTenant_Rejected", forge(t, hdr, merge(claims, "tid", "tenant-b"), good), false},
		{"Truncated_Rejected", issued[:len(issued)-5], false},
		{"Empty_Rejected", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := c.VerifyRefresh(tt.token)
			if tt.wantOK {
				if err != nil {
					t.Fatalf("VerifyRefresh: %v", err)
				}
				if got.Subject != testUser || got.SessionID != testSess || got.JTI != "refresh-jti" {
					t.Fatalf("VerifyRefresh = %+v", got)
				}
				return
			}
			wantCode(t, err, core.CodeInvalidRefreshToken)
		})
	}
}

func TestCodec_KeyRotation_OldKeyVerifiesWhileInSet(t *testing.T) {
	a, b := newEd25519(t), newEd25519(t)
	signedByB := codec(t, b)
	rotatedSet := codec(t, a, b) // A signs now, B still verifies
	onlyA := codec(t, a)

	at, err := signedByB.SignAccess(sampleAccess())
	if err != nil {
		t.Fatal(err)
	}
	rt, err := signedByB.SignRefresh(sampleRefresh())
	if err != nil {
		t.Fatal(err)
	}

	if _, err := rotatedSet.VerifyAccess(at, now); err != nil {
		t.Fatalf("[A, B] rejects an access token signed by B: %v", err)
	}
	if _, err := rotatedSet.VerifyRefresh(rt); err != nil {
		t.Fatalf("[A, B] rejects a refresh token signed by B: %v", err)
	}
	_, err = onlyA.VerifyAccess(at, now)
	wantCode(t, err, core.CodeInvalidToken)
	_, err = onlyA.VerifyRefresh(rt)
	wantCode(t, err, core.CodeInvalidRefreshToken)

	byA, err := rotatedSet.SignAccess(sampleAccess())
	if err != nil {
		t.Fatal(err)
	}
	if kid := decodePart(t, byA, 0)["kid"]; kid != a.KeyID {
		t.Fatalf("[A, B] signs with kid %v, want A's %s", kid, a.KeyID)
	}
	if _, err := onlyA.VerifyAccess(byA, now); err != nil {
		t.Fatalf("[A] rejects a token signed by A: %v", err)
	}
}

func TestNewCodec_RequiresIssuerAndAudience(t *testing.T) {
	ks := keySet(t, newEd25519(t))
	for _, tc := range []struct{ iss, aud string }{{"", "aud"}, {"iss", ""}} {
		if _, err := jose.NewCodec(ks, tc.iss, tc.aud, "client"); err == nil {
			t.Errorf("NewCodec(iss=%q, aud=%q) succeeded", tc.iss, tc.aud)
		}
	}
}
