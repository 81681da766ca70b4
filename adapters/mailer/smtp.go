package mailer

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/mail"
	"net/smtp"
	"strings"
	"sync"
	"time"

	"github.com/sessiond/sessiond/core"
)

// SMTPConfig configures the SMTP mailer.
type SMTPConfig struct {
	// Addr is the server, host:port (SMTP_ADDR).
	Addr string
	// From is the sender address (SMTP_FROM).
	From string
	// Username and Password enable PLAIN authentication when Username is
	// set. net/smtp refuses to send them over an unencrypted connection
	// except to localhost.
	Username, Password string
	// ResetURL, when set, is the link mailed to the user, with "{token}"
	// replaced by the reset token (e.g. https://app.example.com/reset#token={token}).
	// When empty the mail carries the bare token.
	ResetURL string
	// VerifyURL and InviteURL are the same for the email-verification
	// and the invitation mail (EMAIL_VERIFICATION_URL, INVITATION_URL).
	VerifyURL, InviteURL string
	// Timeout bounds one delivery, connection to QUIT (default 30 s).
	Timeout time.Duration
	// QueueSize bounds the mails waiting for delivery (default 256).
	QueueSize int
}

// SMTP delivers mail through an SMTP server, using STARTTLS when the
// server offers it. Sending only queues the mail: a worker delivers it in
// the background, so neither a slow server nor the time delivery takes
// shows in the response to a reset request (which must not reveal whether
// the address is known).
type SMTP struct {
	cfg   SMTPConfig
	host  string
	from  string
	log   *slog.Logger
	queue chan outgoing
	wg    sync.WaitGroup

	mu     sync.RWMutex // guards closed and sending on queue
	closed bool
}

var _ core.Mailer = (*SMTP)(nil)

type outgoing struct {
	to  string
	msg []byte
}

// ErrQueueFull is returned when the delivery queue is full.
var ErrQueueFull = errors.New("mailer: delivery queue is full")

