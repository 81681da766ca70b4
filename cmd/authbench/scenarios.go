package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"sync"
	"time"
)

// scenarioNames are the scenarios in the order "all" runs them.
// oracle (oracle.go) is not closed-loop: one client, interleaved pairs.
var scenarioNames = []string{"refresh", "me", "login", "login-totp", "refresh-contended", "mixed", "flood", "oracle"}

// population names the seeded users a virtual client may sign in as.
type population struct {
	tenants, users int
	password       string
}

// email of virtual client i: each client its own user while there are
// enough users.
func (p population) email(i int) string {
	t := i % p.tenants
	u := (i / p.tenants) % p.users
	return seededEmail(t, u)
}

func (p population) random(rng *rand.Rand) string {
	return seededEmail(rng.IntN(p.tenants), rng.IntN(p.users))
}

func seededEmail(tenant, user int) string { return fmt.Sprintf("u%d@t%d.bench", user, tenant) }

// worker is one virtual client: step sends exactly one recorded request
// (any housekeeping it needs, such as signing in again, is not recorded).
type worker interface {
	step(ctx context.Context, rng *rand.Rand) sample
}

type env struct {
	api  *api
	pop  population
	totp *totpPool // login-totp's enrolled users (totp.go); nil unless it runs
}

// session is a signed-in client's token pair.
type session struct {
	email   string
	tp      tokenPair
	expires time.Time // access token expiry (local clock)
}

// A sign-in the server sheds (503 with Retry-After: its hashing slots are
// busy) is tried again after a short pause: this sign-in is setup or
// housekeeping, not a measured request.
func (e env) signIn(ctx context.Context, email string) (session, error) {
	tp, c := e.api.login(ctx, email, e.pop.password)
	for try := 0; try < 200 && c.status == http.StatusServiceUnavailable && c.retryAfter && ctx.Err() == nil; try++ {
		time.Sleep(time.Duration(10+rand.IntN(40)) * time.Millisecond)
		tp, c = e.api.login(ctx, email, e.pop.password)
	}
	if !c.ok() {
		return session{}, fmt.Errorf("sign in as %s: %w", email, c.err())
	}
	return session{email: email, tp: tp, expires: time.Now().Add(time.Duration(tp.ExpiresIn) * time.Second)}, nil
}

// --- refresh: each client rotates its own chain, always with its newest token.

type refreshWorker struct {
	env
	s session
}

func (w *refreshWorker) step(ctx context.Context, _ *rand.Rand) sample {
	tp, c := w.api.refresh(ctx, w.s.tp.RefreshToken)
	if c.ok() {
		w.s.tp = tp
	} else if c.status == http.StatusUnauthorized {
		if s, err := w.signIn(ctx, w.s.email); err == nil {
			w.s = s
		}
	}
	return sample{op: "refresh", dur: c.dur, status: c.status, code: c.code}
}

// --- me: GET /auth/me with a valid access token.

type meWorker struct {
	env
	s session
}

// fresh keeps the access token valid: refresh (not recorded) shortly before
// it expires.
func (w *meWorker) fresh(ctx context.Context) {
	if time.Until(w.s.expires) > 15*time.Second {
		return
	}
	if tp, c := w.api.refresh(ctx, w.s.tp.RefreshToken); c.ok() {
		w.s.tp, w.s.expires = tp, time.Now().Add(time.Duration(tp.ExpiresIn)*time.Second)
		return
	}
	if s, err := w.signIn(ctx, w.s.email); err == nil {
		w.s = s
	}
}

func (w *meWorker) step(ctx context.Context, _ *rand.Rand) sample {
	w.fresh(ctx)
	c := w.api.me(ctx, w.s.tp.AccessToken)
	if c.status == http.StatusUnauthorized {
		if s, err := w.signIn(ctx, w.s.email); err == nil {
			w.s = s
		}
	}
	return sample{op: "me", dur: c.dur, status: c.status, code: c.code}
}

// --- login: password sign-in (argon2id) as a random seeded user.

type loginWorker struct{ env }

func (w *loginWorker) step(ctx context.Context, rng *rand.Rand) sample {
	_, c := w.api.login(ctx, w.pop.random(rng), w.pop.password)
	return sample{op: "login", dur: c.dur, status: c.status, code: c.code}
}

// --- refresh-contended: several clients share one session's chain. Each
// presents the newest token the group knows; concurrent presenters of one
// token exercise the grace window (one rotates, the others converge), and a
// presenter that falls two generations behind is treated as reuse (the
// session is revoked; the group signs in again).

type chain struct {
	mu    sync.Mutex
	email string
	token string
	epoch int
}

type contendedWorker struct {
	env
	g *chain
}

