package http

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/lethe-privacy/lethe"
	"github.com/lethe-privacy/lethe/consent"
)

func TestRecordThenCheck(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	before := time.Now().Add(-time.Second)

	res := e.do("POST", "/v1/consents", "write", grant("u-1", true, "marketing_email"))
	if res.status != http.StatusCreated {
		t.Fatalf("record: status %d: %s", res.status, res.body)
	}
	var rec ConsentRecordResponse
	res.json(t, &rec)
	if len(rec.Events) != 1 {
		t.Fatalf("record: %d events, want 1: %s", len(rec.Events), res.body)
	}
	ev := rec.Events[0]
	if ev.Purpose != "marketing_email" || !ev.Granted || ev.PolicyVersion != "2026-03" || ev.Mechanism != "signup_form_v3" {
		t.Errorf("recorded event = %+v", ev)
	}
	if ev.RecordedAt.Before(before) {
		t.Errorf("recorded_at %v is before the request", ev.RecordedAt)
	}

	res = e.do("GET", "/v1/subjects/u-1/consents/marketing_email", "read", nil)
	if res.status != http.StatusOK {
		t.Fatalf("check: status %d: %s", res.status, res.body)
	}
	var d lethe.ConsentDecision
	res.json(t, &d)
	if !d.Allowed || d.Reason != lethe.ReasonGranted || d.Purpose != "marketing_email" || d.LawfulBasis != lethe.BasisConsent {
		t.Errorf("decision = %+v, want allowed granted", d)
	}
	if d.EventID == nil || *d.EventID != ev.ID {
		t.Errorf("decision event_id = %v, want %v", d.EventID, ev.ID)
	}
	if d.ExpiresAt == nil || !d.ExpiresAt.After(ev.RecordedAt.AddDate(0, 0, 394)) {
		t.Errorf("expires_at = %v, want 395 days after %v", d.ExpiresAt, ev.RecordedAt)
	}

	// Another subject is unaffected.
	res = e.do("GET", "/v1/subjects/u-2/consents/marketing_email", "read", nil)
	res.json(t, &d)
	if res.status != http.StatusOK || d.Allowed || d.Reason != lethe.ReasonNeverGiven {
		t.Errorf("other subject: status %d decision %+v, want 200 never_given", res.status, d)
	}
}

func TestWithdrawThenCheck(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	if res := e.do("POST", "/v1/consents", "write", grant("u-1", true, "marketing_email", "ad_personalisation")); res.status != http.StatusCreated {
		t.Fatalf("grant: %d %s", res.status, res.body)
	}
	withdraw := map[string]any{
		"subject_id": "u-1", "mechanism": "preferences_page",
		"purposes": []map[string]any{{"purpose": "marketing_email", "granted": false}},
	}
	res := e.do("POST", "/v1/consents", "write", withdraw)
	if res.status != http.StatusCreated {
		t.Fatalf("withdraw: %d %s", res.status, res.body)
	}
	var rec ConsentRecordResponse
	res.json(t, &rec)
	if len(rec.Events) != 1 || rec.Events[0].Granted || rec.Events[0].PolicyVersion != "2026-03" {
		t.Errorf("withdrawal events = %+v, want one withdrawal at the current version", rec.Events)
	}

	var d lethe.ConsentDecision
	res = e.do("GET", "/v1/subjects/u-1/consents/marketing_email", "read", nil)
	res.json(t, &d)
	if res.status != http.StatusOK || d.Allowed || d.Reason != lethe.ReasonWithdrawn {
		t.Errorf("after withdrawal: status %d decision %+v, want 200 allowed false withdrawn", res.status, d)
	}
	res = e.do("GET", "/v1/subjects/u-1/consents/ad_personalisation", "read", nil)
	res.json(t, &d)
	if !d.Allowed {
		t.Errorf("ad_personalisation was not withdrawn but decision is %+v", d)
	}
}