// NewSMTP validates cfg and starts the delivery worker. The returned
// cleanup stops accepting mail and waits (bounded) for the queue to drain.
func NewSMTP(cfg SMTPConfig, log *slog.Logger) (*SMTP, func(), error) {
	host, _, err := net.SplitHostPort(cfg.Addr)
	if err != nil || host == "" {
		return nil, nil, fmt.Errorf("SMTP_ADDR %q: want host:port", cfg.Addr)
	}
	from, err := mail.ParseAddress(cfg.From)
	if err != nil {
		return nil, nil, fmt.Errorf("SMTP_FROM %q: %w", cfg.From, err)
	}
	for name, u := range map[string]string{"PASSWORD_RESET_URL": cfg.ResetURL, "EMAIL_VERIFICATION_URL": cfg.VerifyURL, "INVITATION_URL": cfg.InviteURL} {
		if u != "" && !strings.Contains(u, "{token}") {
			return nil, nil, fmt.Errorf("%s must contain {token}", name)
		}
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	if cfg.QueueSize <= 0 {
		cfg.QueueSize = 256
	}
	s := &SMTP{cfg: cfg, host: host, from: from.Address, log: log, queue: make(chan outgoing, cfg.QueueSize)}
	s.wg.Add(1)
	go s.work()
	return s, s.close, nil
}

// SendPasswordReset implements core.Mailer: it renders the mail
// (templates.go) and queues it for delivery.
func (s *SMTP) SendPasswordReset(_ context.Context, to, token string, expiresAt time.Time) error {
	m, err := RenderPasswordReset(s.links(), token, expiresAt)
	return s.sendMail(to, m, err)
}

// SendEmailVerification implements core.Mailer, as SendPasswordReset.
func (s *SMTP) SendEmailVerification(_ context.Context, to, token string, expiresAt time.Time) error {
	m, err := RenderVerification(s.links(), token, expiresAt)
	return s.sendMail(to, m, err)
}

// SendInvitation implements core.Mailer, as SendPasswordReset.
func (s *SMTP) SendInvitation(_ context.Context, inv core.InvitationMail) error {
	m, err := RenderInvitation(s.links(), inv)
	return s.sendMail(inv.To, m, err)
}

func (s *SMTP) links() Links {
	return Links{Reset: s.cfg.ResetURL, Verify: s.cfg.VerifyURL, Invite: s.cfg.InviteURL}
}

func (s *SMTP) sendMail(to string, m Mail, err error) error {
	if err != nil {
		return fmt.Errorf("mailer: render: %w", err)
	}
	addr, err := mail.ParseAddress(to)
	if err != nil || addr.Address != to || strings.ContainsAny(to, "\r\n") {
		return fmt.Errorf("mailer: recipient is not a plain address")
	}
	return s.enqueue(outgoing{to: to, msg: s.message(to, m)})
}

// mailBoundary separates the text and HTML parts; it cannot occur in
// either (rendered text never holds this sequence of dashes and letters).
const mailBoundary = "sessiond-alt-7f3a9c1e5b"

func (s *SMTP) message(to string, m Mail) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "From: %s\r\nTo: %s\r\nSubject: %s\r\nDate: %s\r\n", s.cfg.From, to, m.Subject, time.Now().UTC().Format(time.RFC1123Z))
	b.WriteString("MIME-Version: 1.0\r\nAuto-Submitted: auto-generated\r\n")
	b.WriteString("Content-Type: multipart/alternative; boundary=\"" + mailBoundary + "\"\r\n\r\n")
	for _, part := range []struct{ typ, body string }{{"text/plain", m.Text}, {"text/html", m.HTML}} {
		b.WriteString("--" + mailBoundary + "\r\n")
		b.WriteString("Content-Type: " + part.typ + "; charset=UTF-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n")
		b.WriteString(strings.ReplaceAll(strings.ReplaceAll(part.body, "\r\n", "\n"), "\n", "\r\n"))
		b.WriteString("\r\n")
	}
	b.WriteString("--" + mailBoundary + "--\r\n")
	return b.Bytes()
}

func (s *SMTP) enqueue(m outgoing) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return errors.New("mailer: shutting down")
	}
	select {
	case s.queue <- m:
		return nil
	default:
		return ErrQueueFull
	}
}

func (s *SMTP) work() {
	defer s.wg.Done()
	for m := range s.queue {
		if err := s.deliver(m); err != nil {
			s.log.Error("mail delivery failed", "to", m.to, "err", err)
			continue
		}
		s.log.Info("mail delivered", "to", m.to)
	}
}

func (s *SMTP) close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	close(s.queue)
	s.mu.Unlock()
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(s.cfg.Timeout):
		s.log.Warn("mailer stopped with mail still queued")
	}
}

// deliver sends one mail: connect, STARTTLS when offered, authenticate
// when configured, send, quit — all within cfg.Timeout.
func (s *SMTP) deliver(m outgoing) error {
	conn, err := net.DialTimeout("tcp", s.cfg.Addr, s.cfg.Timeout)
	if err != nil {
		return err
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(s.cfg.Timeout)); err != nil {
		return err
	}
	c, err := smtp.NewClient(conn, s.host)
	if err != nil {
		return err
	}
	defer c.Close()
	if ok, _ := c.Extension("STARTTLS"); ok {
		if err := c.StartTLS(&tls.Config{ServerName: s.host, MinVersion: tls.VersionTLS12}); err != nil {
			return err
		}
	}
	if s.cfg.Username != "" {
		if err := c.Auth(smtp.PlainAuth("", s.cfg.Username, s.cfg.Password, s.host)); err != nil {
			return err
		}
	}
	if err := c.Mail(s.from); err != nil {
		return err
	}
	if err := c.Rcpt(m.to); err != nil {
		return err
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := w.Write(m.msg); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	return c.Quit()
}
