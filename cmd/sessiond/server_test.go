package main

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	httpadapter "github.com/sessiond/sessiond/adapters/http"
	"github.com/sessiond/sessiond/cmd/sessiond/assemble"
)

// The production http.Server bounds request headers (MaxHeaderBytes), so an
// oversized Authorization header is refused by net/http with 431 before
// routing: no handler, no token parsing, no database. (Under the limit, the
// handler itself refuses tokens longer than jose.MaxTokenLength with 401;
// see adapters/http's attack tests.)
func TestHTTPServer_OversizedAuthorizationHeader_431BeforeRouting(t *testing.T) {
	// No service behind the API: a request that reached a handler would
	// panic on the nil service and answer 500, so 431 proves it did not.
	api, err := httpadapter.NewServer(nil, func() any { return nil }, nil, httpadapter.Config{}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewUnstartedServer(nil)
	ts.Config = provideHTTPServer(api, Config{HTTPAddr: "127.0.0.1:0"})
	ts.Start()
	t.Cleanup(ts.Close)

	for _, path := range []string{"/api/v1/auth/me", "/api/v1/auth/refresh"} {
		method := http.MethodGet
		if strings.HasSuffix(path, "refresh") {
			method = http.MethodPost
		}
		r, err := http.NewRequest(method, ts.URL+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		r.Header.Set("Authorization", "Bearer "+strings.Repeat("A", 64<<10))
		res, err := ts.Client().Do(r)
		if err != nil {
			t.Fatal(err)
		}
		_ = res.Body.Close()
		if res.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
			t.Errorf("%s %s with a 64 KiB Authorization header: %d, want 431", method, path, res.StatusCode)
		}
	}
}

// The production rate-limit rules name operations the contract has (a
// misspelt operationId would refuse to start; see adapters/http's
// TestNewServer_RateLimitRuleUnknownToTheContract_IsAStartUpError).
func TestRateLimits_ProductionRulesStart(t *testing.T) {
	limits := assemble.RateLimits(RateLimitSettings{LoginPerIPPerMinute: 1, RefreshPerIPPerMinute: 1, RegisterPerIPPerHour: 1, ResetPerIPPerHour: 1}, time.Now)
	if _, err := httpadapter.NewServer(nil, func() any { return nil }, nil, httpadapter.Config{Limits: limits}, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
}
