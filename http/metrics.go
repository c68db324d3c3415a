package http

import (
	"context"
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/lethe-privacy/lethe"
)

// metrics are the server's Prometheus collectors. Labels are bounded: route
// patterns, status codes, declared purposes and consent reasons. Nothing
// about a subject is ever a label.
type metrics struct {
	requests *prometheus.CounterVec   // route, code
	duration *prometheus.HistogramVec // route, code
	inFlight prometheus.Gauge
	records  *prometheus.CounterVec // purpose, result
	checks   *prometheus.CounterVec // purpose, result
}

// unmatchedRoute labels requests no route matched (404, 405), so that
// scanners probing random paths cannot grow the label set.
const unmatchedRoute = "unmatched"

func newMetrics(reg prometheus.Registerer, version string, requests lethe.RequestStore) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lethe_http_requests_total",
			Help: "HTTP requests served, by route pattern and status code.",
		}, []string{"route", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "lethe_http_request_duration_seconds",
			Help:    "Time to serve HTTP requests, by route pattern and status code.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"route", "code"}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "lethe_http_requests_in_flight",
			Help: "HTTP requests being served now.",
		}),
		records: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lethe_consent_records_total",
			Help: "Consent events recorded through the API, by purpose and result (granted or withdrawn).",
		}, []string{"purpose", "result"}),
		checks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lethe_consent_checks_total",
			Help: "Consent checks answered through the API, by purpose and result (the decision's reason).",
		}, []string{"purpose", "result"}),
	}
	build := prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        "lethe_build_info",
		Help:        "Always 1; the version label says which Lethe serves.",
		ConstLabels: prometheus.Labels{"version": version},
	})
	build.Set(1)
	var err error
	m.requests = register(reg, m.requests, &err)
	m.duration = register(reg, m.duration, &err)
	m.inFlight = register(reg, m.inFlight, &err)
	m.records = register(reg, m.records, &err)
	m.checks = register(reg, m.checks, &err)
	register[prometheus.Collector](reg, build, &err)
	if requests != nil {
		register[prometheus.Collector](reg, &requestCollector{store: requests}, &err)
	}
	return m, err
}

// requestCollector reports the data subject requests waiting for their
// response, read from the store at each scrape, so that every node shows
// the same figures and an alert on overdue requests needs no other
// source.
type requestCollector struct {
	store lethe.RequestStore
}

var (
	requestsOpenDesc = prometheus.NewDesc("lethe_dsr_requests_open",
		"Data subject requests waiting for their response, by status (unverified, verified, running).", []string{"status"}, nil)
	requestsOverdueDesc = prometheus.NewDesc("lethe_dsr_requests_overdue",
		"Open data subject requests whose legal deadline (the extended one once extended) has passed.", nil, nil)
)

func (c *requestCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- requestsOpenDesc
	ch <- requestsOverdueDesc
}

func (c *requestCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	counts, err := c.store.RequestCounts(ctx, time.Now())
	if err != nil {
		ch <- prometheus.NewInvalidMetric(requestsOverdueDesc, err)
		return
	}
	for _, st := range []lethe.RequestStatus{lethe.RequestUnverified, lethe.RequestVerified, lethe.RequestRunning} {
		ch <- prometheus.MustNewConstMetric(requestsOpenDesc, prometheus.GaugeValue, float64(counts.Open[st]), string(st))
	}
	ch <- prometheus.MustNewConstMetric(requestsOverdueDesc, prometheus.GaugeValue, float64(counts.Overdue))
}

// register registers c, or returns the identical collector already
// registered (a second server on the same registry shares the series).
func register[C prometheus.Collector](reg prometheus.Registerer, c C, errp *error) C {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing
			}
		}
		if *errp == nil {
			*errp = err
		}
	}
	return c
}

// newRegistry is the registry used when Options.Registry is nil: the
// server's metrics plus the Go runtime and process collectors.
func newRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}
