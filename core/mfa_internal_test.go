package core

import (
	"bytes"
	"testing"

	"github.com/google/uuid"
)

// MFA-10: secrets are sealed (never stored in clear) and bound to their
// user; recovery codes are ten, distinct, stored hashed, matched whatever
// their case and separators.
func TestMFA10_SecretSealedAndBoundToUser_RecoveryCodesHashed(t *testing.T) {
	s := &Service{cfg: Config{MFAKey: bytes.Repeat([]byte{7}, 32)}}
	u, other := uuid.New(), uuid.New()
	sealed, err := s.sealSecret(u, "JBSWY3DPEHPK3PXP")
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, []byte("JBSWY3DPEHPK3PXP")) {
		t.Fatal("sealed secret holds the secret")
	}
	if got, err := s.openSecret(u, sealed); err != nil || got != "JBSWY3DPEHPK3PXP" {
		t.Fatalf("open: %q %v", got, err)
	}
	if _, err := s.openSecret(other, sealed); err == nil {
		t.Fatal("a secret sealed for one user opened for another")
	}
	if _, err := (&Service{}).sealSecret(u, "x"); err == nil {
		t.Fatal("sealed without a key")
	}
	// What cmd/authbench seeds with the server's key opens in the server.
	if ext, err := SealTOTPSecret(s.cfg.MFAKey, u, "JBSWY3DPEHPK3PXP"); err != nil {
		t.Fatal(err)
	} else if got, err := s.openSecret(u, ext); err != nil || got != "JBSWY3DPEHPK3PXP" {
		t.Fatalf("open SealTOTPSecret's: %q %v", got, err)
	}
	codes, hashes := newRecoveryCodes()
	if len(codes) != RecoveryCodeCount || len(hashes) != RecoveryCodeCount {
		t.Fatalf("%d codes", len(codes))
	}
	seen := map[string]bool{}
	for i, c := range codes {
		if seen[c] || len(c) != 11 || c[5] != '-' {
			t.Fatalf("code %q", c)
		}
		seen[c] = true
		if !bytes.Equal(hashRecoveryCode(" "+c[:5]+c[6:]+" "), hashes[i]) {
			t.Fatal("a code without its dash does not match")
		}
	}
}
