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

// withPrincipal puts the verified caller into the request context.
//
// SECURITY: this is the only way a principal (and so a tenant) enters a
// context, and it is called only by the authentication middleware after
// the access token's signature, type, issuer, audience, expiry and session
// liveness were checked. The tenant is never taken from anything else the
// client sends (headers, paths, bodies).
func withPrincipal(ctx context.Context, p core.Principal) context.Context {
	return context.WithValue(ctx, principalKey, p)
}

// principalFrom returns the authenticated caller; ok is false on public
// operations.
func principalFrom(ctx context.Context) (core.Principal, bool) {
	p, ok := ctx.Value(principalKey).(core.Principal)
	return p, ok
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
