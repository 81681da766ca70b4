package http

import (
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/sessiond/sessiond/core"
)

// metrics are the HTTP layer's Prometheus collectors, on their own registry
// so that tests can build many servers in one process. Besides requests and
// latencies they count what an operator alerts on: sign-in and refresh
// outcomes, revocations by reason, rate-limit refusals by rule, database
// faults by kind, purges (the store reports those through StoreObserver),
// and the pool's state (a collector registered with Register).
type metrics struct {
	registry    *prometheus.Registry
	requests    *prometheus.CounterVec
	duration    *prometheus.HistogramVec
	signIns     *prometheus.CounterVec
	refreshes   *prometheus.CounterVec
	revoked     *prometheus.CounterVec
	rateLimited *prometheus.CounterVec
	dbErrors    *prometheus.CounterVec
	purgeRuns   *prometheus.CounterVec
	purgedRows  *prometheus.CounterVec
	hashWait    prometheus.Histogram
	hashShed    *prometheus.CounterVec
}

// Label values declared up front, so every series exists (at 0) from the
// start and an alert on a rate has something to compare against.
var (
	signInOutcomes = []string{"success", "invalid_credentials", "throttled", "unavailable", "error"}
	// refreshRejections are the refusals of a refresh counted under their
	// own problem code; any other refusal is "error".
	refreshRejections = []core.Code{core.CodeInvalidRefreshToken, core.CodeSessionExpiredIdle,
		core.CodeSessionExpiredAbsolute, core.CodeRefreshTokenReused, codeCSRFFailed}
	refreshOutcomes = slices.Concat([]string{"rotated", "converged"}, codeStrings(refreshRejections),
		[]string{"rate_limited", "unavailable", "error"})
	// revokeReasons are core's, every one (core.RevokeReasons).
	revokeReasons = core.RevokeReasons()
	// DBFaultKinds mirrors adapters/postgres.FaultKinds (this package does
	// not import the database adapter); "unavailable" is a fault of unknown
	// kind.
	dbFaultKinds = []string{"connect", "connection", "shutdown", "too_many_connections", "statement_timeout",
		"timeout", "serialization", "deadlock", "read_only", "pool_closed", "unavailable"}
	// purgedKinds mirrors adapters/postgres.PurgedKinds (metrics_test.go
	// keeps them equal).
	purgedKinds = []string{"sessions", "password_reset_tokens", "login_throttle", "mfa_challenges", "unverified_registrations"}
	// hashShedReasons mirrors adapters/argon2's ShedQueueFull, ShedWaitTimed.
	hashShedReasons = []string{"queue_full", "wait_timeout"}
)

func newMetrics() *metrics {
	m := &metrics{
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
	}
	for _, v := range signInOutcomes {
		m.signIns.WithLabelValues(v)
	}
	for _, v := range refreshOutcomes {
		m.refreshes.WithLabelValues(v)
	}
	for _, v := range revokeReasons {
		m.revoked.WithLabelValues(v)
	}
	for _, v := range dbFaultKinds {
		m.dbErrors.WithLabelValues(v)
	}
	for _, v := range []string{"ok", "error"} {
		m.purgeRuns.WithLabelValues(v)
	}
	for _, v := range purgedKinds {
		m.purgedRows.WithLabelValues(v)
	}
	for _, v := range hashShedReasons {
		m.hashShed.WithLabelValues(v)
	}
	m.rateLimited.WithLabelValues("account")
	m.registry.MustRegister(m.requests, m.duration, m.signIns, m.refreshes, m.revoked, m.rateLimited, m.dbErrors,
		m.purgeRuns, m.purgedRows, m.hashWait, m.hashShed,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

func (m *metrics) observe(op string, status int, d time.Duration) {
	if op == "" {
		op = "unmatched"
	}
	m.requests.WithLabelValues(op, strconv.Itoa(status)).Inc()
	m.duration.WithLabelValues(op).Observe(d.Seconds())
}

// observeOutcome counts what one answered request means.
func (m *metrics) observeOutcome(rec *statusRecorder) {
	if rec.limitRule != "" {
		m.rateLimited.WithLabelValues(rec.limitRule).Inc()
	}
	if rec.faultKind != "" {
		m.dbErrors.WithLabelValues(rec.faultKind).Inc()
	}
	switch rec.op {
	case "loginJson", "loginForm":
		m.signIns.WithLabelValues(signInOutcome(rec)).Inc()
	case "refreshToken":
		m.refreshes.WithLabelValues(refreshOutcomeLabel(rec)).Inc()
	}
}

func signInOutcome(rec *statusRecorder) string {
	switch {
	case rec.status == http.StatusOK:
		return "success"
	case rec.code == string(core.CodeInvalidCredentials):
		return "invalid_credentials"
	case rec.code == string(core.CodeRateLimited):
		return "throttled"
	case rec.code == string(core.CodeUnavailable):
		return "unavailable"
	}
	return "error" // a malformed request, or a bug
}

func refreshOutcomeLabel(rec *statusRecorder) string {
	switch {
	case rec.status == http.StatusOK && rec.outcome != "":
		return rec.outcome
	case rec.code == string(core.CodeRateLimited):
		return "rate_limited"
	case rec.code == string(core.CodeUnavailable):
		return "unavailable"
	}
	for _, c := range refreshRejections {
		if rec.code == string(c) {
			return rec.code
		}
	}
	return "error"
}

func codeStrings(codes []core.Code) []string {
	out := make([]string, len(codes))
	for i, c := range codes {
		out[i] = string(c)
	}
	return out
}

// refreshOutcome is the metric label of a successful refresh.
func refreshOutcome(p core.TokenPair) string {
	if p.Converged {
		return "converged"
	}
	return "rotated"
}

// Register adds a collector (the database pool's statistics) to the
// server's registry.
func (s *Server) Register(c prometheus.Collector) error { return s.metrics.registry.Register(c) }

// StoreObserver counts what the database adapter reports: revocations and
// purges (it implements adapters/postgres.Observer).
func (s *Server) StoreObserver() StoreObserver { return StoreObserver{m: s.metrics} }

// StoreObserver is the metrics side of adapters/postgres.Observer.
type StoreObserver struct{ m *metrics }

// SessionsRevoked counts n sessions revoked for reason.
func (o StoreObserver) SessionsRevoked(reason string, n int64) {
	o.m.revoked.WithLabelValues(reason).Add(float64(n))
}

// PurgeRun counts one purge run and the rows it removed, by kind.
func (o StoreObserver) PurgeRun(removed map[string]int64, err error) {
	result := "ok"
	if err != nil {
		result = "error"
	}
	o.m.purgeRuns.WithLabelValues(result).Inc()
	for kind, n := range removed {
		o.m.purgedRows.WithLabelValues(kind).Add(float64(n))
	}
}

// HashObserver counts what the password hasher's admission control reports
// (it implements adapters/argon2.Observer): the wait of every admitted
// hash and every shed one.
func (s *Server) HashObserver() HashObserver { return HashObserver{m: s.metrics} }

// HashObserver is the metrics side of adapters/argon2.Observer.
type HashObserver struct{ m *metrics }

// HashAdmitted observes the queue wait of a hash that got a slot.
func (o HashObserver) HashAdmitted(wait time.Duration) { o.m.hashWait.Observe(wait.Seconds()) }

// HashShed counts a hash refused, by reason.
func (o HashObserver) HashShed(reason string) { o.m.hashShed.WithLabelValues(reason).Inc() }
