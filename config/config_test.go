package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.yaml.in/yaml/v3"

	"github.com/lethe-privacy/lethe"
)

// env returns a lookup over a fixed environment, so that tests do not
// depend on (or change) the process environment.
func env(vars map[string]string) func(string) (string, bool) {
	return func(name string) (string, bool) {
		v, ok := vars[name]
		return v, ok
	}
}

// problem is what a test expects of one lethe.FieldError: the exact path
// and line, and a part of the message.
type problem struct {
	path string
	line int
	msg  string
}

func invalidFields(t *testing.T, err error) []lethe.FieldError {
	t.Helper()
	var le *lethe.Error
	if !errors.As(err, &le) {
		t.Fatalf("error = %v (%T), want *lethe.Error", err, err)
	}
	if le.Code != lethe.EINVALID {
		t.Fatalf("code = %s, want %s", le.Code, lethe.EINVALID)
	}
	return le.Fields
}

func TestParseErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		src  string
		env  map[string]string
		want []problem
	}{
		{
			name: "bad lawful basis, the documented message",
			src: `controller:
  name: Shop
purposes:
  - id: orders
    lawful_basis: contract
  - id: tax
    lawful_basis: legal_obligation
  - id: newsletter
    lawful_basis: consnet
`,
			want: []problem{{"purposes[2].lawful_basis", 9, `"consnet" is not one of consent, contract, legal_obligation, vital_interests, public_task, legitimate_interests`}},
		},
		{
			name: "unknown key with a suggestion",
			src: `controller:
  name: Shop
purposes:
  - id: orders
    lawfull_basis: contract
`,
			want: []problem{
				{"purposes[0].lawful_basis", 4, "is required"},
				{"purposes[0].lawfull_basis", 5, `unknown key "lawfull_basis"; did you mean "lawful_basis"?`},
			},
		},
		{
			name: "unknown top-level key",
			src: `controller: {name: Shop}
datastore: {}
purposes: [{id: orders, lawful_basis: contract}]
`,
			want: []problem{{"datastore", 2, `unknown key "datastore"`}},
		},
		{
			name: "wrong types",
			src: `controller:
  name: [Shop]
purposes:
  - id: orders
    lawful_basis: contract
    categories: contact.email
    special_category: "yes"
    policy_version: 3
`,
			want: []problem{
				{"controller.name", 2, "expected text, got a list"},
				{"purposes[0].categories", 6, `expected a list, got "contact.email"`},
				{"purposes[0].special_category", 7, `expected true or false, got "yes"`},
				{"purposes[0].policy_version", 8, "expected text, got 3; put it in quotes"},
			},
		},
		{
			name: "missing controller name and purposes",
			src: `controller:
  contact: privacy@example.com
`,
			want: []problem{
				{"purposes", 0, "is required"},
				{"controller.name", 1, "is required"},
			},
		},
		{
			name: "required key without a value",
			src: `controller:
  name:
  contact:
purposes: [{id: orders, lawful_basis: contract}]
`,
			want: []problem{{"controller.name", 2, "has no value"}},
		},
		{
			name: "empty controller name",
			src: `controller: {name: ""}
purposes: [{id: orders, lawful_basis: contract}]
`,
			want: []problem{{"controller.name", 1, "must not be empty"}},
		},
		{
			name: "no purposes",
			src: `controller: {name: Shop}
purposes: []
`,
			want: []problem{{"purposes", 2, "needs at least 1 entry"}},
		},
		{
			name: "purpose id pattern and duplicates",
			src: `controller: {name: Shop}
purposes:
  - id: Marketing-Email
    lawful_basis: contract
  - id: orders
    lawful_basis: contract
  - id: orders
    lawful_basis: contract
  - lawful_basis: contract
`,
			want: []problem{
				{"purposes[0].id", 3, `"Marketing-Email" is not valid: a purpose id uses lower-case letters`},
				{"purposes[2].id", 7, `duplicate purpose id "orders" (first declared at line 5)`},
				{"purposes[3].id", 9, "is required"},
			},
		},
		{
			name: "a bad item does not shift the items after it",
			src: `controller: {name: Shop}
purposes:
  - newsletter
  - id: orders
    lawful_basis: contract
  - id: ads
    lawful_basis: consent
`,
			want: []problem{
				{"purposes[0]", 3, `expected a mapping, got "newsletter"`},
				{"purposes[2].policy_version", 6, "is required for a consent purpose"},
			},
		},
		{
			name: "lawful basis missing",
			src: `controller: {name: Shop}
purposes:
  - id: orders
    gpc: true
`,
			want: []problem{{"purposes[0].lawful_basis", 3, "is required"}},
		},
		{
			name: "special category needs an art9 condition",
			src: `controller: {name: Shop}
purposes:
  - id: pharmacy
    lawful_basis: contract
    special_category: true
`,
			want: []problem{{"purposes[0].art9_condition", 5, "is required when special_category is true"}},
		},
		{
			name: "art9 condition without special category",
			src: `controller: {name: Shop}
purposes:
  - id: pharmacy
    lawful_basis: contract
    art9_condition: explicit_consent
`,
			want: []problem{{"purposes[0].art9_condition", 5, "only applies to special-category data"}},
		},
		{
			name: "bad art9 condition",
			src: `controller: {name: Shop}
purposes:
  - id: pharmacy
    lawful_basis: contract
    special_category: true
    art9_condition: explicit
`,
			want: []problem{{"purposes[0].art9_condition", 6, `"explicit" is not one of explicit_consent, employment_social_security,`}},
		},
		{
			name: "consent needs a policy version",
			src: `controller: {name: Shop}
purposes:
  - id: newsletter
    lawful_basis: consent
`,
			want: []problem{{"purposes[0].policy_version", 3, "is required for a consent purpose"}},
		},
		{
			name: "consent keys on a contract purpose",
			src: `controller: {name: Shop}
purposes:
  - id: orders
    lawful_basis: contract
    also_accept: ["1"]
    consent_max_age: 1y
    gpc: true
`,
			want: []problem{
				{"purposes[0].also_accept", 5, "only applies to consent purposes; this purpose's lawful_basis is contract"},
				{"purposes[0].consent_max_age", 6, "only applies to consent purposes"},
				{"purposes[0].gpc", 7, "only applies to consent and legitimate_interests purposes"},
			},
		},
		{
			name: "durations",
			src: `controller: {name: Shop}
purposes:
  - id: orders
    lawful_basis: contract
    retention: 30 days
  - id: tax
    lawful_basis: legal_obligation
    retention: 10
  - id: fraud
    lawful_basis: legitimate_interests
    retention: 999999y
`,
			want: []problem{
				{"purposes[0].retention", 5, `"30 days"`},
				{"purposes[1].retention", 8, "expected text, got 10: a duration is one or more <number><unit> parts"},
				{"purposes[2].retention", 11, "number too large"},
			},
		},
		{
			name: "recipients",
			src: `controller: {name: Shop}
purposes:
  - id: ads
    lawful_basis: consent
    policy_version: "1"
    recipients:
      - country: DE
      - name: Ads Inc
        country: US
      - name: Ads Ltd
        country: UK
        safeguard: adequacy
      - name: Mailer
        country: USA
      - name: Broker
        country: CN
        safeguard: none
      - name: Cloud
        country: US
        safeguard: contract
`,
			want: []problem{
				{"purposes[0].recipients[0].name", 7, "is required"},
				{"purposes[0].recipients[1].safeguard", 8, "is required: US is outside the EEA, so the transfer needs a safeguard: adequacy, scc,"},
				{"purposes[0].recipients[2].country", 11, `"UK" is not an ISO 3166-1 country code: the United Kingdom is GB`},
				{"purposes[0].recipients[3].country", 14, `"USA" is not an ISO 3166-1 alpha-2 country code (e.g. DE, US, GB)`},
				{"purposes[0].recipients[4].safeguard", 17, `"none" is not allowed: CN is outside the EEA`},
				{"purposes[0].recipients[5].safeguard", 20, `"contract" is not one of adequacy, scc, bcr, code_of_conduct, certification, derogation, none`},
			},
		},
		{
			name: "bad jurisdiction",
			src: `controller: {name: Shop}
jurisdiction: GDPR2
purposes: [{id: orders, lawful_basis: contract}]
`,
			want: []problem{{"jurisdiction", 2, `"GDPR2" is not one of gdpr, ccpa, lgpd`}},
		},
		{
			name: "unset variable",
			src: `controller:
  name: ${SHOP_NAME}
purposes: [{id: orders, lawful_basis: contract}]
`,
			want: []problem{{"controller.name", 2, "environment variable ${SHOP_NAME} is not set; set it, or give a default: ${SHOP_NAME:-default}"}},
		},
		{
			name: "malformed reference",
			src: `controller:
  name: ${SHOP NAME}
  contact: ${MAIL
purposes: [{id: orders, lawful_basis: contract}]
`,
			want: []problem{
				{"controller.name", 2, `"${SHOP NAME}" is not a variable reference`},
				{"controller.contact", 3, "has a ${ without its closing }"},
			},
		},
		{
			name: "YAML syntax error",
			src: `controller:
  name: Shop
 purposes: [
`,
			// go-yaml reports this one at the line of the mapping it was
			// reading, the line before the stray indentation.
			want: []problem{{"", 2, "did not find expected key"}},
		},
		{
			name: "empty file",
			src:  "# nothing yet\n",
			want: []problem{{"", 0, "the file is empty"}},
		},
		{
			name: "not a mapping",
			src:  "- controller\n",
			want: []problem{{"", 1, "expected a mapping, got a list"}},
		},
		{
			name: "two documents",
			src: `controller: {name: Shop}
purposes: [{id: orders, lawful_basis: contract}]
---
controller: {name: Other}
`,
			want: []problem{{"", 3, "one YAML document"}},
		},
		{
			name: "duplicate key",
			src: `controller:
  name: Shop
  name: Shop GmbH
purposes: [{id: orders, lawful_basis: contract}]
`,
			want: []problem{{"controller.name", 3, `duplicate key "name" (first at line 2)`}},
		},
		{
			name: "merge keys and tags",
			src: `controller: {name: !secret U2hvcA==}
base: &base {lawful_basis: contract}
purposes:
  - <<: *base
    id: orders
`,
			want: []problem{
				{"controller.name", 1, "YAML tags such as !secret"},
				{"base", 2, `unknown key "base"`},
				{"purposes[0].lawful_basis", 4, "is required"},
				{"purposes[0][\"<<\"]", 4, "merge keys (<<) are not supported"},
			},
		},
		{
			name: "alias inside the value it names",
			src: `controller: {name: Shop}
purposes: &p [*p]
`,
			want: []problem{{"purposes[0]", 2, "alias *p refers to a value that contains it"}},
		},
		{
			name: "every problem is reported, in file order",
			src: `controller:
  name: Shop
  dpo: {name: Jane, mail: jane@example.com}
purposes:
  - id: newsletter
    lawful_basis: consent
  - id: orders
    lawful_basis: contract
    retention: forever
`,
			want: []problem{
				{"controller.dpo.mail", 3, `unknown key "mail"; did you mean "email"?`},
				{"purposes[0].policy_version", 5, "is required for a consent purpose"},
				{"purposes[1].retention", 9, `"forever"`},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg, err := parse([]byte(tt.src), "lethe.yaml", env(tt.env))
			if err == nil {
				t.Fatalf("Parse succeeded with %+v, want problems %v", cfg, tt.want)
			}
			if cfg != nil {
				t.Errorf("Parse returned a config with an error")
			}
			got := invalidFields(t, err)
			if len(got) != len(tt.want) {
				t.Fatalf("got %d problems, want %d:\n%s", len(got), len(tt.want), render(got))
			}
			for i, w := range tt.want {
				g := got[i]
				if g.Path != w.path || g.Line != w.line || !strings.Contains(g.Message, w.msg) {
					t.Errorf("problem %d = %q, want path %q, line %d, message containing %q\nall:\n%s", i, g.String(), w.path, w.line, w.msg, render(got))
				}
			}
		})
	}
}

