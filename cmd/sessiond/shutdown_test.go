package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sessiond/sessiond/adapters/postgres/pgtest"
)

// SIGTERM during a slow request: the server stops accepting connections at
// once, lets the request finish (here: a password change waiting on a row
// lock the test holds, released only after the signal), and then returns
// cleanly. The real signal, delivered to this process, through run().
func TestServe_SIGTERMDuringSlowRequest_LetsItFinish(t *testing.T) {
	db := pgtest.Fresh(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	mln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	metricsAddr := mln.Addr().String()
	_ = mln.Close()
	for k, v := range map[string]string{
		"DATABASE_URL": db.AppURL, "HTTP_ADDR": addr, "DEV_MODE": "true", "EMAIL_VERIFICATION": "off",
		"SIGNING_KEYS_FILE": filepath.Join(t.TempDir(), "jwks.private.json"),
		"CLEANUP_INTERVAL":  "0", "LOG_LEVEL": "error", "SHUTDOWN_TIMEOUT": "60s",
		"DB_STATEMENT_TIMEOUT": "60s", "RATE_LIMIT_ENABLED": "false", "METRICS_ADDR": metricsAddr,
	} {
		t.Setenv(k, v)
	}
	done := make(chan error, 1)
	go func() { done <- run([]string{"serve"}) }()

	base := "http://" + addr
	client := &http.Client{Timeout: 60 * time.Second}
	waitFor(t, "the server to listen", func() bool {
		res, err := client.Get(base + "/healthz")
		if err == nil {
			_ = res.Body.Close()
		}
		return err == nil && res.StatusCode == http.StatusOK
	})
	// METRICS_ADDR: the metrics (pool statistics included, as wired in
	// production) on their own listener, not on the API's.
	get := func(url string) (int, string) {
		res, err := client.Get(url)
		if err != nil {
			t.Fatalf("GET %s: %v", url, err)
		}
		defer res.Body.Close()
		var b bytes.Buffer
		_, _ = b.ReadFrom(res.Body)
		return res.StatusCode, b.String()
	}
	if code, text := get("http://" + metricsAddr + "/metrics"); code != http.StatusOK || !strings.Contains(text, "sessiond_db_pool_total_conns") {
		t.Fatalf("metrics listener: %d, pool statistics present: %v", code, strings.Contains(text, "sessiond_db_pool_total_conns"))
	}
	if code, _ := get(base + "/metrics"); code != http.StatusNotFound {
		t.Fatalf("/metrics on the API listener with METRICS_ADDR set: %d, want 404", code)
	}
	post := func(path, bearer string, body any) (*http.Response, []byte) {
		b, _ := json.Marshal(body)
		r, _ := http.NewRequest(http.MethodPost, base+"/api/v1"+path, bytes.NewReader(b))
		r.Header.Set("Content-Type", "application/json")
		if bearer != "" {
			r.Header.Set("Authorization", "Bearer "+bearer)
		}
		res, err := client.Do(r)
		if err != nil {
			t.Errorf("POST %s: %v", path, err)
			return nil, nil
		}
		defer res.Body.Close()
		var out bytes.Buffer
		_, _ = out.ReadFrom(res.Body)
		return res, out.Bytes()
	}
	email, pw := "sigterm@example.com", "correct horse battery"
	if res, body := post("/auth/register", "", map[string]string{"email": email, "password": pw, "name": "S", "account_name": "S Inc"}); res == nil || res.StatusCode != http.StatusCreated {
		t.Fatalf("register: %v %s", res, body)
	}
	res, body := post("/auth/login/json", "", map[string]string{"email": email, "password": pw})
	if res == nil || res.StatusCode != http.StatusOK {
		t.Fatalf("login: %v %s", res, body)
	}
	var tk struct {
		AccessToken string `json:"access_token"`
	}
	_ = json.Unmarshal(body, &tk)

	ctx := context.Background()
	admin := db.Admin(t)
	tx, err := admin.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	// The lock pins the tenant (a row lock Citus can route to one shard).
	var account string
	if err := tx.QueryRow(ctx, "SELECT account_id::text FROM user_emails WHERE email = $1", email).Scan(&account); err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, "SELECT 1 FROM users WHERE account_id = $1 AND email = $2 FOR UPDATE", account, email); err != nil {
		t.Fatal(err)
	}
	slow := make(chan int, 1)
	go func() {
		res, body := post("/auth/change-password", tk.AccessToken, map[string]string{"current_password": pw, "new_password": "a brand new password"})
		if res == nil {
			slow <- 0
			return
		}
		if res.StatusCode != http.StatusNoContent {
			t.Errorf("change-password: %d %s", res.StatusCode, body)
		}
		slow <- res.StatusCode
	}()
	watcher, err := pgx.Connect(ctx, db.AdminURL)
	if err != nil {
		t.Fatal(err)
	}
	defer watcher.Close(ctx)
	waitFor(t, "the request to wait on the row lock", func() bool {
		n, err := pgtest.LockWaiters(ctx, watcher, "", "sessiond") // on Citus: on a worker
		return err == nil && n == 1
	})

	if err := syscall.Kill(syscall.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the listener to close", func() bool {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			_ = c.Close()
		}
		return err != nil
	})
	select {
	case code := <-slow:
		t.Fatalf("the slow request ended (%d) before its lock was released", code)
	case err := <-done:
		t.Fatalf("serve returned (%v) with a request in flight", err)
	default:
	}
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	if code := <-slow; code != http.StatusNoContent {
		t.Fatalf("the in-flight request answered %d, want 204", code)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not return after its last request finished")
	}
}

// waitFor polls a condition (not a duration): the test waits for a state.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal(fmt.Sprintf("timed out waiting for %s", what))
		}
		time.Sleep(20 * time.Millisecond)
	}
}
