package telemetry

import (
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
)

// PoolCollector exports the pgx pool's statistics (pool.Stat()) at scrape
// time: connections acquired, idle and total, the pool's size, and how
// often and how long requests waited for a connection — the first signs of
// a pool too small or a database too slow.
type PoolCollector struct {
	pool                                    *pgxpool.Pool
	acquired, idle, total, max              *prometheus.Desc
	acquires, waits, waitSeconds, cancelled *prometheus.Desc
}

// NewPoolCollector returns a collector over pool.
func NewPoolCollector(pool *pgxpool.Pool) *PoolCollector {
	d := func(name, help string) *prometheus.Desc {
		return prometheus.NewDesc("sessiond_db_pool_"+name, help, nil, nil)
	}
	return &PoolCollector{
		pool:        pool,
		acquired:    d("acquired_conns", "Connections currently in use."),
		idle:        d("idle_conns", "Connections currently idle."),
		total:       d("total_conns", "Connections open (acquired, idle and being opened)."),
		max:         d("max_conns", "The pool's maximum size (DB_MAX_CONNS)."),
		acquires:    d("acquires_total", "Connections acquired from the pool."),
		waits:       d("acquire_waits_total", "Acquires that had to wait for a connection."),
		waitSeconds: d("acquire_wait_seconds_total", "Time spent waiting for a connection."),
		cancelled:   d("acquires_cancelled_total", "Acquires given up (deadline, DB_ACQUIRE_TIMEOUT, cancelled request)."),
	}
}

// Describe implements prometheus.Collector.
func (c *PoolCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.acquired, c.idle, c.total, c.max, c.acquires, c.waits, c.waitSeconds, c.cancelled} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *PoolCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.pool.Stat()
	ch <- prometheus.MustNewConstMetric(c.acquired, prometheus.GaugeValue, float64(s.AcquiredConns()))
	ch <- prometheus.MustNewConstMetric(c.idle, prometheus.GaugeValue, float64(s.IdleConns()))
	ch <- prometheus.MustNewConstMetric(c.total, prometheus.GaugeValue, float64(s.TotalConns()))
	ch <- prometheus.MustNewConstMetric(c.max, prometheus.GaugeValue, float64(s.MaxConns()))
	ch <- prometheus.MustNewConstMetric(c.acquires, prometheus.CounterValue, float64(s.AcquireCount()))
	ch <- prometheus.MustNewConstMetric(c.waits, prometheus.CounterValue, float64(s.EmptyAcquireCount()))
	ch <- prometheus.MustNewConstMetric(c.waitSeconds, prometheus.CounterValue, s.EmptyAcquireWaitTime().Seconds())
	ch <- prometheus.MustNewConstMetric(c.cancelled, prometheus.CounterValue, float64(s.CanceledAcquireCount()))
}
