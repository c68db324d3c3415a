package http_test

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lethe-privacy/lethe"
	"github.com/lethe-privacy/lethe/app"
	"github.com/lethe-privacy/lethe/dsr"
	api "github.com/lethe-privacy/lethe/http"
	"github.com/lethe-privacy/lethe/internal/demo"
)

// requestsEnv is a server over the example config and the embedded demo
// estate, with a key for requests and one without the scope.
type requestsEnv struct {
	t              *testing.T
	url            string
	token, readers string
	email          string
	store          lethe.Store
}

func newRequestsEnv(t *testing.T) *requestsEnv {
	ctx := context.Background()
	dir := t.TempDir()
	t.Setenv("LETHE_DATA_DIR", dir)
	if _, err := demo.Seed(ctx, demo.Options{Subjects: 30, SQLitePath: filepath.Join(dir, "demo", "shop.db")}); err != nil {
		t.Fatal(err)
	}
	a, err := app.Open(ctx, app.Options{ConfigPath: "../examples/lethe.yaml", DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	// The worker lethe serve runs: it picks up the requests the API records.
	wctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); a.Requests.Run(wctx) }()
	t.Cleanup(func() { stop(); <-done })
	_, token, err := a.APIKeys.Create(ctx, "crm", []lethe.Scope{lethe.ScopeRequestsWrite, lethe.ScopeRequestsRead}, "test")
	if err != nil {
		t.Fatal(err)
	}
	_, readers, err := a.APIKeys.Create(ctx, "reader", []lethe.Scope{lethe.ScopeConsentRead}, "test")
	if err != nil {
		t.Fatal(err)
	}
	srv, err := api.NewServer(api.Options{Ledger: a.Consent, Audit: a.Audit, APIKeys: a.APIKeys, Store: a.Store, Requests: a.Requests})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(hs.Close)
	return &requestsEnv{t: t, url: hs.URL, token: token, readers: readers, email: demo.SampleSubject(0, 2).Email, store: a.Store}
}

