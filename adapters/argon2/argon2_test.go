package argon2_test

import (
	"encoding/base64"
	"regexp"
	"strings"
	"testing"

	"github.com/sessiond/sessiond/adapters/argon2"
)

// cheap keeps tests fast under -race; OWASPParams is used only where the
// test is about the production parameters.
var cheap = argon2.Params{MemoryKiB: 1024, Iterations: 1, Parallelism: 1, SaltLen: 16, KeyLen: 32}

func newHasher(t *testing.T, p argon2.Params) *argon2.Hasher {
	t.Helper()
	h, err := argon2.New(p)
	if err != nil {
		t.Fatalf("New(%+v): %v", p, err)
	}
	return h
}

func hash(t *testing.T, h *argon2.Hasher, pw string) string {
	t.Helper()
	enc, err := h.Hash(pw)
	if err != nil {
		t.Fatal(err)
	}
	return enc
}

var phc = regexp.MustCompile(`^\$argon2id\$v=19\$m=(\d+),t=(\d+),p=(\d+)\$([A-Za-z0-9+/]+)\$([A-Za-z0-9+/]+)$`)

// salt returns the decoded salt of a PHC string.
func salt(t *testing.T, enc string) []byte {
	t.Helper()
	m := phc.FindStringSubmatch(enc)
	if m == nil {
		t.Fatalf("%q is not an argon2id PHC string", enc)
	}
	s, err := base64.RawStdEncoding.DecodeString(m[4])
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestOWASPParams_LGN03_Values(t *testing.T) {
	p := argon2.OWASPParams()
	if p.MemoryKiB < 19456 || p.Iterations < 2 || p.Parallelism != 1 || p.SaltLen < 16 || p.KeyLen < 32 {
		t.Fatalf("OWASPParams() = %+v, want m>=19456 t>=2 p=1 salt>=16 key>=32", p)
	}
}

func TestHash_LGN03_OWASPParams_PHCStringWithUniqueSalts(t *testing.T) {
	h := newHasher(t, argon2.OWASPParams())
	a, b := hash(t, h, "correct horse battery staple"), hash(t, h, "correct horse battery staple")

	for _, enc := range []string{a, b} {
		m := phc.FindStringSubmatch(enc)
		if m == nil || !strings.HasPrefix(enc, "$argon2id$v=19$m=19456,t=2,p=1$") {
			t.Fatalf("hash %q does not parse as $argon2id$v=19$m=19456,t=2,p=1$...", enc)
		}
		if n := len(salt(t, enc)); n < 16 {
			t.Fatalf("salt of %d bytes, want >= 16", n)
		}
		key, err := base64.RawStdEncoding.DecodeString(m[5])
		if err != nil || len(key) != 32 {
			t.Fatalf("key: %d bytes, err %v; want 32 bytes", len(key), err)
		}
	}
	if a == b {
		t.Fatal("two hashes of the same password are identical")
	}
	if string(salt(t, a)) == string(salt(t, b)) {
		t.Fatal("two hashes share a salt")
	}
}

func TestHash_LGN03_SaltsUniqueAcrossManyHashes(t *testing.T) {
	h := newHasher(t, cheap)
	seen := map[string]bool{}
	for i := 0; i < 50; i++ {
		s := string(salt(t, hash(t, h, "same password")))
		if seen[s] {
			t.Fatalf("salt repeated after %d hashes", i+1)
		}
		seen[s] = true
	}
}

func TestVerify_LGN04_CorrectPasswordOnlyNoTruncation(t *testing.T) {
	h := newHasher(t, cheap)
	pw64 := strings.Repeat("a1B2c3D4", 8)   // 64 characters
	pw128 := strings.Repeat("Zy9xW8vU", 16) // 128 characters
	tests := []struct {
		name     string
		stored   string
		password string
		wantOK   bool
	}{
		{"CorrectPassword", "hunter2-but-longer", "hunter2-but-longer", true},
		{"WrongPassword", "hunter2-but-longer", "hunter3-but-longer", false},
		{"CaseDiffers", "hunter2-but-longer", "HUNTER2-but-longer", false},
		{"EmptyPassword", "hunter2-but-longer", "", false},
		{"PasswordPlusSuffixFails", "hunter2-but-longer", "hunter2-but-longer!", false},
		{"PrefixFails", "hunter2-but-longer", "hunter2-but-longe", false},
		{"64CharactersAccepted", pw64, pw64, true},
		{"64CharactersPlusSuffixFails", pw64, pw64 + "x", false},
		{"128CharactersAccepted", pw128, pw128, true},
		{"128CharactersLastCharDiffersFails", pw128, pw128[:127] + "!", false},
		{"128CharactersPlusSuffixFails", pw128, pw128 + "x", false},
		{"MultibyteAccepted", "pässwörd-ünïcødé-密码", "pässwörd-ünïcødé-密码", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok, rehash, err := h.Verify(hash(t, h, tt.stored), tt.password)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if ok != tt.wantOK {
				t.Fatalf("Verify ok = %v, want %v", ok, tt.wantOK)
			}
			if rehash {
				t.Fatal("rehash = true for a hash made with the current parameters")
			}
		})
	}
}

