package audit_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/sessiond/sessiond/adapters/audit"
	"github.com/sessiond/sessiond/adapters/clock"
	"github.com/sessiond/sessiond/core"
)

func tlsTrusting(roots *x509.CertPool) *tls.Config {
	return &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
}

// stubResolver answers names from a table: no DNS query leaves the test.
type stubResolver map[string][]netip.Addr

func (s stubResolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	if a, ok := s[host]; ok {
		return a, nil
	}
	return nil, &net_DNSError{host}
}

type net_DNSError struct{ host string }

func (e *net_DNSError) Error() string { return "no such host " + e.host }

func addrs(s ...string) []netip.Addr {
	var out []netip.Addr
	for _, a := range s {
		out = append(out, netip.MustParseAddr(a))
	}
	return out
}

// dialRecorder is the guard's BeforeConnect: it records every address a
// connection was about to be made to and lets through only 127.0.0.0/8;
// for anything else it aborts the connection (no packet is sent) and,
// unless the test expects it, fails the test.
type dialRecorder struct {
	t       *testing.T
	mu      sync.Mutex
	dialled []string
	expect  map[string]bool // non-loopback addresses the test expects to reach the hook (development setting on)
}

func (d *dialRecorder) hook(_, address string) error {
	d.mu.Lock()
	d.dialled = append(d.dialled, address)
	d.mu.Unlock()
	ap := netip.MustParseAddrPort(address)
	if ap.Addr().Is4() && netip.MustParsePrefix("127.0.0.0/8").Contains(ap.Addr()) {
		return nil
	}
	if !d.expect[ap.Addr().String()] {
		d.t.Errorf("a connection to %s reached the last hook", address)
	}
	return errTestNoConnect
}

var errTestNoConnect = &blockedByTest{}

type blockedByTest struct{}

func (*blockedByTest) Error() string { return "test: connection aborted before connect(2)" }

