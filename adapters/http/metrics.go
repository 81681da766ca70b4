package http

import (
	"net/http"
	"slices"
	"time"

	"github.com/sessiond/sessiond/core"
)

// Observer receives what the HTTP layer counts, once per answered request
// (adapters/telemetry implements it; cmd/sessiond wires it with
// SetObserver). The default observes nothing.
type Observer interface {
	// RequestServed observes one answered request. Called on the request's
	// goroutine after the answer was written: it must be cheap.
	RequestServed(RequestOutcome)
}

// RequestOutcome is what one answered request means to the metrics. Every
// label is one of the sets this package declares (SignInOutcomes,
// RefreshOutcomes, FaultKinds) or an operationId.
type RequestOutcome struct {
	// Operation is the operationId, "docs", or "unmatched" (no route).
	Operation string
	Status    int
	Took      time.Duration
	// SignIn is the outcome of a sign-in (SignInOutcomes); "" otherwise.
	SignIn string
	// Refresh is the outcome of a refresh (RefreshOutcomes); "" otherwise.
	Refresh string
	// RateLimitRule is the rule that refused with 429 (ip:<operation>, or
	// account = the brute-force throttle); "" when none did.
	RateLimitRule string
	// FaultKind is the dependency fault behind a 503 (FaultKinds, or the
	// database adapter's kinds); "" when none.
	FaultKind string
}

type nopObserver struct{}

func (nopObserver) RequestServed(RequestOutcome) {}

// SetObserver installs where requests are reported (nil: nowhere). Call
// before serving.
func (s *Server) SetObserver(o Observer) {
	if o == nil {
		o = nopObserver{}
	}
	s.obs = o
}

// SetMetricsHandler sets the handler of /metrics on the API listener,
// served only with Config.MetricsOnAPI (MET-01). Call before Handler.
func (s *Server) SetMetricsHandler(h http.Handler) { s.metricsHandler = h }

// Sign-in outcomes.
const (
	SignInSuccess            = "success"
	SignInInvalidCredentials = "invalid_credentials"
	SignInThrottled          = "throttled"
	OutcomeUnavailable       = "unavailable" // a dependency fault (503)
	OutcomeError             = "error"       // a malformed request, or a bug
)

// Refresh outcomes besides the rejection codes (refreshRejections).
const (
	RefreshRotated     = "rotated"
	RefreshConverged   = "converged" // a grace-window replay
	RefreshRateLimited = "rate_limited"
)

// refreshRejections are the refusals of a refresh counted under their
// own problem code; any other refusal is OutcomeError.
var refreshRejections = []core.Code{core.CodeInvalidRefreshToken, core.CodeSessionExpiredIdle,
	core.CodeSessionExpiredAbsolute, core.CodeRefreshTokenReused, codeCSRFFailed}

// SignInOutcomes are the labels of the sign-in count, every one.
func SignInOutcomes() []string {
	return []string{SignInSuccess, SignInInvalidCredentials, SignInThrottled, OutcomeUnavailable, OutcomeError}
}

// RefreshOutcomes are the labels of the refresh count, every one.
func RefreshOutcomes() []string {
	out := []string{RefreshRotated, RefreshConverged}
	for _, c := range refreshRejections {
		out = append(out, string(c))
	}
	return append(out, RefreshRateLimited, OutcomeUnavailable, OutcomeError)
}

// FaultKinds are the fault kinds this package names itself (faultKind):
// an unclassified error that still means "not now". The database
// adapter's own kinds come on top (adapters/postgres.FaultKinds).
func FaultKinds() []string { return slices.Clone(localFaultKinds) }

var localFaultKinds = []string{faultUnavailable, faultTimeout, faultConnection}

// outcomeOf is what an answered request means.
func outcomeOf(st *requestState, status int, took time.Duration) RequestOutcome {
	o := RequestOutcome{Operation: st.op, Status: status, Took: took, RateLimitRule: st.limitRule, FaultKind: st.faultKind}
	if o.Operation == "" {
		o.Operation = "unmatched"
	}
	switch st.op {
	case "loginJson", "loginForm":
		o.SignIn = signInOutcome(st, status)
	case "refreshToken":
		o.Refresh = refreshOutcomeLabel(st, status)
	}
	return o
}

func signInOutcome(st *requestState, status int) string {
	switch {
	case status == http.StatusOK:
		return SignInSuccess
	case st.code == string(core.CodeInvalidCredentials):
		return SignInInvalidCredentials
	case st.code == string(core.CodeRateLimited):
		return SignInThrottled
	case st.code == string(core.CodeUnavailable):
		return OutcomeUnavailable
	}
	return OutcomeError
}

func refreshOutcomeLabel(st *requestState, status int) string {
	switch {
	case status == http.StatusOK && st.outcome != "":
		return st.outcome
	case st.code == string(core.CodeRateLimited):
		return RefreshRateLimited
	case st.code == string(core.CodeUnavailable):
		return OutcomeUnavailable
	}
	for _, c := range refreshRejections {
		if st.code == string(c) {
			return st.code
		}
	}
	return OutcomeError
}

// refreshOutcome is the metric label of a successful refresh.
func refreshOutcome(p core.TokenPair) string {
	if p.Converged {
		return RefreshConverged
	}
	return RefreshRotated
}
