package jose_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	gojose "github.com/go-jose/go-jose/v4"

	"github.com/sessiond/sessiond/adapters/jose"
)

// setJSON marshals keys as a JWK Set, applying edit to each key's JSON
// object (for shapes go-jose would not produce itself).
func setJSON(t *testing.T, edit func(i int, k map[string]any), keys ...gojose.JSONWebKey) []byte {
	t.Helper()
	var raw struct {
		Keys []map[string]any `json:"keys"`
	}
	if err := json.Unmarshal(marshalSet(t, keys...), &raw); err != nil {
		t.Fatal(err)
	}
	for i, k := range raw.Keys {
		if edit != nil {
			edit(i, k)
		}
	}
	b, err := json.Marshal(raw)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseKeySet_Accepts(t *testing.T) {
	ed := newEd25519(t)
	ec := newP256(t, "ec-1")
	tests := []struct {
		name     string
		set      []byte
		wantKids []string
		wantAlgs []string
	}{
		{"OneEd25519", marshalSet(t, ed), []string{ed.KeyID}, []string{"EdDSA"}},
		{"OneP256", marshalSet(t, ec), []string{"ec-1"}, []string{"ES256"}},
		{"Ed25519ThenP256KeepsOrder", marshalSet(t, ed, ec), []string{ed.KeyID, "ec-1"}, []string{"EdDSA", "ES256"}},
		{"AlgOmittedIsDerivedFromKeyType", setJSON(t, func(_ int, k map[string]any) { delete(k, "alg") }, ed),
			[]string{ed.KeyID}, []string{"EdDSA"}},
		{"KidOmittedBecomesThumbprint", setJSON(t, func(_ int, k map[string]any) { delete(k, "kid") }, ed),
			[]string{ed.KeyID}, []string{"EdDSA"}}, // GenerateEd25519's kid is the thumbprint too
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ks, err := jose.ParseKeySet(tt.set)
			if err != nil {
				t.Fatalf("ParseKeySet: %v", err)
			}
			pub := ks.PublicJWKS()
			if len(pub.Keys) != len(tt.wantKids) {
				t.Fatalf("%d keys, want %d", len(pub.Keys), len(tt.wantKids))
			}
			for i, k := range pub.Keys {
				if k.KeyID != tt.wantKids[i] || k.Algorithm != tt.wantAlgs[i] || k.Use != "sig" {
					t.Errorf("key %d: kid %q alg %q use %q, want kid %q alg %q use sig",
						i, k.KeyID, k.Algorithm, k.Use, tt.wantKids[i], tt.wantAlgs[i])
				}
			}
		})
	}
}

func TestGenerateEd25519_KidIsThumbprint(t *testing.T) {
	k := newEd25519(t)
	tp, err := k.Thumbprint(crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	if want := base64.RawURLEncoding.EncodeToString(tp); k.KeyID != want {
		t.Fatalf("kid %q, want thumbprint %q", k.KeyID, want)
	}
	if k.IsPublic() || k.Algorithm != "EdDSA" || k.Use != "sig" {
		t.Fatalf("generated key: public=%v alg=%q use=%q", k.IsPublic(), k.Algorithm, k.Use)
	}
}

func TestParseKeySet_Rejects(t *testing.T) {
	ed := newEd25519(t)
	other := newEd25519(t)
	other.KeyID = ed.KeyID
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		set     []byte
		wantErr string // substring of the error
	}{
		{"PublicOnlyKey", marshalSet(t, ed.Public()), "not a private key"},
		{"PublicKeyAfterPrivateKey", marshalSet(t, newEd25519(t), ed.Public()), "key 1 is not a private key"},
		{"DuplicateKid", marshalSet(t, ed, other), "duplicate kid"},
		{"DuplicateDerivedKid", setJSON(t, func(_ int, k map[string]any) { delete(k, "kid") }, ed, ed), "duplicate kid"},
		{"RSAKey", marshalSet(t, gojose.JSONWebKey{Key: rsaKey, KeyID: "rsa-1", Algorithm: "RS256"}), "unsupported key type"},
		{"P384Key", marshalSet(t, gojose.JSONWebKey{Key: p384, KeyID: "ec-384", Algorithm: "ES384"}), "only P-256"},
		{"HMACOctKey", marshalSet(t, gojose.JSONWebKey{Key: []byte(strings.Repeat("k", 32)), KeyID: "hmac", Algorithm: "HS256"}), "unsupported key type"},
		{"Ed25519KeyWithAlgES256", setJSON(t, func(_ int, k map[string]any) { k["alg"] = "ES256" }, ed), "does not fit its key type"},
		{"Ed25519KeyWithAlgHS256", setJSON(t, func(_ int, k map[string]any) { k["alg"] = "HS256" }, ed), "does not fit its key type"},
		{"Ed25519KeyWithAlgNone", setJSON(t, func(_ int, k map[string]any) { k["alg"] = "none" }, ed), "does not fit its key type"},
		{"P256KeyWithAlgEdDSA", setJSON(t, func(_ int, k map[string]any) { k["alg"] = "EdDSA" }, newP256(t, "ec-1")), "does not fit its key type"},
		{"EmptySet", []byte(`{"keys":[]}`), "empty"},
		{"NotJSON", []byte(`not json`), "signing keys"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ks, err := jose.ParseKeySet(tt.set)
			if err == nil {
				t.Fatalf("ParseKeySet accepted the set (%d keys)", len(ks.PublicJWKS().Keys))
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error %q does not mention %q", err, tt.wantErr)
			}
		})
	}
}

