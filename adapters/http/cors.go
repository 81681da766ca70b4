package http

import "net/http"

// CORS (SPEC §6): the origins in Config.AllowedOrigins (ALLOWED_ORIGINS) get
// credentialed CORS answers, preflight included, so a browser app on another
// origin can call the API with the cookie transport; any other origin gets
// no CORS header at all, so the browser keeps its responses from it. The
// CSRF check (cookies.go) still applies to cookie-borne requests from every
// origin; CORS only decides what a browser lets a page read and send.
const (
	corsAllowMethods = "GET, POST, PATCH, DELETE"
	// The request headers the API reads. Content-Type is listed because
	// application/json is not a CORS-safelisted content type.
	corsAllowHeaders = "Authorization, Content-Type, X-CSRF-Token, X-Device-Id, X-Session-Transport, X-Request-Id"
	// The response headers a page may read besides the safelisted ones.
	corsExposeHeaders = "Retry-After, X-Request-Id, WWW-Authenticate"
	// How long a browser may cache a preflight answer, in seconds (Chromium
	// caps it at 7200).
	corsMaxAge = "600"
)

// cors answers preflights itself (before routing and validation: the
// contract has no OPTIONS operations) and decorates actual responses to
// allowed origins.
func (s *Server) cors(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		// Every answer may differ by Origin: caches must key on it.
		h.Add("Vary", "Origin")
		origin := r.Header.Get("Origin")
		allowed := origin != "" && origin != "null" && s.explicitlyAllowed(origin)
		if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
			h.Add("Vary", "Access-Control-Request-Method")
			h.Add("Vary", "Access-Control-Request-Headers")
			if allowed {
				h.Set("Access-Control-Allow-Origin", origin)
				h.Set("Access-Control-Allow-Credentials", "true")
				h.Set("Access-Control-Allow-Methods", corsAllowMethods)
				h.Set("Access-Control-Allow-Headers", corsAllowHeaders)
				h.Set("Access-Control-Max-Age", corsMaxAge)
			}
			// A preflight from another origin gets the same 204 without any
			// CORS header: the browser then refuses the actual request.
			w.WriteHeader(http.StatusNoContent)
			return
		}
		if allowed {
			h.Set("Access-Control-Allow-Origin", origin)
			h.Set("Access-Control-Allow-Credentials", "true")
			h.Set("Access-Control-Expose-Headers", corsExposeHeaders)
		}
		next.ServeHTTP(w, r)
	})
}
