package jose

import (
	"crypto/sha256"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/sessiond/sessiond/core"
)

// VerifyCache is a core.TokenCodec that remembers access tokens it has
// verified, so a client presenting the same token again (every request
// within its five minutes) does not pay the Ed25519 verification and the
// JSON decoding again. Everything else goes to the wrapped codec.
//
// The key is the SHA-256 of the whole token text (signature included), so
// only the exact bytes that verified can hit; a token that fails
// verification is never stored. An entry is used only while now is before
// the token's exp (checked on every hit, with the caller's clock) and not
// before the instant it was verified (a clock that went back re-verifies);
// an expired entry is dropped. The cache is bounded (least recently used
// entries are evicted). It caches the token's claims only: the session's
// liveness is still checked on every request (core.Service.Authenticate and
// the operations' own first round trip), so revocation bites at once. A
// signing key withdrawn from the key set keeps its cached tokens valid until
// their exp (at most the access-token lifetime).
type VerifyCache struct {
	core.TokenCodec
	entries *lru.Cache[[sha256.Size]byte, cachedAccess]
}

type cachedAccess struct {
	claims     core.AccessClaims
	verifiedAt time.Time
}

// NewVerifyCache wraps codec with a cache of at most size access tokens.
func NewVerifyCache(codec core.TokenCodec, size int) (*VerifyCache, error) {
	entries, err := lru.New[[sha256.Size]byte, cachedAccess](size)
	if err != nil {
		return nil, err
	}
	return &VerifyCache{TokenCodec: codec, entries: entries}, nil
}

// VerifyAccess implements core.TokenCodec.
func (c *VerifyCache) VerifyAccess(token string, now time.Time) (core.AccessClaims, error) {
	key := sha256.Sum256([]byte(token))
	if e, ok := c.entries.Get(key); ok {
		if now.Before(e.claims.ExpiresAt) && !now.Before(e.verifiedAt) {
			return e.claims, nil
		}
		c.entries.Remove(key)
	}
	claims, err := c.TokenCodec.VerifyAccess(token, now)
	if err != nil {
		return core.AccessClaims{}, err
	}
	c.entries.Add(key, cachedAccess{claims: claims, verifiedAt: now})
	return claims, nil
}

// Len is how many tokens the cache holds.
func (c *VerifyCache) Len() int { return c.entries.Len() }
