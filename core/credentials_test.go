package core_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"testing"
	"time"

	"github.com/sessiond/sessiond/core"
)

func TestPasswordResetToken_Usable_ExpiryInstantIsTooLate(t *testing.T) {
	t0 := time.Date(2031, 3, 1, 9, 0, 0, 0, time.UTC)
	used := t0
	tok := core.PasswordResetToken{CreatedAt: t0, ExpiresAt: t0.Add(30 * time.Minute)}
	cases := []struct {
		name string
		tok  core.PasswordResetToken
		now  time.Time
		want bool
	}{
		{"fresh", tok, t0, true},
		{"one nanosecond before expiry", tok, tok.ExpiresAt.Add(-time.Nanosecond), true},
		{"at expiry", tok, tok.ExpiresAt, false},
		{"after expiry", tok, tok.ExpiresAt.Add(time.Second), false},
		{"used", core.PasswordResetToken{CreatedAt: t0, ExpiresAt: tok.ExpiresAt, UsedAt: &used}, t0, false},
	}
	for _, c := range cases {
		if got := c.tok.Usable(c.now); got != c.want {
			t.Errorf("%s: Usable = %v, want %v", c.name, got, c.want)
		}
	}
}

func TestNewResetToken_256BitsBase64URL_StoredAsSHA256(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		tok := core.NewResetToken()
		raw, err := base64.RawURLEncoding.DecodeString(tok)
		if err != nil || len(raw) != 32 {
			t.Fatalf("token %q: %d bytes, %v; want 32 bytes base64url", tok, len(raw), err)
		}
		if seen[tok] {
			t.Fatal("duplicate token")
		}
		seen[tok] = true
		sum := sha256.Sum256([]byte(tok))
		if !bytes.Equal(core.HashResetToken(tok), sum[:]) {
			t.Fatal("HashResetToken is not SHA-256 of the token text")
		}
	}
}
