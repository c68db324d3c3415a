package ropa_test

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/lethe-privacy/lethe"
	"github.com/lethe-privacy/lethe/config"
	"github.com/lethe-privacy/lethe/ropa"
)

var now = time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)

func load(t *testing.T, path string) *lethe.Config {
	t.Helper()
	cfg, _, err := config.Load(path)
	if err != nil {
		t.Fatalf("load %s: %v", path, err)
	}
	return cfg
}

func activity(t *testing.T, r *ropa.Record, purpose string) ropa.Activity {
	t.Helper()
	for _, a := range r.Activities {
		if a.Purpose == purpose {
			return a
		}
	}
	t.Fatalf("no activity for purpose %s", purpose)
	return ropa.Activity{}
}

// TestExampleConfig checks the record of examples/lethe.yaml: it is
// complete, and each element comes from where the config declares it.
func TestExampleConfig(t *testing.T) {
	t.Setenv("LETHE_DATA_DIR", t.TempDir())
	r := ropa.Build(load(t, "../examples/lethe.yaml"), now)
	if !r.OK() || r.Warnings != 0 {
		t.Fatalf("the example's record has findings: %v", r.Findings)
	}
	if r.Controller.Name != "Example Shop GmbH" || r.Controller.DPO == nil || r.Controller.DPO.Email != "dpo@example-shop.de" {
		t.Errorf("controller = %+v", r.Controller)
	}
	if len(r.Activities) != 9 || r.Activities[0].Purpose != "marketing_email" || r.Activities[8].Purpose != "pharmacy_advice" {
		t.Fatalf("activities not one per purpose in file order: %d", len(r.Activities))
	}
	if len(r.SecurityMeasures) != 6 {
		t.Errorf("security measures = %d, want the example's 6", len(r.SecurityMeasures))
	}

	ads := activity(t, r, "personalised_ads")
	wantTransfers := []ropa.Transfer{{Recipient: "AdNetwork Inc.", Country: "US", Safeguard: "scc"}, {Recipient: "Measure Ltd.", Country: "GB", Safeguard: "adequacy"}}
	if diff := cmp.Diff(wantTransfers, ads.Transfers); diff != "" {
		t.Errorf("personalised_ads transfers (-want +got):\n%s", diff)
	}
	analytics := activity(t, r, "analytics")
	if len(analytics.Transfers) != 0 || analytics.Recipients[0].Country != "FR" || analytics.Recipients[0].ThirdCountry {
		t.Errorf("analytics: a French recipient is no transfer: %+v %+v", analytics.Recipients, analytics.Transfers)
	}
	// The rule has no max_age: analytics' retention (14mo) applies.
	wantRules := []ropa.ErasureRule{{Collection: "shop.analytics_events", Column: "occurred_at", MaxAge: "1y2mo", Action: "anonymise"}}
	if diff := cmp.Diff(wantRules, analytics.ErasureRules); diff != "" {
		t.Errorf("analytics erasure rules (-want +got):\n%s", diff)
	}

	account := activity(t, r, "customer_account")
	if diff := cmp.Diff([]string{"customers"}, account.DataSubjects); diff != "" {
		t.Errorf("customer_account data subjects (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"shop.addresses", "shop.carts", "shop.sessions", "shop.users"}, account.Collections); diff != "" {
		t.Errorf("customer_account collections (-want +got):\n%s", diff)
	}
	wantRules = []ropa.ErasureRule{
		{Collection: "shop.carts", Column: "added_at", MaxAge: "90d", Action: "delete"},
		{Collection: "shop.sessions", Column: "expires_at", MaxAge: "30d", Action: "delete"},
	}
	if diff := cmp.Diff(wantRules, account.ErasureRules); diff != "" {
		t.Errorf("customer_account erasure rules (-want +got):\n%s", diff)
	}

	tax := activity(t, r, "tax_records")
	if len(tax.ErasureRules) != 1 || !strings.Contains(tax.ErasureRules[0].Hold, "kept 10y from created_at (Art. 17(3), legal_obligation") {
		t.Errorf("tax_records rules = %+v", tax.ErasureRules)
	}
	pharmacy := activity(t, r, "pharmacy_advice")
	if !pharmacy.SpecialCategory || pharmacy.Art9Condition != "explicit_consent" || pharmacy.Retention != "5y" {
		t.Errorf("pharmacy_advice = %+v", pharmacy)
	}
}

// TestMultiExampleConfig checks examples/lethe-multi.yaml: the same
// purposes, with collections spread over four datastores.
func TestMultiExampleConfig(t *testing.T) {
	for k, v := range map[string]string{
		"SHOP_DATABASE_URL": "postgres://x", "ANALYTICS_DSN": "x", "SUPPORT_SQLITE_PATH": "x",
		"SESSIONS_REDIS_URL": "redis://x", "MAILER_WEBHOOK_SECRET": "0123456789abcdef0123",
	} {
		t.Setenv(k, v)
	}
	r := ropa.Build(load(t, "../examples/lethe-multi.yaml"), now)
	if !r.OK() || r.Warnings != 0 {
		t.Fatalf("the example's record has findings: %v", r.Findings)
	}
	mail := activity(t, r, "marketing_email")
	if diff := cmp.Diff([]string{"mailer.subscribers", "shop.newsletter_subscriptions"}, mail.Collections); diff != "" {
		t.Errorf("marketing_email collections (-want +got):\n%s", diff)
	}
	support := activity(t, r, "customer_support")
	want := []ropa.ErasureRule{{Collection: "support.support_tickets", Column: "created_at", MaxAge: "3y", Action: "delete"}}
	if diff := cmp.Diff(want, support.ErasureRules); diff != "" {
		t.Errorf("customer_support rules (-want +got):\n%s", diff)
	}
}

// TestFindings checks that what Art. 30(1) requires is named when it is
// missing: (a)-(e) as errors, (f)-(g) and disagreements as warnings.
func TestFindings(t *testing.T) {
	cfg, err := config.Parse([]byte(`
controller: {name: Shop}
purposes:
  - id: billing
    lawful_basis: contract
    recipients: [{name: Bank}]
  - id: newsletter
    name: Newsletter
    lawful_basis: legitimate_interests
    data_subjects: [subscribers]
    categories: [contact.email]
    retention: 1y
datastores:
  shop:
    driver: sqlite
    dsn: shop.db
    collections:
      subscribers:
        identities: {email: email}
        purposes: [newsletter]
        fields: {email: {category: contact.email}, ip: {category: network.ip}}
`), "lethe.yaml")
	if err != nil {
		t.Fatal(err)
	}
	r := ropa.Build(cfg, now)
	var got []string
	for _, f := range r.Findings {
		got = append(got, f.String())
	}
	want := []string{
		"error: controller: Art. 30(1)(a): the controller has no contact details: set controller.contact or controller.address",
		"error: purpose billing: Art. 30(1)(b): the purpose is not described: give it a name or a description",
		"error: purpose billing: Art. 30(1)(c): no categories of data subjects: list them under data_subjects (e.g. [customers])",
		"error: purpose billing: Art. 30(1)(c): no categories of personal data: list them under categories, or list the purpose under the purposes of its collections",
		`error: purpose billing: Art. 30(1)(e): recipient "Bank" has no country, so whether its data leaves the EEA cannot be told: set its country`,
		"warning: controller: Art. 30(1)(a): no data protection officer with contact details: set controller.dpo when one is designated (Art. 37)",
		"warning: purpose billing: Art. 30(1)(f): no time limit for erasure: set the purpose's retention, or a retention rule on its collections",
		"warning: purpose billing: Art. 30(1)(g): no security measures are described: list them under security_measures",
		"warning: purpose newsletter: Art. 30(1)(c): the data map stores network.ip for this purpose (shop.subscribers), but its categories do not list it",
		"warning: purpose newsletter: Art. 30(1)(g): no security measures are described: list them under security_measures",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("findings (-want +got):\n%s", diff)
	}
	if r.OK() || r.Errors != 5 || r.Warnings != 5 {
		t.Errorf("OK = %v, errors %d, warnings %d", r.OK(), r.Errors, r.Warnings)
	}
	if diff := cmp.Diff([]string{"contact.email", "network.ip"}, activity(t, r, "newsletter").DataCategories); diff != "" {
		t.Errorf("newsletter categories join the data map's (-want +got):\n%s", diff)
	}
}

func TestFormats(t *testing.T) {
	t.Setenv("LETHE_DATA_DIR", t.TempDir())
	cfg := load(t, "../examples/lethe.yaml")
	cfg.Purposes[0].Description = "=HYPERLINK(\"http://evil\") <script>alert(1)</script>"
	r := ropa.Build(cfg, now)

	t.Run("json", func(t *testing.T) {
		var buf bytes.Buffer
		if err := r.Write(&buf, ropa.FormatJSON); err != nil {
			t.Fatal(err)
		}
		var back ropa.Record
		if err := json.Unmarshal(buf.Bytes(), &back); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(r, &back); diff != "" {
			t.Errorf("JSON does not read back (-built +read):\n%s", diff)
		}
	})
	t.Run("csv", func(t *testing.T) {
		var buf bytes.Buffer
		if err := r.Write(&buf, ropa.FormatCSV); err != nil {
			t.Fatal(err)
		}
		rows, err := csv.NewReader(&buf).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		if len(rows) != 10 || rows[0][4] != "purpose" || rows[2][4] != "personalised_ads" {
			t.Fatalf("want a header and 9 rows, one per purpose; got %d rows", len(rows))
		}
		if got := rows[2][12]; got != "AdNetwork Inc. (US, scc); Measure Ltd. (GB, adequacy)" {
			t.Errorf("transfers cell = %q", got)
		}
		if got := rows[1][6]; !strings.HasPrefix(got, "'=HYPERLINK") {
			t.Errorf("a formula in the config is written as a formula: %q", got)
		}
	})
	t.Run("html", func(t *testing.T) {
		var buf bytes.Buffer
		if err := r.Write(&buf, ropa.FormatHTML); err != nil {
			t.Fatal(err)
		}
		page := buf.String()
		for _, bad := range []string{"<script", "<link", "src=", "@import", "<script>alert"} {
			if strings.Contains(page, bad) {
				t.Errorf("the page is not self-contained or not escaped: it contains %q", bad)
			}
		}
		for _, want := range []string{"Example Shop GmbH", "Jane Roe", "AdNetwork Inc., US: scc", "&lt;script&gt;", "@media print", "Pharmacy advice and prescriptions"} {
			if !strings.Contains(page, want) {
				t.Errorf("the page lacks %q", want)
			}
		}
	})
}

func TestParseFormat(t *testing.T) {
	for in, want := range map[string]ropa.Format{"": ropa.FormatJSON, "JSON": ropa.FormatJSON, "csv": ropa.FormatCSV, " html ": ropa.FormatHTML} {
		if got, err := ropa.ParseFormat(in); err != nil || got != want {
			t.Errorf("ParseFormat(%q) = %q, %v", in, got, err)
		}
	}
	if _, err := ropa.ParseFormat("pdf"); lethe.ErrorCode(err) != lethe.EINVALID {
		t.Errorf("ParseFormat(pdf) error = %v, want EINVALID", err)
	}
}
