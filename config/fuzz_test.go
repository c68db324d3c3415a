package config

import (
	"bytes"
	"errors"
	"os"
	"regexp"
	"slices"
	"testing"

	"github.com/lethe-privacy/lethe"
)

var fuzzPurposeID = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)

// FuzzParse feeds arbitrary files to the loader. Whatever the input, Parse
// must not panic and must return either a config that satisfies the rules
// it promises or an EINVALID *lethe.Error whose every problem points at a
// line of the file.
func FuzzParse(f *testing.F) {
	f.Add([]byte(fullConfig))
	f.Add([]byte(shopDataMap))
	if example, err := os.ReadFile("../examples/lethe.yaml"); err == nil {
		f.Add(example)
	}
	for _, seed := range []string{
		"",
		"controller: {name: Shop}\npurposes: [{id: a, lawful_basis: contract}]\n",
		"controller: {name: ${NAME:-Shop}}\npurposes: [{id: a, lawful_basis: consent, policy_version: \"${V}\"}]\n",
		"controller: {name: Shop}\npurposes:\n  - id: a\n    lawful_basis: consnet\n    retention: 10x\n    recipients: [{name: X, country: us}]\n",
		"a: &a [*a]\n",
		"controller: &c {name: Shop}\nother: *c\npurposes: [&p {id: a, lawful_basis: contract}, *p]\n",
		"- [\n",
		"controller: {name: Shop}\n---\nx: 1\n",
		"controller:\n  name: Shop\n  name: Again\n? [complex, key]\n: value\n<<: {a: b}\n",
		"controller: {name: !tag x}\npurposes: [{id: a, lawful_basis: contract, special_category: true, art9_condition: made_public, gpc: yes}]\n",
		"controller: {name: Shop}\npurposes: [{id: a, lawful_basis: contract, retention: .nan, consent_max_age: 1e999}]\n",
		dataMapHeader + "  s: {driver: redis, url: \"redis://x\", keys: [\"a:{user_id}\", \"a:{email}\", \"{x}\"]}\n",
		dataMapHeader + "  p: {driver: postgres, dsn: \"${NAME}\", collections: {a: {references: {b_id: b.id}, fields: {n: {category: name, erase: ~}}}, b: {identities: {user_id: id}, references: {a_id: a.id}, after: [a]}}}\n",
		dataMapHeader + "  p: {driver: sqlite, dsn: x, collections: {u: {table: \"u; DROP TABLE x\", identities: {Email: \"id) OR 1=1 --\"}}}}\n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := parse(data, "fuzz.yaml", env(map[string]string{"NAME": "Env Shop", "V": "1"}))
		if err != nil {
			var le *lethe.Error
			if !errors.As(err, &le) || le.Code != lethe.EINVALID {
				t.Fatalf("error %v (%T) is not an EINVALID *lethe.Error", err, err)
			}
			if cfg != nil {
				t.Fatal("a config returned with an error")
			}
			if len(le.Fields) == 0 {
				t.Fatalf("EINVALID without a problem: %v", err)
			}
			// YAML breaks lines at \n, \r\n and a lone \r.
			lines := bytes.Count(bytes.ReplaceAll(data, []byte("\r\n"), []byte("\n")), []byte("\n")) + bytes.Count(data, []byte("\r")) - bytes.Count(data, []byte("\r\n")) + 1
			for _, f := range le.Fields {
				if f.Line < 0 || f.Line > lines || f.Message == "" {
					t.Fatalf("problem %q points outside the file's %d lines or says nothing", f.String(), lines)
				}
			}
			return
		}
		if cfg == nil {
			t.Fatal("no config and no error")
		}
		if cfg.Controller.Name == "" || len(cfg.Purposes) == 0 || cfg.Jurisdiction == "" {
			t.Fatalf("accepted an incomplete config: %+v", cfg)
		}
		seen := map[string]bool{}
		for _, p := range cfg.Purposes {
			if !fuzzPurposeID.MatchString(p.ID) || seen[p.ID] {
				t.Fatalf("accepted purpose id %q (duplicate: %v)", p.ID, seen[p.ID])
			}
			seen[p.ID] = true
			if p.LawfulBasis == lethe.BasisConsent && p.PolicyVersion == "" {
				t.Fatalf("accepted consent purpose %q without a policy version", p.ID)
			}
			if p.SpecialCategory != (p.Art9Condition != "") {
				t.Fatalf("accepted purpose %q with special_category %v and art9_condition %q", p.ID, p.SpecialCategory, p.Art9Condition)
			}
			for _, r := range p.Recipients {
				if r.Name == "" || (r.Country != "" && !isoCountries[r.Country]) {
					t.Fatalf("accepted recipient %+v", r)
				}
				if r.Country != "" && !inEEA(r.Country) && (r.Safeguard == "" || r.Safeguard == "none") {
					t.Fatalf("accepted a transfer to %s without a safeguard", r.Country)
				}
			}
		}
		checkAcceptedDataMap(t, cfg)
	})
}

// checkAcceptedDataMap asserts what an accepted data map promises: names
// filled, keys turned into collections, only plain identifiers for tables
// and columns, and every reference resolved to a declared column.
func checkAcceptedDataMap(t *testing.T, cfg *lethe.Config) {
	t.Helper()
	for name, d := range cfg.Datastores {
		if d == nil || d.Name != name || !lethe.IsIdentifier(name) || len(d.Keys) > 0 || len(d.Collections) == 0 {
			t.Fatalf("accepted datastore %q: %+v", name, d)
		}
		for cn, c := range d.Collections {
			if c == nil || c.Name != cn || c.Datastore != name || !lethe.IsIdentifier(cn) || !lethe.IsTableName(c.TableName()) || !lethe.IsIdentifier(c.PrimaryKeyColumn()) {
				t.Fatalf("accepted collection %s.%s: %+v", name, cn, c)
			}
			for typ, col := range c.Identities {
				if !identityTypeRe.MatchString(string(typ)) || !lethe.IsIdentifier(col) {
					t.Fatalf("accepted identity %q: %q in %s", typ, col, c.Path())
				}
			}
			for col := range c.Fields {
				if !lethe.IsIdentifier(col) {
					t.Fatalf("accepted field %q in %s", col, c.Path())
				}
			}
			for col, target := range c.References {
				ref, err := lethe.ParseReference(name, target)
				if err != nil || !lethe.IsIdentifier(col) {
					t.Fatalf("accepted reference %q: %q in %s", col, target, c.Path())
				}
				tc, ok := cfg.Collection(ref.Datastore, ref.Collection)
				if !ok || !slices.Contains(declaredColumns(tc), ref.Column) {
					t.Fatalf("accepted reference %q: %q in %s to an undeclared column", col, target, c.Path())
				}
			}
			if c.EraseActionOrDefault() == lethe.EraseAnonymise && len(c.Fields) == 0 {
				t.Fatalf("accepted anonymise without fields in %s", c.Path())
			}
		}
	}
}
