// Package argon2 is the password-hashing adapter: argon2id from
// golang.org/x/crypto, encoded as PHC strings.
package argon2

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/argon2"

	"github.com/sessiond/sessiond/core"
)

// Params are argon2id cost parameters.
type Params struct {
	MemoryKiB   uint32
	Iterations  uint32
	Parallelism uint8
	SaltLen     int
	KeyLen      uint32
}

// OWASPParams is the OWASP Password Storage Cheat Sheet's argon2id
// configuration: m=19456 KiB, t=2, p=1.
func OWASPParams() Params {
	return Params{MemoryKiB: 19456, Iterations: 2, Parallelism: 1, SaltLen: 16, KeyLen: 32}
}

// Hasher implements core.PasswordHasher.
type Hasher struct {
	p     Params
	dummy string // a hash with the current parameters, for unknown emails
	// lim bounds how many hashes run at once (limiter.go). argon2id is
	// memory-bound (19 MiB per hash at the OWASP parameters), so hashes
	// beyond the cores only share the caches and the memory bus and hold
	// their memory longer; a burst of sign-ins queues there, within its
	// limits, instead of allocating 19 MiB per waiting request, and what
	// the limits cannot hold is shed (ErrOverloaded).
	lim *Limiter
}

var _ core.PasswordHasher = (*Hasher)(nil)

// New returns a Hasher for p that runs one hash per CPU at once and never
// sheds: the rest wait as long as it takes (tools and tests). A server
// uses NewLimited.
func New(p Params) (*Hasher, error) {
	lim, err := NewLimiter(unlimited())
	if err != nil {
		return nil, err
	}
	return NewLimited(p, lim)
}

// NewLimited returns a Hasher for p whose hashes run within lim: a hash
// that cannot start within its limits fails with ErrOverloaded, before any
// work.
func NewLimited(p Params, lim *Limiter) (*Hasher, error) {
	if p.MemoryKiB < 8*uint32(p.Parallelism) || p.Iterations < 1 || p.Parallelism < 1 || p.SaltLen < 16 || p.KeyLen < 16 {
		return nil, fmt.Errorf("argon2: parameters too weak: %+v", p)
	}
	h := &Hasher{p: p, lim: lim}
	d, err := h.Hash("dummy password for unknown accounts")
	if err != nil {
		return nil, err
	}
	h.dummy = d
	return h, nil
}

// Hash implements core.PasswordHasher.
func (h *Hasher) Hash(password string) (string, error) {
	salt := make([]byte, h.p.SaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	key, err := h.idKey([]byte(password), salt, h.p.Iterations, h.p.MemoryKiB, h.p.Parallelism, h.p.KeyLen)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, h.p.MemoryKiB, h.p.Iterations, h.p.Parallelism,
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key)), nil
}

// Verify implements core.PasswordHasher.
func (h *Hasher) Verify(encoded, password string) (ok, rehash bool, err error) {
	p, salt, key, err := decode(encoded)
	if err != nil {
		return false, false, err
	}
	got, err := h.idKey([]byte(password), salt, p.Iterations, p.MemoryKiB, p.Parallelism, uint32(len(key)))
	if err != nil {
		return false, false, err
	}
	ok = subtle.ConstantTimeCompare(got, key) == 1
	rehash = p.MemoryKiB < h.p.MemoryKiB || p.Iterations < h.p.Iterations || p.Parallelism < h.p.Parallelism ||
		len(salt) < h.p.SaltLen || uint32(len(key)) < h.p.KeyLen
	return ok, rehash, nil
}

// idKey is argon2.IDKey in one of the limiter's slots, or ErrOverloaded
// when none frees within its limits.
func (h *Hasher) idKey(password, salt []byte, time, memory uint32, threads uint8, keyLen uint32) ([]byte, error) {
	release, err := h.lim.Acquire()
	if err != nil {
		return nil, err
	}
	defer release()
	if testHookHashing != nil {
		testHookHashing()
	}
	return argon2.IDKey(password, salt, time, memory, threads, keyLen), nil
}

// testHookHashing, when set by a test, runs inside a slot before each hash.
var testHookHashing func()

// VerifyDummy implements core.PasswordHasher: the same slot, the same
// shedding decision and the same work as Verify.
func (h *Hasher) VerifyDummy(password string) error {
	_, _, err := h.Verify(h.dummy, password)
	return err
}

// Limiter is the hasher's admission control (the HTTP layer asks it
// whether a sign-in would be shed before the sign-in's first read).
func (h *Hasher) Limiter() *Limiter { return h.lim }

var errMalformed = errors.New("argon2: malformed hash")

func decode(encoded string) (Params, []byte, []byte, error) {
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return Params{}, nil, nil, errMalformed
	}
	var v int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &v); err != nil || v != argon2.Version {
		return Params{}, nil, nil, errMalformed
	}
	var p Params
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.MemoryKiB, &p.Iterations, &p.Parallelism); err != nil {
		return Params{}, nil, nil, errMalformed
	}
	salt, err1 := base64.RawStdEncoding.DecodeString(parts[4])
	key, err2 := base64.RawStdEncoding.DecodeString(parts[5])
	if err1 != nil || err2 != nil || len(key) == 0 || p.Iterations == 0 || p.Parallelism == 0 {
		return Params{}, nil, nil, errMalformed
	}
	return p, salt, key, nil
}
