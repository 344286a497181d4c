package agent

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the agent's Prometheus metrics.
type metrics struct {
	applyLatency  *prometheus.HistogramVec
	applyErrors   *prometheus.CounterVec
	reconciles    *prometheus.CounterVec
	lastHeartbeat prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		applyLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "portico_member_agent_apply_duration_seconds", Help: "Latency of applying one object to the member cluster (server-side apply; an object applied before and unchanged since, by anyone, is not sent again and takes microseconds).",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 14),
		}, []string{"kind"}),
		applyErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "portico_member_agent_apply_errors_total", Help: "Objects the member cluster refused.",
		}, []string{"kind"}),
		reconciles: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "portico_member_agent_reconciles_total", Help: "ClusterAccessPoint reconciles by result.",
		}, []string{"result"}),
		lastHeartbeat: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "portico_member_agent_last_heartbeat_timestamp_seconds", Help: "Unix time of the last Lease renewal.",
		}),
	}
	reg.MustRegister(m.applyLatency, m.applyErrors, m.reconciles, m.lastHeartbeat)
	return m
}

func (m *metrics) ObserveApply(kind string, d time.Duration, err error) {
	m.applyLatency.WithLabelValues(kind).Observe(d.Seconds())
	if err != nil {
		m.applyErrors.WithLabelValues(kind).Inc()
	}
}

func (m *metrics) ObserveReconcile(err error) {
	result := "success"
	if err != nil {
		result = "error"
	}
	m.reconciles.WithLabelValues(result).Inc()
}

func (m *metrics) heartbeat(t time.Time) { m.lastHeartbeat.Set(float64(t.Unix())) }
