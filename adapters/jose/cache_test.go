package jose_test

import (
	"reflect"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/sessiond/sessiond/adapters/jose"
	"github.com/sessiond/sessiond/core"
)

// countingCodec counts the verifications that reach the real codec.
type countingCodec struct {
	core.TokenCodec
	verifies int
}

func (c *countingCodec) VerifyAccess(token string, now time.Time) (core.AccessClaims, error) {
	c.verifies++
	return c.TokenCodec.VerifyAccess(token, now)
}

func signAccess(t *testing.T, c core.TokenCodec, iat time.Time, ttl time.Duration) string {
	t.Helper()
	tok, err := c.SignAccess(core.AccessClaims{
		Subject: uuid.New(), SessionID: uuid.New(), AccountID: uuid.New(), Role: core.RoleMember,
		JTI: core.NewJTI(), IssuedAt: iat, ExpiresAt: iat.Add(ttl),
	})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestVerifyCache_HitSkipsVerification_UntilExp(t *testing.T) {
	inner := &countingCodec{TokenCodec: codec(t, newEd25519(t))}
	c, err := jose.NewVerifyCache(inner, 16)
	if err != nil {
		t.Fatal(err)
	}
	iat := time.Now().Truncate(time.Second)
	tok := signAccess(t, c, iat, 5*time.Minute)

	first, err := c.VerifyAccess(tok, iat)
	if err != nil {
		t.Fatal(err)
	}
	second, err := c.VerifyAccess(tok, iat.Add(4*time.Minute))
	if err != nil || !reflect.DeepEqual(second, first) {
		t.Fatalf("hit: %+v %v; want %+v", second, err, first)
	}
	if inner.verifies != 1 {
		t.Fatalf("%d verifications, want 1 (the second presentation is a hit)", inner.verifies)
	}
	// At exp the entry is not used: the real check refuses, and the entry
	// is gone.
	if _, err := c.VerifyAccess(tok, iat.Add(5*time.Minute)); core.ErrorCode(err) != core.CodeInvalidToken {
		t.Fatalf("at exp: %v, want invalid_token", err)
	}
	if inner.verifies != 2 || c.Len() != 0 {
		t.Fatalf("at exp: %d verifications, %d entries; want 2 and 0", inner.verifies, c.Len())
	}
}

func TestVerifyCache_ClockGoingBack_Reverifies(t *testing.T) {
	inner := &countingCodec{TokenCodec: codec(t, newEd25519(t))}
	c, _ := jose.NewVerifyCache(inner, 16)
	iat := time.Now().Truncate(time.Second)
	tok := signAccess(t, c, iat, 5*time.Minute)
	if _, err := c.VerifyAccess(tok, iat.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if _, err := c.VerifyAccess(tok, iat.Add(30*time.Second)); err != nil {
		t.Fatal(err)
	}
	if inner.verifies != 2 {
		t.Fatalf("%d verifications, want 2 (now before the cached verification re-verifies)", inner.verifies)
	}
}

func TestVerifyCache_IsBounded(t *testing.T) {
	inner := &countingCodec{TokenCodec: codec(t, newEd25519(t))}
	c, _ := jose.NewVerifyCache(inner, 3)
	iat := time.Now().Truncate(time.Second)
	for range 10 {
		if _, err := c.VerifyAccess(signAccess(t, c, iat, time.Minute), iat); err != nil {
			t.Fatal(err)
		}
	}
	if c.Len() != 3 {
		t.Fatalf("%d entries, want the bound 3", c.Len())
	}
}

func TestVerifyCache_BadTokenNeverCached(t *testing.T) {
	inner := &countingCodec{TokenCodec: codec(t, newEd25519(t))}
	c, _ := jose.NewVerifyCache(inner, 16)
	iat := time.Now().Truncate(time.Second)
	tok := signAccess(t, c, iat, time.Minute)
	tampered := tok[:len(tok)-2] + "AA"
	if tampered == tok {
		tampered = tok[:len(tok)-2] + "BB"
	}
	for range 2 {
		if _, err := c.VerifyAccess(tampered, iat); core.ErrorCode(err) != core.CodeInvalidToken {
			t.Fatalf("tampered token: %v", err)
		}
	}
	// A refresh token is no access token, cached or not.
	rt, err := c.SignRefresh(core.RefreshClaims{Subject: uuid.New(), SessionID: uuid.New(), AccountID: uuid.New(), JTI: core.NewJTI(),
		IssuedAt: iat, ExpiresAt: iat.Add(time.Hour), AuthTime: &iat, IdleMax: 3600, AbsMax: 7200})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.VerifyAccess(rt, iat); core.ErrorCode(err) != core.CodeInvalidToken {
		t.Fatalf("refresh token as access token: %v", err)
	}
	if c.Len() != 0 || inner.verifies != 3 {
		t.Fatalf("%d entries after bad tokens (want 0), %d verifications (want 3: none skipped)", c.Len(), inner.verifies)
	}
}