func render(fields []lethe.FieldError) string {
	var b strings.Builder
	for _, f := range fields {
		b.WriteString("  " + f.String() + "\n")
	}
	return b.String()
}

// TestErrorForm pins the exact text a user sees, which the docs quote.
func TestErrorForm(t *testing.T) {
	t.Parallel()
	src := `controller: {name: Shop}
purposes:
  - id: orders
    lawful_basis: consnet
    retention: 10x
`
	_, err := Parse([]byte(src), "lethe.yaml")
	want := `lethe.yaml: 2 problems; ` +
		`purposes[0].lawful_basis: line 4: "consnet" is not one of consent, contract, legal_obligation, vital_interests, public_task, legitimate_interests; ` +
		`purposes[0].retention: line 5: "10x": unknown unit "x"; use y, mo, w, d, h, m or s`
	if err == nil || err.Error() != want {
		t.Fatalf("error =\n%v\nwant\n%s", err, want)
	}
	var le *lethe.Error
	if !errors.As(err, &le) || le.Message != "lethe.yaml: 2 problems" {
		t.Errorf("Message = %q, want %q", le.Message, "lethe.yaml: 2 problems")
	}
	_, err = Parse([]byte("controller: {name: Shop}\n"), "")
	if err == nil || err.Error() != "config: 1 problem; purposes: is required" {
		t.Errorf("error = %v, want the one-problem form named config", err)
	}
}

