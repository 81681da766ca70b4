package core

import (
	"context"
	"errors"
	"net/url"
	"time"

	"github.com/google/uuid"
)

// WebhookService is the owner's administration of webhook endpoints
// (/accounts/me/webhooks). Owner only, like the rest of account
// administration; every change is audited, and the audit events are
// themselves deliverable events.
type WebhookService struct {
	svc    *Service
	sealer WebhookSecretSealer
	sender WebhookSender
	check  WebhookTargetCheck
}

// NewWebhookService wires the webhook administration. sealer nil means
// webhooks are not configured on this server: every call answers
// CodeUnavailable. check may be nil.
func NewWebhookService(svc *Service, sealer WebhookSecretSealer, sender WebhookSender, check WebhookTargetCheck) *WebhookService {
	return &WebhookService{svc: svc, sealer: sealer, sender: sender, check: check}
}

var errWebhooksOff = &Error{Code: CodeUnavailable, Message: "webhooks are not configured on this server"}

// errWebhookNotFound: an unknown endpoint, or another account's (the same
// answer by design).
var errWebhookNotFound = &Error{Code: CodeNotFound, Message: "webhook endpoint not found"}

func (w *WebhookService) ready() error {
	if w == nil || w.sealer == nil || w.sender == nil {
		return errWebhooksOff
	}
	return nil
}

func notFound(err error) error {
	if errors.Is(err, ErrNotFound) {
		return errWebhookNotFound
	}
	return err
}

// validate applies an input to an endpoint (all fields for a new one).
func (w *WebhookService) apply(e *WebhookEndpoint, in WebhookEndpointInput) error {
	if in.URL != nil {
		u, err := NormalizeWebhookURL(*in.URL)
		if err != nil {
			return err
		}
		if w.check != nil {
			if err := w.check(u); err != nil {
				return err
			}
		}
		e.URL = u
	}
	if in.Description != nil {
		d, err := NormalizeWebhookDescription(*in.Description)
		if err != nil {
			return err
		}
		e.Description = d
	}
	if in.EventTypes != nil {
		t, err := NormalizeWebhookEventTypes(*in.EventTypes)
		if err != nil {
			return err
		}
		e.EventTypes = t
	}
	if in.Enabled != nil {
		e.Enabled = *in.Enabled
	}
	return nil
}

func endpointDetails(e WebhookEndpoint) map[string]any {
	return map[string]any{"endpoint_id": e.ID.String(), "url": e.URL, "event_types": e.EventTypes, "enabled": e.Enabled}
}

// CreateWebhookEndpoint registers an endpoint and returns it with its
// signing secret, which is shown this once (stored only sealed). At most
// MaxWebhookEndpoints per account. The endpoint receives the events that
// happen from now on. Errors: CodeForbidden, CodeValidation, CodeConflict
// (too many endpoints), CodeUnavailable (webhooks not configured).
// recent-auth: owner write (asOwnerWriteIn)
func (w *WebhookService) CreateWebhookEndpoint(ctx context.Context, p Principal, in WebhookEndpointInput, client Client) (WebhookEndpoint, string, error) {
	if err := w.ready(); err != nil {
		return WebhookEndpoint{}, "", err
	}
	if in.URL == nil {
		return WebhookEndpoint{}, "", FieldError(CodeValidation, "url", "url is required")
	}
	if in.EventTypes == nil {
		return WebhookEndpoint{}, "", FieldError(CodeValidation, "event_types", "event_types is required")
	}
	now := w.svc.clock.Now()
	e := WebhookEndpoint{ID: uuid.New(), AccountID: p.AccountID, Enabled: true, State: WebhookActive, CreatedAt: now, UpdatedAt: now}
	if err := w.apply(&e, in); err != nil {
		return WebhookEndpoint{}, "", err
	}
	secret := NewWebhookSecret()
	sealed, err := w.sealer.Seal(p.AccountID, e.ID, secret)
	if err != nil {
		return WebhookEndpoint{}, "", err
	}
	e.SecretSealed = sealed
	err = asOwnerWriteIn(ctx, w.svc, p, w.svc.webhooks.inWebhookTx, func(tx webhookTx) error {
		n, err := tx.WebhookEndpointCount(ctx)
		if err != nil {
			return err
		}
		if n >= MaxWebhookEndpoints {
			return Errorf(CodeConflict, "an account has at most %d webhook endpoints", MaxWebhookEndpoints)
		}
		// The stream is locked from here to the commit: no event is
		// stamped meanwhile, so the cursor starts exactly at the stream's
		// end (events already stamped are before this endpoint's time).
		last, err := tx.WebhookStreamEnsure(ctx, now, n == 0)
		if err != nil {
			return err
		}
		e.DeliveredSeq = last
		if err := tx.WebhookEndpointCreate(ctx, e); err != nil {
			return err
		}
		return tx.Audit(ctx, w.svc.event(p.AccountID, &p.UserID, ActionWebhookCreated, "webhook_endpoint", e.ID.String(),
			endpointDetails(e), client, now))
	})
	if err != nil {
		return WebhookEndpoint{}, "", err
	}
	return e, secret, nil
}

