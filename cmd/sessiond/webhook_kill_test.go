package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/sessiond/sessiond/adapters/postgres/pgtest"
)

// TestHelperProcessServe is not a test: run as a child process by the
// tests below (SESSIOND_TEST_SERVE=1), it is `sessiond serve` with the
// environment they give it, until it is killed.
func TestHelperProcessServe(t *testing.T) {
	if os.Getenv("SESSIOND_TEST_SERVE") != "1" {
		t.Skip("helper process")
	}
	if err := run([]string{"serve"}); err != nil {
		t.Fatal(err)
	}
	os.Exit(0)
}

// startServer starts `sessiond serve` as a real process of its own.
func startServer(t *testing.T, env map[string]string) (*exec.Cmd, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcessServe$", "-test.count=1")
	// METRICS_ADDR off: the default metrics listener (127.0.0.1:9090) is one
	// port for the whole machine, and another server may hold it.
	cmd.Env = append(os.Environ(), "SESSIOND_TEST_SERVE=1", "HTTP_ADDR="+addr, "METRICS_ADDR=off")
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("server %s log:\n%s", addr, logs.String())
		}
	})
	waitFor(t, "the server to listen", func() bool {
		res, err := http.Get("http://" + addr + "/readyz")
		if err == nil {
			_ = res.Body.Close()
		}
		return err == nil && res.StatusCode == http.StatusOK
	})
	return cmd, "http://" + addr
}

// At least once across a crash: an event committed, its delivery in flight
// (the receiver holds the request), the server process killed (SIGKILL: no
// shutdown, nothing recorded); a second process takes the account over
// once the lease ran out and delivers the event, with the same webhook-id,
// verified with the standardwebhooks package.
func TestWebhooks_WHK03_ServerKilledBetweenCommitAndDelivery_EventStillArrives(t *testing.T) {
	db := pgtest.Fresh(t)
	var mu sync.Mutex
	var wh *standardwebhooks.Webhook
	inflight := make(chan string, 1)
	hold := make(chan struct{})
	var delivered []string
	first := true
	recv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		if first {
			first = false
			mu.Unlock()
			inflight <- r.Header.Get("webhook-id")
			select { // never answered: the process dies meanwhile
			case <-hold:
			case <-r.Context().Done():
			}
			return
		}
		v := wh
		mu.Unlock()
		if v == nil || v.Verify(body, r.Header) != nil {
			t.Errorf("delivery does not verify")
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		mu.Lock()
		delivered = append(delivered, r.Header.Get("webhook-id"))
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(recv.Close)
	t.Cleanup(func() { close(hold) }) // runs before recv.Close
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: recv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{
		"DATABASE_URL": db.AppURL, "DEV_MODE": "true", "LOG_LEVEL": "warn",
		"SIGNING_KEYS_FILE":   filepath.Join(t.TempDir(), "jwks.private.json"),
		"WEBHOOK_SECRETS_KEY": base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32)),
		"CLEANUP_INTERVAL":    "0", "RATE_LIMIT_ENABLED": "false", "WEBHOOK_ALLOW_PRIVATE_TARGETS": "true",
		"EMAIL_VERIFICATION": "off",
		"WEBHOOK_CA_FILE":    caFile, "WEBHOOK_LEASE": "2s", "WEBHOOK_TIMEOUT": "500ms", "WEBHOOK_POLL_INTERVAL": "50ms",
	}
	procA, base := startServer(t, env)

	client := &http.Client{Timeout: 10 * time.Second}
	call := func(base, method, path, bearer string, body any) (int, []byte) {
		b, _ := json.Marshal(body)
		r, _ := http.NewRequest(method, base+"/api/v1"+path, bytes.NewReader(b))
		r.Header.Set("Content-Type", "application/json")
		if bearer != "" {
			r.Header.Set("Authorization", "Bearer "+bearer)
		}
		res, err := client.Do(r)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		defer res.Body.Close()
		out, _ := io.ReadAll(res.Body)
		return res.StatusCode, out
	}
	email, pw := "kill@example.com", "correct horse battery"
	if code, body := call(base, "POST", "/auth/register", "", map[string]string{"email": email, "password": pw, "name": "K", "account_name": "K"}); code != 201 {
		t.Fatalf("register: %d %s", code, body)
	}
	code, body := call(base, "POST", "/auth/login/json", "", map[string]string{"email": email, "password": pw})
	if code != 200 {
		t.Fatalf("login: %d %s", code, body)
	}
	var tk struct {
		AccessToken string `json:"access_token"`
	}
	_ = json.Unmarshal(body, &tk)
	code, body = call(base, "POST", "/accounts/me/webhooks", tk.AccessToken, map[string]any{
		"url": recv.URL + "/hook", "event_types": []string{"auth.login_failed"}})
	if code != 201 {
		t.Fatalf("create endpoint: %d %s", code, body)
	}
	var ep struct {
		Secret string `json:"secret"`
	}
	_ = json.Unmarshal(body, &ep)
	v, err := standardwebhooks.NewWebhook(ep.Secret)
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	wh = v
	mu.Unlock()

	// The event: a failed sign-in, committed when the answer comes back.
	if code, _ := call(base, "POST", "/auth/login/json", "", map[string]string{"email": email, "password": "wrong password!"}); code != 401 {
		t.Fatalf("failed sign-in: %d", code)
	}
	var id string
	select {
	case id = <-inflight:
	case <-time.After(30 * time.Second):
		t.Fatal("no delivery started")
	}
	if err := procA.Process.Kill(); err != nil { // SIGKILL: nothing runs after this
		t.Fatal(err)
	}
	_ = procA.Wait()

	startServer(t, env)
	waitFor(t, "the event to arrive through the second process", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(delivered) > 0
	})
	mu.Lock()
	defer mu.Unlock()
	if len(delivered) != 1 || delivered[0] != id {
		t.Fatalf("delivered %v, want exactly the in-flight event %s", delivered, id)
	}
}
