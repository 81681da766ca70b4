package core

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"math"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
)

// Webhooks: an account owner's endpoints receive the account's audit events
// as Standard Webhooks (adapters/audit delivers them). The core keeps the
// rules: what an endpoint may be, which events exist, what a delivered
// event contains, and the retry schedule.

// Audit actions of webhook administration (themselves events).
const (
	ActionWebhookCreated       = "webhook.created"
	ActionWebhookUpdated       = "webhook.updated"
	ActionWebhookDeleted       = "webhook.deleted"
	ActionWebhookSecretRotated = "webhook.secret_rotated"
)

// WebhookTestEventType is the type of the event "send a test event"
// delivers; it is no audit action and goes to the endpoint whatever its
// event types.
const WebhookTestEventType = "webhook.test"

// The event types an endpoint may subscribe to are the audit action names,
// core.AuditActions (audit.go): one list for the audit trail, its filters,
// openapi.yaml's AuditAction enum and the webhooks.

// Endpoint limits.
const (
	MaxWebhookEndpoints      = 10
	MaxWebhookURLLen         = 2048
	MaxWebhookDescriptionLen = 500
	// WebhookSecretGrace is how long the previous secret keeps signing
	// (a second signature in webhook-signature) after a rotation, so
	// receivers can switch without losing a delivery.
	WebhookSecretGrace = 24 * time.Hour
)

// WebhookState says whether deliveries to an endpoint go on.
type WebhookState string

const (
	WebhookActive WebhookState = "active"
	// WebhookFailing: retries of the event at the head of its queue ran
	// out (WebhookRetry.GiveUp); deliveries wait, nothing is dropped,
	// until the owner enables the endpoint again.
	WebhookFailing WebhookState = "failing"
)

// WebhookEndpoint is an owner's endpoint as stored (the secret sealed).
type WebhookEndpoint struct {
	ID            uuid.UUID
	AccountID     uuid.UUID
	URL           string
	Description   string
	EventTypes    []string
	Enabled       bool
	State         WebhookState
	FailureReason string
	FailingSince  *time.Time
	CreatedAt     time.Time
	UpdatedAt     time.Time
	// Delivery state.
	DeliveredSeq  int64
	Attempts      int
	FirstFailedAt *time.Time
	RetryAt       *time.Time
	LastError     string
	// SecretSealed is the current signing secret as the sealer sealed it;
	// PreviousSecretSealed the one before a rotation, signing too until
	// PreviousSecretExpires.
	SecretSealed          []byte
	PreviousSecretSealed  []byte
	PreviousSecretExpires *time.Time
}

// Wants reports whether the endpoint receives events of this action.
func (e WebhookEndpoint) Wants(action string) bool { return slices.Contains(e.EventTypes, action) }

// WebhookEndpointInput is what an owner sets on an endpoint. On update, a
// nil field is unchanged.
type WebhookEndpointInput struct {
	URL         *string
	Description *string
	EventTypes  *[]string
	Enabled     *bool
}

// NormalizeWebhookURL checks an endpoint URL: absolute https with a host,
// no user info, no fragment, at most MaxWebhookURLLen bytes. Where it may
// point (public addresses only) is checked again at every connection by
// the delivery adapter; here only literal addresses are refused early, by
// the caller's targetCheck.
func NormalizeWebhookURL(raw string) (string, error) {
	raw = strings.TrimSpace(raw)
	bad := func(why string) error { return FieldError(CodeValidation, "url", "url %s", why) }
	if raw == "" || len(raw) > MaxWebhookURLLen {
		return "", bad("must be 1 to 2048 characters")
	}
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() {
		return "", bad("is not an absolute URL")
	}
	if !strings.EqualFold(u.Scheme, "https") {
		return "", bad("must use https")
	}
	if u.Hostname() == "" || u.Opaque != "" {
		return "", bad("has no host")
	}
	if u.User != nil {
		return "", bad("must not carry user info (put credentials in the path or rely on the signature)")
	}
	if u.Fragment != "" || strings.Contains(raw, "#") {
		return "", bad("must not have a fragment")
	}
	if p := u.Port(); p != "" {
		if n, err := parsePort(p); err != nil || n == 0 {
			return "", bad("has an invalid port")
		}
	}
	u.Scheme = "https"
	u.Host = strings.ToLower(u.Host)
	return u.String(), nil
}

func parsePort(p string) (int, error) {
	n := 0
	for _, c := range p {
		if c < '0' || c > '9' {
			return 0, Errorf(CodeValidation, "port")
		}
		n = n*10 + int(c-'0')
		if n > 65535 {
			return 0, Errorf(CodeValidation, "port")
		}
	}
	return n, nil
}