// ListWebhookEndpoints returns the account's endpoints, oldest first.
func (w *WebhookService) ListWebhookEndpoints(ctx context.Context, p Principal) ([]WebhookEndpoint, error) {
	if err := w.ready(); err != nil {
		return nil, err
	}
	var out []WebhookEndpoint
	err := asOwnerIn(ctx, w.svc, p, w.svc.webhooks.inWebhookTx, func(tx webhookTx) error {
		var err error
		out, err = tx.WebhookEndpointList(ctx)
		return err
	})
	return out, err
}

// GetWebhookEndpoint returns one endpoint. Errors: CodeNotFound.
func (w *WebhookService) GetWebhookEndpoint(ctx context.Context, p Principal, id uuid.UUID) (WebhookEndpoint, error) {
	if err := w.ready(); err != nil {
		return WebhookEndpoint{}, err
	}
	var e WebhookEndpoint
	err := asOwnerIn(ctx, w.svc, p, w.svc.webhooks.inWebhookTx, func(tx webhookTx) error {
		var err error
		e, err = tx.WebhookEndpointGet(ctx, id, false)
		return notFound(err)
	})
	return e, err
}

// UpdateWebhookEndpoint changes an endpoint's URL, description, event
// types or enabled switch. Enabling a failing endpoint (enabled: true)
// resumes it: its queue is retried from the event it stopped at, nothing
// was dropped. Errors: CodeNotFound, CodeValidation.
// recent-auth: owner write (asOwnerWriteIn)
func (w *WebhookService) UpdateWebhookEndpoint(ctx context.Context, p Principal, id uuid.UUID, in WebhookEndpointInput, client Client) (WebhookEndpoint, error) {
	if err := w.ready(); err != nil {
		return WebhookEndpoint{}, err
	}
	now := w.svc.clock.Now()
	var e WebhookEndpoint
	err := asOwnerWriteIn(ctx, w.svc, p, w.svc.webhooks.inWebhookTx, func(tx webhookTx) error {
		var err error
		if e, err = tx.WebhookEndpointGet(ctx, id, true); err != nil {
			return notFound(err)
		}
		if err := w.apply(&e, in); err != nil {
			return err
		}
		if in.Enabled != nil && *in.Enabled {
			e.State, e.FailureReason, e.FailingSince = WebhookActive, "", nil
			e.Attempts, e.FirstFailedAt, e.RetryAt = 0, nil, nil
		}
		e.UpdatedAt = now
		if err := tx.WebhookEndpointSave(ctx, e); err != nil {
			return err
		}
		return tx.Audit(ctx, w.svc.event(p.AccountID, &p.UserID, ActionWebhookUpdated, "webhook_endpoint", e.ID.String(),
			endpointDetails(e), client, now))
	})
	return e, err
}

