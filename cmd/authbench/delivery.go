package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

// DeliveryResult is the webhook-delivery scenario's figure: how many events
// per second one server instance delivers to a local receiver, and what
// each costs in CPU.
type DeliveryResult struct {
	Scenario        string    `json:"scenario"`
	StartedAt       time.Time `json:"started_at"`
	Events          int       `json:"events"`
	Tenants         int       `json:"tenants"` // each with one endpoint; events round robin
	Received        int       `json:"received"`
	Rejected        int64     `json:"rejected_signatures"`
	Seconds         float64   `json:"seconds"`
	EventsPerSecond float64   `json:"events_per_second"`
	FirstAfterMs    float64   `json:"first_delivery_after_ms"` // the worker polls (WEBHOOK_POLL_INTERVAL, 1 s)
	// SteadyPerSecond: events/s from the first delivery to the last.
	SteadyPerSecond float64 `json:"steady_events_per_second"`
	CPU             CPU     `json:"cpu"` // per event
	Machine         Machine `json:"machine"`
}

// writeReceiverCert writes a self-signed ECDSA P-256 certificate for
// 127.0.0.1 (cert.pem) and its key (key.pem) into dir: the receiver's,
// which the server under test trusts through WEBHOOK_CA_FILE.
func writeReceiverCert(dir string) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: "authbench webhook receiver"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(7 * 24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true, IsCA: true, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return err
	}
	kd, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "cert.pem"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "key.pem"), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kd}), 0o600)
}

// benchDelivery measures the server's own delivery worker: the owners of
// tenants 0 … -delivery-tenants − 1 (real sign-ins) each register an
// endpoint on a local TLS receiver
// (-receiver: the certificate the server trusts through WEBHOOK_CA_FILE;
// the server runs with WEBHOOK_ALLOW_PRIVATE_TARGETS, scripts/bench.sh)
// for auth.login_failed; then -delivery-events events, round robin over
// those tenants, are committed at once (one INSERT … generate_series as the superuser, as seeding does),
// and the clock runs from that commit until the receiver has received and
// verified (standardwebhooks, the official Go package) every one of them.
// The server's and PostgreSQL's CPU over that window, divided by the
// events, is the CPU per event.
func benchDelivery(ctx context.Context, e env, o options, probe cpuProbe, log *slog.Logger) (DeliveryResult, error) {
	r := DeliveryResult{Scenario: "webhook-delivery", StartedAt: time.Now().UTC(), Events: o.deliveryEvents}
	if o.receiver == "" || o.db == "" {
		return r, errors.New("webhook-delivery needs -receiver (a directory from -receiver-cert, trusted by the server) and -db: run it through make bench")
	}
	k := o.deliveryTenants
	if k < 1 || k > o.tenants {
		return r, fmt.Errorf("-delivery-tenants %d: want 1 … -tenants (%d)", k, o.tenants)
	}
	r.Tenants = k
	rc, err := startReceiver(o.receiver)
	if err != nil {
		return r, err
	}
	defer rc.close()
	eps, err := registerEndpoints(ctx, e, rc, k)
	defer func() { // leave no endpoint behind for a later scenario
		for _, ep := range eps {
			e.api.do(context.Background(), "DELETE", "/accounts/me/webhooks/"+ep.id, ep.bearer, nil)
		}
	}()
	if err != nil {
		return r, err
	}
	time.Sleep(50 * time.Millisecond) // events strictly after the endpoint's creation

	conn, err := pgx.Connect(ctx, o.db)
	if err != nil {
		return r, err
	}
	defer func() { _ = conn.Close(context.Background()) }()
	log.Info("committing events, then waiting for the server to deliver them", "events", o.deliveryEvents)
	cpu0 := probe.snapshot()
	if _, err := conn.Exec(ctx, `INSERT INTO audit_events (account_id, id, actor_user_id, action, resource_type, resource_id, details, ip_address, user_agent, created_at)
		SELECT md5('bench-t-' || (i % $2::int))::uuid, gen_random_uuid(), NULL, 'auth.login_failed', 'user', md5('bench-u-' || (i % $2::int) || '-0')::uuid::text,
		       jsonb_build_object('reason', 'invalid_password', 'n', i), ('203.0.113.' || (1 + i % 250))::inet, 'authbench', clock_timestamp()
		FROM generate_series(1, $1::int) i`, o.deliveryEvents, k); err != nil {
		return r, fmt.Errorf("commit events: %w", err)
	}
	start := time.Now()
	end := rc.waitFor(ctx, int64(o.deliveryEvents), start.Add(10*time.Minute))
	r.CPU = cpuPerRequest(cpu0, probe.snapshot(), int(rc.got.Load()))
	return r, rc.summarize(&r, start, end)
}

// receiver is the local TLS endpoint every registered webhook points at:
// it verifies each delivery's signature with the endpoint's secret
// (standardwebhooks, the official Go package) and counts distinct
// deliveries.
type receiver struct {
	srv  *http.Server
	port uint16

	mu  sync.Mutex
	whs map[string]*standardwebhooks.Webhook // by path: /hook/<tenant>

	got, rejected atomic.Int64
	first         atomic.Int64 // unix nanos of the first delivery
	seen          sync.Map
}

