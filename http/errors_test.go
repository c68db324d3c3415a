package http

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/lethe-privacy/lethe"
)

func TestAuth(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	checkPath := "/v1/subjects/u-1/consents/marketing_email"
	tests := []struct {
		name      string
		method    string
		path      string
		auth      string // the Authorization header; "" sends none
		body      any
		status    int
		challenge string // a substring of WWW-Authenticate
		scope     string // the scope a 403 must name
	}{
		{"no header", "GET", checkPath, "", nil, 401, `Bearer realm="lethe"`, ""},
		{"not a lethe token", "GET", checkPath, "Bearer nonsense", nil, 401, `error="invalid_token"`, ""},
		{"unknown key", "GET", checkPath, "Bearer lethe_k0000000000000000_abcdef", nil, 401, `error="invalid_token"`, ""},
		{"basic scheme", "GET", checkPath, "Basic dXNlcjpwYXNz", nil, 401, `Bearer realm="lethe"`, ""},
		{"revoked key", "GET", checkPath, "role:revoked", nil, 401, `error="invalid_token"`, ""},
		{"read key cannot write", "POST", "/v1/consents", "role:read", grant("u-1", true, "marketing_email"), 403, `error="insufficient_scope"`, "consent:write"},
		{"write key cannot read", "GET", checkPath, "role:write", nil, 403, `insufficient_scope`, "consent:read"},
		{"audit key cannot read consents", "GET", "/v1/purposes", "role:audit", nil, 403, `insufficient_scope`, "consent:read"},
		{"no anonymous write", "POST", "/v1/consents", "", grant("u-1", true, "marketing_email"), 401, `Bearer`, ""},
		{"read key reads", "GET", checkPath, "role:read", nil, 200, "", ""},
		{"lower-case scheme", "GET", checkPath, "lower:read", nil, 200, "", ""},
		{"admin implies write", "POST", "/v1/consents", "role:admin", grant("u-1", true, "marketing_email"), 201, "", ""},
		{"admin implies read", "GET", checkPath, "role:admin", nil, 200, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var headers []string
			switch {
			case strings.HasPrefix(tt.auth, "role:"):
				headers = []string{"Authorization", "Bearer " + e.tokens[strings.TrimPrefix(tt.auth, "role:")]}
			case strings.HasPrefix(tt.auth, "lower:"):
				headers = []string{"Authorization", "bearer " + e.tokens[strings.TrimPrefix(tt.auth, "lower:")]}
			case tt.auth != "":
				headers = []string{"Authorization", tt.auth}
			}
			res := e.do(tt.method, tt.path, "", tt.body, headers...)
			if res.status != tt.status {
				t.Fatalf("status %d, want %d: %s", res.status, tt.status, res.body)
			}
			if tt.status < 400 {
				return
			}
			p := res.problem(t)
			if got := res.header.Get("WWW-Authenticate"); !strings.Contains(got, tt.challenge) {
				t.Errorf("WWW-Authenticate = %q, want it to contain %q", got, tt.challenge)
			}
			if tt.scope != "" && !strings.Contains(p.Detail, tt.scope) {
				t.Errorf("403 detail %q does not name the scope %s", p.Detail, tt.scope)
			}
			wantCode := map[int]lethe.Code{401: lethe.EUNAUTHORIZED, 403: lethe.EFORBIDDEN}[tt.status]
			if p.Code != wantCode {
				t.Errorf("code %q, want %q", p.Code, wantCode)
			}
		})
	}
	// A write refused for lack of a scope records nothing.
	var d lethe.ConsentDecision
	e.do("GET", "/v1/subjects/u-2/consents/marketing_email", "read", nil).json(t, &d)
	if d.Allowed {
		t.Errorf("a refused write was recorded: %+v", d)
	}
}

