package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/lethe-privacy/lethe"
)

var testSecret = []byte("0123456789abcdef-test-secret")

// received is one call as the receiver saw it.
type received struct {
	call   Call
	header string
	body   []byte
	// verr is what Verify said of its signature.
	verr error
}

// receiver is a service: it verifies each call with Verify, refusing
// bad signatures with 401, and answers with handle (n counts the calls
// from 0).
type receiver struct {
	srv   *httptest.Server
	mu    sync.Mutex
	calls []received
}

func newReceiver(t *testing.T, handle func(w http.ResponseWriter, r *http.Request, call Call, n int)) *receiver {
	t.Helper()
	rc := &receiver{}
	rc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		got := received{header: r.Header.Get(SignatureHeader), body: body}
		got.verr = Verify(testSecret, got.header, body, time.Now(), 0)
		if err := json.Unmarshal(body, &got.call); err != nil {
			t.Errorf("the call is not JSON: %v", err)
		}
		rc.mu.Lock()
		n := len(rc.calls)
		rc.calls = append(rc.calls, got)
		rc.mu.Unlock()
		if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" {
			t.Errorf("call: %s with content type %q", r.Method, r.Header.Get("Content-Type"))
		}
		if got.verr != nil {
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		handle(w, r, got.call, n)
	}))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receiver) received() []received {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return slices.Clone(rc.calls)
}

// connector returns a Connector for the receiver with fast retries.
func (rc *receiver) connector(opts Options) *Connector {
	opts.MinBackoff = cmpOr(opts.MinBackoff, time.Millisecond)
	opts.MaxBackoff = cmpOr(opts.MaxBackoff, 5*time.Millisecond)
	c := New(rc.srv.URL, testSecret, opts)
	c.name = "crm"
	return c
}

func cmpOr[T comparable](v, d T) T {
	var zero T
	if v == zero {
		return d
	}
	return v
}

func respond(w http.ResponseWriter, body string) {
	w.Header().Set("Content-Type", "application/json")
	io.WriteString(w, body)
}

var contacts = &lethe.Collection{Name: "contacts", Datastore: "crm"}

func byEmail(values ...any) []lethe.Match {
	return []lethe.Match{{Column: "email", Identity: lethe.IdentityEmail, Values: values}}
}

// findAll runs Find and copies the rows out.
func findAll(c *Connector, p lethe.FindParams) ([]map[string]any, error) {
	var rows []map[string]any
	err := c.Find(context.Background(), p, func(r lethe.Row) error {
		m := map[string]any{}
		for i, col := range r.Columns {
			m[col] = r.Values[i]
		}
		rows = append(rows, m)
		return nil
	})
	return rows, err
}

