package api

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

type metrics struct {
	reg      *prometheus.Registry
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	sales    *prometheus.CounterVec
	handler  http.Handler
}

func newMetrics(s *Server) *metrics {
	m := &metrics{reg: prometheus.NewRegistry()}
	m.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "gateway_http_requests_total", Help: "HTTP requests by route, method and status.",
	}, []string{"route", "method", "status"})
	m.latency = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "gateway_http_request_duration_seconds", Help: "HTTP request latency by route.",
		Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
	}, []string{"route"})
	m.sales = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "gateway_transactions_total", Help: "Transactions answered for the first time, by type and status.",
	}, []string{"type", "status"})
	m.reg.MustRegister(m.requests, m.latency, m.sales,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		&supplierCollector{s: s}, &stockCollector{s: s})
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "gateway_transactions_pending", Help: "Transactions whose supplier outcome is not yet known.",
	}, func() float64 {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		n, err := s.Conduit.Pending(ctx)
		if err != nil {
			return -1
		}
		return float64(n)
	}))
	if s.HubStatus != nil {
		m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "gateway_hub_reachable", Help: "1 when the last sync with the hub succeeded.",
		}, func() float64 {
			if s.HubStatus().Reachable {
				return 1
			}
			return 0
		}), prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "gateway_hub_sync_age_seconds", Help: "Seconds since the last successful sync with the hub.",
		}, func() float64 {
			if t := s.HubStatus().LastSync; !t.IsZero() {
				return time.Since(t).Seconds()
			}
			return -1
		}), prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "gateway_hub_sync_pending_events", Help: "Sales and voids not yet acknowledged by the hub.",
		}, func() float64 { return float64(s.HubStatus().PendingEvent) }))
	}
	m.handler = promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
	return m
}

func (m *metrics) observeRequest(method, route string, status int, d time.Duration) {
	m.requests.WithLabelValues(route, method, strconv.Itoa(status)).Inc()
	m.latency.WithLabelValues(route).Observe(d.Seconds())
}

func (s *Server) metricsHandler(w http.ResponseWriter, r *http.Request) {
	s.metrics.handler.ServeHTTP(w, r)
}

var (
	breakerDesc = prometheus.NewDesc("gateway_supplier_breaker_state",
		"Circuit breaker state per supplier: 1 for the current state.", []string{"supplier", "state"}, nil)
	supplierRequestsDesc = prometheus.NewDesc("gateway_supplier_requests_total",
		"Calls that reached a supplier's driver.", []string{"supplier"}, nil)
	supplierFailuresDesc = prometheus.NewDesc("gateway_supplier_failures_total",
		"Supplier calls that failed or whose outcome was unknown.", []string{"supplier"}, nil)
)

// supplierCollector reads the router's live statistics at scrape time.
type supplierCollector struct{ s *Server }

func (c *supplierCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- breakerDesc
	ch <- supplierRequestsDesc
	ch <- supplierFailuresDesc
}

func (c *supplierCollector) Collect(ch chan<- prometheus.Metric) {
	for _, st := range c.s.Router.Stats() {
		for _, state := range []string{"closed", "half-open", "open"} {
			v := 0.0
			if st.Breaker == state {
				v = 1
			}
			ch <- prometheus.MustNewConstMetric(breakerDesc, prometheus.GaugeValue, v, st.Name, state)
		}
		ch <- prometheus.MustNewConstMetric(supplierRequestsDesc, prometheus.CounterValue, float64(st.Requests), st.Name)
		ch <- prometheus.MustNewConstMetric(supplierFailuresDesc, prometheus.CounterValue, float64(st.Failures), st.Name)
	}
}

var (
	stockAvailableDesc = prometheus.NewDesc("gateway_pin_stock_available",
		"PINs that can be sold now, per product and node with a stock level set.", []string{"product", "node"}, nil)
	stockLowDesc = prometheus.NewDesc("gateway_pin_stock_low",
		"1 when available PIN stock is under the reorder level.", []string{"product", "node"}, nil)
)

// stockCollector reads stock at scrape time, for every (node, product) with levels set.
type stockCollector struct{ s *Server }

func (c *stockCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- stockAvailableDesc
	ch <- stockLowDesc
}

func (c *stockCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	levels, err := c.s.Inventory.Levels(ctx)
	if err != nil {
		return
	}
	for _, l := range levels {
		n, err := c.s.Inventory.Available(ctx, l.ProductID, l.NodeID)
		if err != nil {
			return
		}
		low := 0.0
		if n < l.ReorderLevel {
			low = 1
		}
		ch <- prometheus.MustNewConstMetric(stockAvailableDesc, prometheus.GaugeValue, float64(n), l.ProductID, l.NodeID)
		ch <- prometheus.MustNewConstMetric(stockLowDesc, prometheus.GaugeValue, low, l.ProductID, l.NodeID)
	}
}
