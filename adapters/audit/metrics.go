package audit

import (
	"time"

	"github.com/sessiond/sessiond/core"
)

// Observer receives what webhook delivery counts (adapters/telemetry
// implements it; cmd/sessiond wires it). A nil Observer given to
// NewDispatcher observes nothing.
type Observer interface {
	// WebhookDelivery counts one delivery attempt by outcome
	// (WebhookOutcomes).
	WebhookDelivery(outcome core.WebhookOutcome)
	// WebhookQueueLag reports, once per round, the age of the oldest event
	// not yet delivered to every active endpoint (0: none).
	WebhookQueueLag(lag time.Duration)
	// WebhookEndpointsFailing reports, once per round, how many enabled
	// endpoints are marked failing, across accounts.
	WebhookEndpointsFailing(n int64)
}

// WebhookOutcomes are the outcomes a delivery attempt reports, every one.
func WebhookOutcomes() []core.WebhookOutcome {
	return []core.WebhookOutcome{core.WebhookDelivered, core.WebhookHTTPError, core.WebhookNetworkError, core.WebhookBlocked}
}

type nopObserver struct{}

func (nopObserver) WebhookDelivery(core.WebhookOutcome) {}
func (nopObserver) WebhookQueueLag(time.Duration)       {}
func (nopObserver) WebhookEndpointsFailing(int64)       {}