// DeleteWebhookEndpoint removes an endpoint and its attempts. Errors:
// CodeNotFound.
// recent-auth: owner write (asOwnerWriteIn)
func (w *WebhookService) DeleteWebhookEndpoint(ctx context.Context, p Principal, id uuid.UUID, client Client) error {
	if err := w.ready(); err != nil {
		return err
	}
	now := w.svc.clock.Now()
	return asOwnerWriteIn(ctx, w.svc, p, w.svc.webhooks.inWebhookTx, func(tx webhookTx) error {
		e, err := tx.WebhookEndpointGet(ctx, id, true)
		if err != nil {
			return notFound(err)
		}
		if err := tx.WebhookEndpointDelete(ctx, id); err != nil {
			return notFound(err)
		}
		return tx.Audit(ctx, w.svc.event(p.AccountID, &p.UserID, ActionWebhookDeleted, "webhook_endpoint", e.ID.String(),
			endpointDetails(e), client, now))
	})
}

// RotateWebhookSecret gives an endpoint a new signing secret, returned
// this once. The previous secret keeps signing (a second signature) for
// WebhookSecretGrace, so the receiver can switch without a gap.
// recent-auth: owner write (asOwnerWriteIn)
func (w *WebhookService) RotateWebhookSecret(ctx context.Context, p Principal, id uuid.UUID, client Client) (WebhookEndpoint, string, error) {
	if err := w.ready(); err != nil {
		return WebhookEndpoint{}, "", err
	}
	now := w.svc.clock.Now()
	secret := NewWebhookSecret()
	sealed, err := w.sealer.Seal(p.AccountID, id, secret)
	if err != nil {
		return WebhookEndpoint{}, "", err
	}
	var e WebhookEndpoint
	err = asOwnerWriteIn(ctx, w.svc, p, w.svc.webhooks.inWebhookTx, func(tx webhookTx) error {
		var err error
		if e, err = tx.WebhookEndpointGet(ctx, id, true); err != nil {
			return notFound(err)
		}
		until := now.Add(WebhookSecretGrace)
		e.PreviousSecretSealed, e.PreviousSecretExpires, e.SecretSealed = e.SecretSealed, &until, sealed
		e.UpdatedAt = now
		if err := tx.WebhookEndpointSave(ctx, e); err != nil {
			return err
		}
		return tx.Audit(ctx, w.svc.event(p.AccountID, &p.UserID, ActionWebhookSecretRotated, "webhook_endpoint", e.ID.String(),
			map[string]any{"endpoint_id": e.ID.String(), "previous_valid_until": until.UTC().Format(time.RFC3339)}, client, now))
	})
	if err != nil {
		return WebhookEndpoint{}, "", err
	}
	return e, secret, nil
}

// WebhookSecrets opens the secrets an endpoint signs with at now: the
// current one, and the previous one while its grace lasts.
func WebhookSecrets(sealer WebhookSecretSealer, e WebhookEndpoint, now time.Time) ([]string, error) {
	cur, err := sealer.Open(e.AccountID, e.ID, e.SecretSealed)
	if err != nil {
		return nil, err
	}
	out := []string{cur}
	if e.PreviousSecretSealed != nil && e.PreviousSecretExpires != nil && now.Before(*e.PreviousSecretExpires) {
		if prev, err := sealer.Open(e.AccountID, e.ID, e.PreviousSecretSealed); err == nil {
			out = append(out, prev)
		}
	}
	return out, nil
}

