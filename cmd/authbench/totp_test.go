package main

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"
)

// The pool never hands out a user twice within a TOTP step, nor a user in
// use by another client; when every user's step is spent it waits for the
// next step (and counts the wait).
func TestTOTPPool_OneCodePerUserPerStep(t *testing.T) {
	now := time.Unix(1_800_000_000-1_800_000_000%30, 0) // the start of a step
	var mu sync.Mutex
	p := newTOTPPool(2, 3)
	p.now = func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	ctx := context.Background()
	step := totpStep(now)
	seen := map[string]bool{}
	for range 3 {
		i, u, err := p.take(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if seen[u.email] {
			t.Fatalf("%s handed out twice in one step", u.email)
		}
		seen[u.email] = true
		p.give(i, step)
	}
	if len(seen) != 3 || !seen["f0@t0.bench"] || !seen["f0@t1.bench"] || !seen["f1@t0.bench"] {
		t.Fatalf("users %v", seen)
	}
	// Every user spent this step: the next take waits for the next one.
	ctx2, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if _, _, err := p.take(ctx2); err == nil {
		t.Fatal("took a user whose code of this step is spent")
	}
	if p.waits.Load() != 1 {
		t.Fatalf("waits %d, want 1", p.waits.Load())
	}
	mu.Lock()
	now = now.Add(30 * time.Second)
	mu.Unlock()
	i, _, err := p.take(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// A user in use is not handed to another client, even in a new step.
	for range 2 {
		j, _, err := p.take(ctx)
		if err != nil || j == i {
			t.Fatalf("take = %d, %v while %d is in use", j, err, i)
		}
	}
}

func TestTOTPSecret_Base32Of160Bits(t *testing.T) {
	s := totpSecret(3, 7)
	if len(s) != 32 || strings.Trim(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567") != "" || s == totpSecret(7, 3) {
		t.Fatalf("secret %q", s)
	}
}

// login-totp's steps are summarised beside the whole sign-in, and the
// summary divides its figures by login's.
func TestTOTPSummary_AgainstLoginOfTheSameRun(t *testing.T) {
	ms := time.Millisecond
	var samples []sample
	for range 10 {
		samples = append(samples, sample{op: opTOTPSignIn, dur: 300 * ms, status: 200, parts: []sample{
			{op: opTOTPPassword, dur: 200 * ms, status: 202}, {op: opTOTPVerify, dur: 100 * ms, status: 200}}})
	}
	ops := byOp(samples, time.Second)
	if ops[opTOTPPassword].Requests != 10 || ops[opTOTPVerify].Latency.P50 != 100 || ops[opTOTPSignIn].Requests != 10 {
		t.Fatalf("ops %+v", ops)
	}
	mfa := Result{Scenario: "login-totp", Duration: 1, OpSummary: summarize(samples, time.Second), Ops: ops,
		CPU: CPU{ServerMsPerReq: 30, PostgresMsPerReq: 4, PGXactsPerReq: 6, ServerWritesPerReq: 16}}
	plain := Result{Scenario: "login", Duration: 1, OpSummary: OpSummary{Requests: 20, OK: 20, Latency: Latency{P50: 150, P99: 200}},
		CPU: CPU{ServerMsPerReq: 28, PostgresMsPerReq: 2, PGXactsPerReq: 3, ServerWritesPerReq: 8}}
	if got := totpSummary([]Result{mfa}, nil); !strings.Contains(got, "-scenario login,login-totp") {
		t.Fatalf("without login: %q", got)
	}
	got := totpSummary([]Result{plain, mfa}, nil)
	for _, want := range []string{
		"| completed sign-ins/s | 20.0 | 10.0 | 0.50× |",
		"| p50 ms | 150.00 | 300.00 | 2.00× |",
		"| HTTP requests | 1 | 2 | 2.00× |",
		"| PG transactions (pg_stat_database, ≈) | 3.00 | 6.00 | 2.00× |",
		"| server write syscalls (≈ PG round trips + HTTP answers) | 8.00 | 16.00 | 2.00× |",
		"| ≈ PG round trips (those writes − HTTP answers) | 7.00 | 14.00 | 2.00× |",
		"password (202) p50 200.00 ms",
		"mfa/verify (200) p50 100.00 ms",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("summary lacks %q:\n%s", want, got)
		}
	}
}
