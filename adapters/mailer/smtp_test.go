package mailer_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"log/slog"
	"math/big"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/sessiond/sessiond/adapters/mailer"
)

// fakeOpts shapes the fake server: the address it listens on (default
// 127.0.0.1:0), the EHLO keywords it offers besides 8BITMIME, the
// certificate it answers STARTTLS with (none: it refuses STARTTLS with
// 454) and a pause before each reply.
type fakeOpts struct {
	listen string
	ext    []string
	cert   *tls.Certificate
	delay  time.Duration
}

// fakeSession is what the fake server saw on one connection: each command
// line, and the message if DATA completed.
type fakeSession struct {
	cmds []string
	data string
}

// transcript is the session as one text: commands, a blank line, the
// message.
func (s fakeSession) transcript() string { return strings.Join(s.cmds, "\n") + "\n\n" + s.data }

func (s fakeSession) saw(prefix string) bool {
	for _, c := range s.cmds {
		if strings.HasPrefix(strings.ToUpper(c), prefix) {
			return true
		}
	}
	return false
}

// fakeSMTP is a minimal SMTP server on loopback that hands each finished
// connection's session to sessions.
func fakeSMTP(t *testing.T, o fakeOpts) (addr string, sessions <-chan fakeSession) {
	t.Helper()
	if o.listen == "" {
		o.listen = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", o.listen)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	out := make(chan fakeSession, 8)
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go serveSMTP(conn, o, out)
		}
	}()
	return ln.Addr().String(), out
}

func serveSMTP(conn net.Conn, o fakeOpts, out chan<- fakeSession) {
	var s fakeSession
	defer func() {
		conn.Close()
		select {
		case out <- s:
		default:
		}
	}()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(conn)
	say := func(s string) {
		time.Sleep(o.delay)
		_, _ = io.WriteString(conn, s+"\r\n")
	}
	say("220 fake ESMTP")
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		s.cmds = append(s.cmds, strings.TrimSpace(line))
		cmd := strings.ToUpper(strings.TrimSpace(line))
		switch {
		case strings.HasPrefix(cmd, "EHLO"), strings.HasPrefix(cmd, "HELO"):
			ext := append([]string{"fake"}, o.ext...)
			for _, e := range ext {
				say("250-" + e)
			}
			say("250 8BITMIME")
		case cmd == "STARTTLS":
			if o.cert == nil {
				say("454 4.7.0 TLS not available")
				continue
			}
			say("220 go ahead")
			tc := tls.Server(conn, &tls.Config{Certificates: []tls.Certificate{*o.cert}})
			if err := tc.Handshake(); err != nil {
				s.cmds = append(s.cmds, "(TLS handshake failed)")
				return
			}
			conn, r = tc, bufio.NewReader(tc)
		case strings.HasPrefix(cmd, "AUTH"):
			say("235 2.7.0 accepted")
		case cmd == "DATA":
			say("354 go ahead")
			var data bytes.Buffer
			for {
				l, err := r.ReadString('\n')
				if err != nil {
					return
				}
				if l == ".\r\n" {
					break
				}
				data.WriteString(strings.TrimPrefix(l, ".")) // dot-stuffing
			}
			s.data = data.String()
			say("250 queued")
		case cmd == "QUIT":
			say("221 bye")
			return
		default:
			say("250 ok")
		}
	}
}

// session waits for the fake server's next finished connection.
func session(t *testing.T, sessions <-chan fakeSession) fakeSession {
	t.Helper()
	select {
	case s := <-sessions:
		return s
	case <-time.After(10 * time.Second):
		t.Fatal("no SMTP session")
		return fakeSession{}
	}
}

