package http

// Request context: who is calling (the principal, set only by the gate
// after the access token was verified) and from where (client address,
// user agent, device id, the raw request).

import (
	"context"
	"net"
	"net/http"
	"net/netip"
	"strings"

	"github.com/sessiond/sessiond/core"
)

type ctxKey int

const (
	principalKey ctxKey = iota
	stateKey
)

// withBearer puts the verified caller into the request context.
//
// SECURITY: this is the only way a caller (and so a tenant) enters a
// context, and it is called only by the authentication middleware after
// the access token's signature, type, issuer, audience and expiry were
// checked. The tenant is never taken from anything else the client sends
// (headers, paths, bodies). The session's liveness (JWT-09) is core's to
// check: a handler hands the core.Bearer to a use case that checks it in
// its own round trip, or gets a core.Principal through Server.caller,
// which checks it; there is no other way to a Principal.
func withBearer(ctx context.Context, b core.Bearer) context.Context {
	return context.WithValue(ctx, principalKey, b)
}

// bearerFrom returns the authenticated caller, liveness not checked; ok is
// false on public operations.
func bearerFrom(ctx context.Context) (core.Bearer, bool) {
	b, ok := ctx.Value(principalKey).(core.Bearer)
	return b, ok
}

// caller returns the authenticated caller once core found its session
// live (one round trip): what every handler whose use case takes a
// core.Principal uses.
func (s *Server) caller(ctx context.Context) (core.Principal, error) {
	b, ok := bearerFrom(ctx)
	if !ok {
		return core.Principal{}, core.Errorf(core.CodeInvalidToken, "an access token is required")
	}
	return s.svc.RequireLive(ctx, b)
}

// requestInfo carries what handlers need from the raw request.
type requestInfo struct {
	r      *http.Request
	client core.Client
}

func requestFrom(ctx context.Context) requestInfo {
	st := stateFrom(ctx)
	if st == nil {
		return requestInfo{}
	}
	return requestInfo{r: st.r, client: st.client}
}

// clientIP returns the caller's address: the peer address, unless the peer
// is a trusted proxy, in which case the right-most X-Forwarded-For entry
// that is not itself a trusted proxy. A forged X-Forwarded-For from an
// untrusted peer is ignored (LGN-07).
func clientIP(r *http.Request, trusted []netip.Prefix) netip.Addr {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	peer, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}
	}
	peer = peer.Unmap()
	if !inPrefixes(peer, trusted) {
		return peer
	}
	parts := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(parts) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(strings.TrimSpace(parts[i]))
		if err != nil {
			break
		}
		a = a.Unmap()
		if !inPrefixes(a, trusted) {
			return a
		}
	}
	return peer
}

func inPrefixes(a netip.Addr, ps []netip.Prefix) bool {
	for _, p := range ps {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

func bearerToken(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	if len(h) < 7 || !strings.EqualFold(h[:7], "bearer ") {
		return "", false
	}
	t := strings.TrimSpace(h[7:])
	return t, t != ""
}