func (e *requestsEnv) do(method, path, token, body string) (int, []byte) {
	e.t.Helper()
	req, _ := http.NewRequest(method, e.url+path, strings.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
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
	return resp.StatusCode, b
}

// wait polls the request until it is finished (or waits for a person).
func (e *requestsEnv) wait(id string) api.RequestResponse {
	e.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		code, b := e.do("GET", "/v1/requests/"+id, e.token, "")
		if code != 200 {
			e.t.Fatalf("GET request: %d %s", code, b)
		}
		var r api.RequestResponse
		if err := json.Unmarshal(b, &r); err != nil {
			e.t.Fatal(err)
		}
		// verified: recorded, not yet claimed by the worker.
		if r.Status != "running" && r.Status != "verified" {
			return r
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("request %s still running", id)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestRequestsAccessAndErasure(t *testing.T) {
	e := newRequestsEnv(t)
	body := `{"type": "access", "identities": {"email": "` + e.email + `"}}`
	code, b := e.do("POST", "/v1/requests", e.token, body)
	if code != http.StatusAccepted {
		t.Fatalf("POST access: %d %s", code, b)
	}
	var created api.RequestResponse
	json.Unmarshal(b, &created)
	if created.Status != "verified" || !strings.HasPrefix(created.ID, "req_") { // a trusted key: ready for the worker
		t.Fatalf("created %+v", created)
	}
	// GDPR by default: one month by the 1182/71 rules, at least 28 days.
	if created.Jurisdiction != "gdpr" || created.DueAt.Sub(created.CreatedAt) < 28*24*time.Hour || created.ExtendedDueAt == nil || created.Overdue {
		t.Errorf("deadline: %s due %v, extended %v, overdue %v", created.Jurisdiction, created.DueAt, created.ExtendedDueAt, created.Overdue)
	}
	code, b = e.do("POST", "/v1/requests", e.token, `{"type": "access", "jurisdiction": "lgpd", "identities": {"user_id": "3"}}`)
	var lgpd api.RequestResponse
	json.Unmarshal(b, &lgpd)
	if code != 202 || lgpd.Jurisdiction != "lgpd" || lgpd.DueAt.Sub(lgpd.CreatedAt) > 16*24*time.Hour || lgpd.ExtendedDueAt != nil {
		t.Errorf("LGPD deadline: %d %s", code, b)
	}
	done := e.wait(created.ID)
	if done.Status != "completed" || done.Export == "" {
		t.Fatalf("access request: %+v", done)
	}
	done0 := done
	code, zb := e.do("GET", done.Export, e.token, "")
	if code != 200 {
		t.Fatalf("export: %d %s", code, zb)
	}
	zr, err := zip.NewReader(bytes.NewReader(zb), int64(len(zb)))
	if err != nil {
		t.Fatalf("export is not a ZIP: %v", err)
	}
	var data []byte
	for _, f := range zr.File {
		if f.Name == "data.json" {
			r, _ := f.Open()
			data, _ = io.ReadAll(r)
			r.Close()
		}
	}
	if !bytes.Contains(data, []byte(e.email)) {
		t.Errorf("the export's data.json does not hold the subject's e-mail")
	}
	for _, r := range [][]byte{b, mustJSON(done)} {
		if bytes.Contains(r, []byte(e.email)) {
			t.Errorf("a request response repeats the subject's e-mail: %s", r)
		}
	}

	code, b = e.do("POST", "/v1/requests", e.token, `{"type": "erasure", "identities": {"email": "`+e.email+`", "user_id": "2"}}`)
	if code != http.StatusAccepted {
		t.Fatalf("POST erasure: %d %s", code, b)
	}
	json.Unmarshal(b, &created)
	done = e.wait(created.ID)
	var cert dsr.Certificate
	if err := json.Unmarshal(done.Result, &cert); err != nil {
		t.Fatalf("erasure result: %v %s", err, done.Result)
	}
	if done.Status != "completed" || cert.Verification == nil || !cert.Verification.Passed || len(cert.Steps) == 0 || cert.Audit == nil {
		t.Fatalf("erasure: %s %s", done.Status, done.Result)
	}
	if code, b := e.do("GET", "/v1/requests/"+created.ID+"/export", e.token, ""); code != 404 {
		t.Errorf("export of an erasure: %d %s, want 404", code, b)
	}
	// The earlier access package was a copy of the erased data: gone.
	if code, b := e.do("GET", done0.Export, e.token, ""); code != 404 {
		t.Errorf("the erased subject's earlier export: %d %s, want 404", code, b)
	}

	// Erased: a new access request finds nothing in the users table.
	code, b = e.do("POST", "/v1/requests", e.token, body)
	json.Unmarshal(b, &created)
	again := e.wait(created.ID)
	var res dsr.AccessResult
	json.Unmarshal(again.Result, &res)
	for _, c := range res.Collections {
		if c.Collection == "users" || c.Collection == "addresses" {
			t.Errorf("after erasure, access still finds %d rows in %s", c.Rows, c.Collection)
		}
	}
}

func TestRequestsRefuseBadInput(t *testing.T) {
	e := newRequestsEnv(t)
	cases := []struct {
		name, token, body string
		code              int
		location          string
	}{
		{"no key", "", `{"type": "access", "identities": {"email": "a@b.c"}}`, 401, ""},
		{"missing scope", e.readers, `{"type": "access", "identities": {"email": "a@b.c"}}`, 403, ""},
		{"unknown type", e.token, `{"type": "delete", "identities": {"email": "a@b.c"}}`, 422, "body.type"},
		{"no identity", e.token, `{"type": "access", "identities": {}}`, 422, "body.identities"},
		{"bad e-mail", e.token, `{"type": "access", "identities": {"email": "not an address"}}`, 422, "body.identities.email"},
		{"bad identity type", e.token, `{"type": "access", "identities": {"Bad Type": "x"}}`, 422, "body.identities"},
		{"not JSON", e.token, `{"type": `, 400, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, b := e.do("POST", "/v1/requests", c.token, c.body)
			if code != c.code {
				t.Fatalf("%d %s, want %d", code, b, c.code)
			}
			var p api.Problem
			if err := json.Unmarshal(b, &p); err != nil || p.Status != c.code {
				t.Fatalf("not a problem: %s", b)
			}
			if c.location != "" {
				found := false
				for _, fe := range p.Errors {
					found = found || fe.Location == c.location
				}
				if !found {
					t.Errorf("problem %s does not locate %s", b, c.location)
				}
			}
			if bytes.Contains(b, []byte("not an address")) {
				t.Errorf("the problem echoes the identity: %s", b)
			}
		})
	}
	if code, b := e.do("GET", "/v1/requests/req_nope", e.token, ""); code != 404 {
		t.Errorf("unknown request: %d %s", code, b)
	}
}

func mustJSON(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}

func TestRequestsRectification(t *testing.T) {
	e := newRequestsEnv(t)
	code, b := e.do("POST", "/v1/requests", e.token, `{"type": "rectification", "identities": {"user_id": "2"}, "values": {"shop.addresses.city": "Hamburg"}}`)
	if code != http.StatusAccepted {
		t.Fatalf("POST rectification: %d %s", code, b)
	}
	var created api.RequestResponse
	json.Unmarshal(b, &created)
	done := e.wait(created.ID)
	var res dsr.RectifyResult
	if err := json.Unmarshal(done.Result, &res); err != nil || done.Status != "completed" || !res.Verification.Passed || len(res.Steps) != 1 || res.Steps[0].Rows == 0 {
		t.Fatalf("rectification: %s %s", done.Status, done.Result)
	}
	if bytes.Contains(done.Result, []byte("Hamburg")) {
		t.Errorf("the result repeats the corrected value: %s", done.Result)
	}
	for _, c := range []struct{ body, location string }{
		{`{"type": "access", "identities": {"user_id": "2"}, "values": {"shop.addresses.city": "x"}}`, "body.values"},
		{`{"type": "rectification", "identities": {"user_id": "2"}, "values": {"shop.users.nope": "x"}}`, "body.values.shop.users.nope"},
		{`{"type": "rectification", "identities": {"user_id": "2"}}`, "body.values"},
	} {
		code, b := e.do("POST", "/v1/requests", e.token, c.body)
		if code != 422 || !bytes.Contains(b, []byte(`"location":"`+c.location+`"`)) {
			t.Errorf("%s: %d %s, want 422 at %s", c.body, code, b, c.location)
		}
	}
}

func TestRequestsMetricsCountOpenAndOverdue(t *testing.T) {
	e := newRequestsEnv(t)
	ctx := context.Background()
	// Two unverified requests (no worker runs them), one made long ago.
	for _, at := range []time.Time{time.Now(), time.Now().AddDate(0, -3, 0)} {
		r := lethe.Request{ID: "req_" + at.Format("20060102150405"), Type: lethe.RequestAccess, Status: lethe.RequestUnverified, SubjectRef: lethe.SubjectRef{1},
			Actor: "web", CreatedAt: at, UpdatedAt: at, DueAt: at.AddDate(0, 1, 0)}
		if err := e.store.RequestCreate(ctx, r, lethe.AuditRecord{Actor: "web", Action: "request.created"}); err != nil {
			t.Fatal(err)
		}
	}
	code, b := e.do("GET", "/metrics", "", "")
	if code != 200 {
		t.Fatalf("/metrics: %d", code)
	}
	for _, want := range []string{`lethe_dsr_requests_open{status="unverified"} 2`, `lethe_dsr_requests_open{status="running"} 0`, "lethe_dsr_requests_overdue 1"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

func TestRequestsLifecycleOverTheAPI(t *testing.T) {
	e := newRequestsEnv(t)
	ctx := context.Background()
	at := time.Now().AddDate(0, 0, -40)
	for _, r := range []lethe.Request{
		{ID: "req_old", Type: lethe.RequestErasure, Status: lethe.RequestVerified, SubjectRef: lethe.SubjectRef{1}, Actor: "cli", CreatedAt: at, UpdatedAt: at, DueAt: at.AddDate(0, 1, 0), ExtendedDueAt: at.AddDate(0, 3, 0), Jurisdiction: lethe.GDPR},
		{ID: "req_new", Type: lethe.RequestAccess, Status: lethe.RequestUnverified, SubjectRef: lethe.SubjectRef{2}, Actor: "web", CreatedAt: time.Now(), UpdatedAt: time.Now(), DueAt: time.Now().AddDate(0, 0, 5), ExtendedDueAt: time.Now().AddDate(0, 2, 0), Jurisdiction: lethe.GDPR},
	} {
		if err := e.store.RequestCreate(ctx, r, lethe.AuditRecord{Actor: "cli", Action: "request.created"}); err != nil {
			t.Fatal(err)
		}
	}
	list := func(q string) []string {
		t.Helper()
		code, b := e.do("GET", "/v1/requests"+q, e.token, "")
		if code != 200 {
			t.Fatalf("list%s: %d %s", q, code, b)
		}
		var out struct{ Requests []api.RequestResponse }
		json.Unmarshal(b, &out)
		var ids []string
		for _, r := range out.Requests {
			ids = append(ids, r.ID)
		}
		return ids
	}
	if got := list("?overdue=true"); len(got) != 1 || got[0] != "req_old" {
		t.Errorf("overdue: %v", got)
	}
	// The overdue request is not among the newest one, yet it is found.
	if got := list("?overdue=true&limit=1"); len(got) != 1 || got[0] != "req_old" {
		t.Errorf("overdue, limit 1: %v", got)
	}
	if got := list("?due_within=7d"); len(got) != 1 || got[0] != "req_new" {
		t.Errorf("due within 7d: %v", got)
	}
	if got := list("?status=unverified"); len(got) != 1 || got[0] != "req_new" {
		t.Errorf("unverified: %v", got)
	}
	if code, b := e.do("GET", "/v1/requests?due_within=soon", e.token, ""); code != 422 || !strings.Contains(string(b), "query.due_within") {
		t.Errorf("bad due_within: %d %s", code, b)
	}
	// Too late to extend the old one (past its first month); reject needs a reason.
	if code, b := e.do("POST", "/v1/requests/req_old/extend", e.token, `{"reason": "complex"}`); code != 409 {
		t.Errorf("extend after the first month: %d %s", code, b)
	}
	if code, b := e.do("POST", "/v1/requests/req_new/reject", e.token, `{"reason": ""}`); code != 422 || !strings.Contains(string(b), "body.reason") {
		t.Errorf("reject without a reason: %d %s", code, b)
	}
	code, b := e.do("POST", "/v1/requests/req_new/extend", e.token, `{"reason": "twelve datastores"}`)
	var ext api.RequestResponse
	json.Unmarshal(b, &ext)
	if code != 200 || ext.ExtendedAt == nil || ext.ExtensionReason != "twelve datastores" {
		t.Errorf("extend: %d %s", code, b)
	}
	code, b = e.do("POST", "/v1/requests/req_new/reject", e.token, `{"reason": "identity not established"}`)
	var rej api.RequestResponse
	json.Unmarshal(b, &rej)
	if code != 200 || rej.Status != "rejected" || rej.Reason != "identity not established" {
		t.Errorf("reject: %d %s", code, b)
	}
	if code, _ := e.do("POST", "/v1/requests/req_new/cancel", e.token, `{}`); code != 409 {
		t.Errorf("cancel a rejected request: %d", code)
	}
	if code, b := e.do("POST", "/v1/requests/req_nope/retry", e.token, ""); code != 404 {
		t.Errorf("retry unknown without a body: %d %s", code, b)
	}
	if code, _ := e.do("POST", "/v1/requests/req_nope/retry", e.token, `{}`); code != 404 {
		t.Errorf("retry unknown: %d", code)
	}
	if code, _ := e.do("POST", "/v1/requests/req_old/cancel", e.readers, `{}`); code != 403 {
		t.Errorf("cancel with a consent:read key: %d", code)
	}
}
