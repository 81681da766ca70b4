package audit

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/sessiond/sessiond/core"
)

// Guard is the SSRF guard of deliveries: it dials only public addresses
// (core.IsPublicAddr) unless AllowPrivate (development and tests). The
// address is checked where it counts, at connect time: the dialer's
// Control hook sees the very address the socket is about to connect to,
// after resolution, so a name that resolves (or re-resolves: DNS
// rebinding) to a private, loopback, link-local or metadata address is
// refused before a packet leaves.
type Guard struct {
	AllowPrivate bool
	// Resolver resolves host names (nil: net.DefaultResolver). Tests stub
	// it.
	Resolver Resolver
	// DialTimeout bounds one connection attempt (0: 5 s).
	DialTimeout time.Duration
	// BeforeConnect, when set, runs after the address check, just before
	// connect(2), with the address about to be dialled; an error aborts
	// the connection. Tests make it fail rather than connect anywhere
	// outside 127.0.0.0/8.
	BeforeConnect func(network, address string) error
}

// Resolver is the part of net.Resolver the guard uses.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// BlockedError is a connection refused by the guard.
type BlockedError struct{ Addr string }

func (e *BlockedError) Error() string {
	return fmt.Sprintf("address %s is not a public address (private, loopback, link-local or reserved targets are refused)", e.Addr)
}

// Allowed reports whether ip may be dialled.
func (g *Guard) Allowed(ip netip.Addr) bool { return g.AllowPrivate || core.IsPublicAddr(ip) }

func (g *Guard) resolver() Resolver {
	if g.Resolver != nil {
		return g.Resolver
	}
	return net.DefaultResolver
}

// control is the dialer's Control hook: the connect-time check.
func (g *Guard) control(_ context.Context, network, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil || !g.Allowed(ap.Addr()) {
		return &BlockedError{Addr: address}
	}
	if g.BeforeConnect != nil {
		return g.BeforeConnect(network, address)
	}
	return nil
}

// DialContext resolves addr's host and dials its addresses in turn, each
// checked at connect time.
func (g *Guard) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	port, err := strconv.ParseUint(portStr, 10, 16)
	if err != nil {
		return nil, fmt.Errorf("port %q: %w", portStr, err)
	}
	var ips []netip.Addr
	if ip, err := netip.ParseAddr(host); err == nil {
		ips = []netip.Addr{ip}
	} else if ips, err = g.resolver().LookupNetIP(ctx, "ip", host); err != nil {
		return nil, err
	}
	timeout := g.DialTimeout
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	d := net.Dialer{Timeout: timeout, ControlContext: g.control}
	var firstErr error
	for _, ip := range ips {
		conn, err := d.DialContext(ctx, network, netip.AddrPortFrom(ip.Unmap(), uint16(port)).String())
		if err == nil {
			return conn, nil
		}
		if firstErr == nil {
			firstErr = err
		}
	}
	if firstErr == nil {
		firstErr = fmt.Errorf("%s: no address", host)
	}
	return nil, firstErr
}

// CheckURL refuses, early, an endpoint URL whose host is a literal address
// (or localhost) the guard would refuse; names are checked at every
// connection. A core.WebhookTargetCheck.
func (g *Guard) CheckURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return core.FieldError(core.CodeValidation, "url", "url is not valid")
	}
	host := strings.TrimSuffix(strings.ToLower(u.Hostname()), ".")
	if g.AllowPrivate {
		return nil
	}
	if ip, err := netip.ParseAddr(host); err == nil && !g.Allowed(ip) {
		return core.FieldError(core.CodeValidation, "url", "url points to a non-public address (%s); deliveries go only to public addresses", ip)
	}
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return core.FieldError(core.CodeValidation, "url", "url points to localhost; deliveries go only to public addresses")
	}
	return nil
}

// IsBlocked reports whether err is (or wraps) a guard refusal.
func IsBlocked(err error) bool {
	var b *BlockedError
	return errors.As(err, &b)
}
