package scan

import (
	"strings"
	"testing"

	"github.com/lethe-privacy/lethe"
)

// FuzzMatches: sampled values are whatever a database holds; no value,
// in any column, may panic the classifier, and a value matched as one of
// the checked formats must pass its check again on its own.
func FuzzMatches(f *testing.F) {
	for _, s := range []string{
		"jane.doe@example.com", "+44 20 7946 0958", "(415) 555-2671", "192.0.2.1", "2001:db8::1",
		"DE89 3704 0044 0532 0130 00", "4111 1111 1111 1111", "123-45-6789", "111222333",
		"12345678Z", "X1234567L", "RSSMRA85T10A562S", "2 55 08 14 168 025 38", "1 85 05 2A 004 001 61",
		"SW1A 1AA", "1012 AB", "12.04.1985", "Maria Schmidt", "Call +44 20 7946 0958 or jane@example.com",
		"@@", "+", "00", "0", "9999999999999999999999", "\xff\xfe", "a@b.c", "2A", "  ", "{\"a\":1}",
	} {
		f.Add("value", s)
		f.Add("phone", s)
		f.Add("first_name", s)
	}
	c := NewClassifier(ClassifierOpts{Now: testNow})
	f.Fuzz(func(t *testing.T, name, v string) {
		col := Column{Name: name, Kind: lethe.KindText}
		kinds := c.Matches(col, v)
		st := c.Column(col)
		st.Add(v)
		st.Add(int64(len(v)))
		st.Result()
		t0 := strings.TrimSpace(v)
		for _, k := range kinds {
			switch k {
			case KindIBAN:
				if !isIBAN(t0) {
					t.Errorf("%q matched iban but fails the check", v)
				}
			case KindEmail:
				if !strings.Contains(v, "@") {
					t.Errorf("%q matched email without an @", v)
				}
			}
		}
	})
}