// SendWebhookTest delivers a test event (type webhook.test) to the
// endpoint now, whatever its event types and state, through the same
// signing and address checks as every delivery, records the attempt and
// returns it. The attempt's outcome is the answer: a failed delivery is
// not an error of this call.
// recent-auth: owner write (asOwnerWriteIn)
func (w *WebhookService) SendWebhookTest(ctx context.Context, p Principal, id uuid.UUID) (WebhookAttempt, error) {
	if err := w.ready(); err != nil {
		return WebhookAttempt{}, err
	}
	now := w.svc.clock.Now()
	var e WebhookEndpoint
	err := asOwnerWriteIn(ctx, w.svc, p, w.svc.webhooks.inWebhookTx, func(tx webhookTx) error {
		var err error
		e, err = tx.WebhookEndpointGet(ctx, id, false)
		return notFound(err)
	})
	if err != nil {
		return WebhookAttempt{}, err
	}
	secrets, err := WebhookSecrets(w.sealer, e, now)
	if err != nil {
		return WebhookAttempt{}, err
	}
	m, err := NewWebhookTestMessage(p.AccountID, e.ID, &p.UserID, now)
	if err != nil {
		return WebhookAttempt{}, err
	}
	a := w.sender.Send(ctx, WebhookTarget{URL: e.URL, Secrets: secrets}, m)
	a.ID, a.EndpointID, a.EventType, a.Sequence = uuid.New(), e.ID, WebhookTestEventType, 0
	if id, err := uuid.Parse(m.ID[len("evt_"):]); err == nil {
		a.EventID = id
	}
	if a.At.IsZero() {
		a.At = now
	}
	err = w.svc.webhooks.inWebhookTx(ctx, p.AccountID, func(tx webhookTx) error {
		return tx.WebhookAttemptRecord(ctx, a)
	})
	if errors.Is(err, ErrNotFound) || ErrorCode(err) == CodeConflict {
		err = errWebhookNotFound // deleted meanwhile
	}
	return a, err
}

// Attempt listing page sizes.
const (
	WebhookAttemptPageDefault = 50
	WebhookAttemptPageMax     = 200
)

// WebhookAttemptPage is one page of an endpoint's attempts.
type WebhookAttemptPage struct {
	Attempts   []WebhookAttempt
	NextCursor string
}

// ListWebhookAttempts returns one page of an endpoint's delivery attempts,
// newest first (kept for a bounded time). Errors: CodeNotFound,
// CodeValidation (limit, cursor).
func (w *WebhookService) ListWebhookAttempts(ctx context.Context, p Principal, id uuid.UUID, limit int, cursor string) (WebhookAttemptPage, error) {
	if err := w.ready(); err != nil {
		return WebhookAttemptPage{}, err
	}
	if limit == 0 {
		limit = WebhookAttemptPageDefault
	}
	if limit < 1 || limit > WebhookAttemptPageMax {
		return WebhookAttemptPage{}, FieldError(CodeValidation, "limit", "limit must be between 1 and %d", WebhookAttemptPageMax)
	}
	q := WebhookAttemptQuery{EndpointID: id, Limit: limit + 1}
	// A cursor pages one endpoint's attempts: bound to the listing and the
	// endpoint (core/cursor.go).
	bound := url.Values{"endpoint": {id.String()}}
	if cursor != "" {
		pos, err := decodeCursor(cursor, listWebhookAttempts, bound, false)
		if err != nil {
			return WebhookAttemptPage{}, err
		}
		q.After = &WebhookAttemptPosition{AttemptedAt: pos.T, ID: pos.ID}
	}
	var out []WebhookAttempt
	err := asOwnerIn(ctx, w.svc, p, w.svc.webhooks.inWebhookTx, func(tx webhookTx) error {
		if _, err := tx.WebhookEndpointGet(ctx, id, false); err != nil {
			return notFound(err)
		}
		var err error
		out, err = tx.WebhookAttemptList(ctx, q)
		return err
	})
	if err != nil {
		return WebhookAttemptPage{}, err
	}
	page := WebhookAttemptPage{Attempts: out}
	if len(out) > limit {
		page.Attempts = out[:limit]
		last := page.Attempts[limit-1]
		page.NextCursor = encodeCursor(listWebhookAttempts, bound, cursorPos{T: last.At, ID: last.ID})
	}
	return page, nil
}