func TestEnvExpansion(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		value string // the YAML text of controller.contact, or of a purpose's gpc
		env   map[string]string
		want  string
	}{
		{"set", "${MAIL}", map[string]string{"MAIL": "privacy@example.com"}, "privacy@example.com"},
		{"inside text", "mailto:${USER_}@${DOMAIN}", map[string]string{"USER_": "privacy", "DOMAIN": "example.com"}, "mailto:privacy@example.com"},
		{"default when unset", "${MAIL:-dpo@example.com}", nil, "dpo@example.com"},
		{"default when empty", "${MAIL:-dpo@example.com}", map[string]string{"MAIL": ""}, "dpo@example.com"},
		{"set wins over default", "${MAIL:-dpo@example.com}", map[string]string{"MAIL": "a@example.com"}, "a@example.com"},
		{"empty default", `"${MAIL:-}"`, nil, ""},
		{"set to empty", `"${MAIL}"`, map[string]string{"MAIL": ""}, ""},
		{"escaped", "$${MAIL}", map[string]string{"MAIL": "x"}, "${MAIL}"},
		{"lone dollar kept", "pa$$word$", nil, "pa$$word$"},
		{"value is not re-expanded", "${A}", map[string]string{"A": "${B}", "B": "x"}, "${B}"},
		{"value cannot change the structure", "${A}", map[string]string{"A": "x\npurposes: []\n#"}, "x\npurposes: []\n#"},
		{"quoted stays text", `"${A}"`, map[string]string{"A": "true"}, "true"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			src := "controller:\n  name: Shop\n  contact: " + tt.value + "\npurposes: [{id: orders, lawful_basis: contract}]\n"
			cfg, err := parse([]byte(src), "lethe.yaml", env(tt.env))
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Controller.Contact != tt.want {
				t.Errorf("contact = %q, want %q", cfg.Controller.Contact, tt.want)
			}
		})
	}

	t.Run("any text survives quoted expansion and the strict decode", func(t *testing.T) {
		t.Parallel()
		for _, v := range []string{"*alias", "&anchor x", "- item", "{a: b}", "[1, 2]", "'", `"`, "#comment", "null", "~", "true", "0x10", "a: b", "  padded  ", "line1\nline2", "tab\there", "ünïcödé", "!tag", "%directive", "@at", "`tick", "? key", "|", ">"} {
			src := "controller:\n  name: Shop\n  contact: \"${V}\"\npurposes: [{id: orders, lawful_basis: contract}]\n"
			cfg, err := parse([]byte(src), "lethe.yaml", env(map[string]string{"V": v}))
			if err != nil {
				t.Errorf("V=%q: %v", v, err)
				continue
			}
			if cfg.Controller.Contact != v {
				t.Errorf("V=%q: contact = %q", v, cfg.Controller.Contact)
			}
		}
	})

	t.Run("unquoted reference takes the type of its value", func(t *testing.T) {
		t.Parallel()
		src := "controller: {name: Shop}\npurposes:\n  - id: ads\n    lawful_basis: consent\n    policy_version: ${V}\n    gpc: ${GPC:-true}\n    retention: ${RET}\n"
		cfg, err := parse([]byte(src), "lethe.yaml", env(map[string]string{"V": "2026-03", "RET": "2y"}))
		if err != nil {
			t.Fatal(err)
		}
		p := cfg.Purposes[0]
		if !p.GPC || p.PolicyVersion != "2026-03" || p.Retention != (lethe.Duration{Months: 24}) {
			t.Errorf("purpose = %+v, want gpc true, policy 2026-03, retention 2y", p)
		}
	})

	t.Run("keys are not expanded", func(t *testing.T) {
		t.Parallel()
		src := "controller:\n  name: Shop\n  ${K}: x\npurposes: [{id: orders, lawful_basis: contract}]\n"
		_, err := parse([]byte(src), "lethe.yaml", env(map[string]string{"K": "contact"}))
		fields := invalidFields(t, err)
		if len(fields) != 1 || !strings.Contains(fields[0].Message, `unknown key "${K}"`) {
			t.Errorf("problems = %v, want the literal key reported unknown", fields)
		}
	})

	t.Run("a value from the environment is never quoted in a message", func(t *testing.T) {
		t.Parallel()
		src := "controller: {name: Shop}\njurisdiction: ${J}\npurposes: [{id: orders, lawful_basis: contract, retention: \"${R}\"}]\n"
		_, err := parse([]byte(src), "lethe.yaml", env(map[string]string{"J": "s3cr3t-value", "R": "s3cr3t-value"}))
		fields := invalidFields(t, err)
		if len(fields) != 2 {
			t.Fatalf("problems = %v, want 2", fields)
		}
		for _, f := range fields {
			if strings.Contains(f.Message, "s3cr3t") {
				t.Errorf("message %q reveals the value from the environment", f.Message)
			}
			if !strings.Contains(f.Message, "the value of ${") {
				t.Errorf("message %q does not name the variable", f.Message)
			}
		}
	})

}