// NormalizeWebhookEventTypes checks the subscribed event types: 1 to
// len(AuditActions) known audit action names; duplicates are dropped and
// the result is sorted.
func NormalizeWebhookEventTypes(types []string) ([]string, error) {
	if len(types) == 0 {
		return nil, FieldError(CodeValidation, "event_types", "event_types must name at least one event type")
	}
	out := make([]string, 0, len(types))
	for _, t := range types {
		if !slices.Contains(AuditActions, t) {
			return nil, FieldError(CodeValidation, "event_types", "event_types: %q is not an event type (the audit action names)", t)
		}
		if !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	slices.Sort(out)
	return out, nil
}

// NormalizeWebhookDescription checks a description: at most
// MaxWebhookDescriptionLen characters of storable text.
func NormalizeWebhookDescription(d string) (string, error) {
	d = strings.TrimSpace(d)
	if !utf8.ValidString(d) || strings.ContainsRune(d, 0) || utf8.RuneCountInString(d) > MaxWebhookDescriptionLen {
		return "", FieldError(CodeValidation, "description", "description must be at most %d characters of text", MaxWebhookDescriptionLen)
	}
	return d, nil
}

// NewWebhookSecret returns a fresh signing secret in the Standard Webhooks
// form: "whsec_" and the base64 of 32 random bytes.
func NewWebhookSecret() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	return "whsec_" + base64.StdEncoding.EncodeToString(b)
}

// WebhookSecretKey returns the HMAC key of a secret ("whsec_" + base64).
func WebhookSecretKey(secret string) ([]byte, error) {
	k, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil || len(k) == 0 {
		return nil, Errorf(CodeInternal, "webhook secret is not whsec_ base64")
	}
	return k, nil
}

// WebhookMessage is one event as delivered: its id (webhook-id; the same
// on every retry), its type, its time and its JSON payload.
type WebhookMessage struct {
	ID        string
	Type      string
	Timestamp time.Time
	Payload   []byte
}

// webhookPayload is the Standard Webhooks body: type, timestamp, data. The
// data is the audit event exactly as the owner reads it from
// GET /accounts/me/audit-events (details never carry secrets:
// AuditEvent.Normalized), plus the account and the sequence number.
type webhookPayload struct {
	Type      string      `json:"type"`
	Timestamp string      `json:"timestamp"`
	Data      webhookData `json:"data"`
}

type webhookData struct {
	ID           uuid.UUID      `json:"id"`
	AccountID    uuid.UUID      `json:"account_id"`
	Action       string         `json:"action"`
	ActorUserID  *uuid.UUID     `json:"actor_user_id"`
	ResourceType string         `json:"resource_type"`
	ResourceID   *string        `json:"resource_id"`
	Details      map[string]any `json:"details"`
	IPAddress    *string        `json:"ip_address"`
	UserAgent    *string        `json:"user_agent"`
	CreatedAt    string         `json:"created_at"`
	// Sequence orders the account's events (per account, increasing in
	// the order they were committed and found; an endpoint's deliveries
	// come in this order, with gaps for event types it does not receive).
	// 0 for a test event.
	Sequence int64 `json:"sequence"`
}

// NewWebhookMessage builds the message of an audit event with its sequence
// number. The webhook-id is the event id: a duplicate delivery (after a
// crash) carries the same id, so receivers can drop it.
func NewWebhookMessage(e AuditEvent, seq int64) (WebhookMessage, error) {
	e = e.Normalized()
	d := webhookData{
		ID: e.ID, AccountID: e.AccountID, Action: e.Action, ActorUserID: e.ActorUserID,
		ResourceType: e.ResourceType, Details: e.Details, CreatedAt: e.At.UTC().Format(time.RFC3339Nano), Sequence: seq,
	}
	if e.ResourceID != "" {
		d.ResourceID = &e.ResourceID
	}
	if e.IP.IsValid() {
		s := e.IP.String()
		d.IPAddress = &s
	}
	if e.UserAgent != "" {
		d.UserAgent = &e.UserAgent
	}
	b, err := json.Marshal(webhookPayload{Type: e.Action, Timestamp: e.At.UTC().Format(time.RFC3339Nano), Data: d})
	if err != nil {
		return WebhookMessage{}, err
	}
	return WebhookMessage{ID: "evt_" + e.ID.String(), Type: e.Action, Timestamp: e.At, Payload: b}, nil
}

