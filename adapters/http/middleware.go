package http

// Middleware around every request: panic recovery, the access log and the
// status recorder the metrics read.

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/getkin/kin-openapi/routers"
	"github.com/google/uuid"

	"github.com/sessiond/sessiond/core"
)

// recoverer answers a panic with a 500 problem instead of a dropped
// connection, and logs it.
func (s *Server) recoverer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				writeError(w, r, s.log, fmt.Errorf("panic: %v", v))
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// statusRecorder remembers the status of the answer.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

// requestState is what the layers of one request learn about it and the
// access log and the metrics read once it was answered. The outermost
// middleware (accessLog) puts it into the request's context, once; every
// later layer sets its own fields through stateFrom.
type requestState struct {
	r      *http.Request // the request as it arrived (handlers read headers and cookies)
	rec    *statusRecorder
	client core.Client // cleaned (cleanClient)
	op     string      // operationId, set once routed; "docs" for the documentation
	// route and params are the contract's route of the request (route).
	route     *routers.Route
	params    map[string]string
	code      string // the problem code of an error answer
	limitRule string // the rate-limit rule that refused, if any
	faultKind string // the dependency fault behind a 503, if any
	outcome   string // a successful refresh: "rotated" or "converged"
}

// stateFrom returns the request's state, or nil outside a request served
// by Handler.
func stateFrom(ctx context.Context) *requestState {
	st, _ := ctx.Value(stateKey).(*requestState)
	return st
}

func (s *statusRecorder) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

// requestIDs makes request ids without a random read per request: a
// random per-process prefix and a counter (unique per process, unguessable
// across processes is not needed: an id only correlates log lines).
type requestIDs struct {
	prefix string
	n      atomic.Uint64
}

func newRequestIDs() *requestIDs { return &requestIDs{prefix: uuid.NewString()[:8] + "-"} }

func (g *requestIDs) next() string {
	return g.prefix + strconv.FormatUint(g.n.Add(1), 36)
}

// accessLog logs one structured line per request: method, path (never the
// query string, which is where misplaced tokens would be), status, latency
// and a request id. No headers, no bodies. Cheap: one clock read at each
// end, shared by the metrics, the duration and the line's time; the line is
// skipped before any formatting when info is not enabled (logRequest).
func (s *Server) accessLog(next http.Handler) http.Handler {
	ids := newRequestIDs()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := ids.next()
		h := w.Header()
		h["X-Request-Id"] = []string{id}
		h["X-Content-Type-Options"] = []string{"nosniff"}
		// One allocation for the recorder and the state.
		a := &struct {
			rec statusRecorder
			st  requestState
		}{rec: statusRecorder{ResponseWriter: w}, st: requestState{r: r}}
		a.st.rec = &a.rec
		r = r.WithContext(context.WithValue(r.Context(), stateKey, &a.st))
		next.ServeHTTP(&a.rec, r)
		end := time.Now()
		took := end.Sub(start)
		s.obs.RequestServed(outcomeOf(&a.st, a.rec.status, took))
		s.logRequest(r, end, id, a.rec.status, took)
	})
}

// logRequest writes the access-log line straight to the handler: the same
// record Logger.LogAttrs would build, with its time the clock read that
// ended the request, and without the caller's program counter, which
// LogAttrs captures (runtime.Callers) for a source location that no
// handler of sessiond prints (cmd/sessiond: JSON, no AddSource). The
// unwinding was about a fifth of the line's CPU in a refresh profile at
// info (runtime.Callers 0.5 % of 2.1 %; bench/README.md "CPU per request").
func (s *Server) logRequest(r *http.Request, end time.Time, id string, status int, took time.Duration) {
	ctx := r.Context()
	h := s.log.Handler()
	if !h.Enabled(ctx, slog.LevelInfo) {
		return
	}
	line := slog.NewRecord(end, slog.LevelInfo, "request", 0)
	line.AddAttrs(slog.String("request_id", id), slog.String("method", r.Method), slog.String("path", r.URL.Path),
		slog.Int("status", status), slog.Duration("duration", took))
	_ = h.Handle(ctx, line) // as Logger.LogAttrs: a failed log write is not the request's failure
}