// TestParseReadsEnvironment is not parallel: it sets a process variable.
func TestParseReadsEnvironment(t *testing.T) {
	t.Setenv("LETHE_CONFIG_TEST_NAME", "Env Shop GmbH")
	cfg, err := Parse([]byte("controller: {name: \"${LETHE_CONFIG_TEST_NAME}\"}\npurposes: [{id: orders, lawful_basis: contract}]\n"), "lethe.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Controller.Name != "Env Shop GmbH" {
		t.Errorf("name = %q", cfg.Controller.Name)
	}
}

func TestDefaultsAndNormalisation(t *testing.T) {
	t.Parallel()
	src := `controller:
  name: Shop
  contact:            # a key without a value is not set
purposes:
  - id: orders
    lawful_basis: contract
    retention:
    recipients:
      - {name: Carrier, country: de}
      - {name: Cloud, country: us, safeguard: SCC}
      - {name: Hoster, country: Ch, safeguard: Adequacy}
`
	cfg, err := Parse([]byte(src), "lethe.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Jurisdiction != lethe.GDPR {
		t.Errorf("jurisdiction = %q, want the default gdpr", cfg.Jurisdiction)
	}
	want := []lethe.Recipient{
		{Name: "Carrier", Country: "DE"},
		{Name: "Cloud", Country: "US", Safeguard: "scc"},
		{Name: "Hoster", Country: "CH", Safeguard: "adequacy"},
	}
	if diff := cmp.Diff(want, cfg.Purposes[0].Recipients); diff != "" {
		t.Errorf("recipients (-want +got):\n%s", diff)
	}
	if cfg.Controller.Contact != "" || !cfg.Purposes[0].Retention.IsZero() {
		t.Errorf("keys without values were set: %+v", cfg)
	}

	cfg, err = Parse([]byte("controller: {name: Shop}\njurisdiction: ccpa\npurposes: [{id: sale, lawful_basis: legitimate_interests, gpc: true}]\n"), "lethe.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Jurisdiction != lethe.CCPA || !cfg.Purposes[0].GPC {
		t.Errorf("config = %+v, want ccpa kept and gpc allowed on legitimate interests", cfg)
	}
}

