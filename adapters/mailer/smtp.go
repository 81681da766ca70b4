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
	if cfg.ResetURL != "" && !strings.Contains(cfg.ResetURL, "{token}") {
		return nil, nil, fmt.Errorf("PASSWORD_RESET_URL must contain {token}")
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

// SendPasswordReset implements core.Mailer: it builds the mail and queues
// it for delivery.
func (s *SMTP) SendPasswordReset(_ context.Context, to, token string, expiresAt time.Time) error {
	addr, err := mail.ParseAddress(to)
	if err != nil || addr.Address != to || strings.ContainsAny(to, "\r\n") {
		return fmt.Errorf("mailer: recipient is not a plain address")
	}
	body := "Someone asked to reset the password of the account registered with this address.\r\n\r\n"
	if s.cfg.ResetURL != "" {
		body += "To choose a new password, open this link:\r\n\r\n" + strings.ReplaceAll(s.cfg.ResetURL, "{token}", token) + "\r\n\r\n"
	} else {
		body += "To choose a new password, use this reset code:\r\n\r\n" + token + "\r\n\r\n"
	}
	body += "It can be used once and expires at " + expiresAt.UTC().Format(time.RFC1123) + ".\r\n" +
		"Setting a new password signs you out everywhere.\r\n\r\n" +
		"If you did not ask for this, ignore this mail: your password stays as it is.\r\n"
	return s.enqueue(outgoing{to: to, msg: s.message(to, "Reset your password", body)})
}

func (s *SMTP) message(to, subject, body string) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "From: %s\r\nTo: %s\r\nSubject: %s\r\nDate: %s\r\n", s.cfg.From, to, subject, time.Now().UTC().Format(time.RFC1123Z))
	b.WriteString("MIME-Version: 1.0\r\nContent-Type: text/plain; charset=UTF-8\r\nContent-Transfer-Encoding: 8bit\r\nAuto-Submitted: auto-generated\r\n\r\n")
	b.WriteString(body)
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
