// Package audit turns core audit events into stored rows. It is the one
// place that decides what an audit row may contain: it refuses events
// without an action or tenant, strips any detail whose key names a secret,
// and caps sizes. Rows are written through an Inserter bound to the same
// database transaction as the change they record.
package audit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/sessiond/sessiond/core"
)

// Row is one audit_events row.
type Row struct {
	AccountID    uuid.UUID
	ID           uuid.UUID
	ActorUserID  *uuid.UUID
	Action       string
	ResourceType string
	ResourceID   string
	Details      []byte // a JSON object
	IP           netip.Addr
	UserAgent    string
	CreatedAt    time.Time
}

// Inserter writes a row in the caller's transaction.
type Inserter interface {
	InsertAuditEvent(ctx context.Context, r Row) error
}

// Writer validates and records audit events.
type Writer struct{}

// NewWriter returns a Writer.
func NewWriter() *Writer { return &Writer{} }

// secretKey reports whether a details key names something that must never
// be stored. Hashes are allowed ("…_hash").
func secretKey(k string) bool {
	k = strings.ToLower(k)
	if strings.HasSuffix(k, "_hash") {
		return false
	}
	for _, s := range []string{"password", "token", "secret", "jti", "authorization", "cookie"} {
		if strings.Contains(k, s) {
			return true
		}
	}
	return false
}

// Record validates e and inserts it for accountID through ins.
func (w *Writer) Record(ctx context.Context, ins Inserter, accountID uuid.UUID, e core.AuditEvent) error {
	if e.Action == "" || e.ResourceType == "" {
		return errors.New("audit: event needs an action and a resource type")
	}
	if e.AccountID != uuid.Nil && e.AccountID != accountID {
		return errors.New("audit: event for another tenant")
	}
	details := make(map[string]any, len(e.Details))
	for k, v := range e.Details {
		if !secretKey(k) {
			details[k] = v
		}
	}
	b, err := json.Marshal(details)
	if err != nil {
		return fmt.Errorf("audit: details: %w", err)
	}
	id := e.ID
	if id == uuid.Nil {
		id = uuid.New()
	}
	// The edge already cleaned it; a row that PostgreSQL refuses would
	// roll back the change it records, so clean again.
	ua := core.CleanText(e.UserAgent, core.MaxUserAgentChars)
	return ins.InsertAuditEvent(ctx, Row{
		AccountID: accountID, ID: id, ActorUserID: e.ActorUserID, Action: e.Action,
		ResourceType: e.ResourceType, ResourceID: e.ResourceID, Details: b,
		IP: e.IP, UserAgent: ua, CreatedAt: e.At.UTC(),
	})
}
