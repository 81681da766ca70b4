// Package argon2 is the password-hashing adapter: argon2id from
// golang.org/x/crypto, encoded as PHC strings.
package argon2

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"runtime"
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
	// slots bounds how many hashes run at once: one per CPU the Go
	// runtime uses. argon2id is memory-bound (19 MiB per hash at the OWASP
	// parameters), so hashes beyond the cores only share the caches and
	// the memory bus and hold their memory longer; a burst of sign-ins
	// then queues here instead of allocating 19 MiB per waiting request.
	slots chan struct{}
}

var _ core.PasswordHasher = (*Hasher)(nil)

// New returns a Hasher for p.
func New(p Params) (*Hasher, error) {
	if p.MemoryKiB < 8*uint32(p.Parallelism) || p.Iterations < 1 || p.Parallelism < 1 || p.SaltLen < 16 || p.KeyLen < 16 {
		return nil, fmt.Errorf("argon2: parameters too weak: %+v", p)
	}
	h := &Hasher{p: p, slots: make(chan struct{}, max(1, runtime.GOMAXPROCS(0)))}
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
	key := h.idKey([]byte(password), salt, h.p.Iterations, h.p.MemoryKiB, h.p.Parallelism, h.p.KeyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, h.p.MemoryKiB, h.p.Iterations, h.p.Parallelism,
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key)), nil
}

// Verify implements core.PasswordHasher.
func (h *Hasher) Verify(encoded, password string) (ok, rehash bool, err error) {
	p, salt, key, err := decode(encoded)
	if err != nil {
		return false, false, err
	}
	got := h.idKey([]byte(password), salt, p.Iterations, p.MemoryKiB, p.Parallelism, uint32(len(key)))
	ok = subtle.ConstantTimeCompare(got, key) == 1
	rehash = p.MemoryKiB < h.p.MemoryKiB || p.Iterations < h.p.Iterations || p.Parallelism < h.p.Parallelism ||
		len(salt) < h.p.SaltLen || uint32(len(key)) < h.p.KeyLen
	return ok, rehash, nil
}

// idKey is argon2.IDKey in one of the hasher's slots.
func (h *Hasher) idKey(password, salt []byte, time, memory uint32, threads uint8, keyLen uint32) []byte {
	h.slots <- struct{}{}
	defer func() { <-h.slots }()
	if testHookHashing != nil {
		testHookHashing()
	}
	return argon2.IDKey(password, salt, time, memory, threads, keyLen)
}

// testHookHashing, when set by a test, runs inside a slot before each hash.
var testHookHashing func()

// VerifyDummy implements core.PasswordHasher.
func (h *Hasher) VerifyDummy(password string) { _, _, _ = h.Verify(h.dummy, password) }

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