func TestKeySetPublicJWKS_HasNoPrivateMaterial(t *testing.T) {
	ks := keySet(t, newEd25519(t), newP256(t, "ec-1"))
	pub := ks.PublicJWKS()
	b, err := json.Marshal(pub)
	if err != nil {
		t.Fatal(err)
	}
	var raw struct {
		Keys []map[string]any `json:"keys"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		t.Fatal(err)
	}
	if len(raw.Keys) != 2 {
		t.Fatalf("%d public keys, want 2", len(raw.Keys))
	}
	for i, k := range raw.Keys {
		if _, ok := k["d"]; ok {
			t.Errorf("public key %d carries private parameter d", i)
		}
		if !pub.Keys[i].IsPublic() {
			t.Errorf("public key %d is not public", i)
		}
	}
}

func TestLoadKeySet_GenerateCreatesPrivateFileAndReloadsSameKid(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keys", "signing.jwks")

	first, err := jose.LoadKeySet(path, true)
	if err != nil {
		t.Fatalf("LoadKeySet(generate): %v", err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatalf("key file not created: %v", err)
	}
	if mode := st.Mode().Perm(); mode != 0o600 {
		t.Fatalf("key file mode %o, want 600", mode)
	}
	kid := first.PublicJWKS().Keys[0].KeyID
	if kid == "" || first.PublicJWKS().Keys[0].Algorithm != "EdDSA" {
		t.Fatalf("generated key: kid %q alg %q", kid, first.PublicJWKS().Keys[0].Algorithm)
	}

	for _, generate := range []bool{true, false} {
		again, err := jose.LoadKeySet(path, generate)
		if err != nil {
			t.Fatalf("LoadKeySet(generate=%v) of the existing file: %v", generate, err)
		}
		if got := again.PublicJWKS().Keys; len(got) != 1 || got[0].KeyID != kid {
			t.Fatalf("reload (generate=%v) returned %d keys, kid %q; want the one key %q", generate, len(got), got[0].KeyID, kid)
		}
	}

	// Tokens signed before the reload verify after it.
	before, err := jose.NewCodec(first, testIssuer, testAudience, testClient)
	if err != nil {
		t.Fatal(err)
	}
	reloaded, err := jose.LoadKeySet(path, false)
	if err != nil {
		t.Fatal(err)
	}
	after, err := jose.NewCodec(reloaded, testIssuer, testAudience, testClient)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := before.SignAccess(sampleAccess())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := after.VerifyAccess(tok, now); err != nil {
		t.Fatalf("token signed before reload rejected after it: %v", err)
	}
}

func TestLoadKeySet_MissingFileWithoutGenerate_Fails(t *testing.T) {
	path := filepath.Join(t.TempDir(), "absent.jwks")
	if _, err := jose.LoadKeySet(path, false); err == nil {
		t.Fatal("LoadKeySet of a missing file without generate succeeded")
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatalf("LoadKeySet without generate created %s", path)
	}
}