func TestFindSendsASignedCallAndDecodesRows(t *testing.T) {
	rc := newReceiver(t, func(w http.ResponseWriter, _ *http.Request, _ Call, _ int) {
		respond(w, `{"meta": {"skipped": [1, 2]}, "rows": [
			{"email": "jane@example.com", "seats": 3, "ratio": 0.5, "big": 123456789012345678901234, "vip": true, "note": null, "tags": ["a", "b"], "address": {"city": "Köln"}},
			{"email": "jane@example.com", "seats": 1, "seats": 2}
		], "next": null}`)
	})
	c := rc.connector(Options{})
	rows, err := findAll(c, lethe.FindParams{
		Collection: contacts,
		RequestID:  "dsr_1",
		Matches: []lethe.Match{
			{Column: "email", Identity: lethe.IdentityEmail, Values: []any{"jane@example.com", "jane@example.com", nil}},
			{Column: "id", Identity: lethe.IdentityUserID, Values: []any{int64(42), "42"}},
			{Column: "account_id", Values: []any{7.0, []byte("x")}}, // from a reference
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []map[string]any{
		{"email": "jane@example.com", "seats": int64(3), "ratio": 0.5, "big": "123456789012345678901234", "vip": true, "note": nil, "tags": `["a","b"]`, "address": `{"city":"Köln"}`},
		{"email": "jane@example.com", "seats": int64(2)},
	}
	if diff := cmp.Diff(want, rows); diff != "" {
		t.Errorf("rows (-want +got):\n%s", diff)
	}
	calls := rc.received()
	if len(calls) != 1 {
		t.Fatalf("%d calls, want 1", len(calls))
	}
	if calls[0].verr != nil {
		t.Errorf("the receiver's Verify refused the call: %v", calls[0].verr)
	}
	wantCall := Call{Action: "access", RequestID: "dsr_1", Collection: "contacts", Identities: map[string][]string{
		"email": {"jane@example.com"}, "user_id": {"42"}, "account_id": {"7", "x"},
	}}
	if diff := cmp.Diff(wantCall, calls[0].call); diff != "" {
		t.Errorf("call (-want +got):\n%s", diff)
	}
	if !strings.HasPrefix(calls[0].header, "t=") || !strings.Contains(calls[0].header, ",v1=") {
		t.Errorf("signature header %q", calls[0].header)
	}
}

func TestFindWithoutValuesMakesNoCall(t *testing.T) {
	rc := newReceiver(t, func(w http.ResponseWriter, _ *http.Request, _ Call, _ int) { respond(w, `{"rows": []}`) })
	c := rc.connector(Options{})
	for _, ms := range [][]lethe.Match{nil, byEmail(), byEmail(nil)} {
		if rows, err := findAll(c, lethe.FindParams{Collection: contacts, Matches: ms}); err != nil || len(rows) != 0 {
			t.Errorf("find %v: %v, %v", ms, rows, err)
		}
	}
	res, err := c.Erase(context.Background(), []lethe.EraseStep{{Collection: contacts, Matches: byEmail(), Action: lethe.EraseDelete}})
	if err != nil || len(res) != 1 || res[0].Rows != 0 {
		t.Errorf("erase without values: %v, %v", res, err)
	}
	if n := len(rc.received()); n != 0 {
		t.Errorf("%d calls made", n)
	}
}

// Identities reach the service exactly, whatever they hold.
func TestIdentitiesPassThroughIntact(t *testing.T) {
	values := []string{
		`jane "the boss" o'hara@example.com`, `back\slash`, "zoë@exämple.com", "😀 ﷽", "\u202egro.elpmaxe@ecila",
		"line\nbreak\ttab", "nul\x00byte", "</script><script>alert(1)</script>", `{"rows": []}`, "", " padded ",
	}
	rc := newReceiver(t, func(w http.ResponseWriter, _ *http.Request, call Call, _ int) {
		// Echo each identity back as a row.
		var rows []map[string]string
		for _, v := range call.Identities["email"] {
			rows = append(rows, map[string]string{"email": v})
		}
		json.NewEncoder(w).Encode(map[string]any{"rows": rows})
	})
	c := rc.connector(Options{})
	in := make([]any, len(values))
	for i, v := range values {
		in[i] = v
	}
	rows, err := findAll(c, lethe.FindParams{Collection: contacts, Matches: byEmail(in...)})
	if err != nil {
		t.Fatal(err)
	}
	if got := rc.received()[0].call.Identities["email"]; !slices.Equal(got, values) {
		t.Errorf("the service received %q, want %q", got, values)
	}
	var back []string
	for _, r := range rows {
		back = append(back, r["email"].(string))
	}
	if !slices.Equal(back, values) {
		t.Errorf("rows came back as %q", back)
	}
}

func TestVerify(t *testing.T) {
	now := time.Unix(1700000000, 0)
	body := []byte(`{"action":"access"}`)
	valid := Sign(testSecret, body, now)
	_, sig, _ := strings.Cut(valid, ",v1=")
	other := Sign([]byte("another secret, rotated away"), body, now)
	_, otherSig, _ := strings.Cut(other, ",v1=")
	tests := []struct {
		name   string
		secret []byte
		header string
		body   []byte
		now    time.Time
		tol    time.Duration
		want   error
	}{
		{"valid", testSecret, valid, body, now, 0, nil},
		{"valid, spaces and unknown parts", testSecret, " t=1700000000 , v0=zz, v1=" + sig + " ", body, now, 0, nil},
		{"two v1, one valid (rotation)", testSecret, "t=1700000000,v1=" + otherSig + ",v1=" + sig, body, now, 0, nil},
		{"4m59s late", testSecret, valid, body, now.Add(4*time.Minute + 59*time.Second), 0, nil},
		{"replayed 6 minutes later", testSecret, valid, body, now.Add(6 * time.Minute), 0, ErrSignatureExpired},
		{"replayed within a longer tolerance", testSecret, valid, body, now.Add(6 * time.Minute), 10 * time.Minute, nil},
		{"from 6 minutes in the future", testSecret, valid, body, now.Add(-6 * time.Minute), 0, ErrSignatureExpired},
		{"forged with another secret", testSecret, other, body, now, 0, ErrSignatureMismatch},
		{"body changed", testSecret, valid, []byte(`{"action":"erasure"}`), now, 0, ErrSignatureMismatch},
		{"timestamp changed", testSecret, "t=1700000001,v1=" + sig, body, now, 0, ErrSignatureMismatch},
		{"no header", testSecret, "", body, now, 0, ErrNoSignature},
		{"empty secret", nil, valid, body, now, 0, ErrEmptySecret},
		{"no timestamp", testSecret, "v1=" + sig, body, now, 0, ErrMalformedSignature},
		{"no signature", testSecret, "t=1700000000", body, now, 0, ErrMalformedSignature},
		{"two timestamps", testSecret, "t=1700000000,t=1700000000,v1=" + sig, body, now, 0, ErrMalformedSignature},
		{"negative timestamp", testSecret, "t=-1,v1=" + sig, body, now, 0, ErrMalformedSignature},
		{"signature not hex", testSecret, "t=1700000000,v1=" + strings.Repeat("g", 64), body, now, 0, ErrMalformedSignature},
		{"short signature", testSecret, "t=1700000000,v1=" + sig[:62], body, now, 0, ErrMalformedSignature},
		{"no equals sign", testSecret, "t1700000000,v1=" + sig, body, now, 0, ErrMalformedSignature},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := Verify(tt.secret, tt.header, tt.body, tt.now, tt.tol); !errors.Is(err, tt.want) {
				t.Errorf("Verify = %v, want %v", err, tt.want)
			}
		})
	}
}

// A call recorded and sent again later is refused, by Verify and by
// VerifyRequest.
func TestReplayedCallRefused(t *testing.T) {
	rc := newReceiver(t, func(w http.ResponseWriter, _ *http.Request, _ Call, _ int) { respond(w, `{"rows": []}`) })
	if _, err := findAll(rc.connector(Options{}), lethe.FindParams{Collection: contacts, Matches: byEmail("jane@example.com")}); err != nil {
		t.Fatal(err)
	}
	recorded := rc.received()[0]
	if err := Verify(testSecret, recorded.header, recorded.body, time.Now().Add(DefaultTolerance+time.Minute), 0); !errors.Is(err, ErrSignatureExpired) {
		t.Errorf("a call replayed after the tolerance: Verify = %v", err)
	}

	called := false
	srv := httptest.NewServer(VerifyRequest(testSecret, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		called = true
		respond(w, `{"rows": []}`)
	})))
	defer srv.Close()
	// A connector whose clock is 10 minutes behind signs calls that
	// look replayed.
	c := New(srv.URL, testSecret, Options{Clock: func() time.Time { return time.Now().Add(-10 * time.Minute) }, MaxRetries: -1})
	_, err := findAll(c, lethe.FindParams{Collection: contacts, Matches: byEmail("jane@example.com")})
	if lethe.ErrorCode(err) != lethe.EUNAVAILABLE || !strings.Contains(err.Error(), "401") || called {
		t.Errorf("an old signature through VerifyRequest: %v (handler called: %v)", err, called)
	}
	// The recorded call itself, replayed as is: accepted only within
	// the tolerance, which it still is.
	req, _ := http.NewRequest(http.MethodPost, srv.URL, bytes.NewReader(recorded.body))
	req.Header.Set(SignatureHeader, recorded.header)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !called {
		t.Errorf("the recorded call within the tolerance: HTTP %d", resp.StatusCode)
	}
	// Forged: the same body signed with another secret.
	called = false
	req, _ = http.NewRequest(http.MethodPost, srv.URL, bytes.NewReader(recorded.body))
	req.Header.Set(SignatureHeader, Sign([]byte("not the secret at all"), recorded.body, time.Now()))
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized || called {
		t.Errorf("a forged signature through VerifyRequest: HTTP %d (handler called: %v)", resp.StatusCode, called)
	}
}

