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

// asUnavailable recognises a dependency fault: a *core.Fault from the
// database adapter, or — the safety net for an error that escaped the
// adapter's classification — a network error, a deadline, or a driver error
// whose SQLSTATE says "not now" (connection exceptions, shutdown, statement
// timeout, too many connections, serialization, deadlock). Those answer
// 503 service_unavailable with Retry-After, never 500. The error is logged
// (without the request's data) and counted by kind.
func asUnavailable(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) (*core.Error, bool) {
	kind := faultKind(err)
	if kind == "" {
		return nil, false
	}
	log.WarnContext(r.Context(), "dependency unavailable", "kind", kind, "err", err, "method", r.Method, "path", r.URL.Path)
	if rec, ok := w.(*statusRecorder); ok {
		rec.faultKind = kind
	}
	return core.ErrUnavailable, true
}

func faultKind(err error) string {
	var f *core.Fault
	if errors.As(err, &f) {
		return f.Kind
	}
	if errors.Is(err, core.ErrUnavailable) {
		return "unavailable"
	}
	var coded interface{ SQLState() string }
	if errors.As(err, &coded) {
		switch c := coded.SQLState(); {
		case c == "57014":
			return "statement_timeout"
		case c == "57P01", c == "57P02", c == "57P03":
			return "shutdown"
		case c == "53300":
			return "too_many_connections"
		case c == "40001":
			return "serialization"
		case c == "40P01":
			return "deadlock"
		case len(c) == 5 && c[:2] == "08":
			return "connection"
		}
		return ""
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return "timeout"
	}
	var ne net.Error
	if errors.As(err, &ne) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) {
		return "connection"
	}
	return ""
}
