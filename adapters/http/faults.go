package http

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"syscall"

	"github.com/sessiond/sessiond/core"
)

// asUnavailable recognises a dependency fault: a *core.Fault, which the
// database adapter makes of every driver error that means "not now" (it
// alone knows SQLSTATEs: adapters/postgres/faults.go), or — the safety net
// for an error that reached here unclassified — a network error or a
// deadline. Those answer 503 service_unavailable with Retry-After, never
// 500. The error is logged (without the request's data) and counted by kind.
//
// A hash shed by admission control (core.FaultHashOverloaded) is the same
// 503, but neither a database fault nor news worth a log line per request:
// under a sign-in storm there is one per refused sign-in, and the hasher's
// own counter (sessiond_hash_shed_total) already counts them.
func asUnavailable(r *http.Request, log *slog.Logger, err error) (*core.Error, bool) {
	kind := faultKind(err)
	if kind == "" {
		return nil, false
	}
	if kind == core.FaultHashOverloaded {
		return core.ErrUnavailable, true
	}
	log.WarnContext(r.Context(), "dependency unavailable", "kind", kind, "err", err, "method", r.Method, "path", r.URL.Path)
	if st := stateFrom(r.Context()); st != nil {
		st.faultKind = kind
	}
	return core.ErrUnavailable, true
}

// The fault kinds faultKind names itself (FaultKinds): the same words as
// the database adapter's kinds for the same faults.
const (
	faultUnavailable = "unavailable" // a fault of unknown kind
	faultTimeout     = "timeout"
	faultConnection  = "connection"
)

func faultKind(err error) string {
	var f *core.Fault
	if errors.As(err, &f) {
		return f.Kind
	}
	if errors.Is(err, core.ErrUnavailable) {
		return faultUnavailable
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return faultTimeout
	}
	var ne net.Error
	if errors.As(err, &ne) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) {
		return faultConnection
	}
	return ""
}
