package http

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
)

// middlewareStatuses is what the request gate and the middleware around
// every handler can answer for an operation, whatever its handler does:
//   - any operation: 400 unknown_parameter (checkQuery), 500 (recoverer);
//   - an operation with a body: 400 bad_request, 413, 415, 422 (the body
//     cap and request validation);
//   - an operation with parameters: 422 (request validation);
//   - a bearer operation: 401 (the access token) and 503 (its session's
//     liveness is read from the database);
//   - every operation under /api/v1: 503 (each one reads or writes the
//     database, so a database fault answers 503 service_unavailable).
//
// The per-IP rate limits (429) are configured by cmd/sessiond: its test
// TestRateLimitedOperations_Document429 checks those.
func middlewareStatuses(path string, item *openapi3.PathItem, op *openapi3.Operation, bearer bool) []int {
	st := []int{400, 500}
	if op.RequestBody != nil {
		st = append(st, 413, 415, 422)
	}
	if len(op.Parameters) > 0 || len(item.Parameters) > 0 {
		st = append(st, 422)
	}
	if bearer {
		st = append(st, 401, 503)
	}
	if strings.HasPrefix(path, "/api/v1/") {
		st = append(st, 503)
	}
	slices.Sort(st)
	return slices.Compact(st)
}

// TestSpec_ADM06_EveryOperationDocumentsEveryStatusTheMiddlewareCanSend
// walks every operation of openapi.yaml and fails when a status the
// middleware can produce for it (middlewareStatuses) is not among its
// responses: a generated client (ogen above all) then has no type for the
// answer and fails with an untyped error (docs/security-checklist.md,
// ADM-06).
func TestSpec_ADM06_EveryOperationDocumentsEveryStatusTheMiddlewareCanSend(t *testing.T) {
	doc, err := LoadSpec()
	if err != nil {
		t.Fatal(err)
	}
	c, err := newContract(doc)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			n++
			var missing []string
			for _, status := range middlewareStatuses(path, item, op, c.bearerOps[op.OperationID]) {
				if op.Responses.Status(status) == nil {
					missing = append(missing, fmt.Sprint(status))
				}
			}
			if len(missing) > 0 {
				t.Errorf("%s %s (%s): the middleware can answer %s, which the operation does not document",
					method, path, op.OperationID, strings.Join(missing, ", "))
			}
		}
	}
	if n < 20 {
		t.Fatalf("walked only %d operations", n)
	}
}
