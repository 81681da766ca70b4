package http_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	httpadapter "github.com/sessiond/sessiond/adapters/http"
	"github.com/sessiond/sessiond/adapters/postgres"
)

// Every series an operator alerts on is exposed (README "Operating it"), and the
// outcomes are counted where they happen.
func TestMetrics_ExposeEverySeries_AndCountOutcomes(t *testing.T) {
	h := newHarness(t, withHTTPConfig(func(c *httpadapter.Config) { c.MetricsOnAPI = true }))
	u := h.register(t, uniqueEmail("metrics"))
	tk := h.login(t, u, nil)
	expectProblem(t, h.signIn(t, u.Email, "wrong"), http.StatusUnauthorized, "invalid_credentials")
	next := h.mustRefresh(t, tk.RefreshToken)
	// A replay inside the grace window, in the same second as the rotation:
	// the outcome comes from the refresh decision, not from comparing the
	// tokens' whole-second iat claims (which would call this a rotation).
	expectStatus(t, h.refresh(t, tk.RefreshToken), http.StatusOK, "grace replay")
	expectProblem(t, h.refresh(t, "not-a-token"), http.StatusUnauthorized, "invalid_refresh_token")
	h.logout(t, next.AccessToken)
	if _, err := h.store.PurgeExpired(context.Background(), 0, 100); err != nil {
		t.Fatal(err)
	}

	res := h.mustDo(t, req{method: "GET", path: "/metrics"}, http.StatusOK)
	text := string(res.Body)
	for _, name := range []string{
		"sessiond_http_requests_total", "sessiond_http_request_duration_seconds_bucket",
		"sessiond_signins_total", "sessiond_refreshes_total", "sessiond_sessions_revoked_total",
		"sessiond_rate_limited_total", "sessiond_db_errors_total",
		"sessiond_db_pool_acquired_conns", "sessiond_db_pool_idle_conns", "sessiond_db_pool_total_conns",
		"sessiond_db_pool_max_conns", "sessiond_db_pool_acquires_total", "sessiond_db_pool_acquire_waits_total",
		"sessiond_db_pool_acquire_wait_seconds_total", "sessiond_db_pool_acquires_cancelled_total",
		"sessiond_purge_runs_total", "sessiond_purge_rows_removed_total",
	} {
		if !strings.Contains(text, "\n"+name+"{") && !strings.Contains(text, "\n"+name+" ") {
			t.Errorf("series %s missing from /metrics", name)
		}
	}
	for _, series := range []string{
		`sessiond_signins_total{outcome="success"} 1`,
		`sessiond_signins_total{outcome="invalid_credentials"} 1`,
		`sessiond_signins_total{outcome="throttled"} 0`,
		`sessiond_refreshes_total{outcome="rotated"} 1`,
		`sessiond_refreshes_total{outcome="converged"} 1`,
		`sessiond_refreshes_total{outcome="invalid_refresh_token"} 1`,
		`sessiond_refreshes_total{outcome="refresh_token_reused"} 0`,
		`sessiond_sessions_revoked_total{reason="logout"} 1`,
		`sessiond_db_errors_total{kind="statement_timeout"} 0`,
		`sessiond_rate_limited_total{rule="account"} 0`,
		`sessiond_purge_runs_total{result="ok"} 1`,
		`sessiond_purge_rows_removed_total{kind="sessions"}`,
	} {
		if !strings.Contains(text, "\n"+series) {
			t.Errorf("want %s in /metrics", series)
		}
	}
	// The hasher's admission control reports as well (the harness's own
	// limiter sheds nothing, but counts every admitted hash), as
	// cmd/sessiond/assemble wires it.
	if strings.Contains(text, "\nsessiond_hash_queue_wait_seconds_count 0\n") || !strings.Contains(text, "\nsessiond_hash_queue_wait_seconds_count ") {
		t.Error("no admitted hash counted in sessiond_hash_queue_wait_seconds: the hasher's limiter does not report")
	}
	// Every kind the purge reports has its series from the start.
	for _, kind := range postgres.PurgedKinds {
		if series := `sessiond_purge_rows_removed_total{kind="` + kind + `"}`; !strings.Contains(text, "\n"+series) {
			t.Errorf("want %s in /metrics", series)
		}
	}
}

// METRICS_ON_API_LISTENER=true: the operator asked for /metrics on the API
// listener explicitly.
func TestMetrics_OnTheAPIListenerOnlyWhenAsked(t *testing.T) {
	h := newHarness(t, withHTTPConfig(func(c *httpadapter.Config) { c.MetricsOnAPI = true }))
	res := h.mustDo(t, req{method: "GET", path: "/metrics"}, http.StatusOK)
	if !strings.Contains(string(res.Body), "sessiond_signins_total") {
		t.Fatalf("/metrics: %s", res.Body)
	}
}

// MET-01: metrics are private by default. The server as configured by
// default (the zero Config) has no /metrics on the API listener: the pool's
// acquire counts and the sign-in outcomes are operator data (and were an
// account oracle when public). The answer is the ordinary 404, with none
// of the series in it.
func TestMetrics_MET01_PrivateByDefault_NotOnTheAPIListener(t *testing.T) {
	h := newHarness(t)
	u := h.register(t, uniqueEmail("met01"))
	h.login(t, u, nil)
	res := h.do(t, req{method: "GET", path: "/metrics"})
	expectProblem(t, res, http.StatusNotFound, "not_found")
	if strings.Contains(string(res.Body), "sessiond_") {
		t.Fatalf("the 404 carries metrics: %s", res.Body)
	}
}
