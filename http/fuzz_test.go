package http

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"testing"
)

// FuzzConsentBody posts arbitrary bodies (and GPC headers) to
// POST /v1/consents: whatever the input, the answer is never a 5xx, and an
// error is always a problem. The seed corpus runs under plain go test.
func FuzzConsentBody(f *testing.F) {
	seeds := []string{
		`{"subject_id":"u-1","policy_version":"2026-03","mechanism":"signup_form_v3","purposes":[{"purpose":"marketing_email","granted":true}]}`,
		`{"subject_id":"u-1","mechanism":"m","purposes":[{"purpose":"marketing_email","granted":false}],"evidence":{"ip":"203.0.113.7","extra":{"k":"v"}}}`,
		`{"subject_id":"u-1","mechanism":"m","purposes":[]}`,
		`{"subject_id":"u-1","mechanism":"m","jurisdiction":"CCPA","purposes":[{"purpose":"ad_personalisation","granted":true,"policy_version":"x"}]}`,
		`{"subject_id":"","mechanism":"","purposes":[{"purpose":"","granted":true}]}`,
		`{"subject_id":"u\u0000","mechanism":"m\u007f","purposes":[{"purpose":"order_fulfilment","granted":true}]}`,
		`{"subject_id":1e999,"purposes":{}}`,
		`{"subject_id":"u-1","subject_id":"u-2","mechanism":"m","purposes":[{"purpose":"marketing_email","granted":true},{"purpose":"marketing_email","granted":false}]}`,
		`{"SUBJECT_ID":"u-1","Mechanism":"m","purposes":null,"evidence":null}`,
		`[]`, `null`, `""`, `{`, `{"a":`, "\xff\xfe", `{"subject_id":"\ud800"}`,
		`{"purposes":[` + string(bytes.Repeat([]byte(`{"purpose":"marketing_email","granted":true},`), 120)) + `{}]}`,
	}
	for i, s := range seeds {
		f.Add([]byte(s), i%3 == 0)
	}
	e := newTestEnv(f)
	h := e.server.Handler()
	token := "Bearer " + e.tokens["write"]
	f.Fuzz(func(t *testing.T, body []byte, gpc bool) {
		req := httptest.NewRequest("POST", "/v1/consents", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", token)
		if gpc {
			req.Header.Set("Sec-GPC", "1")
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("status %d for body %q: %s", rec.Code, body, rec.Body.Bytes())
		}
		if rec.Code >= 400 && rec.Header().Get("Content-Type") != "application/problem+json" {
			t.Fatalf("status %d with Content-Type %q", rec.Code, rec.Header().Get("Content-Type"))
		}
		if rec.Code != http.StatusCreated && rec.Code < 400 {
			t.Fatalf("unexpected status %d", rec.Code)
		}
	})
}
