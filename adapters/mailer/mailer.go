// Package mailer implements core.Mailer: a log mailer for development and
// an SMTP mailer (github.com/wneessen/go-mail) for production, both fed by
// one template set (templates.go) and, in production, one queue
// (queue.go). Neither ever logs a token, except the development mailer
// made with NewDevLog, which logs the links so that `make run` can be used
// without a mail server.
package mailer

import (
	"context"
	"log/slog"
	"time"

	"github.com/sessiond/sessiond/core"
)

// Log is the development mailer: it delivers nothing and logs only that a
// mail would have been sent, and to whom — never the token, unless made
// with NewDevLog.
type Log struct {
	log   *slog.Logger
	links *Links // NewDevLog: log the link (development only)
}

var _ core.Mailer = (*Log)(nil)

// NewLog returns a Log mailer writing to log.
func NewLog(log *slog.Logger) *Log { return &Log{log: log} }

// NewDevLog returns a Log mailer that also logs each mail's link (or
// code): for DEV_MODE only (make run), where no mail server exists and
// the developer follows the link from the log. Never in production: the
// link is a credential.
func NewDevLog(log *slog.Logger, l Links) *Log { return &Log{log: log, links: &l} }

func (l *Log) logMail(ctx context.Context, what, to string, expiresAt time.Time, m Mail, err error) error {
	if err != nil {
		return err
	}
	args := []any{"to", to, "subject", m.Subject, "expires_at", expiresAt.UTC()}
	if l.links != nil {
		args = append(args, "dev_mail_text", m.Text)
	}
	l.log.InfoContext(ctx, what+" mail not delivered (log mailer; set SMTP_ADDR to send mail)", args...)
	return nil
}

func (l *Log) linksOrNone() Links {
	if l.links == nil {
		return Links{}
	}
	return *l.links
}

// SendPasswordReset implements core.Mailer.
func (l *Log) SendPasswordReset(ctx context.Context, to, token string, expiresAt time.Time) error {
	m, err := RenderPasswordReset(l.linksOrNone(), token, expiresAt)
	return l.logMail(ctx, "password reset", to, expiresAt, m, err)
}

// SendEmailVerification implements core.Mailer.
func (l *Log) SendEmailVerification(ctx context.Context, to, token string, expiresAt time.Time) error {
	m, err := RenderVerification(l.linksOrNone(), token, expiresAt)
	return l.logMail(ctx, "email verification", to, expiresAt, m, err)
}

// SendInvitation implements core.Mailer.
func (l *Log) SendInvitation(ctx context.Context, inv core.InvitationMail) error {
	m, err := RenderInvitation(l.linksOrNone(), inv)
	return l.logMail(ctx, "invitation", inv.To, inv.ExpiresAt, m, err)
}