func TestAliases(t *testing.T) {
	t.Parallel()
	src := `controller: {name: Shop}
purposes:
  - id: orders
    lawful_basis: contract
    recipients: &carriers
      - {name: Carrier, country: DE}
  - id: returns
    lawful_basis: contract
    recipients: *carriers
`
	cfg, err := Parse([]byte(src), "lethe.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Purposes[1].Recipients) != 1 || cfg.Purposes[1].Recipients[0].Name != "Carrier" {
		t.Errorf("aliased recipients = %+v", cfg.Purposes[1].Recipients)
	}

	// An alias of an invalid value is reported where the value is written.
	bad := strings.Replace(src, "country: DE", "country: US", 1)
	_, err = Parse([]byte(bad), "lethe.yaml")
	fields := invalidFields(t, err)
	if len(fields) == 0 || fields[0].Path != "purposes[0].recipients[0].safeguard" || fields[0].Line != 6 {
		t.Errorf("problems = %v, want the first at purposes[0].recipients[0].safeguard line 6", render(fields))
	}

	// Exponential alias expansion is refused, not computed.
	var b strings.Builder
	b.WriteString("controller: {name: Shop}\nx0: &a0 [x, x, x, x, x, x, x, x, x, x]\n")
	for i := 1; i < 9; i++ {
		b.WriteString("x" + string(rune('0'+i)) + ": &a" + string(rune('0'+i)) + " [")
		for j := range 10 {
			if j > 0 {
				b.WriteString(", ")
			}
			b.WriteString("*a" + string(rune('0'+i-1)))
		}
		b.WriteString("]\n")
	}
	_, err = Parse([]byte(b.String()), "lethe.yaml")
	fields = invalidFields(t, err)
	if !strings.Contains(render(fields), "expands to more than") {
		t.Errorf("problems = %v, want the expansion refused", render(fields))
	}
}

