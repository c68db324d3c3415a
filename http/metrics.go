package http

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
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

func newMetrics(reg prometheus.Registerer, version string) (*metrics, error) {
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
	return m, err
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
