package core

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"time"

	"github.com/google/uuid"
)

// TokenClockSkew is the leeway allowed for a token's iat and nbf in the
// future, for every token type: access and device tokens (adapters/jose)
// and refresh tokens (DecideRefresh, PlanFastRotation). exp has none: the
// issuer and the verifier are the same service (checklist JWT-05: at most
// 60 s).
const TokenClockSkew = 30 * time.Second

// AccessClaims are the claims of an access token (typ at+jwt, RFC 9068).
// Issuer and audience are the token adapter's configuration.
type AccessClaims struct {
	Subject   uuid.UUID
	SessionID uuid.UUID
	AccountID uuid.UUID
	Role      Role
	JTI       string
	IssuedAt  time.Time
	ExpiresAt time.Time
	// AMR (RFC 8176 methods), ACR ("aal1"/"aal2") and AuthTime (the
	// session's latest authentication) describe how the session proved
	// who it is; EnrolOnly marks an enrol-only session's token.
	AMR       []string
	ACR       string
	AuthTime  time.Time
	EnrolOnly bool
}

// RefreshClaims are the claims of a refresh token. AuthTime, IdleMax and
// AbsMax are the policy snapshot taken at sign-in and carried forward
// unchanged by every rotation; only JTI, IssuedAt and ExpiresAt change.
type RefreshClaims struct {
	Subject   uuid.UUID
	SessionID uuid.UUID
	// AccountID is the tid claim; uuid.Nil on tokens issued before it existed.
	AccountID uuid.UUID
	JTI       string
	IssuedAt  time.Time
	ExpiresAt time.Time
	// NotBefore is the nbf claim; zero when absent (we never issue one, but
	// a token that carries one is not valid before it, RFC 7519 §4.1.5).
	NotBefore time.Time
	// AuthTime is nil on a legacy token, which gets the grandfather path.
	AuthTime *time.Time
	IdleMax  int64 // seconds
	AbsMax   int64 // seconds
}

// Legacy reports whether the token predates the policy-snapshot claims.
func (c RefreshClaims) Legacy() bool { return c.AuthTime == nil }

// newSecret returns 256 bits from crypto/rand, base64url without padding
// (43 characters): the form of every bearer secret the service mints.
func newSecret() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go ≥ 1.24 aborts instead).
	return base64.RawURLEncoding.EncodeToString(b)
}

// digest is how a high-entropy secret is stored and looked up: SHA-256 of
// its text. A fast hash is enough: 256 random bits leave nothing to
// brute-force.
func digest(secret string) []byte {
	h := sha256.Sum256([]byte(secret))
	return h[:]
}

// NewJTI returns a fresh token identifier (256 random bits).
func NewJTI() string { return newSecret() }

// HashJTI is how a jti is stored and looked up: SHA-256 of its text.
func HashJTI(jti string) []byte { return digest(jti) }

// SealSuccessor encrypts the successor's jti under a key derived from the
// parent's raw jti. The database keeps only the sealed value: a reader of
// the database cannot recover any raw jti, while the holder of the parent
// token, replaying it inside the grace window, can be answered with the
// successor (the same jti, never a new one). Each key seals exactly one
// message (jtis are unique), so a fixed nonce is safe.
func SealSuccessor(parentJTI, successorJTI string) []byte {
	return successorAEAD(parentJTI).Seal(nil, make([]byte, 12), []byte(successorJTI), nil)
}

// OpenSuccessor reverses SealSuccessor; ok is false when parentJTI is not
// the jti the value was sealed under.
func OpenSuccessor(parentJTI string, sealed []byte) (string, bool) {
	pt, err := successorAEAD(parentJTI).Open(nil, make([]byte, 12), sealed, nil)
	if err != nil {
		return "", false
	}
	return string(pt), true
}

func successorAEAD(parentJTI string) cipher.AEAD {
	key := sha256.Sum256([]byte("sessiond/successor-jti/v1\x00" + parentJTI))
	block, err := aes.NewCipher(key[:])
	if err != nil {
		panic(err) // 32-byte key: cannot happen
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		panic(err)
	}
	return aead
}