func TestRetriesThen503ThenSuccess(t *testing.T) {
	rc := newReceiver(t, func(w http.ResponseWriter, _ *http.Request, _ Call, n int) {
		if n < 2 {
			http.Error(w, "busy", http.StatusServiceUnavailable)
			return
		}
		respond(w, `{"rows": [{"id": 1}]}`)
	})
	var clock sync.Mutex
	tick := time.Now()
	c := rc.connector(Options{Clock: func() time.Time {
		clock.Lock()
		defer clock.Unlock()
		tick = tick.Add(time.Second)
		return tick
	}})
	rows, err := findAll(c, lethe.FindParams{Collection: contacts, RequestID: "dsr_2", Matches: byEmail("jane@example.com")})
	if err != nil || len(rows) != 1 {
		t.Fatalf("rows %v, err %v", rows, err)
	}
	calls := rc.received()
	if len(calls) != 3 {
		t.Fatalf("%d calls, want 3", len(calls))
	}
	for i, call := range calls {
		if call.verr != nil || call.call.RequestID != "dsr_2" || !bytes.Equal(call.body, calls[0].body) {
			t.Errorf("attempt %d: verify %v, request id %q", i+1, call.verr, call.call.RequestID)
		}
		if i > 0 && call.header == calls[i-1].header {
			t.Errorf("attempt %d reused the signature of the one before: retries are signed afresh", i+1)
		}
	}
}

