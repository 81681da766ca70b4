// Package telemetry is where the adapters report what an operator watches:
// the Prometheus registry and every collector, and (tracing.go) the
// OpenTelemetry tracer provider. It is built and owned by cmd/sessiond's
// wiring. adapters/http, adapters/postgres, adapters/argon2 and
// adapters/audit each declare the small observer interface they report
// into; Telemetry implements all of them, and only cmd/sessiond connects
// the two. Every label set is derived from the constants the reporting
// code uses (metrics_test.go fails when one has no label).
package telemetry

import (
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/sessiond/sessiond/adapters/argon2"
	"github.com/sessiond/sessiond/adapters/audit"
	httpadapter "github.com/sessiond/sessiond/adapters/http"
	"github.com/sessiond/sessiond/adapters/postgres"
	"github.com/sessiond/sessiond/core"
)

// Telemetry holds the metrics registry and its collectors, on a registry
// of their own so that tests can build many in one process.
type Telemetry struct {
	registry *prometheus.Registry
	// adapters/http
	requests    *prometheus.CounterVec
	duration    *prometheus.HistogramVec
	signIns     *prometheus.CounterVec
	refreshes   *prometheus.CounterVec
	rateLimited *prometheus.CounterVec
	dbErrors    *prometheus.CounterVec
	// adapters/postgres
	revoked    *prometheus.CounterVec
	purgeRuns  *prometheus.CounterVec
	purgedRows *prometheus.CounterVec
	// adapters/argon2
	hashWait prometheus.Histogram
	hashShed *prometheus.CounterVec
	// adapters/audit
	deliveries *prometheus.CounterVec
	queueLag   prometheus.Gauge
	failing    prometheus.Gauge

	tracing
}

var (
	_ httpadapter.Observer = (*Telemetry)(nil)
	_ postgres.Observer    = (*Telemetry)(nil)
	_ argon2.Observer      = (*Telemetry)(nil)
	_ audit.Observer       = (*Telemetry)(nil)
)

// Label sets, declared up front so every series exists (at 0) from the
// start and an alert on a rate has something to compare against. Each is
// the reporting code's own list.
func revokeReasons() []string { return core.RevokeReasons() }

// dbFaultKinds are the database adapter's fault kinds and the ones the
// HTTP layer names for an unclassified fault (the same words for the same
// faults, once each).
func dbFaultKinds() []string {
	kinds := slices.Clone(postgres.FaultKinds)
	for _, k := range httpadapter.FaultKinds() {
		if !slices.Contains(kinds, k) {
			kinds = append(kinds, k)
		}
	}
	return kinds
}

func hashShedReasons() []string { return []string{argon2.ShedQueueFull, argon2.ShedWaitTimed} }

func webhookOutcomes() []string {
	var out []string
	for _, o := range audit.WebhookOutcomes() {
		out = append(out, string(o))
	}
	return out
}

var purgeResults = []string{"ok", "error"}

// New returns the metrics with every declared series at 0, and tracing
// off (SetTracing turns it on).
func New() *Telemetry {
	t := &Telemetry{
		registry: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sessiond_http_requests_total",
			Help: "HTTP requests by operation and status code.",
		}, []string{"operation", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "sessiond_http_request_duration_seconds",
			Help:    "HTTP request latency by operation.",
			Buckets: prometheus.DefBuckets,
		}, []string{"operation"}),
		signIns: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sessiond_signins_total",
			Help: "Sign-in attempts by outcome (success, invalid_credentials, throttled, unavailable, error).",
		}, []string{"outcome"}),
		refreshes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sessiond_refreshes_total",
			Help: "Refresh attempts by outcome: rotated, converged (grace-window replay), or the rejection code.",
		}, []string{"outcome"}),
		revoked: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sessiond_sessions_revoked_total",
			Help: "Sessions revoked, by reason, counted when the revoking transaction commits.",
		}, []string{"reason"}),
		rateLimited: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sessiond_rate_limited_total",
			Help: "Requests refused with 429, by rule (ip:<operation>, email:<rule>, account = the brute-force throttle).",
		}, []string{"rule"}),
		dbErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sessiond_db_errors_total",
			Help: "Requests answered 503 because of a database fault, by kind.",
		}, []string{"kind"}),
		purgeRuns: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sessiond_purge_runs_total",
			Help: "Runs of the expired-row purge, by result (ok, error).",
		}, []string{"result"}),
		purgedRows: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sessiond_purge_rows_removed_total",
			Help: "Rows removed by the purge, by kind.",
		}, []string{"kind"}),
		hashWait: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "sessiond_hash_queue_wait_seconds",
			Help:    "Time a password hash waited for a hashing slot before it ran (0 when one was free).",
			Buckets: []float64{0, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1},
		}),
		hashShed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sessiond_hash_shed_total",
			Help: "Requests answered 503 because no password-hashing slot was free within the limits, by reason (queue_full, wait_timeout).",
		}, []string{"reason"}),
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sessiond_webhook_deliveries_total",
			Help: "Webhook delivery attempts by outcome (delivered, http_error, network_error, blocked).",
		}, []string{"outcome"}),
		queueLag: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "sessiond_webhook_queue_lag_seconds",
			Help: "Age of the oldest audit event not yet delivered to every active endpoint (0: none), as of the last round.",
		}),
		failing: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "sessiond_webhook_endpoints_failing",
			Help: "Enabled webhook endpoints marked failing (retries exhausted), across accounts.",
		}),
	}
	t.zeroSeries()
	t.registry.MustRegister(t.requests, t.duration, t.signIns, t.refreshes, t.revoked, t.rateLimited, t.dbErrors,
		t.purgeRuns, t.purgedRows, t.hashWait, t.hashShed, t.deliveries, t.queueLag, t.failing,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	t.tracing = noTracing()
	return t
}

