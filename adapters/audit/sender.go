package audit

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/sessiond/sessiond/core"
)

// Standard Webhooks headers.
const (
	HeaderID        = "webhook-id"
	HeaderTimestamp = "webhook-timestamp"
	HeaderSignature = "webhook-signature"
)

// SenderOptions tune the HTTP side of deliveries.
type SenderOptions struct {
	// Timeout bounds one delivery, connection to last byte read (0: 10 s).
	Timeout time.Duration
	// MaxResponseBytes is how much of a response body is read (0: 4 KiB);
	// the rest is dropped with the connection.
	MaxResponseBytes int64
	// TLS is the client TLS configuration (nil: the system's roots). Tests
	// trust their httptest server's certificate here.
	TLS *tls.Config
}

// Sender signs and posts messages through the guard. Redirects are not
// followed (a 3xx is a failed delivery): the target is what the owner
// registered, and a redirect could point anywhere.
type Sender struct {
	client  *http.Client
	clock   core.Clock
	maxBody int64
}

var _ core.WebhookSender = (*Sender)(nil)

// NewSender returns a sender dialling through g; clock dates the
// signatures (webhook-timestamp).
func NewSender(g *Guard, clock core.Clock, o SenderOptions) *Sender {
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	if o.MaxResponseBytes <= 0 {
		o.MaxResponseBytes = 4 << 10
	}
	tlsConf := o.TLS
	if tlsConf == nil {
		tlsConf = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	tr := &http.Transport{
		Proxy:                  nil, // never through an environment proxy: it would dial for us, past the guard
		DialContext:            g.DialContext,
		TLSClientConfig:        tlsConf,
		ForceAttemptHTTP2:      true,
		TLSHandshakeTimeout:    5 * time.Second,
		ResponseHeaderTimeout:  o.Timeout,
		MaxIdleConns:           100,
		MaxIdleConnsPerHost:    4,
		IdleConnTimeout:        60 * time.Second,
		MaxResponseHeaderBytes: 16 << 10,
	}
	return &Sender{
		client: &http.Client{
			Transport:     tr,
			Timeout:       o.Timeout,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		clock: clock, maxBody: o.MaxResponseBytes,
	}
}

// Sign returns the webhook-signature value of a message for the secrets:
// "v1,<base64 HMAC-SHA256 of id.timestamp.payload>", space-separated, one
// per secret (Standard Webhooks).
func Sign(id string, ts time.Time, payload []byte, secrets []string) (string, error) {
	sigs := make([]string, 0, len(secrets))
	for _, s := range secrets {
		key, err := core.WebhookSecretKey(s)
		if err != nil {
			return "", err
		}
		h := hmac.New(sha256.New, key)
		fmt.Fprintf(h, "%s.%d.", id, ts.Unix())
		h.Write(payload)
		sigs = append(sigs, "v1,"+base64.StdEncoding.EncodeToString(h.Sum(nil)))
	}
	return strings.Join(sigs, " "), nil
}

// Send posts m to t now and reports the attempt (At, Outcome, StatusCode,
// Latency, Error; the caller fills in the ids).
func (s *Sender) Send(ctx context.Context, t core.WebhookTarget, m core.WebhookMessage) core.WebhookAttempt {
	now := s.clock.Now()
	a := core.WebhookAttempt{At: now}
	sig, err := Sign(m.ID, now, m.Payload, t.Secrets)
	if err != nil {
		a.Outcome, a.Error = core.WebhookNetworkError, "signing failed: "+err.Error()
		return a
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.URL, bytes.NewReader(m.Payload))
	if err != nil {
		a.Outcome, a.Error = core.WebhookNetworkError, "invalid request: "+err.Error()
		return a
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "sessiond-webhooks/1")
	req.Header.Set(HeaderID, m.ID)
	req.Header.Set(HeaderTimestamp, strconv.FormatInt(now.Unix(), 10))
	req.Header.Set(HeaderSignature, sig)
	start := time.Now()
	res, err := s.client.Do(req)
	if err != nil {
		a.Latency = time.Since(start)
		a.Outcome, a.Error = core.WebhookNetworkError, err.Error()
		if IsBlocked(err) {
			a.Outcome = core.WebhookBlocked
			var b *BlockedError
			errors.As(err, &b)
			a.Error = b.Error()
		}
		return a
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, s.maxBody))
	_ = res.Body.Close()
	a.Latency = time.Since(start)
	a.StatusCode = res.StatusCode
	switch {
	case res.StatusCode >= 200 && res.StatusCode < 300:
		a.Outcome = core.WebhookDelivered
	case res.StatusCode >= 300 && res.StatusCode < 400:
		a.Outcome, a.Error = core.WebhookHTTPError, fmt.Sprintf("answered %d: redirects are not followed", res.StatusCode)
	default:
		a.Outcome, a.Error = core.WebhookHTTPError, fmt.Sprintf("answered %d", res.StatusCode)
	}
	return a
}

// CloseIdle closes idle connections (shutdown, tests).
func (s *Sender) CloseIdle() { s.client.CloseIdleConnections() }
