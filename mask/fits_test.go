package mask_test

import (
	"strings"
	"testing"

	"github.com/lethe-privacy/lethe"
)

func TestFits(t *testing.T) {
	t.Parallel()
	text := lethe.ColumnSchema{Name: "c", Type: "text", Kind: lethe.KindText, Nullable: true}
	notNull := lethe.ColumnSchema{Name: "c", Type: "text", Kind: lethe.KindText}
	varchar := func(n int) lethe.ColumnSchema {
		return lethe.ColumnSchema{Name: "c", Type: "varchar", Kind: lethe.KindText, Nullable: true, MaxLength: n}
	}
	of := func(k lethe.ColumnKind, typ string) lethe.ColumnSchema {
		return lethe.ColumnSchema{Name: "c", Type: typ, Kind: k, Nullable: true}
	}
	integer := of(lethe.KindInteger, "bigint")
	tests := []struct {
		name     string
		strategy string
		col      lethe.ColumnSchema
		// wantIn are fragments of the error; none means Fits is nil.
		wantIn []string
	}{
		{"null on nullable", "null", text, nil},
		{"null on integer", "null", integer, nil},
		{"null on NOT NULL", "", notNull, []string{"null cannot be written to a NOT NULL column", "choose blank, redact, hmac, fake.<kind> or fixed:<text> instead"}},
		{"null on NOT NULL integer", "null", lethe.ColumnSchema{Type: "int", Kind: lethe.KindInteger}, []string{"choose fixed:<integer> instead"}},
		{"null on NOT NULL date", "null", lethe.ColumnSchema{Type: "date", Kind: lethe.KindDate}, []string{"choose truncate.date.month, truncate.date.year or fixed:<date> instead"}},
		{"null on NOT NULL inet", "null", lethe.ColumnSchema{Type: "inet", Kind: lethe.KindInet}, []string{"choose truncate.ip or fixed:<address> instead"}},

		{"blank on text", "blank", notNull, nil},
		{"blank on bytes", "blank", of(lethe.KindBytes, "bytea"), nil},
		{"blank on integer", "blank", integer, []string{"blank writes text, which a column of type bigint cannot hold", "choose null or fixed:<integer> instead"}},
		{"blank on uuid", "blank", of(lethe.KindUUID, "uuid"), []string{"choose null or fixed:<uuid>"}},
		{"blank on json", "blank", of(lethe.KindJSON, "jsonb"), []string{"fixed:<json>"}},

		{"hmac on text", "hmac", text, nil},
		{"hmac on varchar(64)", "hmac", varchar(64), nil},
		{"hmac on varchar(63)", "hmac", varchar(63), []string{"hmac writes 64 characters, but the column holds at most 63", "choose null, blank, redact, fake.<kind> or fixed:<text> instead, or widen the column"}},
		{"hmac on integer", "hmac", integer, []string{"hmac writes text"}},
		{"hmac on bytes", "hmac", of(lethe.KindBytes, "bytea"), nil},
		{"hmac on kind other", "hmac", of(lethe.KindOther, "citext"), nil},
		{"hmac on no kind", "hmac", lethe.ColumnSchema{Nullable: true}, nil},

		{"fake.email on varchar(255)", "fake.email", varchar(255), nil},
		{"fake.email on varchar(42)", "fake.email", varchar(42), nil},
		{"fake.email on varchar(41)", "fake.email", varchar(41), []string{"fake.email writes up to 42 characters, but the column holds at most 41", "widen the column"}},
		{"fake.email on integer", "fake.email", integer, []string{"fake.email writes text", "choose null or fixed:<integer>"}},
		{"fake.iban on varchar(34)", "fake.iban", varchar(34), nil},
		{"fake.iban on varchar(22)", "fake.iban", varchar(22), []string{"at most 22"}},
		{"fake.postcode on varchar(5)", "fake.postcode", varchar(5), nil},
		{"fake.phone on varchar(16)", "fake.phone", varchar(16), nil},
		{"fake.phone on varchar(15)", "fake.phone", varchar(15), []string{"up to 16 characters"}},

		{"redact on text", "redact", text, nil},
		{"redact on varchar(3)", "redact", varchar(3), nil},
		{"redact on varchar(2)", "redact", varchar(2), []string{"redact writes *** (3 characters) for short values"}},
		{"redact on integer", "redact", integer, []string{"redact writes text"}},

		{"truncate.ip on text", "truncate.ip", text, nil},
		{"truncate.ip on inet", "truncate.ip", of(lethe.KindInet, "inet"), nil},
		{"truncate.ip on integer (INET_ATON)", "truncate.ip", integer, nil},
		{"truncate.ip on varbinary", "truncate.ip", of(lethe.KindBytes, "varbinary(16)"), nil},
		{"truncate.ip on date", "truncate.ip", of(lethe.KindDate, "date"), []string{"truncate.ip writes an IP address, which a column of type date cannot hold", "truncate.date.month"}},
		{"truncate.ip on uuid", "truncate.ip", of(lethe.KindUUID, "uuid"), []string{"choose null or fixed:<uuid>"}},

		{"truncate.date on date", "truncate.date", of(lethe.KindDate, "date"), nil},
		{"truncate.date on timestamp", "truncate.date.year", of(lethe.KindTime, "timestamptz"), nil},
		{"truncate.date on text", "truncate.date.month", text, nil},
		{"truncate.date on integer", "truncate.date", integer, []string{"truncate.date.month needs a date, time or text column, not a column of type bigint"}},
		{"truncate.date on bool", "truncate.date.year", of(lethe.KindBool, "boolean"), []string{"choose null or fixed:false"}},

		{"fixed text on varchar", "fixed:erased", varchar(6), nil},
		{"fixed too long", "fixed:erased", varchar(5), []string{"fixed:erased writes 6 characters, but the column holds at most 5", "widen"}},
		{"fixed counts characters, not bytes", "fixed:Zoë", varchar(3), nil},
		{"fixed integer", "fixed:0", integer, nil},
		{"fixed not an integer", "fixed:none", integer, []string{"fixed:none is not an integer, which a column of type bigint needs", "choose null or fixed:<integer> instead"}},
		{"fixed float", "fixed:0.5", of(lethe.KindFloat, "double precision"), nil},
		{"fixed not a float", "fixed:x", of(lethe.KindFloat, "real"), []string{"not a number"}},
		{"fixed bool", "fixed:false", of(lethe.KindBool, "boolean"), nil},
		{"fixed not a bool", "fixed:no", of(lethe.KindBool, "boolean"), []string{"not true or false"}},
		{"fixed date", "fixed:1970-01-01", of(lethe.KindDate, "date"), nil},
		{"fixed time", "fixed:1970-01-01T00:00:00Z", of(lethe.KindTime, "timestamptz"), nil},
		{"fixed not a date", "fixed:never", of(lethe.KindDate, "date"), []string{"not a date or time"}},
		{"fixed inet", "fixed:0.0.0.0", of(lethe.KindInet, "inet"), nil},
		{"fixed cidr", "fixed:192.0.2.0/24", of(lethe.KindInet, "cidr"), nil},
		{"fixed not inet", "fixed:nowhere", of(lethe.KindInet, "inet"), []string{"not an IP address"}},
		{"fixed uuid", "fixed:00000000-0000-0000-0000-000000000000", of(lethe.KindUUID, "uuid"), nil},
		{"fixed not uuid", "fixed:0000", of(lethe.KindUUID, "uuid"), []string{"not a UUID"}},
		{"fixed json", `fixed:{"erased":true}`, of(lethe.KindJSON, "jsonb"), nil},
		{"fixed not json", "fixed:{erased", of(lethe.KindJSON, "json"), []string{"not JSON"}},
		{"fixed on NOT NULL", "fixed:x", notNull, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := mustParse(t, tt.strategy).Fits(tt.col)
			if len(tt.wantIn) == 0 {
				if err != nil {
					t.Fatalf("Fits = %v, want nil", err)
				}
				return
			}
			wantInvalid(t, err)
			for _, w := range tt.wantIn {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Fits = %q\nwant it to contain %q", err, w)
				}
			}
		})
	}
}

