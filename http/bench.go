package http

import (
	"net/http"
	"time"
)

// BaselineHandler is a bare net/http handler that answers every request
// with a small JSON document shaped like a consent decision. Benchmarks
// (go test -bench, and benchmark commands) serve it next to the API over the
// same kind of listener and report the API's cost as a ratio to it, which
// holds across machines where absolute timings do not.
func BaselineHandler() http.Handler {
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC).Format(time.RFC3339Nano)
	body := []byte(`{"purpose":"marketing_email","allowed":true,"reason":"granted","lawful_basis":"consent",` +
		`"policy_version":"2026-03","event_id":"0191d3a0-0000-7000-8000-000000000000","recorded_at":"` + at + `"}` + "\n")
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	})
}
