// Package jose is the token adapter: it signs and verifies access and
// refresh tokens with go-jose v4 (core.TokenCodec) and serves the public
// key set.
package jose

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	gojose "github.com/go-jose/go-jose/v4"
)

// KeySet is the configured signing keys: the first signs, all verify, so a
// new key can be put first while tokens signed by the old one stay valid
// until they expire.
type KeySet struct {
	keys   []gojose.JSONWebKey // private keys, each with kid and alg
	public []gojose.JSONWebKey // their public halves, same order: derived once, used by every verification
}

// Algorithms a key may be bound to. Each key is bound to exactly one.
var allowedAlgs = []gojose.SignatureAlgorithm{gojose.EdDSA, gojose.ES256}

// LoadKeySet reads a JWK Set of private keys from path. When the file does
// not exist and generate is true (development), it creates one Ed25519 key
// there (mode 0600).
func LoadKeySet(path string, generate bool) (*KeySet, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) && generate {
		return generateKeySet(path)
	}
	if err != nil {
		return nil, fmt.Errorf("signing keys: %w", err)
	}
	return ParseKeySet(b)
}

// ParseKeySet parses a JWK Set of private signing keys.
func ParseKeySet(b []byte) (*KeySet, error) {
	var set gojose.JSONWebKeySet
	if err := json.Unmarshal(b, &set); err != nil {
		return nil, fmt.Errorf("signing keys: %w", err)
	}
	if len(set.Keys) == 0 {
		return nil, errors.New("signing keys: the set is empty")
	}
	seen := map[string]bool{}
	ks := &KeySet{}
	for i, k := range set.Keys {
		if k.IsPublic() {
			return nil, fmt.Errorf("signing keys: key %d is not a private key", i)
		}
		alg, err := algFor(k.Key)
		if err != nil {
			return nil, fmt.Errorf("signing keys: key %d: %w", i, err)
		}
		if k.Algorithm != "" && k.Algorithm != string(alg) {
			return nil, fmt.Errorf("signing keys: key %d: alg %q does not fit its key type (%s)", i, k.Algorithm, alg)
		}
		k.Algorithm = string(alg)
		if k.KeyID == "" {
			tp, err := k.Thumbprint(crypto.SHA256)
			if err != nil {
				return nil, fmt.Errorf("signing keys: key %d: %w", i, err)
			}
			k.KeyID = base64.RawURLEncoding.EncodeToString(tp)
		}
		if seen[k.KeyID] {
			return nil, fmt.Errorf("signing keys: duplicate kid %q", k.KeyID)
		}
		seen[k.KeyID] = true
		k.Use = "sig"
		ks.keys = append(ks.keys, k)
		ks.public = append(ks.public, k.Public())
	}
	return ks, nil
}

func algFor(key any) (gojose.SignatureAlgorithm, error) {
	switch k := key.(type) {
	case ed25519.PrivateKey:
		return gojose.EdDSA, nil
	case *ecdsa.PrivateKey:
		if k.Curve == elliptic.P256() {
			return gojose.ES256, nil
		}
		return "", errors.New("only P-256 ECDSA keys are supported (ES256)")
	default:
		return "", fmt.Errorf("unsupported key type %T (want Ed25519 or P-256)", key)
	}
}

// GenerateEd25519 returns a new private Ed25519 JWK with its thumbprint as kid.
func GenerateEd25519() (gojose.JSONWebKey, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return gojose.JSONWebKey{}, err
	}
	k := gojose.JSONWebKey{Key: priv, Algorithm: string(gojose.EdDSA), Use: "sig"}
	tp, err := k.Thumbprint(crypto.SHA256)
	if err != nil {
		return gojose.JSONWebKey{}, err
	}
	k.KeyID = base64.RawURLEncoding.EncodeToString(tp)
	return k, nil
}

func generateKeySet(path string) (*KeySet, error) {
	k, err := GenerateEd25519()
	if err != nil {
		return nil, err
	}
	b, err := json.MarshalIndent(gojose.JSONWebKeySet{Keys: []gojose.JSONWebKey{k}}, "", "  ")
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("signing keys: %w", err)
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		return nil, fmt.Errorf("signing keys: %w", err)
	}
	return ParseKeySet(b)
}

// PublicJWKS returns the public half of every key, for
// /.well-known/jwks.json.
func (ks *KeySet) PublicJWKS() gojose.JSONWebKeySet {
	return gojose.JSONWebKeySet{Keys: append([]gojose.JSONWebKey(nil), ks.public...)}
}

// verifierByKID returns the public key named kid (with its pinned alg).
func (ks *KeySet) verifierByKID(kid string) (gojose.JSONWebKey, bool) {
	for _, k := range ks.public {
		if k.KeyID == kid {
			return k, true
		}
	}
	return gojose.JSONWebKey{}, false
}
