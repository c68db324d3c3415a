package scan

import (
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/lethe-privacy/lethe"
)

// suggestion is the data category and erase strategy proposed for a kind
// of finding. Strategies are package mask's: keyed fakes keep joins and
// uniqueness, truncation keeps what analytics need, and what nobody
// should keep (card numbers, identifiers) becomes NULL or an HMAC.
var suggestions = map[Kind][2]string{
	KindEmail:      {"contact.email", "fake.email"},
	KindPhone:      {"contact.phone", "fake.phone"},
	KindIP:         {"network.ip", "truncate.ip"},
	KindIBAN:       {"payment.iban", "fake.iban"},
	KindCard:       {"payment.card", "null"},
	KindBirthDate:  {"identity.date_of_birth", "truncate.date.year"},
	KindPostalCode: {"contact.address", "fake.postcode"},
	KindNationalID: {"identity.national_id", "hmac"},
	KindPersonName: {"contact.name", "fake.name"},
	KindFreeText:   {"communication.content", "redact"},
}

// fallbacks are tried in order when the suggested strategy does not fit
// the column (a fake into an integer column, NULL into NOT NULL) or
// would break its uniqueness.
var fallbacks = []string{"hmac", "null", "blank", "redact"}

// suggest returns the category and erase strategy for a finding on
// column field of the table.
func (s *scanner) suggest(r ColumnResult, field string, ts lethe.TableSchema) (category, erase string) {
	sg := suggestions[r.Kind]
	category, erase = sg[0], sg[1]
	if r.Kind == KindPersonName {
		toks := nameTokens(field)
		has := func(w ...string) bool {
			return slices.ContainsFunc(toks, func(t string) bool { return slices.Contains(w, t) })
		}
		switch {
		case has("first", "given", "firstname", "givenname", "forename", "vorname", "prenom"):
			erase = "fake.first_name"
		case has("last", "family", "lastname", "surname", "familyname", "nachname", "nom", "apellido", "cognome"):
			erase = "fake.last_name"
		}
	}
	col, ok := ts.Column(field)
	if !ok || s.strategy == nil {
		return category, erase
	}
	fit := func(name string) bool {
		st, err := s.strategy(name)
		if err != nil || st.Fits(col) != nil {
			return false
		}
		return !col.Unique || st.PreservesUniqueness()
	}
	if fit(erase) {
		return category, erase
	}
	for _, f := range fallbacks {
		if fit(f) {
			return category, f
		}
	}
	return category, erase
}

// Propose writes the undeclared findings as data-map YAML to paste under
// lethe.yaml's datastores: one block per collection, each field with the
// suggested category and erase strategy, and a comment with the evidence
// (kind, confidence, matches; never a value). Review each line: the
// suggestions are a start, not a decision. It writes a comment alone
// when nothing is undeclared.
func (r *Report) Propose(w io.Writer) error {
	var b strings.Builder
	b.WriteString("# lethe scan --propose: personal data the data map does not declare.\n")
	b.WriteString("# Merge under datastores: in lethe.yaml (into existing collections' fields:),\n")
	b.WriteString("# review each category and erase strategy, or list the column under ignore:.\n")
	var undeclared []Finding
	for _, f := range r.Findings {
		if f.Status == StatusUndeclared {
			undeclared = append(undeclared, f)
		}
	}
	if len(undeclared) == 0 {
		b.WriteString("# Nothing undeclared found.\n")
		_, err := io.WriteString(w, b.String())
		return err
	}
	b.WriteString("datastores:\n")
	lastDS, lastColl := "", ""
	written := map[string]bool{}
	for _, f := range undeclared {
		field := f.Field
		if f.Datastore != lastDS {
			fmt.Fprintf(&b, "  %s:\n    collections:\n", yamlKey(f.Datastore))
			lastDS, lastColl = f.Datastore, ""
		}
		if f.Collection != lastColl {
			if f.NewCollection {
				fmt.Fprintf(&b, "      %s:  # not in the data map\n", yamlKey(f.Collection))
				if f.Table != f.Collection {
					fmt.Fprintf(&b, "        table: %s\n", f.Table)
				}
			} else {
				fmt.Fprintf(&b, "      %s:  # add to its fields:\n", yamlKey(f.Collection))
			}
			b.WriteString("        fields:\n")
			lastColl = f.Collection
		}
		key := f.Datastore + "." + f.Collection + "." + field
		if written[key] {
			continue // a SQL json column holding several kinds: declared once
		}
		written[key] = true
		detail := string(f.Kind)
		if f.Detail != "" {
			detail += " (" + f.Detail + ")"
		}
		fmt.Fprintf(&b, "          %s: {category: %s, erase: %s}  # %s, confidence %.2f, %d of %d sampled values\n",
			yamlKey(field), f.Category, f.Erase, detail, f.Confidence, f.Evidence.Matched, f.Evidence.Sampled)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// yamlKey quotes a key that YAML would not read back as the same plain
// string.
func yamlKey(s string) string {
	if lethe.IsIdentifier(s) && !slices.Contains([]string{"y", "n", "yes", "no", "on", "off", "true", "false", "null"}, strings.ToLower(s)) {
		return s
	}
	return `"` + strings.ReplaceAll(strings.ReplaceAll(s, `\`, `\\`), `"`, `\"`) + `"`
}