func (w *contendedWorker) step(ctx context.Context, _ *rand.Rand) sample {
	w.g.mu.Lock()
	tok, epoch := w.g.token, w.g.epoch
	w.g.mu.Unlock()
	tp, c := w.api.refresh(ctx, tok)
	s := sample{op: "refresh", dur: c.dur, status: c.status, code: c.code}
	w.g.mu.Lock()
	defer w.g.mu.Unlock()
	switch {
	case c.ok() && epoch == w.g.epoch && w.g.token == tok:
		w.g.token = tp.RefreshToken
		s.outcome = "advanced"
	case c.ok() && epoch == w.g.epoch && w.g.token == tp.RefreshToken:
		s.outcome = "converged" // someone else rotated; we got the same current token
	case c.ok():
		s.outcome = "stale_ok"
	case epoch == w.g.epoch:
		// The chain is dead (reuse revoked it, or it expired): start a new one.
		if ns, err := w.signIn(ctx, w.g.email); err == nil {
			w.g.token = ns.tp.RefreshToken
			w.g.epoch++
			s.outcome = "new_chain"
		}
	}
	return s
}

// --- mixed: a blend of authenticated reads, refreshes and sign-ins.

type mixedWorker struct {
	me      meWorker
	pMe     float64 // probability of a GET /auth/me
	pLogin  float64 // probability of a sign-in; the rest are refreshes
	loginer loginWorker
}

func (w *mixedWorker) step(ctx context.Context, rng *rand.Rand) sample {
	x := rng.Float64()
	switch {
	case x < w.pMe:
		return w.me.step(ctx, rng)
	case x < w.pMe+w.pLogin:
		return w.loginer.step(ctx, rng)
	default:
		tp, c := w.me.api.refresh(ctx, w.me.s.tp.RefreshToken)
		if c.ok() {
			w.me.s.tp, w.me.s.expires = tp, time.Now().Add(time.Duration(tp.ExpiresIn)*time.Second)
		} else if c.status == http.StatusUnauthorized {
			if s, err := w.me.signIn(ctx, w.me.s.email); err == nil {
				w.me.s = s
			}
		}
		return sample{op: "refresh", dur: c.dur, status: c.status, code: c.code}
	}
}

// --- flood: readers (refresh and me, alternately) while sign-in clients
// sign in as fast as they can. A sign-in the server sheds — 503 with
// Retry-After — is recorded as op "login_shed", so its latency (how fast
// the refusal came) is reported apart; the client retries at once, as a
// storm would. A 503 without Retry-After stays a "login" error.

type floodReader struct {
	me   meWorker
	turn int
}

func (w *floodReader) step(ctx context.Context, rng *rand.Rand) sample {
	w.turn++
	if w.turn%2 == 0 {
		return w.me.step(ctx, rng)
	}
	tp, c := w.me.api.refresh(ctx, w.me.s.tp.RefreshToken)
	if c.ok() {
		w.me.s.tp, w.me.s.expires = tp, time.Now().Add(time.Duration(tp.ExpiresIn)*time.Second)
	} else if c.status == http.StatusUnauthorized {
		if s, err := w.me.signIn(ctx, w.me.s.email); err == nil {
			w.me.s = s
		}
	}
	return sample{op: "refresh", dur: c.dur, status: c.status, code: c.code}
}

type floodLogin struct{ env }

func (w *floodLogin) step(ctx context.Context, rng *rand.Rand) sample {
	_, c := w.api.login(ctx, w.pop.random(rng), w.pop.password)
	op := "login"
	if c.status == http.StatusServiceUnavailable && c.retryAfter {
		op = "login_shed"
	}
	return sample{op: op, dur: c.dur, status: c.status, code: c.code}
}

// scenarioSpec builds the workers of one scenario.
type scenarioSpec struct {
	name    string
	clients int
	build   func(ctx context.Context, i int) (worker, error)
}

type scenarioOptions struct {
	concurrency      int
	loginConcurrency int
	floodLogins      int     // flood: sign-in clients besides the concurrency readers
	perChain         int     // refresh-contended: clients per session
	mixMe, mixLogin  float64 // mixed: shares of me and login
	// audit: the seeded audit tenants, their users and the days spanned
	auditTenants, auditUsers, auditDays int
}