func TestSMTP_DeliversResetMailWithLink_NeverLogsToken(t *testing.T) {
	addr, sessions := fakeSMTP(t, fakeOpts{})
	var logs bytes.Buffer
	m, stop, err := mailer.NewSMTP(mailer.SMTPConfig{
		Addr: addr, From: "sessiond <no-reply@example.com>",
		ResetURL: "https://app.example.com/reset#token={token}", Timeout: 5 * time.Second,
	}, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	const token = "tok_abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
	exp := time.Date(2031, 3, 1, 9, 30, 0, 0, time.UTC)
	if err := m.SendPasswordReset(context.Background(), "alice@example.com", token, exp); err != nil {
		t.Fatal(err)
	}
	s := session(t, sessions)
	stop()
	got := s.transcript()
	for _, want := range []string{"MAIL FROM:<no-reply@example.com>", "RCPT TO:<alice@example.com>"} {
		if !strings.Contains(got, want) {
			t.Errorf("session lacks %q:\n%s", want, got)
		}
	}
	// The body is quoted-printable (go-mail's default, line-length safe
	// for any relay): what the recipient reads is the decoded parts.
	h, parts := mailer.ReadMail(t, s.data)
	if to, err := h.AddressList("To"); err != nil || len(to) != 1 || to[0].Name != "" || to[0].Address != "alice@example.com" {
		t.Errorf("To %q", h.Get("To"))
	}
	if from, err := h.AddressList("From"); err != nil || len(from) != 1 || from[0].Name != "sessiond" || from[0].Address != "no-reply@example.com" {
		t.Errorf("From %q", h.Get("From"))
	}
	if h.Get("Subject") != "Reset your password" || h.Get("Auto-Submitted") != "auto-generated" || h.Get("Date") == "" {
		t.Errorf("header %v", h)
	}
	for _, typ := range []string{"text/plain", "text/html"} {
		for _, want := range []string{"https://app.example.com/reset#token=" + token, "Sat, 01 Mar 2031 09:30:00 UTC"} {
			if !strings.Contains(parts[typ], want) {
				t.Errorf("%s part lacks %q:\n%s", typ, want, parts[typ])
			}
		}
	}
	if strings.Contains(logs.String(), token) {
		t.Errorf("token in logs: %s", logs.String())
	}
}

// A name or subject outside ASCII goes out as RFC 2047 encoded words, never
// as raw 8-bit header bytes (the subject: TestSMTP_NonASCIISubjectAndSenderName_EncodedWords).
func TestSMTP_NonASCIISenderName_DeliveredAsEncodedWords(t *testing.T) {
	addr, sessions := fakeSMTP(t, fakeOpts{})
	m, stop, err := mailer.NewSMTP(mailer.SMTPConfig{Addr: addr, From: "Équipe sessiond ✓ <no-reply@example.com>", Timeout: 5 * time.Second},
		slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	if err := m.SendEmailVerification(context.Background(), "bob@example.com", "tok", time.Now()); err != nil {
		t.Fatal(err)
	}
	h, parts := mailer.ReadMail(t, session(t, sessions).data)
	if from, err := h.AddressList("From"); err != nil || len(from) != 1 || from[0].Name != "Équipe sessiond ✓" || from[0].Address != "no-reply@example.com" {
		t.Errorf("From %q: %v %v", h.Get("From"), from, err)
	}
	if h.Get("Subject") != "Verify your email address" || !strings.Contains(parts["text/plain"], "tok") {
		t.Errorf("header %v, parts %q", h, parts)
	}
}

// failedDelivery sends a reset mail through a fresh SMTP mailer, waits
// for the worker to finish, and checks that the delivery failed, that the
// server got no message and that the token was not logged; it returns the
// fake server's session and the log.
func failedDelivery(t *testing.T, cfg mailer.SMTPConfig, sessions <-chan fakeSession) (fakeSession, string) {
	t.Helper()
	var logs bytes.Buffer
	m, stop, err := mailer.NewSMTP(cfg, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if err := m.SendPasswordReset(context.Background(), "alice@example.com", "tok_secret_value", time.Now()); err != nil {
		t.Fatal(err)
	}
	s := session(t, sessions)
	stop() // the worker has logged the outcome when this returns
	if !strings.Contains(logs.String(), "mail delivery failed") || strings.Contains(logs.String(), "mail delivered") {
		t.Errorf("delivery did not fail: %s\n%s", logs.String(), s.transcript())
	}
	if s.data != "" {
		t.Errorf("mail sent anyway:\n%s", s.transcript())
	}
	if strings.Contains(logs.String(), "tok_secret_value") {
		t.Errorf("token in logs: %s", logs.String())
	}
	return s, logs.String()
}

// A server that offers STARTTLS and then refuses it fails the delivery:
// the mail never goes out in plain text.
func TestSMTP_STARTTLSOfferedThenRefused_DeliveryFails(t *testing.T) {
	addr, sessions := fakeSMTP(t, fakeOpts{ext: []string{"STARTTLS"}})
	s, _ := failedDelivery(t, mailer.SMTPConfig{Addr: addr, From: "no-reply@example.com", Timeout: 5 * time.Second}, sessions)
	if !s.saw("STARTTLS") || s.saw("MAIL FROM") {
		t.Errorf("STARTTLS not tried, or the mail begun in plain text:\n%s", s.transcript())
	}
}

// Certificates are verified: a STARTTLS answered with a self-signed
// certificate fails the delivery.
func TestSMTP_STARTTLSWithUntrustedCertificate_DeliveryFails(t *testing.T) {
	addr, sessions := fakeSMTP(t, fakeOpts{ext: []string{"STARTTLS"}, cert: selfSigned(t)})
	s, logs := failedDelivery(t, mailer.SMTPConfig{Addr: addr, From: "no-reply@example.com", Timeout: 5 * time.Second}, sessions)
	if !s.saw("STARTTLS") || s.saw("MAIL FROM") || !strings.Contains(logs, "certificate") {
		t.Errorf("not refused for its certificate:\n%s\n%s", s.transcript(), logs)
	}
}

// With credentials, STARTTLS is required: to a server that is not
// localhost and offers no STARTTLS, the credentials are not sent and the
// delivery fails. (127.0.0.2 is loopback, but not a name the PLAIN rule
// treats as localhost.)
func TestSMTP_CredentialsWithoutSTARTTLS_NotSent_DeliveryFails(t *testing.T) {
	addr, sessions := fakeSMTP(t, fakeOpts{listen: "127.0.0.2:0", ext: []string{"AUTH PLAIN"}})
	s, logs := failedDelivery(t, mailer.SMTPConfig{
		Addr: addr, From: "no-reply@example.com", Username: "mailer", Password: "smtp-password-value", Timeout: 5 * time.Second,
	}, sessions)
	if s.saw("AUTH") || s.saw("MAIL FROM") || strings.Contains(s.transcript(), "smtp-password-value") || strings.Contains(logs, "smtp-password-value") {
		t.Errorf("credentials sent or logged:\n%s\n%s", s.transcript(), logs)
	}
}

// SMTPConfig.Timeout bounds the whole delivery, not each step: a server
// answering each command after 60 ms fails a 300 ms delivery before the
// message is sent (the DATA go-ahead comes after 7 pauses), although
// go-mail's per-step timeout (greeting to NOOP, 4 pauses; then to the
// end of DATA, 4 pauses) would let it through.
func TestSMTP_TimeoutBoundsTheWholeDelivery(t *testing.T) {
	addr, sessions := fakeSMTP(t, fakeOpts{delay: 60 * time.Millisecond})
	failedDelivery(t, mailer.SMTPConfig{Addr: addr, From: "no-reply@example.com", Timeout: 300 * time.Millisecond}, sessions)
}

func selfSigned(t *testing.T) *tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

func TestSMTP_RefusesHeaderInjectionInRecipient(t *testing.T) {
	m, stop, err := mailer.NewSMTP(mailer.SMTPConfig{Addr: "127.0.0.1:1", From: "no-reply@example.com"}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	for _, to := range []string{"a@example.com\r\nBcc: b@example.com", "Alice <a@example.com>", "not an address"} {
		if err := m.SendPasswordReset(context.Background(), to, "t", time.Now()); err == nil {
			t.Errorf("recipient %q accepted", to)
		}
	}
}

func TestLog_NeverLogsToken(t *testing.T) {
	var logs bytes.Buffer
	m := mailer.NewLog(slog.New(slog.NewTextHandler(&logs, nil)))
	if err := m.SendPasswordReset(context.Background(), "bob@example.com", "secret-token-value", time.Now()); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(logs.String(), "secret-token-value") || !strings.Contains(logs.String(), "bob@example.com") {
		t.Errorf("log line: %s", logs.String())
	}
}
