package audit

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/sessiond/sessiond/core"
)

// Metrics of webhook delivery: a prometheus.Collector.
type Metrics struct {
	deliveries *prometheus.CounterVec
	queueLag   prometheus.Gauge
	failing    prometheus.Gauge
}

// NewMetrics returns the delivery metrics, every outcome at 0.
func NewMetrics() *Metrics {
	m := &Metrics{
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sessiond_webhook_deliveries_total",
			Help: "Webhook delivery attempts by outcome (delivered, http_error, network_error, blocked).",
		}, []string{"outcome"}),
		queueLag: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "sessiond_webhook_queue_lag_seconds",
			Help: "Age of the oldest audit event not yet delivered to every active endpoint (0: none), as of the last round.",
		}),
		failing: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "sessiond_webhook_endpoints_failing",
			Help: "Enabled webhook endpoints marked failing (retries exhausted), across accounts.",
		}),
	}
	for _, o := range []core.WebhookOutcome{core.WebhookDelivered, core.WebhookHTTPError, core.WebhookNetworkError, core.WebhookBlocked} {
		m.deliveries.WithLabelValues(string(o))
	}
	return m
}

// Describe implements prometheus.Collector.
func (m *Metrics) Describe(ch chan<- *prometheus.Desc) {
	m.deliveries.Describe(ch)
	m.queueLag.Describe(ch)
	m.failing.Describe(ch)
}

// Collect implements prometheus.Collector.
func (m *Metrics) Collect(ch chan<- prometheus.Metric) {
	m.deliveries.Collect(ch)
	m.queueLag.Collect(ch)
	m.failing.Collect(ch)
}
