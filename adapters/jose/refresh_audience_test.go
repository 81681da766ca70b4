package jose_test

import (
	"errors"
	"testing"
	"time"

	gojose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/sessiond/sessiond/adapters/jose"
	"github.com/sessiond/sessiond/core"
)

// JWT-10: a resource server that verifies
// access tokens offline with the published JWKS and go-jose's standard
// claim validation — issuer and audience, no typ check — must refuse every
// refresh token, and accept access tokens.
func TestRefreshToken_JWT10_FailsAnAccessTokenCheckThatIgnoresTyp(t *testing.T) {
	c := codec(t, newEd25519(t))
	published := c.JWKS() // what /.well-known/jwks.json serves
	rt, err := c.SignRefresh(core.RefreshClaims{
		Subject: testUser, SessionID: testSess, AccountID: testAcct, JTI: "jti-1",
		IssuedAt: now, ExpiresAt: now.Add(time.Hour),
	})
	if err != nil {
		t.Fatal(err)
	}
	at, err := c.SignAccess(core.AccessClaims{
		Subject: testUser, SessionID: testSess, AccountID: testAcct, Role: core.RoleOwner,
		JTI: "jti-2", IssuedAt: now, ExpiresAt: now.Add(5 * time.Minute),
	})
	if err != nil {
		t.Fatal(err)
	}
	resourceServerCheck := func(token string) error {
		parsed, err := jwt.ParseSigned(token, []gojose.SignatureAlgorithm{gojose.EdDSA, gojose.ES256})
		if err != nil {
			return err
		}
		var cl jwt.Claims
		if err := parsed.Claims(published, &cl); err != nil {
			return err
		}
		return cl.ValidateWithLeeway(jwt.Expected{Issuer: testIssuer, AnyAudience: jwt.Audience{testAudience}, Time: now}, time.Minute)
	}
	if err := resourceServerCheck(at); err != nil {
		t.Fatalf("the access token fails the resource server's check: %v", err)
	}
	if err := resourceServerCheck(rt); !errors.Is(err, jwt.ErrInvalidAudience) {
		t.Fatalf("a refresh token passed (or failed for another reason) an access-token check that ignores typ: %v", err)
	}
	// The refresh token still refreshes here.
	if _, err := c.VerifyRefresh(rt); err != nil {
		t.Fatalf("VerifyRefresh: %v", err)
	}
}

// Refresh tokens signed before they had their own aud carry the access
// audience: they still refresh, so the upgrade signs nobody out.
func TestVerifyRefresh_LegacyAccessAudience_StillAccepted(t *testing.T) {
	k := newEd25519(t)
	c := codec(t, k)
	legacy := forge(t, map[string]any{"alg": "EdDSA", "kid": k.KeyID, "typ": jose.TypeRefresh}, map[string]any{
		"iss": testIssuer, "aud": []string{testAudience}, "sub": testUser.String(), "sid": testSess.String(),
		"jti": "legacy", "iat": now.Unix(), "exp": now.Add(time.Hour).Unix(),
	}, edSigner(k))
	if _, err := c.VerifyRefresh(legacy); err != nil {
		t.Fatalf("legacy refresh token refused: %v", err)
	}
}

func TestNewCodec_IssuerEqualToAudience_Refused(t *testing.T) {
	if _, err := jose.NewCodec(keySet(t, newEd25519(t)), "same", "same", "client"); err == nil {
		t.Fatal("NewCodec accepted an access audience equal to the issuer (the refresh audience)")
	}
}