func newScenario(name string, e env, o scenarioOptions) (scenarioSpec, error) {
	sp := scenarioSpec{name: name, clients: o.concurrency}
	switch name {
	case "refresh":
		sp.build = func(ctx context.Context, i int) (worker, error) {
			s, err := e.signIn(ctx, e.pop.email(i))
			return &refreshWorker{env: e, s: s}, err
		}
	case "me":
		sp.build = func(ctx context.Context, i int) (worker, error) {
			s, err := e.signIn(ctx, e.pop.email(i))
			return &meWorker{env: e, s: s}, err
		}
	case "login":
		sp.clients = o.loginConcurrency
		sp.build = func(context.Context, int) (worker, error) { return &loginWorker{env: e}, nil }
	case "login-totp":
		return newLoginTOTP(e, o)
	case "refresh-contended":
		chains := make([]*chain, max(1, (o.concurrency+o.perChain-1)/o.perChain))
		var mu sync.Mutex
		sp.build = func(ctx context.Context, i int) (worker, error) {
			k := i % len(chains)
			mu.Lock()
			defer mu.Unlock()
			if chains[k] == nil {
				email := e.pop.email(k)
				s, err := e.signIn(ctx, email)
				if err != nil {
					return nil, err
				}
				chains[k] = &chain{email: email, token: s.tp.RefreshToken}
			}
			return &contendedWorker{env: e, g: chains[k]}, nil
		}
	case "mixed":
		sp.build = func(ctx context.Context, i int) (worker, error) {
			s, err := e.signIn(ctx, e.pop.email(i))
			return &mixedWorker{me: meWorker{env: e, s: s}, pMe: o.mixMe, pLogin: o.mixLogin, loginer: loginWorker{env: e}}, err
		}
	case "flood-solo":
		// flood's readers alone, run just before flood: the solo figures
		// of the same run that flood's ratios are taken against.
		sp.build = func(ctx context.Context, i int) (worker, error) {
			s, err := e.signIn(ctx, e.pop.email(i))
			return &floodReader{me: meWorker{env: e, s: s}, turn: i}, err
		}
	case "flood":
		sp.clients = o.concurrency + o.floodLogins
		sp.build = func(ctx context.Context, i int) (worker, error) {
			if i >= o.concurrency {
				return &floodLogin{env: e}, nil
			}
			s, err := e.signIn(ctx, e.pop.email(i))
			return &floodReader{me: meWorker{env: e, s: s}, turn: i}, err
		}
	case "audit":
		// Owners of -c tenants (real sign-ins) list their audit trail with
		// the common filters in turn (audit.go).
		sp.build = func(ctx context.Context, i int) (worker, error) {
			tenant := i * max(1, o.auditTenants/max(1, o.concurrency)) % max(1, o.auditTenants)
			s, err := e.signIn(ctx, seededEmail(tenant, 0))
			return &auditWorker{meWorker: meWorker{env: e, s: s}, tenant: tenant, users: o.auditUsers, days: o.auditDays}, err
		}
	default:
		return sp, fmt.Errorf("unknown scenario %q (want one of %v, audit, webhook-delivery, or all)", name, scenarioNames)
	}
	if sp.clients < 1 {
		return sp, fmt.Errorf("%s: concurrency must be at least 1", name)
	}
	return sp, nil
}

// runResult is what one closed-loop run recorded.
type runResult struct {
	samples  []sample
	window   time.Duration
	cpuStart cpuSnap
	cpuEnd   cpuSnap
	started  time.Time
}

// run drives sp closed-loop: every client sends its next request as soon as
// the previous one is answered. Requests completed during warmup, or after
// the measured window, are not recorded; CPU is sampled at the window's
// edges.
func run(ctx context.Context, sp scenarioSpec, warmup, d time.Duration, probe cpuProbe) (runResult, error) {
	workers := make([]worker, sp.clients)
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		ferr error
		sem  = make(chan struct{}, 4) // sign-ins are argon2id: a few at a time
	)
	for i := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			w, err := sp.build(ctx, i)
			mu.Lock()
			defer mu.Unlock()
			if err != nil && ferr == nil {
				ferr = fmt.Errorf("%s: setting up client %d: %w", sp.name, i, err)
			}
			workers[i] = w
		}()
	}
	wg.Wait()
	if ferr != nil {
		return runResult{}, ferr
	}

	start := time.Now()
	warmEnd := start.Add(warmup)
	end := warmEnd.Add(d)
	per := make([][]sample, len(workers))
	for i, w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(i)+1, uint64(start.UnixNano())))
			var rec []sample
			for ctx.Err() == nil {
				now := time.Now()
				if !now.Before(end) {
					break
				}
				s := w.step(ctx, rng)
				done := time.Now()
				if !done.Before(warmEnd) && !done.After(end) {
					rec = append(rec, s)
				}
			}
			per[i] = rec
		}()
	}
	res := runResult{started: start}
	sleepUntil(ctx, warmEnd)
	res.cpuStart = probe.snapshot()
	sleepUntil(ctx, end)
	res.cpuEnd = probe.snapshot()
	wg.Wait()
	res.window = res.cpuEnd.at.Sub(res.cpuStart.at)
	for _, r := range per {
		res.samples = append(res.samples, r...)
	}
	return res, ctx.Err()
}

func sleepUntil(ctx context.Context, t time.Time) {
	select {
	case <-ctx.Done():
	case <-time.After(time.Until(t)):
	}
}