func TestGPCHeaderRecordsOptOuts(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	if res := e.do("POST", "/v1/consents", "write", grant("u-gpc", true, "ad_personalisation", "marketing_email")); res.status != http.StatusCreated {
		t.Fatalf("grant: %d %s", res.status, res.body)
	}
	// A GPC signal alone, with no purposes on the form.
	body := map[string]any{"subject_id": "u-gpc", "mechanism": "cookie_banner", "purposes": []any{}}
	res := e.do("POST", "/v1/consents", "write", body, "Sec-GPC", "1")
	if res.status != http.StatusCreated {
		t.Fatalf("gpc: %d %s", res.status, res.body)
	}
	var rec ConsentRecordResponse
	res.json(t, &rec)
	if len(rec.Events) != 1 {
		t.Fatalf("gpc events = %+v, want one opt-out for ad_personalisation", rec.Events)
	}
	if ev := rec.Events[0]; ev.Purpose != "ad_personalisation" || ev.Granted || ev.Mechanism != "gpc" {
		t.Errorf("gpc event = %+v, want ad_personalisation withdrawn by gpc", ev)
	}
	var d lethe.ConsentDecision
	e.do("GET", "/v1/subjects/u-gpc/consents/ad_personalisation", "read", nil).json(t, &d)
	if d.Allowed || d.Reason != lethe.ReasonWithdrawn {
		t.Errorf("ad_personalisation after GPC = %+v, want withdrawn", d)
	}
	e.do("GET", "/v1/subjects/u-gpc/consents/marketing_email", "read", nil).json(t, &d)
	if !d.Allowed {
		t.Errorf("marketing_email is not a gpc purpose but decision is %+v", d)
	}

	// Without the header, an empty form is refused.
	res = e.do("POST", "/v1/consents", "write", body)
	if res.status != http.StatusUnprocessableEntity {
		t.Fatalf("empty form without GPC: %d %s", res.status, res.body)
	}
	if p := res.problem(t); !hasLocation(p, "body.purposes") {
		t.Errorf("problem %+v does not name body.purposes", p)
	}
	// Sec-GPC with another value is no signal.
	res = e.do("POST", "/v1/consents", "write", body, "Sec-GPC", "0")
	if res.status != http.StatusUnprocessableEntity {
		t.Errorf("Sec-GPC: 0 with an empty form: %d %s", res.status, res.body)
	}
}

func TestConsentState(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	if res := e.do("POST", "/v1/consents", "write", grant("u-1", true, "marketing_email")); res.status != http.StatusCreated {
		t.Fatalf("grant: %d %s", res.status, res.body)
	}
	res := e.do("GET", "/v1/subjects/u-1/consents", "read", nil)
	if res.status != http.StatusOK {
		t.Fatalf("state: %d %s", res.status, res.body)
	}
	var st ConsentStateResponse
	res.json(t, &st)
	if st.SubjectID != "u-1" || len(st.Purposes) != 3 {
		t.Fatalf("state = %+v", st)
	}
	want := []struct {
		purpose string
		allowed bool
		reason  lethe.ConsentReason
	}{
		{"marketing_email", true, lethe.ReasonGranted},
		{"ad_personalisation", false, lethe.ReasonNeverGiven},
		{"order_fulfilment", true, lethe.ReasonLawfulBasis(lethe.BasisContract)},
	}
	for i, w := range want {
		d := st.Purposes[i]
		if d.Purpose != w.purpose || d.Allowed != w.allowed || d.Reason != w.reason {
			t.Errorf("purposes[%d] = %+v, want %s allowed=%v %s", i, d, w.purpose, w.allowed, w.reason)
		}
	}
}

