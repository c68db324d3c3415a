package http

import (
	"context"
	"io"
	"net"
	"net/http"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// serveLoopback serves h on a real loopback listener and returns its base
// URL and a keep-alive client sized for parallel benchmarks.
func serveLoopback(b *testing.B, h http.Handler) (string, *http.Client) {
	b.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	b.Cleanup(func() { _ = srv.Shutdown(context.Background()) })
	n := 4 * runtime.GOMAXPROCS(0)
	tr := &http.Transport{MaxIdleConns: n, MaxIdleConnsPerHost: n, IdleConnTimeout: time.Minute}
	b.Cleanup(tr.CloseIdleConnections)
	return "http://" + ln.Addr().String(), &http.Client{Transport: tr}
}

// getParallel runs n GETs from GOMAXPROCS goroutines, checks each answer
// and returns the wall time taken. Both sides of a ratio use it, so they
// run with the same concurrency.
func getParallel(n int, c *http.Client, url, auth string) (time.Duration, error) {
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, 1)
	start := time.Now()
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			for next.Add(1) <= int64(n) {
				if err := get(c, url, auth); err != nil {
					select {
					case errs <- err:
					default:
					}
					return
				}
			}
		})
	}
	wg.Wait()
	d := time.Since(start)
	select {
	case err := <-errs:
		return d, err
	default:
		return d, nil
	}
}

func get(c *http.Client, url, auth string) error {
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		return err
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	res, err := c.Do(req)
	if err != nil {
		return err
	}
	_, err = io.Copy(io.Discard, res.Body)
	res.Body.Close()
	if res.StatusCode != 200 {
		return &statusError{res.StatusCode}
	}
	return err
}

type statusError struct{ code int }

func (e *statusError) Error() string { return "status " + http.StatusText(e.code) }

// BenchmarkHTTPCheck measures GET /v1/subjects/{id}/consents/{purpose}
// (authentication, routing, validation, the ledger check against SQLite
// state, metrics and logging) over loopback with keep-alive. It also times
// the same number of requests to BaselineHandler in the same run and reports
// the ratio as x-bare.
func BenchmarkHTTPCheck(b *testing.B) {
	e := newTestEnv(b, func(o *Options) { o.Logger = discardLogger() })
	if res := e.do("POST", "/v1/consents", "write", grant("u-bench", true, "marketing_email")); res.status != 201 {
		b.Fatalf("record: %d %s", res.status, res.body)
	}
	apiURL, apiClient := serveLoopback(b, e.server.Handler())
	bareURL, bareClient := serveLoopback(b, BaselineHandler())
	auth := "Bearer " + e.tokens["read"]
	checkURL := apiURL + "/v1/subjects/u-bench/consents/marketing_email"
	// Warm the connection pools and caches outside the timing.
	for range 8 {
		if err := get(apiClient, checkURL, auth); err != nil {
			b.Fatal(err)
		}
		if err := get(bareClient, bareURL, ""); err != nil {
			b.Fatal(err)
		}
	}

	b.ReportAllocs()
	b.ResetTimer()
	api, err := getParallel(b.N, apiClient, checkURL, auth)
	b.StopTimer()
	if err != nil {
		b.Fatal(err)
	}
	bare, err := getParallel(b.N, bareClient, bareURL, "")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(bare.Nanoseconds())/float64(b.N), "bare-ns/op")
	b.ReportMetric(float64(api)/float64(bare), "x-bare")
}

// BenchmarkBareHandler is the baseline: BaselineHandler over the same kind
// of loopback listener and client.
func BenchmarkBareHandler(b *testing.B) {
	url, c := serveLoopback(b, BaselineHandler())
	b.ReportAllocs()
	b.ResetTimer()
	if _, err := getParallel(b.N, c, url, ""); err != nil {
		b.Fatal(err)
	}
}
