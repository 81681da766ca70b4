package main

import (
	"bytes"
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

func durs(ms ...int) []time.Duration {
	out := make([]time.Duration, len(ms))
	for i, m := range ms {
		out[i] = time.Duration(m) * time.Millisecond
	}
	return out
}

func TestPercentileNearestRank(t *testing.T) {
	one2hundred := make([]int, 100)
	for i := range one2hundred {
		one2hundred[i] = i + 1
	}
	cases := []struct {
		in   []time.Duration
		p    float64
		want time.Duration
	}{
		{nil, 50, 0},
		{durs(7), 50, 7 * time.Millisecond},
		{durs(7), 100, 7 * time.Millisecond},
		{durs(1, 2, 3, 4), 50, 2 * time.Millisecond},
		{durs(1, 2, 3, 4), 51, 3 * time.Millisecond},
		{durs(1, 2, 3, 4), 100, 4 * time.Millisecond},
		{durs(one2hundred...), 90, 90 * time.Millisecond},
		{durs(one2hundred...), 99, 99 * time.Millisecond},
		{durs(one2hundred...), 99.5, 100 * time.Millisecond},
		{durs(one2hundred...), 0.1, 1 * time.Millisecond},
	}
	for _, c := range cases {
		if got := percentile(c.in, c.p); got != c.want {
			t.Errorf("percentile(%d values, %v) = %v, want %v", len(c.in), c.p, got, c.want)
		}
	}
}

func TestLatencyOfSortsAndRounds(t *testing.T) {
	d := durs(30, 10, 20)
	d = append(d, 1500*time.Microsecond+400*time.Nanosecond)
	l := latencyOf(d)
	want := Latency{P50: 10, P90: 30, P99: 30, Max: 30}
	if l != want {
		t.Fatalf("latencyOf = %+v, want %+v", l, want)
	}
	if !slices.IsSorted(d) {
		t.Fatal("latencyOf did not sort its input")
	}
	if got := latencyOf(durs()); got != (Latency{}) {
		t.Fatalf("empty: %+v", got)
	}
	if got := ms(1500*time.Microsecond + 400*time.Nanosecond); got != 1.5 {
		t.Fatalf("ms() = %v, want 1.5 (microsecond precision)", got)
	}
}

func TestSummarizeCountsErrorsByStatusAndCode(t *testing.T) {
	s := []sample{
		{op: "refresh", dur: time.Millisecond, status: 200, outcome: "advanced"},
		{op: "refresh", dur: 2 * time.Millisecond, status: 200, outcome: "converged"},
		{op: "refresh", dur: 3 * time.Millisecond, status: 401, code: "refresh_token_reused", outcome: "new_chain"},
		{op: "me", dur: 4 * time.Millisecond, status: 401, code: "refresh_token_reused"},
		{op: "me", dur: 5 * time.Millisecond, status: 0, code: "transport_error"},
		{op: "me", dur: 6 * time.Millisecond, status: 500},
	}
	got := summarize(s, 2*time.Second)
	if got.Requests != 6 || got.OK != 2 || got.RPS != 3 {
		t.Fatalf("requests/ok/rps = %d/%d/%v", got.Requests, got.OK, got.RPS)
	}
	wantErr := map[string]int{"401 refresh_token_reused": 2, "0 transport_error": 1, "500 -": 1}
	if !reflect.DeepEqual(got.Errors, wantErr) {
		t.Fatalf("errors = %v, want %v", got.Errors, wantErr)
	}
	wantOut := map[string]int{"advanced": 1, "converged": 1, "new_chain": 1}
	if !reflect.DeepEqual(got.Outcomes, wantOut) {
		t.Fatalf("outcomes = %v, want %v", got.Outcomes, wantOut)
	}
	ops := byOp(s, 2*time.Second)
	if len(ops) != 2 || ops["me"].Requests != 3 || ops["refresh"].OK != 2 {
		t.Fatalf("byOp = %+v", ops)
	}
	if byOp(s[:3], time.Second) != nil {
		t.Fatal("byOp of a single kind should be nil")
	}
	if got := errorsCell(got.Errors); got != "401 refresh_token_reused: 2, 0 transport_error: 1, 500 -: 1" {
		t.Fatalf("errorsCell = %q", got)
	}
	if errorsCell(nil) != "none" {
		t.Fatal("errorsCell(nil) should be none")
	}
}

// The JSON written under bench/results is read by people and scripts: its
// keys are part of the harness's interface.
func TestResultJSONShape(t *testing.T) {
	r := Result{
		Scenario: "refresh", Concurrency: 32, Duration: 20, Warmup: 2, Sessions: 10000, Tenants: 10, Users: 1000,
		OpSummary: summarize([]sample{{op: "refresh", dur: time.Millisecond, status: 200}}, time.Second),
		CPU:       CPU{ServerMsPerReq: 0.5, PostgresMsPerReq: 0.7, ClientMsPerReq: 0.1, ServerCores: 1, PostgresCores: 0.9},
		Floor:     &FloorRatio{Name: "pgbench rotate", Rate: 3800, Ratio: 0.5},
		Floors:    &Floors{Cores: 2, RotatePerS: 3800},
		Machine:   Machine{Cores: 2, Fsync: "on"},
	}
	var buf bytes.Buffer
	if err := writeJSON(&buf, r); err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(buf.Bytes(), &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"scenario", "started_at", "concurrency", "duration_s", "warmup_s", "background_sessions",
		"tenants", "users_per_tenant", "requests", "ok", "requests_per_s", "latency", "errors", "cpu", "floor", "floors", "machine"} {
		if _, ok := m[k]; !ok {
			t.Errorf("JSON lacks %q: %s", k, buf.String())
		}
	}
	lat := m["latency"].(map[string]any)
	for _, k := range []string{"p50_ms", "p90_ms", "p99_ms", "max_ms"} {
		if _, ok := lat[k]; !ok {
			t.Errorf("latency lacks %q", k)
		}
	}
	cpu := m["cpu"].(map[string]any)
	for _, k := range []string{"server_ms_per_req", "postgres_ms_per_req", "loadgen_ms_per_req"} {
		if _, ok := cpu[k]; !ok {
			t.Errorf("cpu lacks %q", k)
		}
	}
	if _, ok := m["ops"]; ok {
		t.Error("ops should be omitted for a single-kind scenario")
	}
	if m["floor"].(map[string]any)["ratio"] != 0.5 {
		t.Errorf("floor ratio: %v", m["floor"])
	}
	if e, ok := m["errors"].(map[string]any); !ok || len(e) != 0 {
		t.Errorf("errors should be an empty object, got %v", m["errors"])
	}

	row := tableRow(r)
	for _, want := range []string{"| refresh | 32 | 1 |", "| none |", "| 0.500 | 0.700 |", "50% of pgbench rotate (3800/s)"} {
		if !strings.Contains(row, want) {
			t.Errorf("table row %q lacks %q", row, want)
		}
	}
	if c := strings.Count(tableHeader, "|\n"); c != 2 {
		t.Fatalf("header has %d lines", c)
	}
	if h, rw := strings.Count(strings.SplitN(tableHeader, "\n", 2)[0], "|"), strings.Count(strings.TrimSpace(row), "|"); h != rw {
		t.Errorf("header has %d separators, row %d", h, rw)
	}
}

func TestCPUPerRequest(t *testing.T) {
	t0 := time.Unix(0, 0)
	a := cpuSnap{at: t0, server: 100, pg: 50, loadgen: 10, serverOK: true, pgOK: true, xacts: 7, writes: 40, xactsOK: true, writesOK: true}
	b := cpuSnap{at: t0.Add(2 * time.Second), server: 300, pg: 150, loadgen: 30, serverOK: true, pgOK: true, xacts: 3007, writes: 8040, xactsOK: true, writesOK: true}
	got := cpuPerRequest(a, b, 1000)
	want := CPU{ServerMsPerReq: 2, PostgresMsPerReq: 1, ClientMsPerReq: 0.2, ServerCores: 1, PostgresCores: 0.5, PGXactsPerReq: 3, ServerWritesPerReq: 8}
	if got != want {
		t.Fatalf("cpuPerRequest = %+v, want %+v", got, want)
	}
	a.xactsOK, a.writesOK = false, false
	if got := cpuPerRequest(a, b, 1000); got.PGXactsPerReq != -1 || got.ServerWritesPerReq != -1 {
		t.Fatalf("unmeasured transactions and writes should read -1: %+v", got)
	}
	b.pgOK = false
	if got := cpuPerRequest(a, b, 1000); got.PostgresMsPerReq != -1 || got.ServerMsPerReq != 2 {
		t.Fatalf("unmeasured PostgreSQL should read -1: %+v", got)
	}
	if got := cpuPerRequest(a, b, 0); got.ServerMsPerReq != -1 {
		t.Fatalf("no requests: %+v", got)
	}
}

func TestParseStat(t *testing.T) {
	// Field 2 may contain spaces and parentheses.
	line := "1234 (postgres: a) b) S 77 1234 1234 0 -1 4194560 100 0 0 0 11 22 33 44 20 0 1 0 100 0 0"
	ppid, self, children, err := parseStat(line)
	if err != nil || ppid != 77 || self != 33 || children != 77 {
		t.Fatalf("parseStat = %d %d %d %v", ppid, self, children, err)
	}
	if _, _, _, err := parseStat("garbage"); err == nil {
		t.Fatal("want an error for malformed input")
	}
}

func TestParsePgbench(t *testing.T) {
	out := `transaction type: rotate.sql
scaling factor: 1
number of transactions actually processed: 76543
number of failed transactions: 0 (0.000%)
latency average = 8.362 ms
initial connection time = 25.112 ms
tps = 3826.912345 (without initial connection time)
`
	tps, lat, err := parsePgbench(out)
	if err != nil || tps != 3826.912345 || lat != 8.362 {
		t.Fatalf("parsePgbench = %v %v %v", tps, lat, err)
	}
	if _, _, err := parsePgbench(strings.Replace(out, "failed transactions: 0", "failed transactions: 3", 1)); err == nil {
		t.Fatal("failed transactions must be an error")
	}
	if _, _, err := parsePgbench("pgbench: error"); err == nil {
		t.Fatal("missing tps must be an error")
	}
}

func TestFlagsAndMix(t *testing.T) {
	o, err := parseFlags([]string{"-scenario", "refresh, me", "-c", "4", "-pg-pids", "10,11", "-d", "3s"})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(o.scenarios, []string{"refresh", "me"}) || o.concurrency != 4 || !reflect.DeepEqual(o.pgPIDs, []int{10, 11}) || o.floorD != 3*time.Second {
		t.Fatalf("options = %+v", o)
	}
	o, err = parseFlags(nil)
	if err != nil || !reflect.DeepEqual(o.scenarios, scenarioNames) {
		t.Fatalf("default scenarios = %v, %v", o.scenarios, err)
	}
	me, login, err := parseMix("70,25,5")
	if err != nil || me != 0.7 || login != 0.05 {
		t.Fatalf("parseMix = %v %v %v", me, login, err)
	}
	for _, bad := range []string{"1,2", "a,b,c", "0,0,0", "-1,50,50"} {
		if _, _, err := parseMix(bad); err == nil {
			t.Errorf("parseMix(%q) should fail", bad)
		}
	}
	if _, err := newScenario("nope", env{}, scenarioOptions{concurrency: 1}); err == nil {
		t.Error("unknown scenario should fail")
	}
	if got := seededEmail(3, 42); got != "u42@t3.bench" {
		t.Errorf("seededEmail = %q", got)
	}
	if got := (population{tenants: 10, users: 1000}).email(23); got != "u2@t3.bench" {
		t.Errorf("email(23) = %q", got)
	}
}

func TestOutcomesLine(t *testing.T) {
	r := Result{Scenario: "refresh-contended", OpSummary: OpSummary{Outcomes: map[string]int{"converged": 5, "advanced": 2}}}
	if got := outcomesLine(r); got != "refresh-contended outcomes: advanced 2, converged 5" {
		t.Fatalf("outcomesLine = %q", got)
	}
	if outcomesLine(Result{}) != "" {
		t.Fatal("no outcomes: want empty")
	}
}