// SSRF: with the development setting off, literal and resolved private,
// loopback, link-local and metadata addresses are refused at connect time;
// the last hook is never reached (no socket ever connects). With it on,
// loopback is delivered to and the others reach the hook (which aborts).
func TestGuard_WHK05_PrivateTargets_RefusedUnlessDevelopmentSetting(t *testing.T) {
	recv := newReceiver(t)
	port := recv.srv.Listener.Addr().(interface{ String() string }).String()
	port = port[strings.LastIndexByte(port, ':')+1:]
	res := stubResolver{
		"internal.example":     addrs("10.1.2.3"),
		"metadata.example":     addrs("169.254.169.254"),
		"loopback.example.com": addrs("127.0.0.1"),                 // the test certificate is for *.example.com
		"rebind.example":       addrs("93.184.216.34", "10.0.0.1"), // public first; only the public one may be dialled
		"v6private.example":    addrs("fd00::1"),
		"mapped.example":       addrs("::ffff:10.0.0.7"),
		"metadata6.example":    addrs("fd00:ec2::254"),
		"cgnat.example":        addrs("100.64.0.1"),
		"unspecified.example":  addrs("0.0.0.0"),
	}
	targets := []string{
		"https://127.0.0.1:" + port + "/x",
		"https://10.0.0.5/x",
		"https://169.254.169.254/latest/meta-data/",
		"https://[::1]:" + port + "/x",
		"https://internal.example/x",
		"https://metadata.example/x",
		"https://loopback.example.com:" + port + "/x",
		"https://v6private.example/x",
		"https://mapped.example/x",
		"https://metadata6.example/x",
		"https://cgnat.example/x",
		"https://unspecified.example/x",
	}
	msg, err := core.NewWebhookTestMessage(uuid.New(), uuid.New(), nil, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(recv.srv.Certificate())
	secret := []string{core.NewWebhookSecret()}
	recv.setSecret(secret[0])

	t.Run("off", func(t *testing.T) {
		rec := &dialRecorder{t: t}
		g := &audit.Guard{Resolver: res, BeforeConnect: rec.hook}
		s := audit.NewSender(g, clock.System{}, audit.SenderOptions{TLS: tlsTrusting(roots), Timeout: 2 * time.Second})
		for _, u := range targets {
			a := s.Send(context.Background(), core.WebhookTarget{URL: u, Secrets: secret}, msg)
			if a.Outcome != core.WebhookBlocked {
				t.Errorf("%s: outcome %s (%s), want blocked", u, a.Outcome, a.Error)
			}
		}
		if len(rec.dialled) != 0 {
			t.Errorf("connections reached the last hook: %v", rec.dialled)
		}
		if hits := recv.hits; hits != 0 {
			t.Errorf("the loopback receiver was reached %d times", hits)
		}
		for _, u := range []string{"https://10.0.0.5/x", "https://169.254.169.254/", "https://[::1]/", "https://localhost/x", "https://a.localhost/"} {
			if err := g.CheckURL(u); core.ErrorCode(err) != core.CodeValidation {
				t.Errorf("CheckURL(%s) = %v, want a validation error", u, err)
			}
		}
		if err := g.CheckURL("https://hooks.example.com/x"); err != nil {
			t.Errorf("a public name refused early: %v", err)
		}
	})

	t.Run("on", func(t *testing.T) {
		rec := &dialRecorder{t: t, expect: map[string]bool{"10.0.0.5": true, "169.254.169.254": true, "10.1.2.3": true,
			"fd00::1": true, "::1": true, "10.0.0.7": true, "fd00:ec2::254": true, "100.64.0.1": true, "0.0.0.0": true}}
		g := &audit.Guard{AllowPrivate: true, Resolver: res, BeforeConnect: rec.hook}
		s := audit.NewSender(g, clock.System{}, audit.SenderOptions{TLS: tlsTrusting(roots), Timeout: 2 * time.Second})
		for _, u := range targets {
			a := s.Send(context.Background(), core.WebhookTarget{URL: u, Secrets: secret}, msg)
			loop := strings.Contains(u, "127.0.0.1") || strings.Contains(u, "loopback.example.com")
			switch {
			case loop && a.Outcome != core.WebhookDelivered:
				t.Errorf("%s: outcome %s (%s), want the receiver's answer", u, a.Outcome, a.Error)
			case !loop && a.Outcome == core.WebhookDelivered:
				t.Errorf("%s delivered", u)
			}
		}
	})

	t.Run("rebinding", func(t *testing.T) {
		// A name that resolves to a public and a private address: the
		// public one is tried (and aborted by the hook: it is not
		// loopback), the private one never reaches a socket.
		rec := &dialRecorder{t: t, expect: map[string]bool{"93.184.216.34": true}}
		g := &audit.Guard{Resolver: res, BeforeConnect: rec.hook}
		s := audit.NewSender(g, clock.System{}, audit.SenderOptions{Timeout: 2 * time.Second})
		a := s.Send(context.Background(), core.WebhookTarget{URL: "https://rebind.example/x", Secrets: secret}, msg)
		if a.Outcome == core.WebhookDelivered {
			t.Fatal("delivered")
		}
		for _, d := range rec.dialled {
			if strings.HasPrefix(d, "10.") {
				t.Errorf("the private address reached the hook: %s", d)
			}
		}
	})
}

// A redirect is not followed: the delivery fails with the 3xx, and the
// redirect's target is never contacted.
func TestSender_WHK05_RedirectNotFollowed(t *testing.T) {
	var targetHits int
	var mu sync.Mutex
	target := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		mu.Lock()
		targetHits++
		mu.Unlock()
	}))
	defer target.Close()
	redirector := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target.URL+"/elsewhere", http.StatusTemporaryRedirect)
	}))
	defer redirector.Close()
	roots := x509.NewCertPool()
	roots.AddCert(target.Certificate())
	roots.AddCert(redirector.Certificate())
	g := &audit.Guard{AllowPrivate: true, BeforeConnect: loopbackOnly(t)}
	s := audit.NewSender(g, clock.System{}, audit.SenderOptions{TLS: tlsTrusting(roots)})
	msg, _ := core.NewWebhookTestMessage(uuid.New(), uuid.New(), nil, time.Now())
	a := s.Send(context.Background(), core.WebhookTarget{URL: redirector.URL + "/hook", Secrets: []string{core.NewWebhookSecret()}}, msg)
	if a.Outcome != core.WebhookHTTPError || a.StatusCode != http.StatusTemporaryRedirect || !strings.Contains(a.Error, "redirect") {
		t.Fatalf("attempt %+v", a)
	}
	if targetHits != 0 {
		t.Fatalf("the redirect target was contacted %d times", targetHits)
	}
}

// A large answer is read only up to the limit, and a slow one is cut at
// the timeout.
func TestSender_WHK05_BoundedRead_AndTimeout(t *testing.T) {
	big := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusOK)
		chunk := make([]byte, 64<<10)
		for range 1 << 10 { // 64 MiB, if anyone read it all
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	}))
	defer big.Close()
	slow := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(2 * time.Second):
		}
	}))
	defer slow.Close()
	roots := x509.NewCertPool()
	roots.AddCert(big.Certificate())
	roots.AddCert(slow.Certificate())
	g := &audit.Guard{AllowPrivate: true, BeforeConnect: loopbackOnly(t)}
	s := audit.NewSender(g, clock.System{}, audit.SenderOptions{TLS: tlsTrusting(roots), Timeout: 500 * time.Millisecond})
	msg, _ := core.NewWebhookTestMessage(uuid.New(), uuid.New(), nil, time.Now())
	sec := []string{core.NewWebhookSecret()}
	if a := s.Send(context.Background(), core.WebhookTarget{URL: big.URL, Secrets: sec}, msg); a.Outcome != core.WebhookDelivered {
		t.Errorf("large answer: %+v", a)
	}
	start := time.Now()
	if a := s.Send(context.Background(), core.WebhookTarget{URL: slow.URL, Secrets: sec}, msg); a.Outcome != core.WebhookNetworkError {
		t.Errorf("slow answer: %+v", a)
	}
	if el := time.Since(start); el > 3*time.Second {
		t.Errorf("the slow answer took %s, want the 500 ms timeout", el)
	}
}