func TestVerify_LGN03_RehashWhenStoredParamsWeaker(t *testing.T) {
	owasp := newHasher(t, argon2.OWASPParams())
	weak := newHasher(t, argon2.Params{MemoryKiB: 8192, Iterations: 1, Parallelism: 1, SaltLen: 16, KeyLen: 32})

	tests := []struct {
		name       string
		stored     string
		verifier   *argon2.Hasher
		wantRehash bool
	}{
		{"WeakerMemoryAndTime_m8192t1_Rehash", hash(t, weak, "pw-under-test"), owasp, true},
		{"CurrentOWASPParams_NoRehash", hash(t, owasp, "pw-under-test"), owasp, false},
		{"StrongerThanCurrent_NoRehash", hash(t, owasp, "pw-under-test"), weak, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok, rehash, err := tt.verifier.Verify(tt.stored, "pw-under-test")
			if err != nil || !ok {
				t.Fatalf("Verify = ok %v err %v, want ok", ok, err)
			}
			if rehash != tt.wantRehash {
				t.Fatalf("rehash = %v, want %v", rehash, tt.wantRehash)
			}
		})
	}
}

func TestVerify_RehashOnAnyWeakerParameter(t *testing.T) {
	current := newHasher(t, argon2.Params{MemoryKiB: 2048, Iterations: 2, Parallelism: 2, SaltLen: 24, KeyLen: 32})
	tests := []struct {
		name string
		p    argon2.Params
	}{
		{"LowerMemory", argon2.Params{MemoryKiB: 1024, Iterations: 2, Parallelism: 2, SaltLen: 24, KeyLen: 32}},
		{"FewerIterations", argon2.Params{MemoryKiB: 2048, Iterations: 1, Parallelism: 2, SaltLen: 24, KeyLen: 32}},
		{"LowerParallelism", argon2.Params{MemoryKiB: 2048, Iterations: 2, Parallelism: 1, SaltLen: 24, KeyLen: 32}},
		{"ShorterSalt", argon2.Params{MemoryKiB: 2048, Iterations: 2, Parallelism: 2, SaltLen: 16, KeyLen: 32}},
		{"ShorterKey", argon2.Params{MemoryKiB: 2048, Iterations: 2, Parallelism: 2, SaltLen: 24, KeyLen: 16}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			enc := hash(t, newHasher(t, tt.p), "pw")
			ok, rehash, err := current.Verify(enc, "pw")
			if err != nil || !ok || !rehash {
				t.Fatalf("Verify = ok %v rehash %v err %v, want ok and rehash", ok, rehash, err)
			}
		})
	}
}

func TestVerify_MalformedHash_Error(t *testing.T) {
	h := newHasher(t, cheap)
	good := hash(t, h, "pw")
	parts := strings.Split(good, "$") // "", argon2id, v=19, m=..,t=..,p=.., salt, key
	with := func(i int, v string) string {
		p := append([]string(nil), parts...)
		p[i] = v
		return strings.Join(p, "$")
	}
	tests := []struct{ name, enc string }{
		{"Empty", ""},
		{"Plaintext", "pw"},
		{"Bcrypt", "$2a$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy"},
		{"Argon2iVariant", with(1, "argon2i")},
		{"Argon2dVariant", with(1, "argon2d")},
		{"OldVersion16", with(2, "v=16")},
		{"VersionMissing", with(2, "")},
		{"ParamsGarbage", with(3, "m=abc,t=1,p=1")},
		{"IterationsZero", with(3, "m=1024,t=0,p=1")},
		{"ParallelismZero", with(3, "m=1024,t=1,p=0")},
		{"ParallelismOverflowsUint8", with(3, "m=1024,t=1,p=256")},
		{"SaltNotBase64", with(4, "!!!!")},
		{"KeyNotBase64", with(5, "!!!!")},
		{"KeyEmpty", with(5, "")},
		{"MissingKeyField", strings.Join(parts[:5], "$")},
		{"ExtraField", good + "$extra"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok, rehash, err := h.Verify(tt.enc, "pw")
			if err == nil {
				t.Fatalf("Verify(%q) = ok %v rehash %v, want an error", tt.enc, ok, rehash)
			}
			if ok || rehash {
				t.Fatalf("Verify(%q) returned ok %v rehash %v with error %v", tt.enc, ok, rehash, err)
			}
		})
	}
	// A well-formed hash whose derived key differs in its last byte: no
	// error, and the correct password does not match (the whole key is
	// compared).
	key, err := base64.RawStdEncoding.DecodeString(parts[5])
	if err != nil {
		t.Fatal(err)
	}
	key[len(key)-1] ^= 0x01
	if ok, _, err := h.Verify(with(5, base64.RawStdEncoding.EncodeToString(key)), "pw"); err != nil || ok {
		t.Fatalf("Verify with a tampered key tail = ok %v err %v, want not ok, no error", ok, err)
	}
	if ok, _, err := h.Verify(good, "pw"); err != nil || !ok {
		t.Fatalf("control: Verify of the unmodified hash = ok %v err %v", ok, err)
	}
}

func TestNew_RejectsWeakParams(t *testing.T) {
	tests := []struct {
		name string
		p    argon2.Params
	}{
		{"ZeroIterations", argon2.Params{MemoryKiB: 1024, Iterations: 0, Parallelism: 1, SaltLen: 16, KeyLen: 32}},
		{"ZeroParallelism", argon2.Params{MemoryKiB: 1024, Iterations: 1, Parallelism: 0, SaltLen: 16, KeyLen: 32}},
		{"MemoryBelow8PerLane", argon2.Params{MemoryKiB: 15, Iterations: 1, Parallelism: 2, SaltLen: 16, KeyLen: 32}},
		{"SaltShorterThan16", argon2.Params{MemoryKiB: 1024, Iterations: 1, Parallelism: 1, SaltLen: 15, KeyLen: 32}},
		{"KeyShorterThan16", argon2.Params{MemoryKiB: 1024, Iterations: 1, Parallelism: 1, SaltLen: 16, KeyLen: 15}},
		{"ZeroValue", argon2.Params{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := argon2.New(tt.p); err == nil {
				t.Fatalf("New(%+v) accepted weak parameters", tt.p)
			}
		})
	}
}
