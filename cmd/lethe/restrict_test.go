package main

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestRestrictionAndObjection(t *testing.T) {
	c := newCLI(t)
	c.ok("consent", "record", "--subject-id", "u-1", "--policy-version", "2026-03", "--mechanism", "cli", "--grant", "marketing_email")
	c.ok("consent", "check", "u-1", "fraud_prevention")

	out := c.ok("-o", "json", "restriction", "add", "--user-id", "u-1", "--request-id", "req_1")
	var v struct {
		Restricted  bool `json:"restricted"`
		Restriction *struct {
			RequestID string `json:"request_id"`
			Notice    string `json:"notice"`
		} `json:"restriction"`
		Objections []struct {
			Purpose string `json:"purpose"`
			Active  bool   `json:"active"`
		} `json:"objections"`
	}
	if err := json.Unmarshal([]byte(out), &v); err != nil || !v.Restricted || v.Restriction.RequestID != "req_1" {
		t.Fatalf("restriction add: %v %s", err, out)
	}
	for _, p := range []string{"marketing_email", "order_fulfilment"} {
		code, out, _ := c.run("consent", "check", "u-1", p)
		if code != 1 || !strings.Contains(out, "restricted") {
			t.Errorf("check %s while restricted: exit %d, %s; want 1 and restricted", p, code, out)
		}
	}
	code, _, errs := c.run("restriction", "lift", "--user-id", "u-1")
	if code != 3 || !strings.Contains(errs, "Art. 18(3)") {
		t.Errorf("lift without notice: exit %d, %s; want 3 citing Art. 18(3)", code, errs)
	}
	out = c.ok("-o", "json", "restriction", "lift", "--user-id", "u-1", "--notify-email", "jane@example.com")
	if err := json.Unmarshal([]byte(out), &v); err != nil || v.Restricted || !strings.HasPrefix(v.Restriction.Notice, "mail_") {
		t.Fatalf("restriction lift: %v %s", err, out)
	}
	if strings.Contains(out, "jane@") {
		t.Errorf("lift output shows the address: %s", out)
	}
	if out := c.ok("outbox", "list"); !strings.Contains(out, "restriction_lifting") {
		t.Errorf("outbox lacks the lift notice:\n%s", out)
	}
	c.ok("consent", "check", "u-1", "marketing_email")

	c.ok("objection", "add", "--user-id", "u-1", "--purpose", "fraud_prevention", "--purpose", "marketing_email")
	if code, out, _ := c.run("consent", "check", "u-1", "marketing_email"); code != 1 || !strings.Contains(out, "objected") {
		t.Errorf("check direct marketing after objection: exit %d, %s; want 1 and objected", code, out)
	}
	code, _, errs = c.run("objection", "add", "--user-id", "u-1", "--purpose", "tax_records")
	if code != 3 || !strings.Contains(errs, "legal_obligation") {
		t.Errorf("objection to a legal obligation: exit %d, %s; want 3 naming the basis", code, errs)
	}
	code, _, errs = c.run("objection", "override", "--user-id", "u-1", "--purpose", "marketing_email", "--grounds", "x")
	if code != 3 || !strings.Contains(errs, "21(3)") {
		t.Errorf("override direct marketing: exit %d, %s; want 3", code, errs)
	}
	c.ok("objection", "override", "--user-id", "u-1", "--purpose", "fraud_prevention", "--grounds", "active fraud investigation")
	c.ok("consent", "check", "u-1", "fraud_prevention")
	out = c.ok("objection", "show", "--user-id", "u-1")
	if !strings.Contains(out, "overridden") || !strings.Contains(out, "stands") {
		t.Errorf("objection show:\n%s", out)
	}
	if code, _, errs := c.run("objection", "show"); code != 2 || !strings.Contains(errs, "user-id") {
		t.Errorf("show without --user-id: exit %d, %s; want 2", code, errs)
	}
}
