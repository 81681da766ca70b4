package main

import (
	"strings"
	"testing"
)

// flood is read against flood-solo of the same run: the summary divides
// the readers' figures, rates the completed sign-ins against the argon2id
// floor and reports the shed answers apart.
func TestFloodSummary_RatiosAgainstSoloOfTheSameRun(t *testing.T) {
	op := func(rps, p99 float64, n int) OpSummary {
		return OpSummary{Requests: n, OK: n, RPS: rps, Latency: Latency{P50: p99 / 2, P99: p99, Max: p99 * 2}}
	}
	solo := Result{Scenario: "flood-solo", Duration: 10, Ops: map[string]OpSummary{"refresh": op(1000, 20, 10000), "me": op(2000, 10, 20000)}}
	flood := Result{Scenario: "flood", Duration: 10, Ops: map[string]OpSummary{
		"refresh": op(500, 50, 5000), "me": op(1500, 30, 15000), "login": op(20, 400, 200),
		"login_shed": {Requests: 3000, RPS: 300, Latency: Latency{P50: 1, P99: 8, Max: 20}},
	}}
	if got := floodSummary([]Result{flood}, nil); got != "" {
		t.Fatalf("without flood-solo: %q, want nothing", got)
	}
	got := floodSummary([]Result{solo, flood}, &Floors{LoginFloorPerS: 40})
	for _, want := range []string{
		"| refresh | 1000 | 500 | 0.50× | 20.00 | 50.00 | 2.50× |",
		"| me | 2000 | 1500 | 0.75× | 10.00 | 30.00 | 3.00× |",
		"200 completed (20.0/s = 50% of the argon2id floor (40.0/s))",
		"shed (503 + Retry-After): 3000 (300.0/s), answered in p50 1.00 ms, p99 8.00 ms, max 20.00 ms",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("summary lacks %q:\n%s", want, got)
		}
	}
}
