package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"embed"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"syscall"
	"time"

	gojose "github.com/go-jose/go-jose/v4"

	"github.com/sessiond/sessiond/adapters/argon2"
)

//go:embed pgbench/*.sql
var pgbenchScripts embed.FS

// Floors are the costs of the unavoidable work, measured in the same run.
type Floors struct {
	Cores int `json:"cores"`

	Argon2Hashes     int     `json:"argon2_hashes"`
	Argon2CPUMs      float64 `json:"argon2_cpu_ms_per_hash"`
	Argon2WallMs     float64 `json:"argon2_wall_ms_per_hash"`
	LoginFloorPerS   float64 `json:"login_floor_per_s"` // cores ÷ CPU per hash
	Ed25519SignUs    float64 `json:"ed25519_sign_us"`
	Ed25519VerifyUs  float64 `json:"ed25519_verify_us"`
	JoseSignUs       float64 `json:"jose_jws_sign_us"`
	JoseVerifyUs     float64 `json:"jose_jws_verify_us"`
	PgbenchClients   int     `json:"pgbench_clients"`
	PgbenchSeconds   float64 `json:"pgbench_seconds"`
	RotatePerS       float64 `json:"pgbench_rotate_per_s"` // floor (a)
	RotateLatencyMs  float64 `json:"pgbench_rotate_latency_avg_ms"`
	ReadPerS         float64 `json:"pgbench_read_per_s"` // floor (b)
	ReadLatencyMs    float64 `json:"pgbench_read_latency_avg_ms"`
	PgbenchSkipped   string  `json:"pgbench_skipped,omitempty"`
	PgbenchSessions  int     `json:"pgbench_sessions"`
	PgbenchTenants   int     `json:"pgbench_tenants"`
	PgbenchUsers     int     `json:"pgbench_users_per_tenant"`
	PgbenchRole      string  `json:"pgbench_role"`
	PgbenchPreparedM string  `json:"pgbench_protocol"`
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// timeOps runs f n times and returns CPU and wall time per op.
func timeOps(n int, f func()) (cpu, wall time.Duration) {
	c0, w0 := cpuTime(), time.Now()
	for range n {
		f()
	}
	return (cpuTime() - c0) / time.Duration(n), time.Since(w0) / time.Duration(n)
}

func us(d time.Duration) float64 { return roundTo(float64(d)/1e3, 1) }

// measureCrypto measures argon2id with the server's production parameters
// and Ed25519 (raw and as a go-jose compact JWS, as the server uses it).
func measureCrypto(f *Floors, hashes int) error {
	f.Cores = runtime.NumCPU()
	h, err := argon2.New(argon2.OWASPParams())
	if err != nil {
		return err
	}
	var herr error
	cpu, wall := timeOps(hashes, func() {
		if _, err := h.Hash("correct horse battery staple"); err != nil {
			herr = err
		}
	})
	if herr != nil {
		return herr
	}
	f.Argon2Hashes = hashes
	f.Argon2CPUMs, f.Argon2WallMs = roundTo(float64(cpu)/1e6, 2), roundTo(float64(wall)/1e6, 2)
	if cpu > 0 {
		f.LoginFloorPerS = roundTo(float64(f.Cores)/cpu.Seconds(), 1)
	}

	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return err
	}
	msg := make([]byte, 300) // about a token's signing input
	sig := ed25519.Sign(priv, msg)
	const n = 2000
	c, _ := timeOps(n, func() { ed25519.Sign(priv, msg) })
	f.Ed25519SignUs = us(c)
	c, _ = timeOps(n, func() { ed25519.Verify(pub, msg, sig) })
	f.Ed25519VerifyUs = us(c)

	signer, err := gojose.NewSigner(gojose.SigningKey{Algorithm: gojose.EdDSA, Key: priv}, (&gojose.SignerOptions{}).WithType("at+jwt"))
	if err != nil {
		return err
	}
	payload := []byte(`{"iss":"sessiond","sub":"7c9e6679-7425-40de-944b-e07fc1f90ae7","aud":"sessiond-api","exp":1767225600,"iat":1767225300,"jti":"b0c8f3f1d7a24a6e9c1f0f7e5b3d2a19","sid":"0b6f5e8e-2f4c-4a53-9a3e-6f1d9c2b7a10","tid":"3f2b6c1e-8a4d-4e0b-9c7a-2d5e6f8a9b0c","typ":"access"}`)
	var compact string
	var jerr error
	c, _ = timeOps(n, func() {
		jws, err := signer.Sign(payload)
		if err == nil {
			compact, err = jws.CompactSerialize()
		}
		if err != nil {
			jerr = err
		}
	})
	f.JoseSignUs = us(c)
	c, _ = timeOps(n, func() {
		jws, err := gojose.ParseSigned(compact, []gojose.SignatureAlgorithm{gojose.EdDSA})
		if err == nil {
			_, err = jws.Verify(pub)
		}
		if err != nil {
			jerr = err
		}
	})
	f.JoseVerifyUs = us(c)
	return jerr
}

