package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"slices"
	"sort"
	"strings"
	"time"
)

// sample is one recorded request.
type sample struct {
	op      string        // "refresh", "me", "login"
	dur     time.Duration // send to full body read
	status  int           // HTTP status, 0 for a transport error
	code    string        // problem "code" of an error answer, or a transport error kind
	outcome string        // optional scenario-specific label ("rotated", "converged")
	// parts are the requests of a sample that spans several (login-totp's
	// two steps), recorded with it and summarised per op beside it.
	parts []sample
}

// ok reports whether the request succeeded (2xx).
func (s sample) ok() bool { return s.status >= 200 && s.status < 300 }

// errorKey names an error as "STATUS code", e.g. "401 refresh_token_reused".
func (s sample) errorKey() string {
	code := s.code
	if code == "" {
		code = "-"
	}
	return fmt.Sprintf("%d %s", s.status, code)
}

// Latency holds exact percentiles of the recorded durations, in milliseconds.
type Latency struct {
	P50 float64 `json:"p50_ms"`
	P90 float64 `json:"p90_ms"`
	P99 float64 `json:"p99_ms"`
	Max float64 `json:"max_ms"`
}

// percentile returns the nearest-rank p-th percentile (0 < p <= 100) of
// sorted, which must be sorted ascending; 0 for an empty slice.
func percentile(sorted []time.Duration, p float64) time.Duration {
	n := len(sorted)
	if n == 0 {
		return 0
	}
	rank := int(math.Ceil(p / 100 * float64(n)))
	rank = min(max(rank, 1), n)
	return sorted[rank-1]
}

func ms(d time.Duration) float64 { return math.Round(float64(d)/1e3) / 1e3 }

// latencyOf computes the percentiles of durs (sorting it in place).
func latencyOf(durs []time.Duration) Latency {
	slices.Sort(durs)
	return Latency{
		P50: ms(percentile(durs, 50)),
		P90: ms(percentile(durs, 90)),
		P99: ms(percentile(durs, 99)),
		Max: ms(percentile(durs, 100)),
	}
}

// CPU is CPU time spent per recorded request, in milliseconds, by each
// party; a negative value means "not measured".
type CPU struct {
	ServerMsPerReq   float64 `json:"server_ms_per_req"`
	PostgresMsPerReq float64 `json:"postgres_ms_per_req"`
	ClientMsPerReq   float64 `json:"loadgen_ms_per_req"`
	ServerCores      float64 `json:"server_cores"`
	PostgresCores    float64 `json:"postgres_cores"`
	// Approximate (dbprobe.go): PostgreSQL transactions (pg_stat_database)
	// and the server's write system calls per recorded request.
	PGXactsPerReq      float64 `json:"pg_xacts_per_req"`
	ServerWritesPerReq float64 `json:"server_write_syscalls_per_req"`
}

// OpSummary is the summary of one kind of request within a scenario.
type OpSummary struct {
	Requests int            `json:"requests"`
	OK       int            `json:"ok"`
	RPS      float64        `json:"requests_per_s"`
	Latency  Latency        `json:"latency"`
	Errors   map[string]int `json:"errors"`
	Outcomes map[string]int `json:"outcomes,omitempty"`
}

// Result is one scenario's figures, as printed and as written to JSON.
type Result struct {
	Scenario    string               `json:"scenario"`
	StartedAt   time.Time            `json:"started_at"`
	Concurrency int                  `json:"concurrency"`
	Duration    float64              `json:"duration_s"`
	Warmup      float64              `json:"warmup_s"`
	Sessions    int                  `json:"background_sessions"`
	Tenants     int                  `json:"tenants"`
	Users       int                  `json:"users_per_tenant"`
	OpSummary                        // all requests together
	CPU         CPU                  `json:"cpu"`
	Ops         map[string]OpSummary `json:"ops,omitempty"` // per kind, when a scenario mixes kinds
	Floor       *FloorRatio          `json:"floor,omitempty"`
	Floors      *Floors              `json:"floors,omitempty"`
	Audit       *AuditInfo           `json:"audit,omitempty"` // the audit scenario's data and plans
	Machine     Machine              `json:"machine"`
}

// FloorRatio relates a scenario's rate to the floor measured in the same run.
type FloorRatio struct {
	Name  string  `json:"name"`
	Rate  float64 `json:"floor_per_s"`
	Ratio float64 `json:"ratio"`
}

// Machine describes where the figures were taken.
type Machine struct {
	Cores    int    `json:"cores"`
	GoOS     string `json:"goos"`
	Hostname string `json:"hostname"`
	Fsync    string `json:"postgres_fsync"`
	PGVer    string `json:"postgres_version"`
}

// summarize computes an OpSummary over samples recorded during window.
func summarize(samples []sample, window time.Duration) OpSummary {
	s := OpSummary{Requests: len(samples), Errors: map[string]int{}}
	durs := make([]time.Duration, 0, len(samples))
	for _, x := range samples {
		durs = append(durs, x.dur)
		if x.ok() {
			s.OK++
		} else {
			s.Errors[x.errorKey()]++
		}
		if x.outcome != "" {
			if s.Outcomes == nil {
				s.Outcomes = map[string]int{}
			}
			s.Outcomes[x.outcome]++
		}
	}
	if window > 0 {
		s.RPS = math.Round(float64(len(samples))/window.Seconds()*10) / 10
	}
	s.Latency = latencyOf(durs)
	return s
}

// byOp splits samples (and their parts) by op; nil when there is only one
// kind.
func byOp(samples []sample, window time.Duration) map[string]OpSummary {
	groups := map[string][]sample{}
	for _, x := range samples {
		groups[x.op] = append(groups[x.op], x)
		for _, p := range x.parts {
			groups[p.op] = append(groups[p.op], p)
		}
	}
	if len(groups) < 2 {
		return nil
	}
	out := map[string]OpSummary{}
	for op, g := range groups {
		out[op] = summarize(g, window)
	}
	return out
}