func TestHistory(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	e.do("POST", "/v1/consents", "write", grant("u-h", true, "marketing_email", "ad_personalisation"))
	e.do("POST", "/v1/consents", "write", grant("u-h", false, "marketing_email"))

	// The literal route wins over {purpose}: this is the history, not a
	// check of a purpose named "history".
	res := e.do("GET", "/v1/subjects/u-h/consents/history", "read", nil)
	if res.status != http.StatusOK {
		t.Fatalf("history: %d %s", res.status, res.body)
	}
	var h ConsentHistoryResponse
	res.json(t, &h)
	if len(h.Events) != 3 {
		t.Fatalf("history has %d events, want 3: %s", len(h.Events), res.body)
	}
	last := h.Events[2]
	if last.Purpose != "marketing_email" || last.Granted || last.Source != "api:test-write" {
		t.Errorf("last event = %+v, want marketing_email withdrawn by api:test-write", last)
	}
	if last.Evidence == nil || last.Evidence.IP != "203.0.113.7" || last.Evidence.Locale != "de-DE" {
		t.Errorf("evidence = %+v, want the evidence sent", last.Evidence)
	}

	res = e.do("GET", "/v1/subjects/u-h/consents/history?purpose=marketing_email", "read", nil)
	res.json(t, &h)
	if res.status != http.StatusOK || len(h.Events) != 2 {
		t.Fatalf("history?purpose=marketing_email: %d, %d events: %s", res.status, len(h.Events), res.body)
	}
	for _, ev := range h.Events {
		if ev.Purpose != "marketing_email" {
			t.Errorf("filtered history holds %s", ev.Purpose)
		}
	}

	res = e.do("GET", "/v1/subjects/u-h/consents/history?purpose=nope", "read", nil)
	if res.status != http.StatusUnprocessableEntity {
		t.Fatalf("history of unknown purpose: %d %s", res.status, res.body)
	}
	if p := res.problem(t); !hasLocation(p, "query.purpose") {
		t.Errorf("problem %+v does not name query.purpose", p)
	}

	res = e.do("GET", "/v1/subjects/u-nobody/consents/history", "read", nil)
	if res.status != http.StatusOK || strings.TrimSpace(string(res.body)) != `{"events":[]}` {
		t.Errorf("empty history: %d %s, want {\"events\":[]}", res.status, res.body)
	}
}

func TestReceipt(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	var rec ConsentRecordResponse
	e.do("POST", "/v1/consents", "write", grant("u-r", true, "marketing_email")).json(t, &rec)
	if len(rec.Events) != 1 {
		t.Fatalf("record: %+v", rec)
	}
	id := rec.Events[0].ID.String()
	res := e.do("GET", "/v1/consents/"+id+"/receipt", "read", nil)
	if res.status != http.StatusOK {
		t.Fatalf("receipt: %d %s", res.status, res.body)
	}
	var r consent.Receipt
	res.json(t, &r)
	if r.ConsentReceiptID != id || r.PIIPrincipalID != "u-r" || r.ISO27560.EventType != "given" || r.ISO27560.Recorder != "api:test-write" {
		t.Errorf("receipt = %+v", r)
	}
	if r.Version != "KI-CR-v1.1.0" || len(r.PIIControllers) != 1 || r.PIIControllers[0].PIIController != "Example Shop GmbH" {
		t.Errorf("receipt header = %+v", r)
	}

	tests := []struct {
		name     string
		path     string
		status   int
		location string
	}{
		{"unknown event", "/v1/consents/0191d3a0-0000-7000-8000-000000000000/receipt", http.StatusNotFound, ""},
		{"not a uuid", "/v1/consents/not-an-id/receipt", http.StatusUnprocessableEntity, "path.event_id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := e.do("GET", tt.path, "read", nil)
			if res.status != tt.status {
				t.Fatalf("status %d, want %d: %s", res.status, tt.status, res.body)
			}
			p := res.problem(t)
			if tt.location != "" && !hasLocation(p, tt.location) {
				t.Errorf("problem %+v does not name %s", p, tt.location)
			}
		})
	}
}

