package main

// The oracle scenario: does a request's latency tell whether an email has
// an account (LGN-10, docs/security-checklist.md)? One client sends
// interleaved pairs — a known email and an unknown one, alternating which
// goes first — of a failed sign-in (wrong password) and of a password-reset
// request, one request at a time, and compares the medians. Every known
// email is used once per kind (a seeded user, from a random offset), so
// that no brute-force counter or mail interval of one request bears on the
// next; every unknown email is fresh. It reports, it does not judge: the
// target is a gap under 5 % of the median (bench/README.md).

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"time"
)

// OraclePair is one kind of request measured for known and unknown emails.
type OraclePair struct {
	Kind         string  `json:"kind"`
	Pairs        int     `json:"pairs"`
	KnownP50     float64 `json:"known_p50_ms"`
	UnknownP50   float64 `json:"unknown_p50_ms"`
	KnownP90     float64 `json:"known_p90_ms"`
	UnknownP90   float64 `json:"unknown_p90_ms"`
	GapMs        float64 `json:"gap_ms"`          // known − unknown median
	GapPct       float64 `json:"gap_pct"`         // |gap| as a percentage of the smaller median
	KnownSlower  int     `json:"known_slower_in"` // pairs where the known email's request took longer
	Statuses     string  `json:"statuses"`        // what the requests were answered, known / unknown
	Interleaving string  `json:"interleaving"`
}

// OracleResult is the scenario's output (its JSON file).
type OracleResult struct {
	Scenario  string       `json:"scenario"`
	StartedAt time.Time    `json:"started_at"`
	Kinds     []OraclePair `json:"kinds"`
	Machine   Machine      `json:"machine"`
}

// oracleKind is one request kind: its known/unknown requests and the
// answer both must get.
type oracleKind struct {
	name   string
	status int
	send   func(ctx context.Context, email string) call
}

func oracleKinds(a *api) []oracleKind {
	return []oracleKind{
		{"sign-in failure (wrong password)", http.StatusUnauthorized, func(ctx context.Context, email string) call {
			return a.do(ctx, http.MethodPost, "/auth/login/json", "", jsonBody(map[string]string{"email": email, "password": "not-the-password-1"}))
		}},
		{"password-reset request", http.StatusOK, func(ctx context.Context, email string) call {
			return a.do(ctx, http.MethodPost, "/auth/password-reset/request", "", jsonBody(map[string]string{"email": email}))
		}},
	}
}

// runOracle measures pairs interleaved pairs of each kind, after warm
// unrecorded ones (which prepare the statements on the pool's connections).
func runOracle(ctx context.Context, a *api, pop population, pairs, warm int) ([]OraclePair, error) {
	total := pop.tenants * pop.users
	kinds := oracleKinds(a)
	need := len(kinds) * (pairs + warm)
	if total < need {
		return nil, fmt.Errorf("oracle: %d pairs need %d seeded users, there are %d (raise -users or -tenants)", pairs, need, total)
	}
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 42))
	next := rng.IntN(total) // a random offset: another run uses other users
	known := func() string {
		i := next % total
		next++
		return seededEmail(i%pop.tenants, i/pop.tenants)
	}
	run := fmt.Sprintf("%06x", rng.Uint32()&0xffffff)
	n := 0
	unknown := func() string {
		n++
		// The same shape as a seeded address: u<user>@t<tenant>.bench.
		return fmt.Sprintf("u%d%s@t%d.bench", pop.users+n, run, n%pop.tenants)
	}
	var out []OraclePair
	for _, k := range kinds {
		var kd, ud []time.Duration
		slower := 0
		statuses := map[string]int{}
		for i := range warm + pairs {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			ke, ue := known(), unknown()
			var kc, uc call
			if i%2 == 0 {
				kc, uc = k.send(ctx, ke), k.send(ctx, ue)
			} else {
				uc, kc = k.send(ctx, ue), k.send(ctx, ke)
			}
			if i < warm {
				continue
			}
			statuses[fmt.Sprintf("%d/%d", kc.status, uc.status)]++
			kd, ud = append(kd, kc.dur), append(ud, uc.dur)
			if kc.dur > uc.dur {
				slower++
			}
		}
		p := summarizeOracle(k.name, kd, ud, slower)
		p.Statuses = statusesCell(statuses)
		if statuses[fmt.Sprintf("%d/%d", k.status, k.status)] != pairs {
			return nil, fmt.Errorf("oracle: %s answered %s, want %d for both every time", k.name, p.Statuses, k.status)
		}
		out = append(out, p)
	}
	return out, nil
}

// summarizeOracle compares the two samples (sorting them in place).
func summarizeOracle(kind string, known, unknown []time.Duration, knownSlower int) OraclePair {
	slices.Sort(known)
	slices.Sort(unknown)
	kp, up := percentile(known, 50), percentile(unknown, 50)
	p := OraclePair{
		Kind: kind, Pairs: len(known), KnownSlower: knownSlower, Interleaving: "alternating order, one request at a time",
		KnownP50: ms(kp), UnknownP50: ms(up), KnownP90: ms(percentile(known, 90)), UnknownP90: ms(percentile(unknown, 90)),
		GapMs: ms(kp - up),
	}
	if base := min(kp, up); base > 0 {
		gap := kp - up
		if gap < 0 {
			gap = -gap
		}
		p.GapPct = roundTo(100*float64(gap)/float64(base), 1)
	}
	return p
}

func statusesCell(m map[string]int) string {
	var parts []string
	for k, v := range m {
		parts = append(parts, fmt.Sprintf("%s×%d", k, v))
	}
	slices.Sort(parts)
	return strings.Join(parts, " ")
}

// oracleTable prints the comparison.
func oracleTable(ps []OraclePair) string {
	var b strings.Builder
	b.WriteString("\nOracle: known vs unknown email, interleaved pairs, one request at a time (target: gap < 5 % of the median)\n\n")
	b.WriteString("| request | pairs | known p50 | unknown p50 | gap | gap % | known slower in | known p90 | unknown p90 |\n")
	b.WriteString("|---|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, p := range ps {
		fmt.Fprintf(&b, "| %s | %d | %.2f ms | %.2f ms | %+.3f ms | %.1f %% | %d/%d | %.2f ms | %.2f ms |\n",
			p.Kind, p.Pairs, p.KnownP50, p.UnknownP50, p.GapMs, p.GapPct, p.KnownSlower, p.Pairs, p.KnownP90, p.UnknownP90)
	}
	return b.String()
}
