package http

import (
	"context"
	"time"

	"github.com/oapi-codegen/nullable"

	"github.com/sessiond/sessiond/adapters/http/api"
	"github.com/sessiond/sessiond/core"
)

// Webhook endpoints of the caller's account (/accounts/me/webhooks; owner
// only, core.WebhookService). Deliveries themselves are adapters/audit's.

// SetWebhooks installs the webhook administration (nil: every webhook
// operation answers 503, webhooks not configured). Call before serving.
func (s *Server) SetWebhooks(w *core.WebhookService) { s.webhooks = w }

func nullableTime(t *time.Time) nullable.Nullable[time.Time] {
	if t == nil {
		return nullable.NewNullNullable[time.Time]()
	}
	return nullable.NewNullableWithValue(t.UTC())
}

func eventTypes(in []string) []api.WebhookEventType {
	out := make([]api.WebhookEventType, len(in))
	for i, t := range in {
		out[i] = api.WebhookEventType(t)
	}
	return out
}

func eventTypesIn(in []api.WebhookEventType) []string {
	out := make([]string, len(in))
	for i, t := range in {
		out[i] = string(t)
	}
	return out
}

// endpointBody is an endpoint as the owner sees it: never its secret.
func endpointBody(e core.WebhookEndpoint) api.WebhookEndpoint {
	b := api.WebhookEndpoint{
		Id: e.ID, Url: e.URL, Description: e.Description, EventTypes: eventTypes(e.EventTypes), Enabled: e.Enabled,
		Status: api.WebhookEndpointStatus(e.State), FailureReason: nullableString(e.FailureReason),
		FailingSince: nullableTime(e.FailingSince), LastError: nullableString(e.LastError),
		NextAttemptAt: nullableTime(nil), CreatedAt: e.CreatedAt.UTC(), UpdatedAt: e.UpdatedAt.UTC(),
	}
	if e.State == core.WebhookActive && e.Enabled {
		b.NextAttemptAt = nullableTime(e.RetryAt)
	}
	return b
}

func endpointWithSecret(e core.WebhookEndpoint, secret string) api.WebhookEndpointWithSecret {
	b := endpointBody(e)
	return api.WebhookEndpointWithSecret{
		Id: b.Id, Url: b.Url, Description: b.Description, EventTypes: b.EventTypes, Enabled: b.Enabled,
		Status: api.WebhookEndpointWithSecretStatus(b.Status), FailureReason: b.FailureReason, FailingSince: b.FailingSince,
		LastError: b.LastError, NextAttemptAt: b.NextAttemptAt, CreatedAt: b.CreatedAt, UpdatedAt: b.UpdatedAt,
		Secret: secret,
	}
}

func attemptBody(a core.WebhookAttempt) api.WebhookAttempt {
	b := api.WebhookAttempt{
		Id: a.ID, EventId: a.EventID, EventType: a.EventType, AttemptedAt: a.At.UTC(),
		Outcome: api.WebhookAttemptOutcome(a.Outcome), LatencyMs: int(a.Latency.Milliseconds()), Error: nullableString(a.Error),
		Sequence: nullable.NewNullNullable[int64](), StatusCode: nullable.NewNullNullable[int](),
	}
	if a.Sequence > 0 {
		b.Sequence = nullable.NewNullableWithValue(a.Sequence)
	}
	if a.StatusCode > 0 {
		b.StatusCode = nullable.NewNullableWithValue(a.StatusCode)
	}
	return b
}

// ListWebhookEndpoints lists the account's endpoints.
func (s *Server) ListWebhookEndpoints(ctx context.Context, _ api.ListWebhookEndpointsRequestObject) (api.ListWebhookEndpointsResponseObject, error) {
	p, err := s.caller(ctx)
	if err != nil {
		return nil, err
	}
	eps, err := s.webhooks.ListWebhookEndpoints(ctx, p)
	if err != nil {
		return nil, err
	}
	items := make([]api.WebhookEndpoint, len(eps))
	for i, e := range eps {
		items[i] = endpointBody(e)
	}
	return api.ListWebhookEndpoints200JSONResponse{Items: items}, nil
}

