package main

import (
	"testing"
	"time"

	httpadapter "github.com/sessiond/sessiond/adapters/http"
	"github.com/sessiond/sessiond/cmd/sessiond/assemble"
)

// TestRateLimitedOperations_Document429 is the rate-limit half of the
// status walk (adapters/http, ADM-06): every operation this server puts a
// per-IP rule on can answer 429, so openapi.yaml must document it, with
// Retry-After (docs/security-checklist.md, ADM-06).
func TestRateLimitedOperations_Document429(t *testing.T) {
	doc, err := httpadapter.LoadSpec()
	if err != nil {
		t.Fatal(err)
	}
	limits := assemble.RateLimits(RateLimitSettings{LoginPerIPPerMinute: 1, RefreshPerIPPerMinute: 1, RegisterPerIPPerHour: 1, ResetPerIPPerHour: 1}, time.Now)
	if len(limits.ByIP) == 0 {
		t.Fatal("no per-IP rule: is the wiring broken?")
	}
	found := map[string]bool{}
	for _, item := range doc.Paths.Map() {
		for _, op := range item.Operations() {
			if _, limited := limits.ByIP[httpadapter.Operation(op.OperationID)]; !limited {
				continue
			}
			found[op.OperationID] = true
			r := op.Responses.Status(429)
			if r == nil || r.Value == nil {
				t.Errorf("%s has a per-IP rate limit but does not document 429", op.OperationID)
				continue
			}
			if r.Value.Headers["Retry-After"] == nil {
				t.Errorf("%s: its 429 does not document Retry-After", op.OperationID)
			}
		}
	}
	for op := range limits.ByIP {
		if !found[string(op)] {
			t.Errorf("per-IP rule for %q, which is no operation of openapi.yaml", op)
		}
	}
}