// fullConfig is a valid config that uses every key.
const fullConfig = `controller:
  name: Example Shop GmbH
  contact: privacy@example.com
  address: Musterstraße 1, Berlin
  dpo: {name: Jane Roe, email: dpo@example.com, phone: "+49 30 1234567", address: Berlin}
  representative: {name: Rep B.V., email: rep@example.com}
jurisdiction: lgpd
purposes:
  - id: marketing_email
    name: Newsletter
    description: Offers by e-mail.
    lawful_basis: consent
    policy_version: "2026-03"
    also_accept: ["2025-09", "2025-01"]
    consent_max_age: 1y6mo
    gpc: true
    categories: [contact.email]
    recipients:
      - {name: Mailer Inc, country: US, safeguard: scc}
    retention: 2y
  - id: pharmacy
    lawful_basis: consent
    policy_version: "1"
    special_category: true
    art9_condition: explicit_consent
    retention: 72h
`

func TestParseFullConfigRoundTrip(t *testing.T) {
	t.Parallel()
	cfg, err := Parse([]byte(fullConfig), "lethe.yaml")
	if err != nil {
		t.Fatal(err)
	}
	want := &lethe.Config{
		Controller: lethe.Controller{
			Name:           "Example Shop GmbH",
			Contact:        "privacy@example.com",
			Address:        "Musterstraße 1, Berlin",
			DPO:            &lethe.Contact{Name: "Jane Roe", Email: "dpo@example.com", Phone: "+49 30 1234567", Address: "Berlin"},
			Representative: &lethe.Contact{Name: "Rep B.V.", Email: "rep@example.com"},
		},
		Jurisdiction: lethe.LGPD,
		Purposes: []lethe.Purpose{
			{
				ID: "marketing_email", Name: "Newsletter", Description: "Offers by e-mail.",
				LawfulBasis: lethe.BasisConsent, PolicyVersion: "2026-03", AlsoAccept: []string{"2025-09", "2025-01"},
				ConsentMaxAge: lethe.Duration{Months: 18}, GPC: true, Categories: []string{"contact.email"},
				Recipients: []lethe.Recipient{{Name: "Mailer Inc", Country: "US", Safeguard: "scc"}},
				Retention:  lethe.Duration{Months: 24},
			},
			{
				ID: "pharmacy", LawfulBasis: lethe.BasisConsent, PolicyVersion: "1",
				SpecialCategory: true, Art9Condition: "explicit_consent", Retention: lethe.Duration{Clock: 72 * time.Hour},
			},
		},
	}
	if diff := cmp.Diff(want, cfg); diff != "" {
		t.Fatalf("config (-want +got):\n%s", diff)
	}
	// What Lethe decoded, written back as YAML, reads as the same config.
	out, err := yaml.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	again, err := Parse(out, "round-trip.yaml")
	if err != nil {
		t.Fatalf("re-parse of\n%s: %v", out, err)
	}
	if diff := cmp.Diff(cfg, again); diff != "" {
		t.Errorf("round trip (-first +second):\n%s", diff)
	}
}