// CreateWebhookEndpoint registers an endpoint; the secret is in this
// answer only.
func (s *Server) CreateWebhookEndpoint(ctx context.Context, req api.CreateWebhookEndpointRequestObject) (api.CreateWebhookEndpointResponseObject, error) {
	p, err := s.caller(ctx)
	if err != nil {
		return nil, err
	}
	b := req.Body
	types := eventTypesIn(b.EventTypes)
	in := core.WebhookEndpointInput{URL: &b.Url, Description: b.Description, EventTypes: &types, Enabled: b.Enabled}
	e, secret, err := s.webhooks.CreateWebhookEndpoint(ctx, p, in, requestFrom(ctx).client)
	if err != nil {
		return nil, err
	}
	return api.CreateWebhookEndpoint201JSONResponse(endpointWithSecret(e, secret)), nil
}

// GetWebhookEndpoint returns one endpoint.
func (s *Server) GetWebhookEndpoint(ctx context.Context, req api.GetWebhookEndpointRequestObject) (api.GetWebhookEndpointResponseObject, error) {
	p, err := s.caller(ctx)
	if err != nil {
		return nil, err
	}
	e, err := s.webhooks.GetWebhookEndpoint(ctx, p, req.EndpointId)
	if err != nil {
		return nil, err
	}
	return api.GetWebhookEndpoint200JSONResponse(endpointBody(e)), nil
}

// UpdateWebhookEndpoint changes an endpoint.
func (s *Server) UpdateWebhookEndpoint(ctx context.Context, req api.UpdateWebhookEndpointRequestObject) (api.UpdateWebhookEndpointResponseObject, error) {
	p, err := s.caller(ctx)
	if err != nil {
		return nil, err
	}
	var in core.WebhookEndpointInput
	if b := req.Body; b != nil {
		in.URL, in.Description, in.Enabled = b.Url, b.Description, b.Enabled
		if b.EventTypes != nil {
			t := eventTypesIn(*b.EventTypes)
			in.EventTypes = &t
		}
	}
	e, err := s.webhooks.UpdateWebhookEndpoint(ctx, p, req.EndpointId, in, requestFrom(ctx).client)
	if err != nil {
		return nil, err
	}
	return api.UpdateWebhookEndpoint200JSONResponse(endpointBody(e)), nil
}

// DeleteWebhookEndpoint removes an endpoint.
func (s *Server) DeleteWebhookEndpoint(ctx context.Context, req api.DeleteWebhookEndpointRequestObject) (api.DeleteWebhookEndpointResponseObject, error) {
	p, err := s.caller(ctx)
	if err != nil {
		return nil, err
	}
	if err := s.webhooks.DeleteWebhookEndpoint(ctx, p, req.EndpointId, requestFrom(ctx).client); err != nil {
		return nil, err
	}
	return api.DeleteWebhookEndpoint204Response{}, nil
}

// RotateWebhookSecret gives an endpoint a new secret, in this answer only.
func (s *Server) RotateWebhookSecret(ctx context.Context, req api.RotateWebhookSecretRequestObject) (api.RotateWebhookSecretResponseObject, error) {
	p, err := s.caller(ctx)
	if err != nil {
		return nil, err
	}
	e, secret, err := s.webhooks.RotateWebhookSecret(ctx, p, req.EndpointId, requestFrom(ctx).client)
	if err != nil {
		return nil, err
	}
	return api.RotateWebhookSecret200JSONResponse(endpointWithSecret(e, secret)), nil
}

// SendWebhookTest delivers a test event now and answers with the attempt.
func (s *Server) SendWebhookTest(ctx context.Context, req api.SendWebhookTestRequestObject) (api.SendWebhookTestResponseObject, error) {
	p, err := s.caller(ctx)
	if err != nil {
		return nil, err
	}
	a, err := s.webhooks.SendWebhookTest(ctx, p, req.EndpointId)
	if err != nil {
		return nil, err
	}
	return api.SendWebhookTest200JSONResponse(attemptBody(a)), nil
}

// ListWebhookAttempts returns one page of an endpoint's attempts.
func (s *Server) ListWebhookAttempts(ctx context.Context, req api.ListWebhookAttemptsRequestObject) (api.ListWebhookAttemptsResponseObject, error) {
	p, err := s.caller(ctx)
	if err != nil {
		return nil, err
	}
	limit, cursor := pageParams(req.Params.Limit, req.Params.Cursor)
	page, err := s.webhooks.ListWebhookAttempts(ctx, p, req.EndpointId, limit, cursor)
	if err != nil {
		return nil, err
	}
	items := make([]api.WebhookAttempt, len(page.Attempts))
	for i, a := range page.Attempts {
		items[i] = attemptBody(a)
	}
	return api.ListWebhookAttempts200JSONResponse{Items: items, NextCursor: nullableString(page.NextCursor)}, nil
}
