package http

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// CORS (README "Browser clients", CK-04): the origins in Config.AllowedOrigins (ALLOWED_ORIGINS) get
// credentialed CORS answers, preflight included, so a browser app on another
// origin can call the API with the cookie transport; any other origin gets
// no CORS header at all, so the browser keeps its responses from it. The
// CSRF check (cookies.go) still applies to cookie-borne requests from every
// origin and reads the same parsed list (Origins), so the two can never
// disagree about an origin.
const (
	corsAllowMethods = "GET, POST, PATCH, DELETE"
	// The request headers the API reads. Content-Type is listed because
	// application/json is not a CORS-safelisted content type; traceparent
	// and tracestate because a traced page (OpenTelemetry in the browser)
	// sends them, and a preflight that refuses them fails its every call.
	corsAllowHeaders = "Authorization, Content-Type, X-CSRF-Token, X-Device-Id, X-Session-Transport, X-Request-Id, traceparent, tracestate"
	// The response headers a page may read besides the safelisted ones
	// (traceparent: the request's trace, when tracing is on).
	corsExposeHeaders = "Retry-After, X-Request-Id, WWW-Authenticate, traceparent"
	// How long a browser may cache a preflight answer, in seconds (Chromium
	// caps it at 7200).
	corsMaxAge = "600"
)

// Origins is a parsed ALLOWED_ORIGINS list: each entry an exact web origin
// in the form a browser sends it in the Origin header (lower-case scheme
// and host, no default port). It is the one list both CORS and the CSRF
// origin check consult (docs/security-checklist.md CK-02).
type Origins struct{ set map[string]struct{} }

// ParseOrigins validates and canonicalises origins. Each must be
// scheme://host[:port] with scheme http or https: a wildcard ("*"), the
// opaque origin "null", a path (even a trailing "/"), a query, a fragment
// or user info is refused, because CORS with credentials must name exact
// origins and a page at "null" (sandboxed frames, data: URLs, file:) can be
// anyone.
func ParseOrigins(list []string) (Origins, error) {
	o := Origins{set: map[string]struct{}{}}
	var bad []string
	for _, raw := range list {
		c, err := canonicalOrigin(raw)
		if err != nil {
			bad = append(bad, err.Error())
			continue
		}
		o.set[c] = struct{}{}
	}
	if len(bad) > 0 {
		return Origins{}, fmt.Errorf("%s", strings.Join(bad, "; "))
	}
	return o, nil
}

// canonicalOrigin returns raw as a browser serialises the origin, or why
// raw is not an origin.
func canonicalOrigin(raw string) (string, error) {
	s := strings.TrimSpace(raw)
	switch {
	case s == "":
		return "", fmt.Errorf("an empty entry is not an origin")
	case s == "*" || strings.Contains(s, "*"):
		return "", fmt.Errorf("%q: wildcards are refused; list each origin as scheme://host[:port]", raw)
	case strings.EqualFold(s, "null"):
		return "", fmt.Errorf("%q: the opaque origin null is refused (sandboxed frames, file: and data: pages all send it)", raw)
	}
	u, err := url.Parse(s)
	if err != nil {
		return "", fmt.Errorf("%q is not an origin (scheme://host[:port]): %v", raw, err)
	}
	scheme := strings.ToLower(u.Scheme)
	if scheme != "http" && scheme != "https" {
		return "", fmt.Errorf("%q: the scheme must be http or https (scheme://host[:port])", raw)
	}
	if u.Opaque != "" || u.Host == "" || u.Hostname() == "" {
		return "", fmt.Errorf("%q has no host (scheme://host[:port])", raw)
	}
	if u.User != nil {
		return "", fmt.Errorf("%q: user info is not part of an origin", raw)
	}
	if u.Path != "" || u.RawPath != "" {
		return "", fmt.Errorf("%q: an origin has no path, not even a trailing slash (scheme://host[:port])", raw)
	}
	if u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || strings.ContainsAny(s, "?#") {
		return "", fmt.Errorf("%q: an origin has no query or fragment (scheme://host[:port])", raw)
	}
	host := strings.ToLower(u.Hostname())
	port := u.Port()
	if port != "" {
		n, err := strconv.Atoi(port)
		if err != nil || n < 1 || n > 65535 {
			return "", fmt.Errorf("%q: port %q is not between 1 and 65535", raw, port)
		}
		if (scheme == "https" && n == 443) || (scheme == "http" && n == 80) {
			port = "" // browsers omit the default port
		} else {
			port = strconv.Itoa(n)
		}
	}
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	if port != "" {
		return scheme + "://" + host + ":" + port, nil
	}
	return scheme + "://" + host, nil
}

// Allowed reports whether a request's Origin header names a listed origin.
func (o Origins) Allowed(origin string) bool {
	if origin == "" || len(o.set) == 0 {
		return false
	}
	c, err := canonicalOrigin(origin)
	if err != nil {
		return false
	}
	_, ok := o.set[c]
	return ok
}

// Len is the number of listed origins.
func (o Origins) Len() int { return len(o.set) }

// cors answers preflights itself (before routing and validation: the
// contract has no OPTIONS operations) and decorates actual responses to
// allowed origins.
func (s *Server) cors(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		// Every answer may differ by Origin: caches must key on it.
		h.Add("Vary", "Origin")
		origin := r.Header.Get("Origin")
		allowed := s.origins.Allowed(origin)
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
