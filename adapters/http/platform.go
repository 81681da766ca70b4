package http

import (
	"bytes"
	"context"
	"net/http"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/adapters/http/api"
	"github.com/sessiond/sessiond/core"
)

type jwksResponse struct{ set any }

func (j jwksResponse) VisitGetJwksResponse(w http.ResponseWriter) error {
	w.Header().Set("Cache-Control", "public, max-age=300")
	return writeJSON(w, http.StatusOK, j.set)
}

// GetJwks serves the public signing keys.
func (s *Server) GetJwks(ctx context.Context, _ api.GetJwksRequestObject) (api.GetJwksResponseObject, error) {
	return jwksResponse{set: s.jwks()}, nil
}

// GetHealthz is the liveness probe: the process answers.
func (s *Server) GetHealthz(ctx context.Context, _ api.GetHealthzRequestObject) (api.GetHealthzResponseObject, error) {
	return api.GetHealthz200JSONResponse{Status: "ok"}, nil
}

// GetReadyz is the readiness probe: the database answers.
func (s *Server) GetReadyz(ctx context.Context, _ api.GetReadyzRequestObject) (api.GetReadyzResponseObject, error) {
	if err := s.ready(ctx); err != nil {
		s.log.WarnContext(ctx, "not ready", "err", err)
		return nil, core.Errorf(core.CodeUnavailable, "the database is not reachable")
	}
	return api.GetReadyz200JSONResponse{Status: "ok"}, nil
}

// GetMetrics is served by promhttp directly (see Handler); this method only
// satisfies the interface.
func (s *Server) GetMetrics(ctx context.Context, _ api.GetMetricsRequestObject) (api.GetMetricsResponseObject, error) {
	return nil, core.Errorf(codeNotImplemented, "metrics are served by the metrics handler")
}

// GetOpenAPISpec serves the spec the server was built from.
func (s *Server) GetOpenAPISpec(ctx context.Context, _ api.GetOpenAPISpecRequestObject) (api.GetOpenAPISpecResponseObject, error) {
	return api.GetOpenAPISpec200ApplicationyamlResponse{
		Body: bytes.NewReader(sessiond.OpenAPIYAML), ContentLength: int64(len(sessiond.OpenAPIYAML)),
	}, nil
}
