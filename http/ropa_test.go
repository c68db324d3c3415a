package http

import (
	"context"
	"strings"
	"testing"

	"github.com/lethe-privacy/lethe"
	"github.com/lethe-privacy/lethe/ropa"
)

func TestROPA(t *testing.T) {
	e := newTestEnv(t, func(o *Options) { o.Config = testConfig() })
	_, token, err := e.keys.Create(context.Background(), "dpo", []lethe.Scope{lethe.ScopeROPARead}, "test")
	if err != nil {
		t.Fatal(err)
	}
	e.tokens["ropa"] = token

	res := e.do("GET", "/v1/ropa", "ropa", nil)
	if res.status != 200 || !strings.HasPrefix(res.header.Get("Content-Type"), "application/json") {
		t.Fatalf("GET /v1/ropa: %d %s %s", res.status, res.header.Get("Content-Type"), res.body)
	}
	var rec ropa.Record
	res.json(t, &rec)
	if rec.Controller.Name != "Example Shop GmbH" || len(rec.Activities) != 3 || rec.Activities[0].Transfers[0].Country != "US" {
		t.Errorf("record = %+v", rec)
	}
	// testConfig declares no data subjects: each purpose lacks (c).
	if rec.OK() || rec.Errors != 3 {
		t.Errorf("errors = %d, want 3 (no data_subjects): %v", rec.Errors, rec.Findings)
	}

	res = e.do("GET", "/v1/ropa?format=csv", "ropa", nil)
	if res.status != 200 || res.header.Get("Content-Type") != "text/csv; charset=utf-8" || !strings.Contains(string(res.body), "\norder_fulfilment,") && !strings.Contains(string(res.body), ",order_fulfilment,") {
		t.Errorf("csv: %d %s %s", res.status, res.header.Get("Content-Type"), res.body)
	}
	res = e.do("GET", "/v1/ropa", "admin", nil, "Accept", "text/html;q=0.9, */*;q=0.1")
	if res.status != 200 || res.header.Get("Content-Type") != "text/html; charset=utf-8" || !strings.Contains(string(res.body), "<h1>Record of processing activities</h1>") {
		t.Errorf("html by Accept: %d %s", res.status, res.header.Get("Content-Type"))
	}

	if res := e.do("GET", "/v1/ropa?format=pdf", "ropa", nil); res.status != 422 {
		t.Errorf("format=pdf: %d %s, want 422", res.status, res.body)
	} else {
		res.problem(t)
	}
	if res := e.do("GET", "/v1/ropa", "read", nil); res.status != 403 {
		t.Errorf("consent:read key: %d, want 403", res.status)
	}
	if res := e.do("GET", "/v1/ropa", "", nil); res.status != 401 {
		t.Errorf("no key: %d, want 401", res.status)
	}

	bare := newTestEnv(t)
	if res := bare.do("GET", "/v1/ropa", "admin", nil); res.status != 503 {
		t.Errorf("server without config: %d, want 503", res.status)
	} else {
		res.problem(t)
	}
}
