// Package mailer implements core.Mailer: a log mailer for development and
// an SMTP mailer (net/smtp) for production. Neither ever logs a token.
package mailer

import (
	"context"
	"log/slog"
	"time"

	"github.com/sessiond/sessiond/core"
)

// Log is the development mailer: it delivers nothing and logs only that a
// mail would have been sent, and to whom — never the token.
type Log struct{ log *slog.Logger }

var _ core.Mailer = (*Log)(nil)

// NewLog returns a Log mailer writing to log.
func NewLog(log *slog.Logger) *Log { return &Log{log: log} }

// SendPasswordReset implements core.Mailer.
func (l *Log) SendPasswordReset(ctx context.Context, to, _ string, expiresAt time.Time) error {
	l.log.InfoContext(ctx, "password reset mail not delivered (log mailer; set SMTP_ADDR to send mail)",
		"to", to, "expires_at", expiresAt.UTC())
	return nil
}