func TestBadBodies(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	const secret = "u-canary-4711"
	valid := func(mod func(m map[string]any)) []byte {
		m := grant(secret, true, "marketing_email")
		mod(m)
		b, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	tests := []struct {
		name        string
		body        []byte
		contentType string
		status      int
		location    string // a location the problem must name
		message     string // a substring the problem must hold
	}{
		{"unknown field", valid(func(m map[string]any) { m["subject"] = "x" }), "", 422, "body.subject", "unexpected property"},
		{"unknown nested field", valid(func(m map[string]any) {
			m["purposes"] = []any{map[string]any{"purpose": "marketing_email", "granted": true, "until": "never"}}
		}), "", 422, "body.purposes[0].until", "unexpected property"},
		{"unknown evidence field", valid(func(m map[string]any) { m["evidence"] = map[string]any{"ipaddr": "1.2.3.4"} }), "", 422, "body.evidence.ipaddr", ""},
		{"wrong type", valid(func(m map[string]any) {
			m["purposes"] = []any{map[string]any{"purpose": "marketing_email", "granted": "yes"}}
		}), "", 422, "body.purposes[0].granted", "boolean"},
		{"subject id not a string", valid(func(m map[string]any) { m["subject_id"] = 42 }), "", 422, "body.subject_id", ""},
		{"missing subject_id", valid(func(m map[string]any) { delete(m, "subject_id") }), "", 422, "body.subject_id", "required"},
		{"missing granted", valid(func(m map[string]any) { m["purposes"] = []any{map[string]any{"purpose": "marketing_email"}} }), "", 422, "body.purposes[0].granted", "required"},
		{"missing mechanism", valid(func(m map[string]any) { delete(m, "mechanism") }), "", 422, "body.mechanism", "required"},
		{"unknown purpose lists valid ones", valid(func(m map[string]any) {
			m["purposes"] = []any{map[string]any{"purpose": "telepathy", "granted": true}}
		}), "", 422, "body.purposes[0].purpose", "marketing_email, ad_personalisation, order_fulfilment"},
		{"non-consent purpose", valid(func(m map[string]any) {
			m["purposes"] = []any{map[string]any{"purpose": "order_fulfilment", "granted": true}}
		}), "", 422, "body.purposes[0].purpose", "contract"},
		{"outdated policy version", valid(func(m map[string]any) { m["policy_version"] = "2019-01" }), "", 422, "body.policy_version", "2026-03, 2025-11"},
		{"empty subject id", valid(func(m map[string]any) { m["subject_id"] = "  " }), "", 422, "body.subject_id", "empty"},
		{"bad jurisdiction", valid(func(m map[string]any) { m["jurisdiction"] = "mars" }), "", 422, "body.jurisdiction", ""},
		{"reserved mechanism", valid(func(m map[string]any) { m["mechanism"] = "gpc" }), "", 422, "body.mechanism", "Sec-GPC"},
		{"invalid JSON", []byte(`{"subject_id": "` + secret + `",`), "", 400, "body", ""},
		{"not an object", []byte(`["` + secret + `"]`), "", 422, "body", "object"},
		{"null body", []byte(`null`), "", 422, "body", ""},
		{"empty body", []byte(``), "", 400, "", "body is required"},
		{"trailing garbage", append(valid(func(map[string]any) {}), []byte(" {}")...), "", 400, "body", ""},
		{"invalid UTF-8", bytes.Replace(valid(func(map[string]any) {}), []byte("de-DE"), []byte("de-\xff\xfe"), 1), "", 400, "body", "UTF-8"},
		{"huge body", append([]byte(`{"subject_id": "`+secret+`", "mechanism": "`), append(bytes.Repeat([]byte("a"), MaxBodyBytes), []byte(`"}`)...)...), "", 413, "", "larger than"},
		{"wrong content type", valid(func(map[string]any) {}), "text/plain", 415, "", "Content-Type"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var headers []string
			if tt.contentType != "" {
				headers = []string{"Content-Type", tt.contentType}
			}
			res := e.do("POST", "/v1/consents", "write", tt.body, headers...)
			if res.status != tt.status {
				t.Fatalf("status %d, want %d: %s", res.status, tt.status, res.body)
			}
			p := res.problem(t)
			if tt.location != "" && !hasLocation(p, tt.location) {
				t.Errorf("problem does not name %s: %s", tt.location, res.body)
			}
			if tt.message != "" && !strings.Contains(string(res.body), tt.message) {
				t.Errorf("problem does not mention %q: %s", tt.message, res.body)
			}
			if strings.Contains(string(res.body), secret) {
				t.Errorf("problem echoes the subject id: %s", res.body)
			}
			if p.RequestID == "" || p.RequestID != res.header.Get("X-Request-Id") {
				t.Errorf("problem request_id %q, header %q", p.RequestID, res.header.Get("X-Request-Id"))
			}
		})
	}
	// Nothing above was recorded.
	var h ConsentHistoryResponse
	e.do("GET", "/v1/subjects/"+secret+"/consents/history", "read", nil).json(t, &h)
	if len(h.Events) != 0 {
		t.Errorf("refused bodies recorded %d events", len(h.Events))
	}
	if strings.Contains(e.logs.String(), secret) {
		t.Errorf("the log holds the subject id")
	}
}