// NewWebhookTestMessage builds the test event of an endpoint.
func NewWebhookTestMessage(accountID, endpointID uuid.UUID, actor *uuid.UUID, now time.Time) (WebhookMessage, error) {
	e := AuditEvent{
		ID: uuid.New(), AccountID: accountID, ActorUserID: actor, Action: WebhookTestEventType,
		ResourceType: "webhook_endpoint", ResourceID: endpointID.String(), At: now,
		Details: map[string]any{"message": "test event sent from the webhook settings"},
	}
	return NewWebhookMessage(e, 0)
}

// WebhookRetry is the retry schedule of a failed delivery: exponential
// backoff from Base, doubling per attempt up to Max, with full jitter
// (a delay drawn uniformly between half and all of the step), for at most
// Period from the first failure; then the endpoint is marked failing.
type WebhookRetry struct {
	Base   time.Duration
	Max    time.Duration
	Period time.Duration
}

// DefaultWebhookRetry: 10 s, 20 s, 40 s … capped at 2 h, for 24 h
// (about 20 attempts).
func DefaultWebhookRetry() WebhookRetry {
	return WebhookRetry{Base: 10 * time.Second, Max: 2 * time.Hour, Period: 24 * time.Hour}
}

// Validate checks the schedule.
func (r WebhookRetry) Validate() error {
	if r.Base <= 0 || r.Max < r.Base || r.Period < r.Base {
		return Errorf(CodeValidation, "webhook retry: want 0 < base ≤ max and base ≤ period")
	}
	return nil
}

// Next returns when the delivery is tried again after its attempts-th
// consecutive failure (1 = the first), given a uniform random number in
// [0, 1), and whether to give up instead: the next try would fall after
// firstFailed + Period.
func (r WebhookRetry) Next(attempts int, firstFailed, now time.Time, random float64) (at time.Time, giveUp bool) {
	step := r.Max
	if attempts >= 1 && attempts < 40 {
		if s := r.Base * time.Duration(math.Pow(2, float64(attempts-1))); s > 0 && s < r.Max {
			step = s
		}
	}
	delay := step/2 + time.Duration(random*float64(step/2))
	at = now.Add(delay)
	if !now.Before(firstFailed.Add(r.Period)) || at.After(firstFailed.Add(r.Period)) {
		return time.Time{}, true
	}
	return at, false
}

// WebhookOutcome classifies one delivery attempt.
type WebhookOutcome string

const (
	// WebhookDelivered: the receiver answered 2xx.
	WebhookDelivered WebhookOutcome = "delivered"
	// WebhookHTTPError: the receiver answered, but not 2xx (3xx included:
	// redirects are not followed).
	WebhookHTTPError WebhookOutcome = "http_error"
	// WebhookNetworkError: no answer (connection, TLS, timeout).
	WebhookNetworkError WebhookOutcome = "network_error"
	// WebhookBlocked: the target address is not allowed (private,
	// loopback, link-local, metadata…); no connection was made.
	WebhookBlocked WebhookOutcome = "blocked"
)

// WebhookAttempt is one delivery attempt to an endpoint.
type WebhookAttempt struct {
	ID         uuid.UUID
	EndpointID uuid.UUID
	EventID    uuid.UUID
	EventType  string
	Sequence   int64 // 0 for a test event
	At         time.Time
	Outcome    WebhookOutcome
	StatusCode int // 0 when there was no answer
	Latency    time.Duration
	Error      string // "" when delivered
}

// WebhookAttemptPosition is a place in an endpoint's attempt list's order
// (attempted_at, then id, both descending).
type WebhookAttemptPosition struct {
	AttemptedAt time.Time
	ID          uuid.UUID
}

// WebhookAttemptQuery selects attempts of one endpoint, newest first.
type WebhookAttemptQuery struct {
	EndpointID uuid.UUID
	Limit      int
	After      *WebhookAttemptPosition // the last item of the previous page
}

// WebhookTarget is where one message goes and how it is signed.
type WebhookTarget struct {
	URL string
	// Secrets sign the message, one signature each (the current secret,
	// then the previous one during a rotation).
	Secrets []string
}

// WebhookSender delivers one message to a target now (the test event) and
// reports the attempt (its EventID, EventType and Sequence left to the
// caller).
type WebhookSender interface {
	Send(ctx context.Context, t WebhookTarget, m WebhookMessage) WebhookAttempt
}

// WebhookSecretSealer encrypts endpoint secrets at rest, bound to their
// account and endpoint (a sealed secret copied to another row does not
// open).
type WebhookSecretSealer interface {
	Seal(accountID, endpointID uuid.UUID, secret string) ([]byte, error)
	Open(accountID, endpointID uuid.UUID, sealed []byte) (string, error)
}

// WebhookTargetCheck refuses, early and with a field error, an endpoint
// URL whose host is a literal address deliveries would refuse (the
// delivery adapter checks every connection again).
type WebhookTargetCheck func(rawURL string) error