func TestGivesUpAfterMaxRetries(t *testing.T) {
	rc := newReceiver(t, func(w http.ResponseWriter, _ *http.Request, _ Call, _ int) {
		http.Error(w, "jane@example.com is broken", http.StatusBadGateway)
	})
	c := rc.connector(Options{MaxRetries: 2})
	_, err := findAll(c, lethe.FindParams{Collection: contacts, Matches: byEmail("jane@example.com")})
	if lethe.ErrorCode(err) != lethe.EUNAVAILABLE {
		t.Fatalf("err = %v, want EUNAVAILABLE", err)
	}
	if n := len(rc.received()); n != 3 {
		t.Errorf("%d attempts, want 3 (1 + MaxRetries 2)", n)
	}
	msg := err.Error()
	for _, want := range []string{"crm", "contacts", "access", "HTTP 502", "3 attempts"} {
		if !strings.Contains(msg, want) {
			t.Errorf("message %q does not say %q", msg, want)
		}
	}
	for _, secret := range []string{rc.srv.URL, "127.0.0.1", "jane"} {
		if strings.Contains(msg, secret) {
			t.Errorf("message %q holds %q", msg, secret)
		}
	}
}

func TestRetryAfter(t *testing.T) {
	var mu sync.Mutex
	var at []time.Time
	rc := newReceiver(t, func(w http.ResponseWriter, _ *http.Request, _ Call, n int) {
		mu.Lock()
		at = append(at, time.Now())
		mu.Unlock()
		if n == 0 {
			w.Header().Set("Retry-After", "1")
			http.Error(w, "slow down", http.StatusTooManyRequests)
			return
		}
		respond(w, `{"rows": []}`)
	})
	c := rc.connector(Options{MaxBackoff: 2 * time.Second})
	if _, err := findAll(c, lethe.FindParams{Collection: contacts, Matches: byEmail("a@example.com")}); err != nil {
		t.Fatal(err)
	}
	if len(at) != 2 || at[1].Sub(at[0]) < 900*time.Millisecond {
		t.Errorf("the retry after Retry-After: 1 came %v later", at[1].Sub(at[0]))
	}

	// A Retry-After beyond MaxBackoff ends the retries at once.
	rc = newReceiver(t, func(w http.ResponseWriter, _ *http.Request, _ Call, _ int) {
		w.Header().Set("Retry-After", "3600")
		http.Error(w, "come back tomorrow", http.StatusServiceUnavailable)
	})
	_, err := findAll(rc.connector(Options{}), lethe.FindParams{Collection: contacts, Matches: byEmail("a@example.com")})
	if lethe.ErrorCode(err) != lethe.EUNAVAILABLE || !strings.Contains(err.Error(), "1h0m0s") || len(rc.received()) != 1 {
		t.Errorf("Retry-After 3600: %v after %d calls", err, len(rc.received()))
	}
}

