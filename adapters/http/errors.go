package http

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/sessiond/sessiond/adapters/http/api"
	"github.com/sessiond/sessiond/core"
)

// statusByCode is the one place domain error codes become HTTP statuses.
var statusByCode = map[core.Code]int{
	core.CodeInvalidCredentials:     http.StatusUnauthorized,
	core.CodeInvalidToken:           http.StatusUnauthorized,
	core.CodeInvalidRefreshToken:    http.StatusUnauthorized,
	core.CodeSessionExpiredIdle:     http.StatusUnauthorized,
	core.CodeSessionExpiredAbsolute: http.StatusUnauthorized,
	core.CodeRefreshTokenReused:     http.StatusUnauthorized,
	core.CodeForbidden:              http.StatusForbidden,
	core.CodeCSRFFailed:             http.StatusForbidden,
	core.CodeNotFound:               http.StatusNotFound,
	core.CodeEmailTaken:             http.StatusConflict,
	core.CodeLastOwner:              http.StatusConflict,
	core.CodeSessionLimitReached:    http.StatusConflict,
	core.CodeConflict:               http.StatusConflict,
	core.CodeValidation:             http.StatusUnprocessableEntity,
	core.CodePolicyOutOfBounds:      http.StatusUnprocessableEntity,
	core.CodePolicyInvariant:        http.StatusUnprocessableEntity,
	core.CodeBadRequest:             http.StatusBadRequest,
	core.CodeInvalidResetToken:      http.StatusBadRequest,
	core.CodeRateLimited:            http.StatusTooManyRequests,
	core.CodeNotImplemented:         http.StatusNotImplemented,
	core.CodeUnavailable:            http.StatusServiceUnavailable,
	core.CodeInternal:               http.StatusInternalServerError,
}

// Codes used only at the HTTP layer.
const (
	codePayloadTooLarge      core.Code = "payload_too_large"
	codeUnsupportedMediaType core.Code = "unsupported_media_type"
	codeMethodNotAllowed     core.Code = "method_not_allowed"
)

func init() {
	statusByCode[codePayloadTooLarge] = http.StatusRequestEntityTooLarge
	statusByCode[codeUnsupportedMediaType] = http.StatusUnsupportedMediaType
	statusByCode[codeMethodNotAllowed] = http.StatusMethodNotAllowed
}

// problemFor builds the RFC 9457 body for a domain error.
func problemFor(e *core.Error) (int, api.Problem) {
	status, ok := statusByCode[e.Code]
	if !ok {
		status = http.StatusInternalServerError
	}
	p := api.Problem{
		Type:   "https://sessiond.dev/problems/" + string(e.Code),
		Title:  http.StatusText(status),
		Status: status,
		Code:   api.ProblemCode(e.Code),
	}
	if e.Message != "" {
		d := e.Message
		p.Detail = &d
	}
	if e.Field != "" {
		p.Errors = &[]api.FieldError{{Field: e.Field, Message: e.Message}}
	}
	return status, p
}

// writeError answers err as problem+json. Anything that is not a
// *core.Error is an internal error: logged, never shown.
func writeError(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	var e *core.Error
	if le, ok := asLimited(w, err); ok {
		e = le
	} else if fe, ok := asUnavailable(w, r, log, err); ok {
		e = fe
	} else if !errors.As(err, &e) {
		log.ErrorContext(r.Context(), "internal error", "err", err, "method", r.Method, "path", r.URL.Path)
		e = &core.Error{Code: core.CodeInternal, Message: "an internal error occurred"}
	}
	status, p := problemFor(e)
	writeProblem(w, status, p)
}

func writeProblem(w http.ResponseWriter, status int, p api.Problem) {
	h := w.Header()
	h.Set("Content-Type", "application/problem+json")
	h.Set("Cache-Control", "no-store")
	if status == http.StatusTooManyRequests && h.Get("Retry-After") == "" {
		h.Set("Retry-After", strconv.Itoa(1))
	}
	if status == http.StatusServiceUnavailable && h.Get("Retry-After") == "" {
		h.Set("Retry-After", strconv.Itoa(unavailableRetryAfterSeconds))
	}
	if rec, ok := w.(*statusRecorder); ok {
		rec.code = string(p.Code)
	}
	if status == http.StatusUnauthorized && h.Get("WWW-Authenticate") == "" {
		h.Set("WWW-Authenticate", `Bearer realm="sessiond"`)
	}
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(p)
}