// startReceiver serves on a loopback port with the certificate in dir.
func startReceiver(dir string) (*receiver, error) {
	cert, err := tls.LoadX509KeyPair(filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem"))
	if err != nil {
		return nil, fmt.Errorf("receiver certificate: %w", err)
	}
	rc := &receiver{whs: map[string]*standardwebhooks.Webhook{}}
	rc.srv = &http.Server{Handler: http.HandlerFunc(rc.serve), TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12},
		ReadHeaderTimeout: 5 * time.Second}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	go func() { _ = rc.srv.ServeTLS(ln, "", "") }()
	rc.port = netip.MustParseAddrPort(ln.Addr().String()).Port()
	return rc, nil
}

func (rc *receiver) close() { _ = rc.srv.Close() }

func (rc *receiver) serve(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(req.Body, 1<<20))
	rc.mu.Lock()
	v := rc.whs[req.URL.Path]
	rc.mu.Unlock()
	if v == nil || v.Verify(body, req.Header) != nil {
		rc.rejected.Add(1)
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	if _, dup := rc.seen.LoadOrStore(req.Header.Get("webhook-id"), true); !dup {
		rc.first.CompareAndSwap(0, time.Now().UnixNano())
		rc.got.Add(1)
	}
	w.WriteHeader(http.StatusNoContent)
}

// trust lets the receiver verify deliveries to path with secret.
func (rc *receiver) trust(path, secret string) error {
	v, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		return err
	}
	rc.mu.Lock()
	rc.whs[path] = v
	rc.mu.Unlock()
	return nil
}

// waitFor waits until n deliveries arrived, the deadline passed or ctx
// ended, and returns when it stopped.
func (rc *receiver) waitFor(ctx context.Context, n int64, deadline time.Time) time.Time {
	for rc.got.Load() < n && ctx.Err() == nil && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	return time.Now()
}

// summarize fills r's counts and rates for the window start … end.
func (rc *receiver) summarize(r *DeliveryResult, start, end time.Time) error {
	r.Received, r.Rejected = int(rc.got.Load()), rc.rejected.Load()
	if r.Received < r.Events {
		return fmt.Errorf("only %d of %d events delivered in %s", r.Received, r.Events, end.Sub(start).Round(time.Second))
	}
	el := end.Sub(start)
	r.Seconds = roundTo(el.Seconds(), 3)
	r.EventsPerSecond = roundTo(float64(r.Received)/el.Seconds(), 1)
	if f := rc.first.Load(); f > 0 {
		r.FirstAfterMs = roundTo(float64(f-start.UnixNano())/1e6, 1)
		if d := end.Sub(time.Unix(0, f)).Seconds(); d > 0 {
			r.SteadyPerSecond = roundTo(float64(r.Received-1)/d, 1)
		}
	}
	return nil
}

// deliveryEndpoint is a registered endpoint and its owner's bearer token
// (to delete it afterwards).
type deliveryEndpoint struct{ bearer, id string }

// registerEndpoints has the owners of tenants 0 … k−1 (real sign-ins)
// register one endpoint each on the receiver, each with its own secret.
// It returns what it registered, also on error.
func registerEndpoints(ctx context.Context, e env, rc *receiver, k int) ([]deliveryEndpoint, error) {
	var eps []deliveryEndpoint
	for j := range k {
		s, err := e.signIn(ctx, seededEmail(j, 0))
		if err != nil {
			return eps, err
		}
		path := fmt.Sprintf("/hook/%d", j)
		c := e.api.do(ctx, "POST", "/accounts/me/webhooks", s.tp.AccessToken, jsonBody(map[string]any{
			"url": fmt.Sprintf("https://127.0.0.1:%d%s", rc.port, path), "description": "authbench", "event_types": []string{"auth.login_failed"}}))
		if c.status == http.StatusServiceUnavailable {
			return eps, errors.New("the server has no WEBHOOK_SECRETS_KEY (webhooks not configured): run it through make bench with -scenario webhook-delivery")
		}
		if !c.ok() {
			return eps, fmt.Errorf("create endpoint: %w: %s", c.err(), c.body)
		}
		var ep struct {
			ID     string `json:"id"`
			Secret string `json:"secret"`
		}
		if err := json.Unmarshal(c.body, &ep); err != nil {
			return eps, err
		}
		eps = append(eps, deliveryEndpoint{bearer: s.tp.AccessToken, id: ep.ID})
		if err := rc.trust(path, ep.Secret); err != nil {
			return eps, err
		}
	}
	return eps, nil
}

func deliveryTable(r DeliveryResult) string {
	var b strings.Builder
	fmt.Fprintf(&b, "\nwebhook-delivery: one server instance (its own delivery worker) to a local TLS receiver verifying every signature (standardwebhooks)\n\n")
	b.WriteString("| tenants (endpoints) | events | received | rejected signatures | seconds | events/s | first after ms | steady events/s | server CPU ms/event | PG CPU ms/event | server cores | PG cores |\n|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	fmt.Fprintf(&b, "| %d | %d | %d | %d | %.2f | %.0f | %.0f | %.0f | %s | %s | %s | %s |\n", r.Tenants, r.Events, r.Received, r.Rejected, r.Seconds, r.EventsPerSecond, r.FirstAfterMs, r.SteadyPerSecond,
		cpuCell(r.CPU.ServerMsPerReq), cpuCell(r.CPU.PostgresMsPerReq), cpuCell(r.CPU.ServerCores), cpuCell(r.CPU.PostgresCores))
	return b.String()
}