func TestClientErrorsNotRetried(t *testing.T) {
	tests := []struct {
		status int
		code   lethe.Code
		says   string
	}{
		{http.StatusBadRequest, lethe.EINVALID, "HTTP 400"},
		{http.StatusUnprocessableEntity, lethe.EINVALID, "HTTP 422"},
		{http.StatusNotFound, lethe.EINVALID, "404"},
		{http.StatusUnauthorized, lethe.EUNAVAILABLE, "secret"},
		{http.StatusForbidden, lethe.EUNAVAILABLE, "secret"},
		{http.StatusNotImplemented, lethe.EINVALID, "does not implement access"},
		{http.StatusFound, lethe.EINVALID, "redirected"},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.status), func(t *testing.T) {
			rc := newReceiver(t, func(w http.ResponseWriter, r *http.Request, _ Call, _ int) {
				if tt.status == http.StatusFound {
					http.Redirect(w, r, "/elsewhere", tt.status)
					return
				}
				http.Error(w, "no", tt.status)
			})
			_, err := findAll(rc.connector(Options{}), lethe.FindParams{Collection: contacts, Matches: byEmail("a@example.com")})
			if lethe.ErrorCode(err) != tt.code || !strings.Contains(err.Error(), tt.says) {
				t.Errorf("err = %v (%s), want %s saying %q", err, lethe.ErrorCode(err), tt.code, tt.says)
			}
			if n := len(rc.received()); n != 1 {
				t.Errorf("%d calls, want 1: not retried, redirect not followed", n)
			}
		})
	}
}

func TestTimeout(t *testing.T) {
	rc := newReceiver(t, func(w http.ResponseWriter, r *http.Request, _ Call, n int) {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	})
	start := time.Now()
	_, err := findAll(rc.connector(Options{Timeout: 50 * time.Millisecond, MaxRetries: 1}), lethe.FindParams{Collection: contacts, Matches: byEmail("a@example.com")})
	if lethe.ErrorCode(err) != lethe.EUNAVAILABLE || !strings.Contains(err.Error(), "timed out") {
		t.Errorf("err = %v, want EUNAVAILABLE timed out", err)
	}
	if n := len(rc.received()); n != 2 {
		t.Errorf("%d attempts, want 2", n)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("two attempts of 50ms took %v", d)
	}

	// A body that stalls half-way: the rows so far reached fn, and the
	// call is not retried.
	rc = newReceiver(t, func(w http.ResponseWriter, r *http.Request, _ Call, _ int) {
		io.WriteString(w, `{"rows": [{"id": 1},`)
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	})
	rows, err := findAll(rc.connector(Options{Timeout: 100 * time.Millisecond}), lethe.FindParams{Collection: contacts, Matches: byEmail("a@example.com")})
	if lethe.ErrorCode(err) != lethe.EUNAVAILABLE || len(rows) != 1 || len(rc.received()) != 1 {
		t.Errorf("stalled body: %d rows, %d calls, err %v", len(rows), len(rc.received()), err)
	}
}