// zeroSeries makes every label value the code can emit a series at 0 from
// the start, so a rate or an alert on it works before its first event;
// the values come from the constants the code uses (labels_test.go).
func (t *Telemetry) zeroSeries() {
	for _, pre := range []struct {
		vec    *prometheus.CounterVec
		labels []string
	}{
		{t.signIns, httpadapter.SignInOutcomes()},
		{t.refreshes, httpadapter.RefreshOutcomes()},
		{t.revoked, revokeReasons()},
		{t.dbErrors, dbFaultKinds()},
		{t.purgeRuns, purgeResults},
		{t.purgedRows, postgres.PurgedKinds},
		{t.hashShed, hashShedReasons()},
		{t.deliveries, webhookOutcomes()},
		{t.rateLimited, []string{"account"}},
	} {
		for _, v := range pre.labels {
			pre.vec.WithLabelValues(v)
		}
	}
}

// Handler serves the metrics (the METRICS_ADDR listener, or /metrics on
// the API listener when METRICS_ON_API_LISTENER=true; MET-01).
func (t *Telemetry) Handler() http.Handler {
	return promhttp.HandlerFor(t.registry, promhttp.HandlerOpts{})
}

// Register adds a collector to the registry.
func (t *Telemetry) Register(c prometheus.Collector) error { return t.registry.Register(c) }

// ObservePool exports the pool's statistics (NewPoolCollector).
func (t *Telemetry) ObservePool(pool *pgxpool.Pool) error { return t.Register(NewPoolCollector(pool)) }

// RequestServed implements adapters/http.Observer.
func (t *Telemetry) RequestServed(o httpadapter.RequestOutcome) {
	t.requests.WithLabelValues(o.Operation, statusText(o.Status)).Inc()
	t.duration.WithLabelValues(o.Operation).Observe(o.Took.Seconds())
	if o.RateLimitRule != "" {
		t.rateLimited.WithLabelValues(o.RateLimitRule).Inc()
	}
	if o.FaultKind != "" {
		t.dbErrors.WithLabelValues(o.FaultKind).Inc()
	}
	if o.SignIn != "" {
		t.signIns.WithLabelValues(o.SignIn).Inc()
	}
	if o.Refresh != "" {
		t.refreshes.WithLabelValues(o.Refresh).Inc()
	}
}

// statusText is strconv.Itoa without an allocation for the statuses the
// server answers.
func statusText(code int) string {
	if code >= 100 && code < 600 {
		return statusTexts[code-100]
	}
	return strconv.Itoa(code)
}

var statusTexts = func() (s [500]string) {
	for i := range s {
		s[i] = strconv.Itoa(i + 100)
	}
	return s
}()

// SessionsRevoked implements adapters/postgres.Observer.
func (t *Telemetry) SessionsRevoked(reason string, n int64) {
	t.revoked.WithLabelValues(reason).Add(float64(n))
}

// PurgeRun implements adapters/postgres.Observer.
func (t *Telemetry) PurgeRun(removed map[string]int64, err error) {
	result := "ok"
	if err != nil {
		result = "error"
	}
	t.purgeRuns.WithLabelValues(result).Inc()
	for kind, n := range removed {
		t.purgedRows.WithLabelValues(kind).Add(float64(n))
	}
}

// HashAdmitted implements adapters/argon2.Observer.
func (t *Telemetry) HashAdmitted(wait time.Duration) { t.hashWait.Observe(wait.Seconds()) }

// HashShed implements adapters/argon2.Observer.
func (t *Telemetry) HashShed(reason string) { t.hashShed.WithLabelValues(reason).Inc() }

// WebhookDelivery implements adapters/audit.Observer.
func (t *Telemetry) WebhookDelivery(o core.WebhookOutcome) {
	t.deliveries.WithLabelValues(string(o)).Inc()
}

// WebhookQueueLag implements adapters/audit.Observer.
func (t *Telemetry) WebhookQueueLag(lag time.Duration) { t.queueLag.Set(lag.Seconds()) }

// WebhookEndpointsFailing implements adapters/audit.Observer.
func (t *Telemetry) WebhookEndpointsFailing(n int64) { t.failing.Set(float64(n)) }
