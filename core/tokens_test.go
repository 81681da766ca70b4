package core_test

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"strings"
	"testing"
	"time"

	"github.com/sessiond/sessiond/core"
)

func TestNewJTI_SES02_256BitsBase64URL_TenThousandUnique(t *testing.T) {
	const n = 10000
	seen := make(map[string]struct{}, n)
	for i := 0; i < n; i++ {
		j := core.NewJTI()
		raw, err := base64.RawURLEncoding.Strict().DecodeString(j)
		if err != nil {
			t.Fatalf("jti %q is not unpadded base64url: %v", j, err)
		}
		if len(raw)*8 < 256 {
			t.Fatalf("jti %q carries %d bits, want >= 256", j, len(raw)*8)
		}
		if strings.ContainsAny(j, "+/=") {
			t.Fatalf("jti %q is not URL-safe", j)
		}
		if _, dup := seen[j]; dup {
			t.Fatalf("jti %q issued twice in %d", j, i+1)
		}
		seen[j] = struct{}{}
	}
}

func TestHashJTI_SES03_IsSHA256OfText(t *testing.T) {
	tests := []struct{ in, wantHex string }{
		{"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
		{"abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
	}
	for _, tt := range tests {
		if got := hex.EncodeToString(core.HashJTI(tt.in)); got != tt.wantHex {
			t.Errorf("HashJTI(%q) = %s, want %s", tt.in, got, tt.wantHex)
		}
	}
	j := core.NewJTI()
	if bytes.Contains(core.HashJTI(j), []byte(j)) {
		t.Fatal("hash contains the raw jti")
	}
}

func TestSealSuccessor_RoundTripsOnlyUnderParentJTI(t *testing.T) {
	parent, successor := core.NewJTI(), core.NewJTI()
	sealed := core.SealSuccessor(parent, successor)

	t.Run("SES03_SealedValueDoesNotContainPlaintext", func(t *testing.T) {
		for _, s := range []string{successor, parent} {
			if bytes.Contains(sealed, []byte(s)) {
				t.Fatalf("sealed value contains %q", s)
			}
			raw, _ := base64.RawURLEncoding.DecodeString(s)
			if bytes.Contains(sealed, raw) {
				t.Fatal("sealed value contains the decoded jti bytes")
			}
		}
	})

	tests := []struct {
		name   string
		parent string
		sealed []byte
		wantOK bool
	}{
		{"RT02_ParentJTIOpensSuccessor", parent, sealed, true},
		{"OtherParentJTIFails", core.NewJTI(), sealed, false},
		{"SuccessorJTIItselfFails", successor, sealed, false},
		{"OneFlippedBitFails", parent, flipBit(sealed, len(sealed)/2), false},
		{"TruncatedFails", parent, sealed[:len(sealed)-1], false},
		{"EmptyFails", parent, nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := core.OpenSuccessor(tt.parent, tt.sealed)
			if ok != tt.wantOK {
				t.Fatalf("OpenSuccessor ok = %v, want %v", ok, tt.wantOK)
			}
			if tt.wantOK && got != successor {
				t.Fatalf("OpenSuccessor = %q, want %q", got, successor)
			}
			if !tt.wantOK && got != "" {
				t.Fatalf("OpenSuccessor returned %q on failure", got)
			}
		})
	}
}

func flipBit(b []byte, i int) []byte {
	out := bytes.Clone(b)
	out[i] ^= 0x01
	return out
}

func TestRefreshClaimsLegacy_IsAuthTimeNil(t *testing.T) {
	if !(core.RefreshClaims{}).Legacy() {
		t.Fatal("claims without auth_time are not legacy")
	}
	at := time.Unix(1_700_000_000, 0)
	if (core.RefreshClaims{AuthTime: &at}).Legacy() {
		t.Fatal("claims with auth_time are legacy")
	}
}