func TestBodyAtLimitIsRead(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	// A body of exactly MaxBodyBytes is within the limit: it gets past the
	// reader to validation (which refuses the over-long evidence).
	prefix := `{"subject_id":"u-1","mechanism":"m","policy_version":"2026-03","purposes":[{"purpose":"marketing_email","granted":true}],"evidence":{"notice_text":"`
	suffix := `"}}`
	body := prefix + strings.Repeat("a", MaxBodyBytes-len(prefix)-len(suffix)) + suffix
	res := e.do("POST", "/v1/consents", "write", body)
	if res.status != http.StatusUnprocessableEntity {
		t.Fatalf("status %d, want 422: %.300s", res.status, res.body)
	}
	if p := res.problem(t); !hasLocation(p, "body.evidence") {
		t.Errorf("problem does not name body.evidence: %s", res.body)
	}
}

func TestRouterErrorsAreProblems(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	tests := []struct {
		name   string
		method string
		path   string
		status int
		allow  string
	}{
		{"unknown path", "GET", "/v2/nothing", 404, ""},
		{"unknown path with subject", "GET", "/v1/subjects/u-1", 404, ""},
		{"no docs UI", "GET", "/docs", 404, ""},
		{"wrong method", "DELETE", "/v1/purposes", 405, "GET"},
		{"wrong method on consents", "GET", "/v1/consents", 405, "POST"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := e.do(tt.method, tt.path, "admin", nil)
			if res.status != tt.status {
				t.Fatalf("status %d, want %d: %s", res.status, tt.status, res.body)
			}
			p := res.problem(t)
			if p.Detail == "" || p.Title != http.StatusText(tt.status) {
				t.Errorf("problem = %+v", p)
			}
			if tt.allow != "" && !strings.Contains(res.header.Get("Allow"), tt.allow) {
				t.Errorf("Allow = %q, want %s", res.header.Get("Allow"), tt.allow)
			}
		})
	}
}

func TestSystemEndpoints(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)

	res := e.do("GET", "/healthz", "", nil)
	var health Health
	res.json(t, &health)
	if res.status != 200 || health.Status != "ok" || health.Version != "test" {
		t.Errorf("healthz: %d %s", res.status, res.body)
	}

	res = e.do("GET", "/readyz", "", nil)
	if res.status != 200 {
		t.Errorf("readyz: %d %s", res.status, res.body)
	}
	e.ready = func(context.Context) error { return errors.New("dial tcp 10.0.0.5:5432: connection refused") }
	res = e.do("GET", "/readyz", "", nil)
	if res.status != http.StatusServiceUnavailable {
		t.Fatalf("readyz while down: %d %s", res.status, res.body)
	}
	if p := res.problem(t); p.Code != lethe.EUNAVAILABLE || strings.Contains(string(res.body), "10.0.0.5") {
		t.Errorf("readyz problem = %s", res.body)
	}
	e.ready = nil

	res = e.do("GET", "/.well-known/gpc.json", "", nil)
	var gpc map[string]any
	res.json(t, &gpc)
	if res.status != 200 || gpc["gpc"] != true {
		t.Errorf("gpc.json: %d %s", res.status, res.body)
	}
	if d, _ := gpc["lastUpdate"].(string); len(d) != 10 {
		t.Errorf("lastUpdate = %v, want YYYY-MM-DD", gpc["lastUpdate"])
	} else if _, err := time.Parse("2006-01-02", d); err != nil {
		t.Errorf("lastUpdate: %v", err)
	}

	for _, path := range []string{"/openapi.json", "/openapi.yaml"} {
		res = e.do("GET", path, "", nil)
		if res.status != 200 {
			t.Fatalf("%s: %d", path, res.status)
		}
	}
	var spec struct {
		OpenAPI string                    `json:"openapi"`
		Paths   map[string]map[string]any `json:"paths"`
	}
	e.do("GET", "/openapi.json", "", nil).json(t, &spec)
	if !strings.HasPrefix(spec.OpenAPI, "3.1.") {
		t.Errorf("openapi = %q, want 3.1.x", spec.OpenAPI)
	}
	for _, p := range []string{"/v1/consents", "/v1/subjects/{subject_id}/consents/{purpose}", "/v1/subjects/{subject_id}/consents/history", "/v1/purposes", "/.well-known/gpc.json"} {
		if _, ok := spec.Paths[p]; !ok {
			t.Errorf("openapi lacks %s", p)
		}
	}
	// Requests are strict, responses open to new fields.
	var schemas struct {
		Components struct {
			Schemas map[string]struct {
				AdditionalProperties *bool `json:"additionalProperties"`
			} `json:"schemas"`
		} `json:"components"`
	}
	e.do("GET", "/openapi.json", "", nil).json(t, &schemas)
	for name, strict := range map[string]bool{
		"ConsentRecordRequest": true, "PurposeChoiceRequest": true, "ConsentEvidenceRequest": true,
		"ConsentDecision": false, "Receipt": false, "Problem": false,
	} {
		sc, ok := schemas.Components.Schemas[name]
		if !ok {
			t.Errorf("openapi lacks schema %s", name)
			continue
		}
		if got := sc.AdditionalProperties != nil && !*sc.AdditionalProperties; got != strict {
			t.Errorf("schema %s: additionalProperties false = %v, want %v", name, got, strict)
		}
	}
	for _, gone := range []string{"ErrorModel", "ErrorDetail"} {
		if _, ok := schemas.Components.Schemas[gone]; ok {
			t.Errorf("openapi documents huma's %s; errors are Problems", gone)
		}
	}
	if !bytes.Equal(e.server.OpenAPI(), e.do("GET", "/openapi.json", "", nil).body) {
		t.Errorf("OpenAPI() differs from /openapi.json")
	}
}