// TestFitsSuggestionsFit checks that every strategy a Fits error
// suggests does fit the column (with a concrete value for placeholders).
func TestFitsSuggestionsFit(t *testing.T) {
	t.Parallel()
	cols := []lethe.ColumnSchema{
		{Type: "text", Kind: lethe.KindText},
		{Type: "varchar(10)", Kind: lethe.KindText, MaxLength: 10, Nullable: true},
		{Type: "bigint", Kind: lethe.KindInteger, Nullable: true},
		{Type: "date", Kind: lethe.KindDate},
		{Type: "inet", Kind: lethe.KindInet},
		{Type: "bytea", Kind: lethe.KindBytes, Nullable: true},
	}
	concrete := map[string]string{
		"fake.<kind>": "fake.first_name", "fixed:<text>": "fixed:x", "fixed:<integer>": "fixed:0",
		"fixed:<date>": "fixed:1970-01-01", "fixed:<address>": "fixed:0.0.0.0",
	}
	checked := 0
	for _, col := range cols {
		for _, n := range concreteNames() {
			err := mustParse(t, n).Fits(col)
			if err == nil {
				continue
			}
			msg := err.Error()
			_, list, _ := strings.Cut(msg, ": choose ")
			list, _, _ = strings.Cut(list, " instead")
			for _, s := range strings.FieldsFunc(list, func(r rune) bool { return r == ',' || r == ' ' }) {
				if s == "or" {
					continue
				}
				if c, ok := concrete[s]; ok {
					s = c
				}
				if err := mustParse(t, s).Fits(col); err != nil {
					t.Errorf("%s on %s suggests %s, which does not fit: %v", n, col.Type, s, err)
				}
				checked++
			}
		}
	}
	if checked < 50 {
		t.Errorf("checked only %d suggestions: the messages changed shape", checked)
	}
}