func TestCancelDuringBackoff(t *testing.T) {
	rc := newReceiver(t, func(w http.ResponseWriter, _ *http.Request, _ Call, _ int) {
		http.Error(w, "busy", http.StatusServiceUnavailable)
	})
	c := rc.connector(Options{MinBackoff: time.Minute, MaxBackoff: time.Minute})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := c.Find(ctx, lethe.FindParams{Collection: contacts, Matches: byEmail("a@example.com")}, func(lethe.Row) error { return nil })
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 5*time.Second {
		t.Errorf("err = %v after %v, want the context's deadline at once", err, time.Since(start))
	}
}

// The rows of a large response reach fn while the service is still
// writing it: the service waits for the first row to arrive before it
// writes the rest, which would deadlock a connector that read the body
// whole.
func TestLargeResponseStreams(t *testing.T) {
	const total = 200000
	firstRow := make(chan struct{})
	rc := newReceiver(t, func(w http.ResponseWriter, r *http.Request, _ Call, _ int) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"rows": [`)
		for i := range total {
			if i > 0 {
				io.WriteString(w, ",")
			}
			fmt.Fprintf(w, `{"id": %d, "email": "user%d@example.com", "note": "%s"}`, i, i, strings.Repeat("x", 100))
			if i == 1000 {
				w.(http.Flusher).Flush()
				select {
				case <-firstRow:
				case <-time.After(10 * time.Second):
					t.Error("no row reached fn while the response was being written")
					return
				case <-r.Context().Done():
					return
				}
			}
		}
		io.WriteString(w, `]}`)
	})
	n := 0
	err := rc.connector(Options{}).Find(context.Background(), lethe.FindParams{Collection: contacts, Matches: byEmail("a@example.com")}, func(r lethe.Row) error {
		if n == 0 {
			close(firstRow)
		}
		if v, _ := r.Get("id"); v != int64(n) {
			return fmt.Errorf("row %d has id %v", n, v)
		}
		n++
		return nil
	})
	if err != nil || n != total {
		t.Fatalf("%d rows of %d, err %v", n, total, err)
	}
}

func TestResponseTooLarge(t *testing.T) {
	rc := newReceiver(t, func(w http.ResponseWriter, _ *http.Request, _ Call, _ int) {
		respond(w, `{"rows": [{"note": "`+strings.Repeat("x", 5000)+`"}]}`)
	})
	_, err := findAll(rc.connector(Options{MaxResponseBytes: 1000}), lethe.FindParams{Collection: contacts, Matches: byEmail("a@example.com")})
	if lethe.ErrorCode(err) != lethe.ETOOLARGE {
		t.Errorf("err = %v, want ETOOLARGE", err)
	}
	exact := `{"rows": [{"note": "x"}]}`
	rc = newReceiver(t, func(w http.ResponseWriter, _ *http.Request, _ Call, _ int) { respond(w, exact) })
	if rows, err := findAll(rc.connector(Options{MaxResponseBytes: int64(len(exact))}), lethe.FindParams{Collection: contacts, Matches: byEmail("a@example.com")}); err != nil || len(rows) != 1 {
		t.Errorf("a response of exactly the limit: %v, %v", rows, err)
	}
}

func TestMalformedResponses(t *testing.T) {
	const personal = "jane@example.com"
	access := []string{
		`<html><body>Welcome back, jane@example.com</body></html>`,
		``,
		`{"rows": [{"email": "jane@example.com"}`,
		`{"rows": {"email": "jane@example.com"}}`,
		`{"rows": ["jane@example.com"]}`,
		`{"data": [{"email": "jane@example.com"}]}`,
		`{"rows": [], "rows": []}`,
		`{"rows": []} {"email": "jane@example.com"}`,
		`["jane@example.com"]`,
		`{"rows": [{"email": jane@example.com}]}`,
	}
	for _, body := range access {
		rc := newReceiver(t, func(w http.ResponseWriter, _ *http.Request, _ Call, _ int) {
			w.Header().Set("Content-Type", "text/html")
			io.WriteString(w, body)
		})
		_, err := findAll(rc.connector(Options{}), lethe.FindParams{Collection: contacts, Matches: byEmail(personal)})
		if lethe.ErrorCode(err) != lethe.EINTERNAL || !strings.Contains(err.Error(), "not the webhook protocol's JSON") {
			t.Errorf("access response %q: err = %v", body, err)
			continue
		}
		if strings.Contains(err.Error(), "jane") {
			t.Errorf("the error quotes the body: %v", err)
		}
		if len(rc.received()) != 1 {
			t.Errorf("a malformed 200 was retried")
		}
	}
	erasure := []string{`{}`, `{"erased": -1}`, `{"erased": "jane@example.com"}`, `{"erased": 1.5}`, `jane@example.com`, `{"erased": 1} x`}
	for _, body := range erasure {
		rc := newReceiver(t, func(w http.ResponseWriter, _ *http.Request, _ Call, _ int) { io.WriteString(w, body) })
		_, err := rc.connector(Options{}).Erase(context.Background(), []lethe.EraseStep{{Collection: contacts, Matches: byEmail(personal), Action: lethe.EraseDelete}})
		if lethe.ErrorCode(err) != lethe.EINTERNAL || strings.Contains(err.Error(), "jane") {
			t.Errorf("erasure response %q: err = %v", body, err)
		}
	}
}

func TestErase(t *testing.T) {
	rc := newReceiver(t, func(w http.ResponseWriter, _ *http.Request, call Call, _ int) {
		if call.Collection == "failing" {
			http.Error(w, "no", http.StatusBadRequest)
			return
		}
		respond(w, fmt.Sprintf(`{"erased": %d}`, len(call.Identities["email"])))
	})
	c := rc.connector(Options{})
	res, err := c.Erase(context.Background(), []lethe.EraseStep{
		{Collection: contacts, RequestID: "dsr_3", Matches: byEmail("a@example.com", "b@example.com"), Action: lethe.EraseDelete},
		{Collection: &lethe.Collection{Name: "tickets"}, RequestID: "dsr_3", Matches: byEmail("a@example.com"), Action: lethe.EraseAnonymise, Masks: map[string]lethe.Mask{"body": nil}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 2 || res[0].Rows != 2 || res[1].Rows != 1 {
		t.Errorf("results %v, want [2 1]", res)
	}
	calls := rc.received()
	if len(calls) != 2 || calls[0].call.Mode != ModeDelete || calls[1].call.Mode != ModeAnonymise || calls[1].call.Action != ActionErasure || calls[1].call.Collection != "tickets" {
		t.Errorf("calls %+v", calls)
	}
	if bytes.Contains(calls[1].body, []byte("body")) {
		t.Errorf("masks were sent: %s", calls[1].body)
	}

	// A cutoff is refused before any call.
	_, err = c.Erase(context.Background(), []lethe.EraseStep{
		{Collection: contacts, Matches: byEmail("a@example.com"), Action: lethe.EraseDelete},
		{Collection: contacts, Matches: byEmail("a@example.com"), Action: lethe.EraseDelete, Before: &lethe.Cutoff{Column: "created_at", Time: time.Now()}},
	})
	if lethe.ErrorCode(err) != lethe.EINVALID || len(rc.received()) != 2 {
		t.Errorf("a cutoff: %v after %d calls", err, len(rc.received()))
	}
	// A failing step fails Erase; the one before it was applied.
	_, err = c.Erase(context.Background(), []lethe.EraseStep{
		{Collection: contacts, Matches: byEmail("a@example.com"), Action: lethe.EraseDelete},
		{Collection: &lethe.Collection{Name: "failing"}, Matches: byEmail("a@example.com"), Action: lethe.EraseDelete},
	})
	if lethe.ErrorCode(err) != lethe.EINVALID || !strings.Contains(err.Error(), "failing") || len(rc.received()) != 4 {
		t.Errorf("a failing second step: %v after %d calls", err, len(rc.received()))
	}
}

func TestFindColumnsAndDistinct(t *testing.T) {
	rc := newReceiver(t, func(w http.ResponseWriter, _ *http.Request, _ Call, _ int) {
		respond(w, `{"rows": [{"id": 1, "plan": "pro"}, {"id": 2, "plan": "pro"}, {"id": 3}]}`)
	})
	c := rc.connector(Options{})
	rows, err := findAll(c, lethe.FindParams{Collection: contacts, Matches: byEmail("a@example.com"), Columns: []string{"plan"}, Distinct: true})
	if want := []map[string]any{{"plan": "pro"}, {"plan": nil}}; err != nil || !cmp.Equal(rows, want) {
		t.Errorf("distinct plan: %v, %v", rows, err)
	}
	rows, err = findAll(c, lethe.FindParams{Collection: contacts, Matches: byEmail("a@example.com"), Columns: []string{"plan", "id"}})
	if err != nil || len(rows) != 3 || rows[2]["id"] != int64(3) || rows[2]["plan"] != nil {
		t.Errorf("plan, id: %v, %v", rows, err)
	}
}

func TestOpen(t *testing.T) {
	tests := []struct {
		name string
		ds   lethe.Datastore
		ok   bool
	}{
		{"ok", lethe.Datastore{Name: "crm", URL: "https://crm.example.com/lethe?token=hunter2", Secret: "s3cret-s3cret-s3cret"}, true},
		{"no url", lethe.Datastore{Name: "crm", Secret: "s3cret-s3cret-s3cret"}, false},
		{"not http", lethe.Datastore{Name: "crm", URL: "ftp://hunter2@crm.example.com", Secret: "s3cret-s3cret-s3cret"}, false},
		{"no host", lethe.Datastore{Name: "crm", URL: "https:///hunter2", Secret: "s3cret-s3cret-s3cret"}, false},
		{"no secret", lethe.Datastore{Name: "crm", URL: "https://crm.example.com/hunter2"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Open(context.Background(), &tt.ds)
			if tt.ok {
				if err != nil || c.opts.Timeout != DefaultTimeout {
					t.Fatalf("Open: %v", err)
				}
				return
			}
			if lethe.ErrorCode(err) != lethe.EINVALID || !strings.Contains(err.Error(), "crm") {
				t.Fatalf("err = %v, want EINVALID naming the datastore", err)
			}
			if strings.Contains(err.Error(), "hunter2") || strings.Contains(err.Error(), "s3cret") {
				t.Errorf("error %q repeats the url or secret", err)
			}
		})
	}
	c, err := Open(context.Background(), &lethe.Datastore{Name: "crm", URL: "http://127.0.0.1:1/lethe?token=hunter2", Secret: "s3cret-s3cret-s3cret", Timeout: lethe.Duration{Clock: 5 * time.Second}})
	if err != nil || c.opts.Timeout != 5*time.Second {
		t.Fatalf("Open with a timeout: %v, %v", c.opts.Timeout, err)
	}
	c.opts.MinBackoff, c.opts.MaxBackoff = time.Millisecond, time.Millisecond
	_, err = findAll(c, lethe.FindParams{Collection: contacts, Matches: byEmail("a@example.com")})
	if lethe.ErrorCode(err) != lethe.EUNAVAILABLE || !strings.Contains(err.Error(), "connection refused") || strings.Contains(err.Error(), "hunter2") || strings.Contains(err.Error(), "127.0.0.1") {
		t.Errorf("unreachable service: %v", err)
	}
	got, err := c.Describe(context.Background(), []*lethe.Collection{contacts})
	if err != nil || len(got) != 1 || !got[0].Exists || len(got[0].Columns) != 0 || got[0].Collection != contacts {
		t.Errorf("Describe: %+v, %v", got, err)
	}
}
