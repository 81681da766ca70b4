package main

// The login-totp scenario: what a sign-in with a second factor costs next
// to one without (bench/README.md, docs/security-checklist.md MFA-11). Each
// virtual client signs in completely, as a person with an authenticator
// would: the password step (POST /auth/login/json, 202 and a challenge),
// then POST /auth/mfa/verify with the challenge and the current TOTP code
// (200 and the tokens). The whole sign-in is the scenario's row; each step
// is a ↳ row of the same sign-ins.
//
// A user's code is accepted once per 30-second step (replay refusal), so the
// clients rotate over -totp-users enrolled users and never take one whose
// current step is spent: no replay refusal can be provoked by the bench.
//
// The enrolled users are seeded as the other users are (seed.go), in the
// same tenants but with their own addresses (f{k}@t{j}.bench), so the
// login scenario never meets a factor. Their secrets are derived from their
// numbers (bench users only), so a run with -seed=false against an earlier
// seeding still knows them; each is sealed with the server's
// MFA_ENCRYPTION_KEY (core.SealTOTPSecret), and the factor is confirmed.

import (
	"context"
	"crypto/md5"
	"crypto/sha1"
	"encoding/base32"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/sessiond/sessiond/adapters/argon2"
	"github.com/sessiond/sessiond/adapters/totp"
	"github.com/sessiond/sessiond/core"
)

// Ops of the login-totp scenario: the whole sign-in and its two steps.
const (
	opTOTPSignIn   = "sign-in"
	opTOTPPassword = "step1-password"
	opTOTPVerify   = "step2-verify"
)

type totpOptions struct {
	users int    // enrolled users, spread over the tenants
	key   string // base64 of MFA_ENCRYPTION_KEY
}

func totpFlags(fs *flag.FlagSet, o *totpOptions) {
	fs.IntVar(&o.users, "totp-users", 6000, "login-totp: users with a confirmed TOTP factor, spread over the tenants (each code is usable once per user per 30 s, so more than 30 s × sign-ins/s)")
	fs.StringVar(&o.key, "mfa-key", os.Getenv("MFA_ENCRYPTION_KEY"), "login-totp: the server's MFA_ENCRYPTION_KEY (base64 of 32 bytes), to seal the seeded factors (default $MFA_ENCRYPTION_KEY)")
}

// wantsTOTP reports whether the run includes login-totp.
func wantsTOTP(scenarios []string) bool { return slices.Contains(scenarios, "login-totp") }

// totpUser is enrolled user k: tenant k % T, number k / T within it.
type totpUser struct {
	email  string
	secret string // base32, as an authenticator app reads it
}

func totpUserOf(k, tenants int) (tenant, n int) { return k % tenants, k / tenants }

// totpSecret is the bench's secret of enrolled user (tenant, n): 160 bits
// derived from the numbers (bench data, not a secret).
func totpSecret(tenant, n int) string {
	h := sha1.Sum(fmt.Appendf(nil, "authbench-totp-%d-%d", tenant, n))
	return base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(h[:])
}

func totpEmail(tenant, n int) string { return fmt.Sprintf("f%d@t%d.bench", n, tenant) }

func md5Sum(s string) []byte {
	h := md5.Sum([]byte(s))
	return h[:]
}

func totpUserID(tenant, n int) uuid.UUID {
	// md5('bench-f-' || j || '-' || k)::uuid, as the seeding SQL computes it.
	return uuid.Must(uuid.FromBytes(md5Sum(fmt.Sprintf("bench-f-%d-%d", tenant, n))))
}

