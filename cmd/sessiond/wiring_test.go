package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"sync"
	"testing"

	"github.com/google/uuid"

	"github.com/sessiond/sessiond/adapters/jose"
	"github.com/sessiond/sessiond/adapters/postgres/pgtest"
)

// The program serve builds (initServer, from the environment, outside
// development) has every part joined as cmd/sessiond/assemble joins them
// for the HTTP tests: the server, the pool, the store and the hasher's
// admission control report into the one metrics registry, requests and
// database round trips are traced to the configured OTLP collector, and
// the webhook administration is served. A step of the wiring that a
// cmd/sessiond provider took on itself, outside the shared assembly, and
// that dropped one of these, fails here; the HTTP tests'
// TestMetrics_ExposeEverySeries_AndCountOutcomes and
// TestTrace_TraceparentInAndOut_ServerSpanWithDatabaseChildren check the
// same parts through the harness.
func TestInitServer_EveryPartReportsAsInTheHTTPTests(t *testing.T) {
	collector := &otlpCollector{}
	otlp := httptest.NewServer(collector)
	t.Cleanup(otlp.Close)

	db := pgtest.Shared(t)
	keys := filepath.Join(t.TempDir(), "jwks.private.json")
	if _, err := jose.LoadKeySet(keys, true); err != nil { // a key file, as an operator provides one
		t.Fatal(err)
	}
	secret := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32))
	for k, v := range map[string]string{
		"DATABASE_URL": db.AppURL, "DEV_MODE": "false", "SIGNING_KEYS_FILE": keys,
		"MFA_ENCRYPTION_KEY": secret, "WEBHOOK_SECRETS_KEY": secret, "WEBHOOK_DELIVERY": "false",
		"EMAIL_VERIFICATION": "off", "METRICS_ADDR": "127.0.0.1:0",
		"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_ENDPOINT": otlp.URL,
	} {
		t.Setenv(k, v)
	}
	c, err := loadConfig()
	if err != nil {
		t.Fatal(err)
	}
	prog, cleanup, err := initServer(t.Context(), c, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	cleaned := false
	t.Cleanup(func() {
		if !cleaned {
			cleanup()
		}
	})
	if prog.metrics == nil {
		t.Fatal("METRICS_ADDR set, no metrics server")
	}
	api := httptest.NewServer(prog.http.Handler)
	t.Cleanup(api.Close)

	call := func(method, path, bearer string, body any, want int) []byte {
		t.Helper()
		var in io.Reader
		if body != nil {
			b, _ := json.Marshal(body)
			in = bytes.NewReader(b)
		}
		r, _ := http.NewRequest(method, api.URL+path, in)
		r.Header.Set("Content-Type", "application/json")
		if bearer != "" {
			r.Header.Set("Authorization", "Bearer "+bearer)
		}
		res, err := api.Client().Do(r)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		defer res.Body.Close()
		out, _ := io.ReadAll(res.Body)
		if res.StatusCode != want {
			t.Fatalf("%s %s: %d %s, want %d", method, path, res.StatusCode, out, want)
		}
		return out
	}
	email, pw := "wiring-"+uuid.NewString()[:8]+"@example.com", "correct horse battery staple"
	call("POST", "/api/v1/auth/register", "", map[string]string{"email": email, "password": pw, "name": "W", "account_name": "Wiring Inc"}, http.StatusCreated)
	var tk struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal(call("POST", "/api/v1/auth/login/json", "", map[string]string{"email": email, "password": pw}, http.StatusOK), &tk); err != nil {
		t.Fatal(err)
	}
	// The webhook administration is served (without it: 503).
	call("GET", "/api/v1/accounts/me/webhooks", tk.AccessToken, nil, http.StatusOK)
	call("POST", "/api/v1/auth/logout", tk.AccessToken, nil, http.StatusNoContent)

	rec := httptest.NewRecorder()
	prog.metrics.Handler.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	text := rec.Body.String()
	for part, series := range map[string]*regexp.Regexp{
		"the server (SetObserver)":             regexp.MustCompile(`\nsessiond_http_requests_total\{code="200",operation="loginJson"\} 1\n`),
		"the pool (ObservePool)":               regexp.MustCompile(`\nsessiond_db_pool_total_conns [1-9]`),
		"the store (SetObserver)":              regexp.MustCompile(`\nsessiond_sessions_revoked_total\{reason="logout"\} 1\n`),
		"the hasher's admission (SetObserver)": regexp.MustCompile(`\nsessiond_hash_queue_wait_seconds_count [1-9]`),
	} {
		if !series.MatchString(text) {
			t.Errorf("%s does not report into the metrics: no %s", part, series)
		}
	}

	// The cleanup flushes the spans to the collector (synchronously).
	cleaned = true
	cleanup()
	spans := collector.received()
	for _, name := range []string{"POST /api/v1/auth/login/json", "db "} {
		if !bytes.Contains(spans, []byte(name)) {
			t.Errorf("no span %q reached the OTLP collector (%d bytes received)", name, len(spans))
		}
	}
}

// otlpCollector is an OTLP/HTTP trace receiver that keeps what it is sent
// (protobuf: span names appear verbatim).
type otlpCollector struct {
	mu   sync.Mutex
	body []byte
}

func (c *otlpCollector) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	if r.URL.Path == "/v1/traces" {
		c.mu.Lock()
		c.body = append(c.body, b...)
		c.mu.Unlock()
	}
	w.Header().Set("Content-Type", "application/x-protobuf")
	w.WriteHeader(http.StatusOK)
}

func (c *otlpCollector) received() []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return bytes.Clone(c.body)
}
