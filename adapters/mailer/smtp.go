package mailer

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/mail"
	"slices"
	"strings"
	"sync"
	"time"

	gomail "github.com/wneessen/go-mail"

	"github.com/sessiond/sessiond/core"
)

// SMTPConfig configures the SMTP mailer.
type SMTPConfig struct {
	// Addr is the server, host:port (SMTP_ADDR).
	Addr string
	// From is the sender address (SMTP_FROM).
	From string
	// Username and Password enable PLAIN authentication when Username is
	// set (the server must offer AUTH PLAIN). They are never sent over an
	// unencrypted connection, except to localhost, 127.0.0.1 or ::1: so
	// with them, STARTTLS is required of any other server.
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

// SMTP delivers mail through an SMTP server with github.com/wneessen/go-mail
// (MIME, header encoding, STARTTLS, AUTH), using STARTTLS when the server
// offers it. Sending only queues the mail: a worker delivers it in
// the background, so neither a slow server nor the time delivery takes
// shows in the response to a reset request (which must not reveal whether
// the address is known).
type SMTP struct {
	cfg   SMTPConfig
	host  string
	from  *mail.Address
	opts  []gomail.Option // every delivery's client: see deliver
	log   *slog.Logger
	queue chan outgoing
	wg    sync.WaitGroup

	mu     sync.RWMutex // guards closed and sending on queue
	closed bool
}

var _ core.Mailer = (*SMTP)(nil)

type outgoing struct {
	to  string
	msg *gomail.Msg
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
	// STARTTLS when the server offers it (go-mail's default policy would
	// be TLSMandatory), the certificate verified for host against the
	// system roots; a failed STARTTLS fails the delivery, never falling
	// back to plain text.
	opts := []gomail.Option{
		gomail.WithTimeout(cfg.Timeout),
		gomail.WithTLSPolicy(gomail.TLSOpportunistic),
		gomail.WithTLSConfig(&tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}),
	}
	if cfg.Username != "" {
		opts = append(opts, gomail.WithSMTPAuth(gomail.SMTPAuthPlain),
			gomail.WithUsername(cfg.Username), gomail.WithPassword(cfg.Password))
	}
	if _, err := gomail.NewClient(host, opts...); err != nil {
		return nil, nil, fmt.Errorf("SMTP_ADDR %q: %w", cfg.Addr, err)
	}
	s := &SMTP{cfg: cfg, host: host, from: from, opts: opts, log: log, queue: make(chan outgoing, cfg.QueueSize)}
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
	return s.enqueue(outgoing{to: to, msg: s.message(addr, m)})
}

// message composes the mail: multipart/alternative (text, then HTML),
// UTF-8 in quoted-printable, header words RFC 2047-encoded where they are
// not ASCII.
func (s *SMTP) message(to *mail.Address, m Mail) *gomail.Msg {
	msg := gomail.NewMsg(gomail.WithNoDefaultUserAgent())
	msg.FromMailAddress(s.from)
	msg.ToMailAddress(to)
	msg.Subject(m.Subject)
	msg.SetDateWithValue(time.Now().UTC())
	// go-mail's own Message-ID would name this host; the sender's domain
	// is the usual right-hand side.
	msg.SetMessageIDWithValue(rand.Text() + "@" + s.from.Address[strings.LastIndexByte(s.from.Address, '@')+1:])
	msg.SetGenHeader("Auto-Submitted", "auto-generated")
	msg.SetBodyString(gomail.TypeTextPlain, m.Text)
	msg.AddAlternativeString(gomail.TypeTextHTML, m.HTML)
	return msg
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
// when configured, send, quit — all within cfg.Timeout. go-mail renews
// its timeout at each step; the connection dialled here keeps every
// deadline within the delivery's one. It also dials SMTP_ADDR as given
// (go-mail would join host and port with "%s:%d", wrong for an IPv6
// literal) and closes the connection whatever happened (go-mail leaves
// it open when EHLO, STARTTLS or AUTH fails).
func (s *SMTP) deliver(m outgoing) error {
	end := time.Now().Add(s.cfg.Timeout)
	var conn net.Conn
	dial := func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer // ctx ends at end (or sooner)
		c, err := d.DialContext(ctx, "tcp", s.cfg.Addr)
		if err != nil {
			return nil, err
		}
		conn = deadlineConn{Conn: c, end: end}
		return conn, nil
	}
	c, err := gomail.NewClient(s.host, append(slices.Clip(s.opts), gomail.WithDialContextFunc(dial))...)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithDeadline(context.Background(), end)
	defer cancel()
	err = c.DialAndSendWithContext(ctx, m.msg)
	if conn != nil {
		_ = conn.Close()
	}
	return err
}

// deadlineConn is a connection whose deadlines never pass end.
type deadlineConn struct {
	net.Conn
	end time.Time
}

func (c deadlineConn) bound(t time.Time) time.Time {
	if t.IsZero() || t.After(c.end) {
		return c.end
	}
	return t
}

func (c deadlineConn) SetDeadline(t time.Time) error      { return c.Conn.SetDeadline(c.bound(t)) }
func (c deadlineConn) SetReadDeadline(t time.Time) error  { return c.Conn.SetReadDeadline(c.bound(t)) }
func (c deadlineConn) SetWriteDeadline(t time.Time) error { return c.Conn.SetWriteDeadline(c.bound(t)) }