// seedTOTP inserts count users with confirmed TOTP factors, as the
// superuser and with foreign-key triggers skipped, like seed. Idempotent;
// an existing factor is sealed again (the key may differ from an earlier
// run's) and its last used step forgotten.
func seedTOTP(ctx context.Context, dsn string, tenants, count int, password string, key []byte, log *slog.Logger) error {
	if count < 1 {
		return errors.New("-totp-users must be positive")
	}
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return fmt.Errorf("seed totp: connect: %w", err)
	}
	defer func() { _ = conn.Close(context.Background()) }()
	h, err := argon2.New(argon2.OWASPParams())
	if err != nil {
		return err
	}
	hash, err := h.Hash(password)
	if err != nil {
		return err
	}
	t0 := time.Now()
	accounts, users, sealed := make([]uuid.UUID, count), make([]uuid.UUID, count), make([][]byte, count)
	for k := range count {
		j, n := totpUserOf(k, tenants)
		accounts[k] = uuid.Must(uuid.FromBytes(md5Sum(fmt.Sprintf("bench-t-%d", j))))
		users[k] = totpUserID(j, n)
		if sealed[k], err = core.SealTOTPSecret(key, users[k], totpSecret(j, n)); err != nil {
			return err
		}
	}
	if _, err := conn.Exec(ctx, "SET session_replication_role = replica"); err != nil {
		return fmt.Errorf("seed totp: %w (the seeding role must be a superuser)", err)
	}
	perTenant := (count + tenants - 1) / tenants
	for _, st := range []struct {
		what string
		sql  string
		args []any
	}{
		{"totp users", `INSERT INTO users (account_id, id, email, name, password_hash, account_role, is_active, created_at, updated_at, email_verified_at)
			SELECT md5('bench-t-' || j)::uuid, md5('bench-f-' || j || '-' || k)::uuid,
			       'f' || k || '@t' || j || '.bench', 'Bench TOTP user ' || k, $3::text, 'member', true, now(), now(), now()
			FROM generate_series(0, $1::int - 1) j, generate_series(0, $2::int - 1) k
			WHERE k * $1::int + j < $4::int
			ON CONFLICT DO NOTHING`, []any{tenants, perTenant, hash, count}},
		{"totp user_emails", `INSERT INTO user_emails (email, account_id, user_id)
			SELECT 'f' || k || '@t' || j || '.bench', md5('bench-t-' || j)::uuid, md5('bench-f-' || j || '-' || k)::uuid
			FROM generate_series(0, $1::int - 1) j, generate_series(0, $2::int - 1) k
			WHERE k * $1::int + j < $3::int
			ON CONFLICT DO NOTHING`, []any{tenants, perTenant, count}},
		{"auth_factors", `INSERT INTO auth_factors (account_id, id, user_id, kind, secret_sealed, confirmed_at, last_used_step, created_at)
			SELECT a, gen_random_uuid(), u, 'totp', s, now(), NULL, now()
			FROM unnest($1::uuid[], $2::uuid[], $3::bytea[]) AS x(a, u, s)
			ON CONFLICT (account_id, user_id, kind) DO UPDATE
			SET secret_sealed = EXCLUDED.secret_sealed, confirmed_at = EXCLUDED.confirmed_at, last_used_step = NULL`,
			[]any{accounts, users, sealed}},
	} {
		t := time.Now()
		tag, err := conn.Exec(ctx, st.sql, st.args...)
		if err != nil {
			return fmt.Errorf("seed %s: %w", st.what, err)
		}
		log.Info("seeded", "what", st.what, "rows", tag.RowsAffected(), "took", time.Since(t).Round(time.Millisecond))
	}
	if _, err := conn.Exec(ctx, "VACUUM (ANALYZE) users, user_emails, auth_factors"); err != nil {
		return fmt.Errorf("seed totp: vacuum: %w", err)
	}
	log.Info("seed totp done", "users", count, "took", time.Since(t0).Round(time.Millisecond))
	return nil
}

// prepareTOTP decodes the key, seeds the enrolled users when asked and
// returns the pool the scenario's clients draw from.
func prepareTOTP(ctx context.Context, o totpOptions, dsn string, doSeed bool, tenants int, password string, log *slog.Logger) (*totpPool, error) {
	if o.users < 1 {
		return nil, errors.New("-totp-users must be positive")
	}
	if doSeed {
		key, err := base64.StdEncoding.DecodeString(strings.TrimSpace(o.key))
		if err != nil || len(key) != 32 {
			return nil, errors.New("login-totp: -mfa-key (or MFA_ENCRYPTION_KEY) must be the server's key, base64 of 32 bytes, to seal the seeded factors")
		}
		if dsn == "" {
			return nil, errors.New("login-totp: seeding needs -db (or MIGRATION_DATABASE_URL): a superuser DSN")
		}
		if err := seedTOTP(ctx, dsn, tenants, o.users, password, key, log); err != nil {
			return nil, err
		}
	}
	return newTOTPPool(tenants, o.users), nil
}

