package jose_test

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/sessiond/sessiond/core"
)

// LGN-09: the device token round-trips, binds its email digest, expires,
// and is never taken for another kind of token (nor another for it): its
// own typ (dv+jwt) and its own audience.
func TestDeviceToken_LGN09_RoundTripExpiryAndNoConfusion(t *testing.T) {
	k := newEd25519(t)
	c := codec(t, k)
	d := core.DeviceClaims{ID: "device-1", EmailDigest: core.DeviceEmailDigest("a@example.com"), IssuedAt: now, ExpiresAt: now.Add(time.Hour)}
	tok, err := c.SignDevice(d)
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.VerifyDevice(tok, now.Add(time.Minute))
	if err != nil || got.ID != d.ID || !bytes.Equal(got.EmailDigest, d.EmailDigest) || !got.ExpiresAt.Equal(d.ExpiresAt) {
		t.Fatalf("VerifyDevice = %+v, %v", got, err)
	}
	if _, err := c.VerifyDevice(tok, now.Add(time.Hour)); err == nil {
		t.Error("an expired device token verified")
	}
	if _, err := c.VerifyAccess(tok, now); err == nil {
		t.Error("a device token verified as an access token")
	}
	if _, err := c.VerifyRefresh(tok); err == nil {
		t.Error("a device token verified as a refresh token")
	}
	at, err := c.SignAccess(core.AccessClaims{Subject: testUser, SessionID: testSess, AccountID: testAcct, Role: core.RoleOwner, JTI: "j", IssuedAt: now, ExpiresAt: now.Add(time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.VerifyDevice(at, now); err == nil {
		t.Error("an access token verified as a device token")
	}
	// Another key's token, and a tampered one, do not verify.
	if _, err := codec(t, newEd25519(t)).VerifyDevice(tok, now); err == nil {
		t.Error("a device token of another key verified")
	}
	parts := strings.Split(tok, ".")
	parts[1] = parts[1][:len(parts[1])-2] + "AA"
	if _, err := c.VerifyDevice(strings.Join(parts, "."), now); err == nil {
		t.Error("a tampered device token verified")
	}
}