func TestExampleFileLoads(t *testing.T) {
	t.Parallel()
	path := filepath.Join("..", "examples", "lethe.yaml")
	cfg, info, err := Load(path)
	if err != nil {
		t.Fatalf("the shipped example is invalid: %v", err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if info.Hash != Hash(data) || len(info.Hash) != 64 || info.Path != path {
		t.Errorf("info = %+v, want the SHA-256 of the file", info)
	}
	for _, id := range []string{"marketing_email", "personalised_ads", "analytics", "order_fulfilment", "tax_records", "fraud_prevention"} {
		if _, ok := cfg.Purpose(id); !ok {
			t.Errorf("the example lacks purpose %s", id)
		}
	}
	if p, _ := cfg.Purpose("tax_records"); p == nil || p.Retention != (lethe.Duration{Months: 120}) {
		t.Errorf("tax_records retention = %+v, want 10y", p)
	}
	if !strings.HasPrefix(string(data), "# yaml-language-server: $schema=") {
		t.Errorf("the example does not start with the yaml-language-server schema hint")
	}
}

func TestLoad(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()

	_, info, err := Load(filepath.Join(dir, "missing.yaml"))
	if lethe.ErrorCode(err) != lethe.ENOTFOUND || info.Hash != "" {
		t.Errorf("missing file: err = %v, info = %+v, want ENOTFOUND and no hash", err, info)
	}

	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("controller: {name: Shop}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, info, err = Load(bad)
	if lethe.ErrorCode(err) != lethe.EINVALID || info.Hash != Hash([]byte("controller: {name: Shop}\n")) {
		t.Errorf("invalid file: err = %v, info = %+v, want EINVALID and the hash", err, info)
	}
	if !strings.HasPrefix(lethe.ErrorMessage(err), bad+": 1 problem") {
		t.Errorf("message = %q, want it to name the file", lethe.ErrorMessage(err))
	}
}

func TestHash(t *testing.T) {
	t.Parallel()
	// SHA-256 of the empty string, the well-known constant.
	if got := Hash(nil); got != "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" {
		t.Errorf("Hash(nil) = %s", got)
	}
	if Hash([]byte("a")) == Hash([]byte("b")) {
		t.Error("different files hash the same")
	}
}

func TestTooLarge(t *testing.T) {
	t.Parallel()
	_, err := Parse(make([]byte, maxFileSize+1), "huge.yaml")
	if fields := invalidFields(t, err); len(fields) != 1 || !strings.Contains(fields[0].Message, "at most") {
		t.Errorf("problems = %v", fields)
	}
}