func TestMetrics(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	const subject = "u-metrics-canary"
	e.do("POST", "/v1/consents", "write", grant(subject, true, "marketing_email"))
	e.do("GET", "/v1/subjects/"+subject+"/consents/marketing_email", "read", nil)
	e.do("GET", "/v1/subjects/"+subject+"/consents/ad_personalisation", "read", nil)
	e.do("GET", "/nothing/"+subject, "", nil)

	res := e.do("GET", "/metrics", "", nil)
	if res.status != 200 {
		t.Fatalf("metrics: %d %s", res.status, res.body)
	}
	body := string(res.body)
	for _, want := range []string{
		`lethe_http_requests_total{code="201",route="POST /v1/consents"} 1`,
		`lethe_http_requests_total{code="200",route="GET /v1/subjects/{subject_id}/consents/{purpose}"} 2`,
		`lethe_http_requests_total{code="404",route="unmatched"} 1`,
		`lethe_http_request_duration_seconds_count{code="201",route="POST /v1/consents"} 1`,
		`lethe_consent_records_total{purpose="marketing_email",result="granted"} 1`,
		`lethe_consent_checks_total{purpose="marketing_email",result="granted"} 1`,
		`lethe_consent_checks_total{purpose="ad_personalisation",result="never_given"} 1`,
		`lethe_http_requests_in_flight`,
		`lethe_build_info{version="test"} 1`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if strings.Contains(body, subject) {
		t.Errorf("metrics hold a subject id")
	}
}

func TestMetricsToken(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, func(o *Options) { o.MetricsToken = "scrape-secret" })
	res := e.do("GET", "/metrics", "", nil)
	if res.status != http.StatusUnauthorized || !strings.Contains(res.header.Get("WWW-Authenticate"), "Bearer") {
		t.Fatalf("metrics without token: %d %v", res.status, res.header)
	}
	res.problem(t)
	if res := e.do("GET", "/metrics", "", nil, "Authorization", "Bearer wrong"); res.status != http.StatusUnauthorized {
		t.Errorf("metrics with a wrong token: %d", res.status)
	}
	if res := e.do("GET", "/metrics", "", nil, "Authorization", "Bearer scrape-secret"); res.status != http.StatusOK {
		t.Errorf("metrics with the token: %d", res.status)
	}
}

