package http_test

import (
	"net/http"
	"testing"
	"time"
)

// BenchmarkRefresh measures one rotation through the whole stack: HTTP,
// contract validation, signature checks, one tenant transaction (begin +
// tenant scope, lock, write, commit) and signing the new pair.
func BenchmarkRefresh(b *testing.B) {
	h := newHarness(b)
	u := h.register(b, uniqueEmail("bench"))
	rt := h.login(b, u, nil).RefreshToken
	b.ResetTimer()
	for b.Loop() {
		h.clock.Advance(time.Second)
		res := h.refresh(b, rt)
		if res.Status != http.StatusOK {
			b.Fatalf("refresh: %d %s", res.Status, res.Body)
		}
		var tk tokens
		res.JSON(b, &tk)
		rt = tk.RefreshToken
	}
}

// BenchmarkAuthenticatedRequest measures GET /auth/me: token verification,
// the session-liveness check and one tenant read.
func BenchmarkAuthenticatedRequest(b *testing.B) {
	h := newHarness(b)
	u := h.register(b, uniqueEmail("benchme"))
	at := h.login(b, u, nil).AccessToken
	b.ResetTimer()
	for b.Loop() {
		if res := h.do(b, req{method: "GET", path: "/api/v1/auth/me", bearer: at}); res.Status != http.StatusOK {
			b.Fatalf("me: %d", res.Status)
		}
	}
}
