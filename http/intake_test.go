package http_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/lethe-privacy/lethe"
	"github.com/lethe-privacy/lethe/app"
	"github.com/lethe-privacy/lethe/config"
	api "github.com/lethe-privacy/lethe/http"
	"github.com/lethe-privacy/lethe/internal/demo"
)

// intakeEnv is lethe serve in a test: the example config with SMTP to an
// in-process server, the demo estate, the request worker, and a log that
// the test reads back.
type intakeEnv struct {
	t     testing.TB
	a     *app.App
	url   string
	token string // requests:read and requests:write
	smtp  *mailbox
	log   *lockedBuffer
	// bodies collects every response body, to look for identities in.
	mu     sync.Mutex
	bodies [][]byte
}

func newIntakeEnv(t testing.TB, requests *lethe.RequestsConfig, seed bool) *intakeEnv {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	t.Setenv("LETHE_DATA_DIR", dir)
	if seed {
		if _, err := demo.Seed(ctx, demo.Options{Subjects: 30, SQLitePath: filepath.Join(dir, "demo", "shop.db")}); err != nil {
			t.Fatal(err)
		}
	}
	box := startMailbox(t)
	cfg, _, err := config.Load("../examples/lethe.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg.SMTP = &lethe.SMTP{Host: "127.0.0.1", Port: box.port, From: "Privacy team <privacy@example.com>", TLS: "none"}
	cfg.Requests = requests
	logs := &lockedBuffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	a, err := app.Open(ctx, app.Options{Config: cfg, DataDir: dir, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	wctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); a.Requests.Run(wctx) }()
	t.Cleanup(func() { stop(); <-done })
	_, token, err := a.APIKeys.Create(ctx, "crm", []lethe.Scope{lethe.ScopeRequestsWrite, lethe.ScopeRequestsRead}, "test")
	if err != nil {
		t.Fatal(err)
	}
	// As cmd/lethe/serve.go wires it.
	srv, err := api.NewServer(api.Options{Ledger: a.Consent, Audit: a.Audit, APIKeys: a.APIKeys, Store: a.Store, Requests: a.Requests,
		Intake: a.Intake, SubjectRef: a.Keyring.SubjectRef, TrustedProxies: a.TrustedProxies, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(hs.Close)
	return &intakeEnv{t: t, a: a, url: hs.URL, token: token, smtp: box, log: logs}
}

type intakeResponse struct {
	status int
	header http.Header
	body   []byte
}

// call sends a request; a non-empty forwardedFor sets X-Forwarded-For.
func (e *intakeEnv) call(method, path, token, forwardedFor, body string) intakeResponse {
	e.t.Helper()
	req, _ := http.NewRequest(method, e.url+path, strings.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if forwardedFor != "" {
		req.Header.Set("X-Forwarded-For", forwardedFor)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	e.mu.Lock()
	e.bodies = append(e.bodies, b)
	e.mu.Unlock()
	return intakeResponse{status: resp.StatusCode, header: resp.Header, body: b}
}

// sendMail does what the outbox loop of lethe serve does every interval.
func (e *intakeEnv) sendMail() {
	e.t.Helper()
	if _, err := e.a.Outbox.SendDue(context.Background()); err != nil {
		e.t.Fatal(err)
	}
}

var codeSubject = regexp.MustCompile(`(?m)^Subject: Your verification code: ([0-9]{8})\r?$`)

// codes returns the verification codes that arrived for to, oldest first.
func (e *intakeEnv) codes(to string) []string {
	var out []string
	for _, m := range e.smtp.messages() {
		if len(m.to) != 1 || m.to[0] != to {
			continue
		}
		if c := codeSubject.FindSubmatch(m.data); c != nil {
			out = append(out, string(c[1]))
		}
	}
	return out
}

// noIdentityLeaked fails when an identity appears in a response or the log.
func (e *intakeEnv) noIdentityLeaked(values ...string) {
	e.t.Helper()
	logs := strings.ToLower(e.log.String())
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, v := range values {
		v = strings.ToLower(v)
		if strings.Contains(logs, v) {
			e.t.Errorf("the log holds an identity")
		}
		for _, b := range e.bodies {
			if strings.Contains(strings.ToLower(string(b)), v) {
				e.t.Errorf("a response holds an identity: %s", b)
			}
		}
	}
}

func decodeProblem(t *testing.T, r intakeResponse) (p struct {
	api.Problem
	AttemptsLeft *int `json:"attempts_left"`
}) {
	t.Helper()
	if ct := r.header.Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("%d with Content-Type %q: %s", r.status, ct, r.body)
	}
	if err := json.Unmarshal(r.body, &p); err != nil {
		t.Fatal(err)
	}
	return p
}

func hasLocation(p api.Problem, loc string) bool {
	for _, e := range p.Errors {
		if e.Location == loc {
			return true
		}
	}
	return false
}

func TestPublicRequestVerifiedByEmailedCode(t *testing.T) {
	e := newIntakeEnv(t, nil, true)
	email := demo.SampleSubject(0, 2).Email

	// No Authorization header: the person asks.
	r := e.call("POST", "/v1/requests", "", "", `{"type": "access", "identities": {"email": "`+email+`"}}`)
	if r.status != http.StatusAccepted {
		t.Fatalf("public POST: %d %s", r.status, r.body)
	}
	var created map[string]any
	json.Unmarshal(r.body, &created)
	id, _ := created["id"].(string)
	if created["status"] != "unverified" || created["channel"] != "web" || !strings.HasPrefix(id, "req_") || created["due_at"] == nil || created["code_expires_at"] == nil {
		t.Fatalf("created: %s", r.body)
	}
	// Nothing that tells who the person is, or whether they are known.
	for _, k := range []string{"subject_ref", "actor", "identities", "result", "export"} {
		if _, ok := created[k]; ok {
			t.Errorf("the public answer has %s: %s", k, r.body)
		}
	}
	// Recorded unverified: the worker leaves it alone.
	if got, err := e.a.Requests.Get(context.Background(), id); err != nil || got.Status != lethe.RequestUnverified || got.Actor != "web" || got.Channel != lethe.ChannelWeb {
		t.Fatalf("stored: %+v %v", got, err)
	}

	e.sendMail()
	codes := e.codes(email)
	if len(codes) != 1 {
		t.Fatalf("%d verification mails arrived for the address, want 1 (of %d mails)", len(codes), len(e.smtp.messages()))
	}
	code := codes[0]
	wrong := "00000000"
	if code == wrong {
		wrong = "11111111"
	}

	// Malformed: refused before it counts.
	r = e.call("POST", "/v1/requests/"+id+"/verify", "", "", `{"code": "12ab"}`)
	if p := decodeProblem(t, r); r.status != 422 || !hasLocation(p.Problem, "body.code") {
		t.Fatalf("malformed code: %d %s", r.status, r.body)
	}
	// Wrong: 422 on body.code, with the attempts left (5 by default).
	r = e.call("POST", "/v1/requests/"+id+"/verify", "", "", `{"code": "`+wrong+`"}`)
	p := decodeProblem(t, r)
	if r.status != 422 || !hasLocation(p.Problem, "body.code") || p.AttemptsLeft == nil || *p.AttemptsLeft != 4 || !strings.Contains(p.Detail, "4 attempts left") {
		t.Fatalf("wrong code: %d %s", r.status, r.body)
	}
	// Unknown request: 404.
	r = e.call("POST", "/v1/requests/req_nope/verify", "", "", `{"code": "`+code+`"}`)
	if decodeProblem(t, r); r.status != 404 {
		t.Fatalf("unknown request: %d %s", r.status, r.body)
	}
	// Right, typed with a space as people do: verified.
	r = e.call("POST", "/v1/requests/"+id+"/verify", "", "", `{"code": "`+code[:4]+" "+code[4:]+`"}`)
	if r.status != 200 {
		t.Fatalf("right code: %d %s", r.status, r.body)
	}
	var verified api.RequestResponse
	json.Unmarshal(r.body, &verified)
	if verified.ID != id || verified.Status != "verified" || verified.VerifiedAt == nil || verified.SubjectRef != "" {
		t.Fatalf("verified: %s", r.body)
	}
	// Used: 409, and a resend is refused too.
	r = e.call("POST", "/v1/requests/"+id+"/verify", "", "", `{"code": "`+code+`"}`)
	if p := decodeProblem(t, r); r.status != 409 || !strings.Contains(p.Detail, "already used") {
		t.Fatalf("second verify: %d %s", r.status, r.body)
	}
	r = e.call("POST", "/v1/requests/"+id+"/resend", "", "", `{"email": "`+email+`"}`)
	if decodeProblem(t, r); r.status != 409 {
		t.Fatalf("resend after verification: %d %s", r.status, r.body)
	}

	// The worker runs it; the operator sees it complete.
	deadline := time.Now().Add(30 * time.Second)
	for {
		r = e.call("GET", "/v1/requests/"+id, e.token, "", "")
		var got api.RequestResponse
		json.Unmarshal(r.body, &got)
		if got.Status == "completed" {
			if got.Export == "" || got.Actor != "web" {
				t.Fatalf("completed: %s", r.body)
			}
			break
		}
		if got.Status != "verified" && got.Status != "running" || time.Now().After(deadline) {
			t.Fatalf("request did not complete: %s", r.body)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// The audit log tells the story, by subject reference.
	e.noIdentityLeaked(email)
}

func TestPublicRequestRefusesBadInput(t *testing.T) {
	e := newIntakeEnv(t, nil, false)
	for _, tc := range []struct {
		name, body string
		status     int
		location   string
	}{
		{"no email", `{"type": "access", "identities": {"user_id": "42"}}`, 422, "body.identities.email"},
		{"other identity besides", `{"type": "erasure", "identities": {"email": "a@example.com", "user_id": "42"}}`, 422, "body.identities.user_id"},
		{"not an address", `{"type": "access", "identities": {"email": "not-an-address"}}`, 422, "body.identities.email"},
		{"values outside rectification", `{"type": "access", "identities": {"email": "a@example.com"}, "values": {"contact.address": "x"}}`, 422, "body.values"},
		{"unknown type", `{"type": "forget", "identities": {"email": "a@example.com"}}`, 422, "body.type"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.call("POST", "/v1/requests", "", "", tc.body)
			if p := decodeProblem(t, r); r.status != tc.status || !hasLocation(p.Problem, tc.location) {
				t.Fatalf("%d %s, want %d at %s", r.status, r.body, tc.status, tc.location)
			}
		})
	}
	// A key that is wrong is never taken for a public call.
	r := e.call("POST", "/v1/requests", "lethe_bogus_key", "", `{"type": "access", "identities": {"email": "a@example.com"}}`)
	if decodeProblem(t, r); r.status != 401 {
		t.Fatalf("bad key: %d %s", r.status, r.body)
	}
	// A trusted key still creates it verified.
	r = e.call("POST", "/v1/requests", e.token, "", `{"type": "access", "identities": {"email": "a@example.com", "user_id": "42"}}`)
	var keyed api.RequestResponse
	json.Unmarshal(r.body, &keyed)
	if r.status != 202 || keyed.Status != "verified" || keyed.Channel != "api" || keyed.SubjectRef == "" {
		t.Fatalf("keyed: %d %s", r.status, r.body)
	}
	e.noIdentityLeaked("a@example.com", "not-an-address")
}

func TestPublicRequestLockedCodeAndResend(t *testing.T) {
	// Two tries per code and a short wait between codes, so that the test
	// reaches a locked code and a second one at once; the cooldown's
	// arithmetic is pinned in package intake's tests.
	e := newIntakeEnv(t, &lethe.RequestsConfig{Verification: &lethe.VerificationConfig{
		MaxAttempts: 2, ResendAfter: lethe.Duration{Clock: 2 * time.Second}}}, false)
	email := "resend.me@example.com"
	r := e.call("POST", "/v1/requests", "", "", `{"type": "erasure", "identities": {"email": "`+email+`"}}`)
	if r.status != 202 {
		t.Fatalf("POST: %d %s", r.status, r.body)
	}
	var created api.RequestResponse
	json.Unmarshal(r.body, &created)
	id := created.ID
	// At once: the cooldown, 429 with Retry-After.
	r = e.call("POST", "/v1/requests/"+id+"/resend", "", "", `{"email": "`+email+`"}`)
	if p := decodeProblem(t, r); r.status != 429 || p.Code != lethe.ERATELIMITED || (r.header.Get("Retry-After") != "1" && r.header.Get("Retry-After") != "2") {
		t.Fatalf("resend at once: %d Retry-After %q %s", r.status, r.header.Get("Retry-After"), r.body)
	}
	e.sendMail()
	first := e.codes(email)
	if len(first) != 1 {
		t.Fatalf("%d codes arrived, want 1", len(first))
	}
	wrong := "00000000"
	if first[0] == wrong {
		wrong = "11111111"
	}

	// Two wrong codes lock it: even the right one is refused then.
	for left := 1; left >= 0; left-- {
		r = e.call("POST", "/v1/requests/"+id+"/verify", "", "", `{"code": "`+wrong+`"}`)
		if p := decodeProblem(t, r); r.status != 422 || p.AttemptsLeft == nil || *p.AttemptsLeft != left {
			t.Fatalf("wrong code, %d left: %d %s", left, r.status, r.body)
		}
	}
	r = e.call("POST", "/v1/requests/"+id+"/verify", "", "", `{"code": "`+first[0]+`"}`)
	if p := decodeProblem(t, r); r.status != 409 || !strings.Contains(p.Detail, "locked") {
		t.Fatalf("locked code: %d %s", r.status, r.body)
	}

	time.Sleep(2100 * time.Millisecond) // the resend wait of this config
	// Another address, or an id that does not exist: the same 404.
	r1 := e.call("POST", "/v1/requests/"+id+"/resend", "", "", `{"email": "someone.else@example.com"}`)
	r2 := e.call("POST", "/v1/requests/req_nope/resend", "", "", `{"email": "`+email+`"}`)
	p1, p2 := decodeProblem(t, r1), decodeProblem(t, r2)
	if r1.status != 404 || r2.status != 404 || p1.Detail != p2.Detail {
		t.Fatalf("wrong address %d %s; unknown id %d %s", r1.status, r1.body, r2.status, r2.body)
	}
	// The address as the person types it this time.
	r = e.call("POST", "/v1/requests/"+id+"/resend", "", "", `{"email": "`+strings.ToUpper(email)+`"}`)
	var resent api.RequestResponse
	json.Unmarshal(r.body, &resent)
	if r.status != 202 || resent.Status != "unverified" || resent.CodeExpiresAt == nil {
		t.Fatalf("resend: %d %s", r.status, r.body)
	}
	e.sendMail()
	codes := e.codes(email)
	if len(codes) != 2 {
		t.Fatalf("%d codes arrived, want 2", len(codes))
	}
	r = e.call("POST", "/v1/requests/"+id+"/verify", "", "", `{"code": "`+codes[1]+`"}`)
	if r.status != 200 {
		t.Fatalf("new code: %d %s", r.status, r.body)
	}
	e.noIdentityLeaked(email, "someone.else@example.com")
}

func TestPublicRequestRateLimits(t *testing.T) {
	t.Run("per client, X-Forwarded-For ignored from an untrusted peer", func(t *testing.T) {
		e := newIntakeEnv(t, &lethe.RequestsConfig{RateLimits: &lethe.RateLimitsConfig{PerClient: lethe.Rate{Limit: 3, Window: time.Hour}}}, false)
		for i := range 3 {
			// A made-up address each time: the peer is not a proxy, so it
			// does not count.
			r := e.call("POST", "/v1/requests", "", "203.0.113."+strconv.Itoa(i+1), `{"type": "access", "identities": {"email": "p`+strconv.Itoa(i)+`@example.com"}}`)
			if r.status != 202 {
				t.Fatalf("call %d: %d %s", i+1, r.status, r.body)
			}
		}
		r := e.call("POST", "/v1/requests", "", "198.51.100.77", `{"type": "access", "identities": {"email": "p9@example.com"}}`)
		p := decodeProblem(t, r)
		secs, err := strconv.Atoi(r.header.Get("Retry-After"))
		if r.status != 429 || p.Code != lethe.ERATELIMITED || err != nil || secs < 1 || secs > 3600 {
			t.Fatalf("4th call: %d Retry-After %q %s", r.status, r.header.Get("Retry-After"), r.body)
		}
		// Verify counts against the same client.
		r = e.call("POST", "/v1/requests/req_x/verify", "", "", `{"code": "12345678"}`)
		if r.status != 429 || r.header.Get("Retry-After") == "" {
			t.Fatalf("verify when limited: %d %s", r.status, r.body)
		}
		// Trusted keys are not limited.
		r = e.call("POST", "/v1/requests", e.token, "", `{"type": "access", "identities": {"email": "p9@example.com"}}`)
		if r.status != 202 {
			t.Fatalf("keyed call: %d %s", r.status, r.body)
		}
		e.noIdentityLeaked("p9@example.com", "203.0.113.", "198.51.100.77")
	})
	t.Run("per client behind a trusted proxy, IPv6 per /64", func(t *testing.T) {
		e := newIntakeEnv(t, &lethe.RequestsConfig{TrustedProxies: []string{"127.0.0.1", "::1"},
			RateLimits: &lethe.RateLimitsConfig{PerClient: lethe.Rate{Limit: 2, Window: time.Hour}}}, false)
		post := func(client string, n int) int {
			return e.call("POST", "/v1/requests", "", "192.0.2.200, "+client, `{"type": "access", "identities": {"email": "q`+strconv.Itoa(n)+`@example.com"}}`).status
		}
		if a, b, c := post("203.0.113.1", 1), post("203.0.113.1", 2), post("203.0.113.1", 3); a != 202 || b != 202 || c != 429 {
			t.Fatalf("one client: %d %d %d", a, b, c)
		}
		// Another client behind the same proxy has its own count; the
		// forged left-most hop is not it.
		if s := post("203.0.113.2", 4); s != 202 {
			t.Fatalf("second client: %d", s)
		}
		// Two addresses of one /64 are one client.
		if a, b, c := post("2001:db8:1:2::a", 5), post("2001:db8:1:2::b", 6), post("2001:db8:1:2:ffff::c", 7); a != 202 || b != 202 || c != 429 {
			t.Fatalf("one /64: %d %d %d", a, b, c)
		}
		if s := post("2001:db8:1:3::a", 8); s != 202 {
			t.Fatalf("another /64: %d", s)
		}
	})
	t.Run("per identity", func(t *testing.T) {
		e := newIntakeEnv(t, &lethe.RequestsConfig{TrustedProxies: []string{"127.0.0.1", "::1"},
			RateLimits: &lethe.RateLimitsConfig{PerIdentity: lethe.Rate{Limit: 2, Window: time.Hour}}}, false)
		var last intakeResponse
		for i := range 3 {
			// From different clients, with the address written differently.
			email := "Flood.Me@Example.com"
			if i == 1 {
				email = "flood.me@example.com"
			}
			last = e.call("POST", "/v1/requests", "", "203.0.113."+strconv.Itoa(i+1), `{"type": "access", "identities": {"email": "`+email+`"}}`)
			if i < 2 && last.status != 202 {
				t.Fatalf("request %d: %d %s", i+1, last.status, last.body)
			}
		}
		if p := decodeProblem(t, last); last.status != 429 || p.Code != lethe.ERATELIMITED || last.header.Get("Retry-After") == "" {
			t.Fatalf("3rd request for one address: %d %s", last.status, last.body)
		}
		e.sendMail()
		if n := len(e.codes("flood.me@example.com")); n != 2 {
			t.Errorf("%d codes sent to the address, want 2", n)
		}
		e.noIdentityLeaked("flood.me@example.com")
	})
}

// FuzzPublicIntake posts arbitrary bodies to the three public endpoints:
// whatever the input, the answer is never a 5xx, an error is always a
// problem, and no answer repeats what was sent. The seed corpus runs
// under plain go test.
func FuzzPublicIntake(f *testing.F) {
	seeds := []struct {
		endpoint uint8
		body     string
	}{
		{0, `{"type": "access", "identities": {"email": "fuzz@example.com"}}`},
		{0, `{"type": "rectification", "identities": {"email": "fuzz@example.com"}, "values": {"contact.address": "x"}}`},
		{0, `{"type": "erasure", "identities": {"email": "fuzz@example.com", "phone": "+49 1"}}`},
		{0, `{"type": "access", "identities": {"EMAIL": "fuzz@example.com"}}`},
		{0, `{"type": "access", "identities": {"email": ""}}`},
		{0, `{"type": "access", "identities": {"email": "\u0000@\ud800"}}`},
		{1, `{"code": "1234 5678"}`}, {1, `{"code": "--------"}`}, {1, `{"code": 12345678}`}, {1, `{"code": "１２３４５６７８"}`},
		{2, `{"email": "fuzz@example.com"}`}, {2, `{"email": "@"}`},
		{0, `null`}, {1, `[]`}, {2, "\xff"}, {0, `{`},
	}
	for _, s := range seeds {
		f.Add(s.endpoint, []byte(s.body))
	}
	e := newIntakeEnv(f, &lethe.RequestsConfig{RateLimits: &lethe.RateLimitsConfig{
		PerClient: lethe.Rate{Limit: 1_000_000, Window: time.Hour}, PerIdentity: lethe.Rate{Limit: 1_000_000, Window: time.Hour}}}, false)
	// One request to verify and resend against.
	req, _ := http.NewRequest("POST", e.url+"/v1/requests", strings.NewReader(`{"type": "access", "identities": {"email": "fuzz@example.com"}}`))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		f.Fatal(err)
	}
	var created api.RequestResponse
	json.NewDecoder(resp.Body).Decode(&created)
	resp.Body.Close()
	if resp.StatusCode != 202 {
		f.Fatalf("POST: %d", resp.StatusCode)
	}
	paths := []string{"/v1/requests", "/v1/requests/" + created.ID + "/verify", "/v1/requests/" + created.ID + "/resend"}
	f.Fuzz(func(t *testing.T, endpoint uint8, body []byte) {
		req, _ := http.NewRequest("POST", e.url+paths[int(endpoint)%len(paths)], bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		switch {
		case resp.StatusCode >= 500:
			t.Fatalf("status %d for %q: %s", resp.StatusCode, body, b)
		case resp.StatusCode >= 400 && resp.Header.Get("Content-Type") != "application/problem+json":
			t.Fatalf("status %d with Content-Type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
		case bytes.Contains(b, []byte("fuzz@example.com")):
			t.Fatalf("the answer repeats the address: %s", b)
		}
	})
}

func TestPublicEndpointsInOpenAPI(t *testing.T) {
	srv, err := api.NewServer(api.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Paths map[string]map[string]struct {
			Security  []map[string][]string `json:"security"`
			Responses map[string]any        `json:"responses"`
		} `json:"paths"`
	}
	if err := json.Unmarshal(srv.OpenAPI(), &doc); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/v1/requests/{id}/verify", "/v1/requests/{id}/resend"} {
		op, ok := doc.Paths[path]["post"]
		if !ok {
			t.Fatalf("%s is not in the OpenAPI document", path)
		}
		if len(op.Security) != 1 || len(op.Security[0]) != 0 || op.Responses["429"] == nil {
			t.Errorf("%s: security %v, responses %v", path, op.Security, op.Responses)
		}
	}
	create := doc.Paths["/v1/requests"]["post"]
	if len(create.Security) != 2 || create.Responses["429"] == nil {
		t.Errorf("POST /v1/requests: security %v (want bearer or none)", create.Security)
	}
}

// mailbox is an in-process SMTP server on loopback that keeps what
// arrived.
type mailbox struct {
	port     int
	mu       sync.Mutex
	received []mailMessage
}

type mailMessage struct {
	to   []string
	data []byte
}

func startMailbox(t testing.TB) *mailbox {
	t.Helper()
	box := &mailbox{}
	s := smtp.NewServer(box)
	s.Domain = "localhost"
	s.ReadTimeout, s.WriteTimeout = 10*time.Second, 10*time.Second
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	box.port = l.Addr().(*net.TCPAddr).Port
	go s.Serve(l)
	t.Cleanup(func() { s.Close() })
	return box
}

func (b *mailbox) messages() []mailMessage {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]mailMessage(nil), b.received...)
}

func (b *mailbox) NewSession(*smtp.Conn) (smtp.Session, error) { return &mailSession{box: b}, nil }

type mailSession struct {
	box *mailbox
	cur mailMessage
}

func (s *mailSession) Reset()                               { s.cur = mailMessage{} }
func (s *mailSession) Logout() error                        { return nil }
func (s *mailSession) Mail(string, *smtp.MailOptions) error { return nil }
func (s *mailSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.cur.to = append(s.cur.to, to)
	return nil
}
func (s *mailSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.cur.data = b
	s.box.mu.Lock()
	s.box.received = append(s.box.received, s.cur)
	s.box.mu.Unlock()
	return nil
}

// lockedBuffer collects log output written from server goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