func TestPurposes(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	res := e.do("GET", "/v1/purposes", "read", nil)
	if res.status != http.StatusOK {
		t.Fatalf("purposes: %d %s", res.status, res.body)
	}
	var raw struct {
		Purposes []map[string]any `json:"purposes"`
	}
	res.json(t, &raw)
	if len(raw.Purposes) != 3 {
		t.Fatalf("%d purposes, want 3", len(raw.Purposes))
	}
	m := raw.Purposes[0]
	if m["id"] != "marketing_email" || m["lawful_basis"] != "consent" || m["consent_max_age"] != "395d" || m["retention"] != "2y" {
		t.Errorf("purposes[0] = %v, want durations as strings", m)
	}
	if raw.Purposes[1]["gpc"] != true || raw.Purposes[2]["lawful_basis"] != "contract" {
		t.Errorf("purposes = %v", raw.Purposes)
	}
}

func TestCheckErrors(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	tests := []struct {
		name     string
		path     string
		status   int
		location string
		detail   string // a substring of an error message
	}{
		{"unknown purpose lists the declared ones", "/v1/subjects/u-1/consents/nope", 422, "path.purpose", "marketing_email, ad_personalisation, order_fulfilment"},
		{"contract purpose is allowed", "/v1/subjects/u-1/consents/order_fulfilment", 200, "", ""},
		{"control character in subject id", "/v1/subjects/u%01x/consents/marketing_email", 422, "path.subject_id", "control"},
		{"blank subject id", "/v1/subjects/%20/consents/marketing_email", 422, "path.subject_id", "empty"},
		{"over-long subject id", "/v1/subjects/" + strings.Repeat("a", 600) + "/consents/marketing_email", 422, "path.subject_id", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := e.do("GET", tt.path, "read", nil)
			if res.status != tt.status {
				t.Fatalf("status %d, want %d: %s", res.status, tt.status, res.body)
			}
			if tt.status == 200 {
				var d lethe.ConsentDecision
				res.json(t, &d)
				if !d.Allowed || d.Reason != "lawful_basis:contract" {
					t.Errorf("decision = %+v", d)
				}
				return
			}
			p := res.problem(t)
			if p.Code != lethe.EINVALID || !hasLocation(p, tt.location) {
				t.Errorf("problem %+v, want code invalid at %s", p, tt.location)
			}
			if tt.detail != "" && !strings.Contains(string(res.body), tt.detail) {
				t.Errorf("problem %s does not mention %q", res.body, tt.detail)
			}
		})
	}
}

// hasLocation reports whether the problem names the location.
func hasLocation(p Problem, loc string) bool {
	for _, e := range p.Errors {
		if e.Location == loc {
			return true
		}
	}
	return false
}

func TestErasedSubject(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	var rec ConsentRecordResponse
	e.do("POST", "/v1/consents", "write", grant("u-erased", true, "marketing_email")).json(t, &rec)
	if len(rec.Events) != 1 {
		t.Fatalf("record: %+v", rec)
	}
	ref, err := e.ledger.SubjectRef("u-erased")
	if err != nil {
		t.Fatal(err)
	}
	if n, err := e.keyring.Shred(t.Context(), ref, "test"); err != nil || n != 1 {
		t.Fatalf("shred: %d keys, %v", n, err)
	}

	// The pseudonymous timeline stays; the evidence is gone.
	res := e.do("GET", "/v1/subjects/u-erased/consents/history", "read", nil)
	var h ConsentHistoryResponse
	res.json(t, &h)
	if res.status != http.StatusOK || len(h.Events) != 1 || !h.Events[0].EvidenceErased || h.Events[0].Evidence != nil {
		t.Errorf("history after erasure: %d %s", res.status, res.body)
	}
	res = e.do("GET", "/v1/consents/"+rec.Events[0].ID.String()+"/receipt", "read", nil)
	var r consent.Receipt
	res.json(t, &r)
	if res.status != http.StatusOK || r.PIIPrincipalID != "[erased]" || r.Evidence != nil || strings.Contains(string(res.body), "203.0.113.7") {
		t.Errorf("receipt after erasure: %d %s", res.status, res.body)
	}
}