// totpPool hands enrolled users to the clients: never one in use by
// another client, never one whose code of the current step is spent.
type totpPool struct {
	mu    sync.Mutex
	users []totpUser
	last  []int64 // the step of the user's latest code (0: none yet)
	busy  []bool
	next  int
	// waits counts how often no user was free in the current step and a
	// client waited for the next one (the pool is too small for the rate:
	// raise -totp-users). Reported; it should stay 0.
	waits atomic.Int64
	now   func() time.Time
}

func newTOTPPool(tenants, count int) *totpPool {
	p := &totpPool{users: make([]totpUser, count), last: make([]int64, count), busy: make([]bool, count), now: time.Now}
	for k := range count {
		j, n := totpUserOf(k, tenants)
		p.users[k] = totpUser{email: totpEmail(j, n), secret: totpSecret(j, n)}
	}
	return p
}

func totpStep(t time.Time) int64 { return t.Unix() / totp.Period }

// take returns a free user whose current step is unspent, in round-robin
// order (so a user comes back as late as possible), waiting for the next
// step when there is none.
func (p *totpPool) take(ctx context.Context) (int, totpUser, error) {
	for {
		p.mu.Lock()
		step := totpStep(p.now())
		for range len(p.users) {
			i := p.next
			p.next = (p.next + 1) % len(p.users)
			if !p.busy[i] && p.last[i] < step {
				p.busy[i] = true
				p.mu.Unlock()
				return i, p.users[i], nil
			}
		}
		p.mu.Unlock()
		p.waits.Add(1)
		wait := time.Until(time.Unix((step+1)*totp.Period, 0))
		select {
		case <-ctx.Done():
			return 0, totpUser{}, ctx.Err()
		case <-time.After(wait):
		}
	}
}

// give returns user i; step is the step of the code it sent (0: none).
func (p *totpPool) give(i int, step int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.busy[i] = false
	p.last[i] = max(p.last[i], step)
}

type loginTOTPWorker struct {
	env
	pool *totpPool
}

// step is one complete sign-in: the recorded sample is the whole of it,
// its parts the two requests.
func (w *loginTOTPWorker) step(ctx context.Context, _ *rand.Rand) sample {
	i, u, err := w.pool.take(ctx)
	if err != nil {
		return sample{op: opTOTPSignIn, code: "canceled"}
	}
	var spent int64
	defer func() { w.pool.give(i, spent) }()
	start := time.Now()
	c1 := w.api.do(ctx, http.MethodPost, "/auth/login/json", "", jsonBody(map[string]string{"email": u.email, "password": w.pop.password}))
	p1 := sample{op: opTOTPPassword, dur: c1.dur, status: c1.status, code: c1.code}
	var ch struct {
		Token string `json:"mfa_challenge_token"`
	}
	if c1.status != http.StatusAccepted || json.Unmarshal(c1.body, &ch) != nil || ch.Token == "" {
		if c1.ok() {
			// 200 (no factor?) or a 202 without a challenge: not this scenario's sign-in.
			p1.status, p1.code = 0, "no_mfa_challenge"
		}
		return sample{op: opTOTPSignIn, dur: time.Since(start), status: p1.status, code: p1.code, parts: []sample{p1}}
	}
	now := time.Now()
	code, err := totp.Code(u.secret, now)
	if err != nil {
		return sample{op: opTOTPSignIn, dur: time.Since(start), code: "totp_code", parts: []sample{p1}}
	}
	// Counted as spent whatever the answer: the bench never sends a code of
	// a step the server may have recorded.
	spent = totpStep(now)
	c2 := w.api.do(ctx, http.MethodPost, "/auth/mfa/verify", "", jsonBody(map[string]string{"mfa_challenge_token": ch.Token, "code": code}))
	if _, err := c2.tokens(); err != nil && c2.ok() {
		c2.status, c2.code = 0, "bad_token_response"
	}
	p2 := sample{op: opTOTPVerify, dur: c2.dur, status: c2.status, code: c2.code}
	return sample{op: opTOTPSignIn, dur: time.Since(start), status: c2.status, code: c2.code, parts: []sample{p1, p2}}
}

// newLoginTOTP is the login-totp scenario: as many clients as login.
func newLoginTOTP(e env, o scenarioOptions) (scenarioSpec, error) {
	if e.totp == nil {
		return scenarioSpec{}, errors.New("login-totp: no enrolled users (internal: prepareTOTP did not run)")
	}
	return scenarioSpec{name: "login-totp", clients: o.loginConcurrency, build: func(context.Context, int) (worker, error) {
		return &loginTOTPWorker{env: e, pool: e.totp}, nil
	}}, nil
}

