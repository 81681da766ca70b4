// Package audit is the delivery adapter of security events: the audit
// table is the outbox (core.WebhookOutbox), and this package takes what
// committed there to the account owners' webhook endpoints as Standard
// Webhooks (webhook-id, webhook-timestamp, webhook-signature "v1,"
// HMAC-SHA256), at least once, in sequence order per endpoint, with
// retries, through an SSRF guard. The core keeps the rules of what an event
// is and may contain (core/webhooks.go).
package audit

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/google/uuid"

	"github.com/sessiond/sessiond/core"
)

// Sealer encrypts endpoint secrets at rest with the server's key
// (AES-256-GCM). The associated data is the account and endpoint ids, so a
// sealed secret moved to another row does not open. Several keys may be
// configured: the first seals, every one opens (rotation of the server
// key: put the new key first, keep the old until secrets were rotated).
// A sealed value is: version byte 1, the 4-byte key id (SHA-256 prefix of
// the key), the 12-byte nonce, the ciphertext.
type Sealer struct {
	keys []sealKey
}

type sealKey struct {
	id   [4]byte
	aead cipher.AEAD
}

var _ core.WebhookSecretSealer = (*Sealer)(nil)

// NewSealer returns a sealer over 32-byte keys, the first sealing.
func NewSealer(keys ...[]byte) (*Sealer, error) {
	if len(keys) == 0 {
		return nil, errors.New("webhook secrets: no key")
	}
	s := &Sealer{}
	for i, k := range keys {
		if len(k) != 32 {
			return nil, fmt.Errorf("webhook secrets: key %d is %d bytes, want 32", i+1, len(k))
		}
		block, err := aes.NewCipher(k)
		if err != nil {
			return nil, err
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, err
		}
		h := sha256.Sum256(k)
		var id [4]byte
		copy(id[:], h[:4])
		s.keys = append(s.keys, sealKey{id: id, aead: aead})
	}
	return s, nil
}

// ParseKeys reads a comma-separated list of base64 (standard or URL, padded
// or not) 32-byte keys.
func ParseKeys(list string) ([][]byte, error) {
	var out [][]byte
	for _, f := range strings.Split(list, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		var k []byte
		var err error
		for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
			if k, err = enc.DecodeString(f); err == nil {
				break
			}
		}
		if err != nil || len(k) != 32 {
			return nil, errors.New("webhook secrets key: want the base64 of 32 random bytes (e.g. openssl rand -base64 32)")
		}
		out = append(out, k)
	}
	if len(out) == 0 {
		return nil, errors.New("webhook secrets key: empty")
	}
	return out, nil
}

// LoadOrCreateKeyFile reads a key file (one base64 key), creating it with a
// fresh random key (mode 0600) when it does not exist: development only.
func LoadOrCreateKeyFile(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		k := make([]byte, 32)
		_, _ = rand.Read(k)
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, err
		}
		if err := os.WriteFile(path, []byte(base64.StdEncoding.EncodeToString(k)+"\n"), 0o600); err != nil {
			return nil, err
		}
		return k, nil
	}
	if err != nil {
		return nil, err
	}
	keys, err := ParseKeys(string(b))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return keys[0], nil
}

func aad(accountID, endpointID uuid.UUID) []byte {
	return append(append([]byte("sessiond webhook secret v1 "), accountID[:]...), endpointID[:]...)
}

// Seal implements core.WebhookSecretSealer.
func (s *Sealer) Seal(accountID, endpointID uuid.UUID, secret string) ([]byte, error) {
	k := s.keys[0]
	out := make([]byte, 1+4+12, 1+4+12+len(secret)+16)
	out[0] = 1
	copy(out[1:5], k.id[:])
	if _, err := rand.Read(out[5:17]); err != nil {
		return nil, err
	}
	return k.aead.Seal(out, out[5:17], []byte(secret), aad(accountID, endpointID)), nil
}

// ErrUnreadableSecret: a sealed secret that no configured key opens (the
// server key changed, or the row was tampered with).
var ErrUnreadableSecret = errors.New("webhook secret cannot be decrypted with the configured keys")

// Open implements core.WebhookSecretSealer.
func (s *Sealer) Open(accountID, endpointID uuid.UUID, sealed []byte) (string, error) {
	if len(sealed) < 1+4+12+16 || sealed[0] != 1 {
		return "", ErrUnreadableSecret
	}
	for _, k := range s.keys {
		if [4]byte(sealed[1:5]) != k.id {
			continue
		}
		pt, err := k.aead.Open(nil, sealed[5:17], sealed[17:], aad(accountID, endpointID))
		if err != nil {
			return "", ErrUnreadableSecret
		}
		return string(pt), nil
	}
	return "", ErrUnreadableSecret
}