// IsPublicAddr reports whether ip is a public unicast address: not
// loopback, private (RFC 1918, unique local), link-local (metadata
// services live there: 169.254.169.254, fd00:ec2::254), CGNAT, multicast,
// unspecified, documentation, benchmarking or reserved ranges. IPv4-mapped
// IPv6 addresses are judged as IPv4.
func IsPublicAddr(ip netip.Addr) bool {
	ip = ip.Unmap()
	if !ip.IsValid() || ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() ||
		ip.IsInterfaceLocalMulticast() || ip.IsMulticast() || ip.IsUnspecified() {
		return false
	}
	for _, p := range nonPublicPrefixes {
		if p.Contains(ip) {
			return false
		}
	}
	return true
}

var nonPublicPrefixes = func() []netip.Prefix {
	var out []netip.Prefix
	for _, s := range []string{
		"0.0.0.0/8", "100.64.0.0/10", "192.0.0.0/24", "192.0.2.0/24", "198.18.0.0/15", "198.51.100.0/24",
		"203.0.113.0/24", "240.0.0.0/4", "255.255.255.255/32",
		"64:ff9b::/96", "64:ff9b:1::/48", "100::/64", "2001::/23", "2001:db8::/32", "2002::/16", "fc00::/7", "fec0::/10",
	} {
		out = append(out, netip.MustParsePrefix(s))
	}
	return out
}()

// The delivery worker's port (adapters/audit): the audit table as the
// outbox. Implemented by the PostgreSQL adapter; every method but
// WebhookWork and WebhookFailingEndpoints is scoped to one account.
type WebhookOutbox interface {
	// WebhookWork lists every account with webhook endpoints and its work
	// at now.
	WebhookWork(ctx context.Context, now time.Time) ([]WebhookWork, error)
	// WebhookFailingEndpoints counts the enabled endpoints marked failing.
	WebhookFailingEndpoints(ctx context.Context) (int64, error)
	// WebhookLease takes or renews the account's delivery lease for owner
	// until until; false when another owner holds it.
	WebhookLease(ctx context.Context, accountID, owner uuid.UUID, now, until time.Time) (bool, error)
	WebhookRelease(ctx context.Context, accountID, owner uuid.UUID) error
	// WebhookStamp gives at most max committed, unstamped events the
	// account's next sequence numbers; returns how many and the stream's
	// last sequence number.
	WebhookStamp(ctx context.Context, accountID uuid.UUID, max int) (stamped int, lastSeq int64, err error)
	// WebhookDueEndpoints: enabled, active endpoints whose retry time has
	// come at now.
	WebhookDueEndpoints(ctx context.Context, accountID uuid.UUID, now time.Time) ([]WebhookEndpoint, error)
	// WebhookEventsAfter: stamped events with a sequence number in
	// (after, upto], at most max, in sequence order.
	WebhookEventsAfter(ctx context.Context, accountID uuid.UUID, after, upto int64, max int) ([]SequencedEvent, error)
	// WebhookAdvance moves the cursor to seq, clears the retry state and
	// records a (nil: no) attempt; false when the endpoint is gone or past
	// seq.
	WebhookAdvance(ctx context.Context, accountID, endpointID uuid.UUID, seq int64, a *WebhookAttempt) (bool, error)
	// WebhookFail records a failed attempt of the head event and the retry
	// state, if the cursor is still at deliveredSeq.
	WebhookFail(ctx context.Context, accountID, endpointID uuid.UUID, deliveredSeq int64, f WebhookFailure, a WebhookAttempt) (bool, error)
}

// WebhookWork is one account with webhook endpoints as the worker sees it.
type WebhookWork struct {
	AccountID uuid.UUID
	// LeaseFree: no instance holds the account's lease.
	LeaseFree bool
	// Due: an event to stamp, or an active endpoint behind the stream
	// whose retry time has come.
	Due bool
	// OldestPending is the time of the oldest event not yet delivered to
	// every active endpoint (nil: none).
	OldestPending *time.Time
}

// SequencedEvent is a stamped audit event.
type SequencedEvent struct {
	Event AuditEvent
	Seq   int64
}

// WebhookFailure is the new state of an endpoint whose head event failed.
type WebhookFailure struct {
	// Cursor is the sequence number just before the head (the events
	// before it were skipped: not subscribed).
	Cursor        int64
	Attempts      int
	FirstFailedAt time.Time
	// RetryAt is when to try again; nil with GiveUp.
	RetryAt *time.Time
	// GiveUp marks the endpoint failing, with Reason shown to the owner.
	GiveUp bool
	Reason string
	Now    time.Time
}