// totpSummary sets login-totp beside login of the same run: rates,
// latencies, CPU and database work per complete sign-in, and their ratios.
// "" without both.
func totpSummary(results []Result, pool *totpPool) string {
	var plain, mfa *Result
	for i := range results {
		switch results[i].Scenario {
		case "login":
			plain = &results[i]
		case "login-totp":
			mfa = &results[i]
		}
	}
	if mfa == nil {
		return ""
	}
	var b strings.Builder
	if pool != nil {
		if n := pool.waits.Load(); n > 0 {
			fmt.Fprintf(&b, "WARNING login-totp: %d times every enrolled user's code of the current step was spent and a client waited for the next step: raise -totp-users\n\n", n)
		}
	}
	if plain == nil {
		b.WriteString("login-totp: run it with login (-scenario login,login-totp) for the comparison\n")
		return b.String()
	}
	pw, vf := mfa.Ops[opTOTPPassword], mfa.Ops[opTOTPVerify]
	if shed := plain.Errors["503 service_unavailable"] + mfa.Errors["503 service_unavailable"]; shed > 0 {
		fmt.Fprintf(&b, "NOTE: %d sign-ins were shed (503) by the hashing admission control; their quick answers are in the latencies and the per-sign-in costs below. "+
			"To compare the costs, run with HASH_CONCURRENCY=<cores> HASH_QUEUE=64 HASH_QUEUE_WAIT=0 (bench/README.md)\n\n", shed)
	}
	b.WriteString("login-totp vs login (same run, same clients; a sign-in with TOTP is two requests, the password step (202) and mfa/verify (200))\n\n")
	b.WriteString("| per complete sign-in | login | login-totp | ratio |\n|---|---:|---:|---:|\n")
	row := func(what string, a, m float64, format string) {
		cell := func(v float64) string {
			if v < 0 {
				return "n/a"
			}
			return fmt.Sprintf(format, v)
		}
		ratio := "-"
		if a > 0 && m >= 0 {
			ratio = fmt.Sprintf("%.2f×", m/a)
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", what, cell(a), cell(m), ratio)
	}
	okRate := func(r *Result) float64 { return float64(r.OK) / max(r.Duration, 1e-9) }
	row("completed sign-ins/s", okRate(plain), okRate(mfa), "%.1f")
	row("p50 ms", plain.Latency.P50, mfa.Latency.P50, "%.2f")
	row("p99 ms", plain.Latency.P99, mfa.Latency.P99, "%.2f")
	row("HTTP requests", 1, 2, "%.0f")
	row("server CPU ms", plain.CPU.ServerMsPerReq, mfa.CPU.ServerMsPerReq, "%.3f")
	row("PG CPU ms", plain.CPU.PostgresMsPerReq, mfa.CPU.PostgresMsPerReq, "%.3f")
	row("PG transactions (pg_stat_database, ≈)", plain.CPU.PGXactsPerReq, mfa.CPU.PGXactsPerReq, "%.2f")
	row("server write syscalls (≈ PG round trips + HTTP answers)", plain.CPU.ServerWritesPerReq, mfa.CPU.ServerWritesPerReq, "%.2f")
	roundTrips := func(writes, answers float64) float64 {
		if writes < 0 {
			return -1
		}
		return writes - answers
	}
	row("≈ PG round trips (those writes − HTTP answers)", roundTrips(plain.CPU.ServerWritesPerReq, 1), roundTrips(mfa.CPU.ServerWritesPerReq, 2), "%.2f")
	fmt.Fprintf(&b, "\nlogin-totp steps: password (202) p50 %.2f ms, p99 %.2f ms, %.1f/s; mfa/verify (200) p50 %.2f ms, p99 %.2f ms, %.1f/s; errors: %s\n",
		pw.Latency.P50, pw.Latency.P99, pw.RPS, vf.Latency.P50, vf.Latency.P99, vf.RPS, errorsCell(mfa.Errors))
	b.WriteString("exact PostgreSQL round trips per request, counted on the wire: go test -v -run 'TestMFA11_|TestRoundTrips_PerRequest' ./adapters/http/\n")
	return b.String()
}
