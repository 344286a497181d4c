// Package metrics holds the lb-agent's Prometheus metrics, served on /metrics.
package metrics

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// The lb-agent's metrics.
var (
	SyncDuration = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "portico_lb_sync_duration_seconds",
		Help:    "Duration of a synchronization: desired state, dataplane and BGP announcements.",
		Buckets: prometheus.ExponentialBuckets(0.001, 4, 10),
	})
	DataplaneSyncDuration = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "portico_lb_dataplane_sync_duration_seconds",
		Help:    "Duration of the dataplane part of a synchronization.",
		Buckets: prometheus.ExponentialBuckets(0.001, 4, 10),
	})
	SyncErrors = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "portico_lb_sync_errors_total",
		Help: "Synchronization errors by stage (model, dataplane, bgp, status, state).",
	}, []string{"stage"})
	Services = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "portico_lb_dataplane_services",
		Help: "Virtual services programmed.",
	})
	Destinations = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "portico_lb_dataplane_destinations",
		Help: "Destinations programmed.",
	})
	Announced = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "portico_lb_announced_vips",
		Help: "VIPs announced over BGP.",
	})
	InvalidVirtualIPs = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "portico_lb_invalid_virtualips",
		Help: "VirtualIPs of the group that were rejected as invalid.",
	})
	BGPSessionUp = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "portico_lb_bgp_session_established",
		Help: "1 when the BGP session with the peer is established, 0 otherwise.",
	}, []string{"peer"})
	BackendHealthy = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "portico_lb_backend_healthy",
		Help: "Health check verdict of a backend: 1 healthy, 0 unhealthy (absent while unknown).",
	}, []string{"backend", "type"})
	ServingFromDisk = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "portico_lb_serving_from_disk",
		Help: "1 while the agent serves the desired state of its state file because the hub's caches have not synced since it started.",
	})
	WithdrawHeld = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "portico_lb_withdraw_held_vips",
		Help: "VIPs the agent keeps serving although the hub no longer lists them, because it holds a mass withdrawal (condition WithdrawHeld).",
	})
	HealthChecks = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "portico_lb_health_verdict_changes_total",
		Help: "Health verdict changes, by new verdict.",
	}, []string{"verdict"})
)

// Registry holds the lb-agent's metrics and the Go runtime's.
var Registry = prometheus.NewRegistry()

func init() {
	Registry.MustRegister(SyncDuration, DataplaneSyncDuration, SyncErrors, Services, Destinations, Announced,
		InvalidVirtualIPs, BGPSessionUp, BackendHealthy, ServingFromDisk, WithdrawHeld, HealthChecks,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
}

// Handler serves the registry.
func Handler() http.Handler {
	return promhttp.HandlerFor(Registry, promhttp.HandlerOpts{})
}