// writeJSON writes r as indented JSON.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// tableHeader is the header of the printed table.
const tableHeader = "| scenario | c | req/s | p50 ms | p90 ms | p99 ms | max ms | errors | server CPU ms/req | PG CPU ms/req | vs floor |\n" +
	"|---|---:|---:|---:|---:|---:|---:|---|---:|---:|---|\n"

// tableRow renders one Markdown table row for r (and one per op of a mixed
// scenario).
func tableRow(r Result) string {
	var b strings.Builder
	floor := "-"
	if r.Floor != nil {
		floor = fmt.Sprintf("%.0f%% of %s (%.0f/s)", r.Floor.Ratio*100, r.Floor.Name, r.Floor.Rate)
	}
	fmt.Fprintf(&b, "| %s | %d | %.0f | %.2f | %.2f | %.2f | %.2f | %s | %s | %s | %s |\n",
		r.Scenario, r.Concurrency, r.RPS, r.Latency.P50, r.Latency.P90, r.Latency.P99, r.Latency.Max,
		errorsCell(r.Errors), cpuCell(r.CPU.ServerMsPerReq), cpuCell(r.CPU.PostgresMsPerReq), floor)
	ops := make([]string, 0, len(r.Ops))
	for op := range r.Ops {
		ops = append(ops, op)
	}
	sort.Strings(ops)
	for _, op := range ops {
		o := r.Ops[op]
		fmt.Fprintf(&b, "| ↳ %s | | %.0f | %.2f | %.2f | %.2f | %.2f | %s | | | |\n",
			op, o.RPS, o.Latency.P50, o.Latency.P90, o.Latency.P99, o.Latency.Max, errorsCell(o.Errors))
	}
	return b.String()
}

func cpuCell(v float64) string {
	if v < 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.3f", v)
}

// errorsCell renders errors as "none" or "401 code: n, ..." sorted by count.
func errorsCell(errs map[string]int) string {
	if len(errs) == 0 {
		return "none"
	}
	keys := make([]string, 0, len(errs))
	for k := range errs {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if errs[keys[i]] != errs[keys[j]] {
			return errs[keys[i]] > errs[keys[j]]
		}
		return keys[i] < keys[j]
	})
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s: %d", k, errs[k]))
	}
	return strings.Join(parts, ", ")
}

// outcomesLine renders a scenario's outcome counts (refresh-contended: how
// many answers advanced the chain, converged in the grace window, or had to
// start a new chain after reuse detection); "" when there are none.
func outcomesLine(r Result) string {
	if len(r.Outcomes) == 0 {
		return ""
	}
	keys := make([]string, 0, len(r.Outcomes))
	for k := range r.Outcomes {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s %d", k, r.Outcomes[k]))
	}
	return r.Scenario + " outcomes: " + strings.Join(parts, ", ")
}

// floodSummary relates flood to flood-solo of the same run: per reader
// kind (refresh, me) the p99 and throughput ratios, and for sign-ins the
// completed rate (against the argon2id floor when measured), the shed
// count and how fast a shed answer came (p99, max). "" without both runs.
func floodSummary(results []Result, floors *Floors) string {
	var solo, flood *Result
	for i := range results {
		switch results[i].Scenario {
		case "flood-solo":
			solo = &results[i]
		case "flood":
			flood = &results[i]
		}
	}
	if solo == nil || flood == nil {
		return ""
	}
	var b strings.Builder
	b.WriteString("flood vs flood-solo (same run)\n\n| kind | solo req/s | flood req/s | throughput ratio | solo p99 ms | flood p99 ms | p99 ratio |\n|---|---:|---:|---:|---:|---:|---:|\n")
	for _, op := range []string{"refresh", "me"} {
		so, fo := solo.Ops[op], flood.Ops[op]
		fmt.Fprintf(&b, "| %s | %.0f | %.0f | %s | %.2f | %.2f | %s |\n", op, so.RPS, fo.RPS,
			ratioCell(fo.RPS, so.RPS), so.Latency.P99, fo.Latency.P99, ratioCell(fo.Latency.P99, so.Latency.P99))
	}
	login, shed := flood.Ops["login"], flood.Ops["login_shed"]
	floor := ""
	if floors != nil && floors.LoginFloorPerS > 0 {
		floor = fmt.Sprintf(" = %.0f%% of the argon2id floor (%.1f/s)", 100*float64(login.OK)/flood.Duration/floors.LoginFloorPerS, floors.LoginFloorPerS)
	}
	fmt.Fprintf(&b, "\nsign-ins: %d completed (%.1f/s%s), p50 %.2f ms, p99 %.2f ms; other errors: %s\n",
		login.OK, float64(login.OK)/max(flood.Duration, 1e-9), floor, login.Latency.P50, login.Latency.P99, errorsCell(login.Errors))
	fmt.Fprintf(&b, "shed (503 + Retry-After): %d (%.1f/s), answered in p50 %.2f ms, p99 %.2f ms, max %.2f ms\n",
		shed.Requests, shed.RPS, shed.Latency.P50, shed.Latency.P99, shed.Latency.Max)
	fmt.Fprintf(&b, "CPU per request (all kinds): server %s ms, PostgreSQL %s ms (flood-solo: %s, %s)\n",
		cpuCell(flood.CPU.ServerMsPerReq), cpuCell(flood.CPU.PostgresMsPerReq), cpuCell(solo.CPU.ServerMsPerReq), cpuCell(solo.CPU.PostgresMsPerReq))
	return b.String()
}

func ratioCell(a, b float64) string {
	if b <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f×", a/b)
}