func TestLogsHoldNoPersonalData(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	const subject = "u-log-canary-9"
	e.do("POST", "/v1/consents", "write", grant(subject, true, "marketing_email"))
	e.do("GET", "/v1/subjects/"+subject+"/consents/marketing_email?note="+subject, "read", nil)
	e.do("GET", "/v1/subjects/"+subject+"/consents/history", "read", nil)
	e.do("GET", "/v1/subjects/"+subject+"/consents/unknown_purpose", "read", nil)
	logs := e.logs.String()
	for _, secret := range []string{subject, "203.0.113.7", "Mozilla/5.0", "We would like"} {
		if strings.Contains(logs, secret) {
			t.Errorf("the log holds %q", secret)
		}
	}
	for _, want := range []string{`"route":"GET /v1/subjects/{subject_id}/consents/{purpose}"`, `"route":"POST /v1/consents"`, `"status":201`, `"api_key":"k`} {
		if !strings.Contains(logs, want) {
			t.Errorf("the log lacks %s:\n%s", want, logs)
		}
	}
}

func TestEvidenceFromRequest(t *testing.T) {
	t.Parallel()
	body := map[string]any{
		"subject_id": "u-ev", "policy_version": "2026-03", "mechanism": "signup_form_v3",
		"purposes": []map[string]any{{"purpose": "marketing_email", "granted": true}},
	}
	tests := []struct {
		name    string
		enabled bool
		wantIP  string
		wantUA  string
	}{
		{"off by default", false, "", ""},
		{"on", true, "127.0.0.1", "lethe-test/1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newTestEnv(t, func(o *Options) { o.EvidenceFromRequest = tt.enabled })
			if res := e.do("POST", "/v1/consents", "write", body, "User-Agent", "lethe-test/1"); res.status != 201 {
				t.Fatalf("record: %d %s", res.status, res.body)
			}
			var h ConsentHistoryResponse
			e.do("GET", "/v1/subjects/u-ev/consents/history", "read", nil).json(t, &h)
			if len(h.Events) != 1 {
				t.Fatalf("history: %+v", h)
			}
			var ip, ua string
			if ev := h.Events[0].Evidence; ev != nil {
				ip, ua = ev.IP, ev.UserAgent
			}
			if ip != tt.wantIP || ua != tt.wantUA {
				t.Errorf("evidence ip=%q ua=%q, want %q %q", ip, ua, tt.wantIP, tt.wantUA)
			}
		})
	}
}

func TestPanicIsAProblem(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	e.server.mux.HandleFunc("GET /test-panic", func(http.ResponseWriter, *http.Request) { panic("boom") })
	res := e.do("GET", "/test-panic", "", nil)
	if res.status != http.StatusInternalServerError {
		t.Fatalf("status %d: %s", res.status, res.body)
	}
	if p := res.problem(t); p.Code != lethe.EINTERNAL || strings.Contains(p.Detail, "boom") {
		t.Errorf("problem = %+v", p)
	}
	if !strings.Contains(e.logs.String(), "boom") {
		t.Errorf("the panic was not logged")
	}
	// The server still serves.
	if res := e.do("GET", "/healthz", "", nil); res.status != 200 {
		t.Errorf("healthz after a panic: %d", res.status)
	}
}

func TestServeShutsDownWhenCancelled(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.server.Serve(ctx, ln) }()
	res, err := http.Get("http://" + ln.Addr().String() + "/healthz")
	if err != nil {
		t.Fatalf("get healthz: %v", err)
	}
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("healthz: %d", res.StatusCode)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Serve returned %v after cancel, want nil", err)
	}
	if _, err := http.Get("http://" + ln.Addr().String() + "/healthz"); err == nil {
		t.Errorf("the server still answers after shutdown")
	}
}

func TestStatusTable(t *testing.T) {
	t.Parallel()
	want := map[lethe.Code]int{
		lethe.EINVALID: 422, lethe.ENOTFOUND: 404, lethe.ECONFLICT: 409, lethe.EUNAUTHORIZED: 401, lethe.EFORBIDDEN: 403,
		lethe.ETOOLARGE: 413, lethe.EUNAVAILABLE: 503, lethe.ESHREDDED: 410, lethe.EINTERNAL: 500, "made_up": 500,
	}
	for code, status := range want {
		if got := StatusCode(code); got != status {
			t.Errorf("StatusCode(%s) = %d, want %d", code, got, status)
		}
	}
}