// findPgbench returns path if set, else the newest
// /usr/lib/postgresql/*/bin/pgbench, else pgbench on PATH.
func findPgbench(path string) (string, error) {
	if path != "" {
		return path, nil
	}
	m, _ := filepath.Glob("/usr/lib/postgresql/*/bin/pgbench")
	sort.Slice(m, func(i, j int) bool { return versionOf(m[i]) < versionOf(m[j]) })
	if len(m) > 0 {
		return m[len(m)-1], nil
	}
	return exec.LookPath("pgbench")
}

func versionOf(p string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(p))))
	return v
}

var (
	tpsRe     = regexp.MustCompile(`(?m)^tps = ([0-9.]+)`)
	latencyRe = regexp.MustCompile(`(?m)^latency average = ([0-9.]+) ms`)
	failedRe  = regexp.MustCompile(`(?m)^number of failed transactions: ([0-9]+)`)
)

// parsePgbench extracts tps and average latency from pgbench's summary.
func parsePgbench(out string) (tps, latencyMs float64, err error) {
	m := tpsRe.FindStringSubmatch(out)
	if m == nil {
		return 0, 0, fmt.Errorf("no tps in pgbench output:\n%s", out)
	}
	tps, _ = strconv.ParseFloat(m[1], 64)
	if l := latencyRe.FindStringSubmatch(out); l != nil {
		latencyMs, _ = strconv.ParseFloat(l[1], 64)
	}
	if f := failedRe.FindStringSubmatch(out); f != nil && f[1] != "0" {
		return tps, latencyMs, fmt.Errorf("pgbench: %s failed transactions:\n%s", f[1], out)
	}
	return tps, latencyMs, nil
}

// measurePgbench runs the two floor scripts as the runtime role (row-level
// security in force) in prepared mode against the seeded database.
func measurePgbench(ctx context.Context, f *Floors, bin, appDSN string, clients int, d time.Duration, s seedSpec) error {
	dir, err := os.MkdirTemp("", "authbench-pgbench")
	if err != nil {
		return err
	}
	defer func() { _ = os.RemoveAll(dir) }()
	f.PgbenchClients, f.PgbenchSeconds = clients, d.Seconds()
	f.PgbenchSessions, f.PgbenchTenants, f.PgbenchUsers = s.sessions, s.tenants, s.users
	f.PgbenchPreparedM = "prepared, pipelined"
	f.PgbenchRole = roleOf(appDSN)
	for _, script := range []struct {
		file         string
		tps, latency *float64
	}{{"rotate.sql", &f.RotatePerS, &f.RotateLatencyMs}, {"me.sql", &f.ReadPerS, &f.ReadLatencyMs}} {
		b, err := pgbenchScripts.ReadFile("pgbench/" + script.file)
		if err != nil {
			return err
		}
		p := filepath.Join(dir, script.file)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			return err
		}
		secs := max(1, int(d.Round(time.Second).Seconds()))
		cmd := exec.CommandContext(ctx, bin, "-n", "-M", "prepared", "-c", strconv.Itoa(clients),
			"-j", strconv.Itoa(min(clients, runtime.NumCPU())), "-T", strconv.Itoa(secs),
			"-D", "nsessions="+strconv.Itoa(s.sessions), "-D", "ntenants="+strconv.Itoa(s.tenants),
			"-D", "nusers="+strconv.Itoa(s.users), "-f", p, appDSN)
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		if err != nil {
			return fmt.Errorf("pgbench %s: %w\n%s", script.file, err, out)
		}
		tps, lat, err := parsePgbench(string(out))
		if err != nil {
			return err
		}
		*script.tps, *script.latency = roundTo(tps, 1), roundTo(lat, 3)
	}
	return nil
}

func roleOf(dsn string) string {
	m := regexp.MustCompile(`^postgres(?:ql)?://([^:@/]+)`).FindStringSubmatch(dsn)
	if m == nil {
		return ""
	}
	return m[1]
}
