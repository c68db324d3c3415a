package sqlconn

import (
	"math"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/lethe-privacy/lethe"
)

type userID string

func TestCoerce(t *testing.T) {
	t.Parallel()
	ts := time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)
	cases := []struct {
		name string
		kind lethe.ColumnKind
		in   any
		want any
		ok   bool
	}{
		{"integer from text", lethe.KindInteger, "42", int64(42), true},
		{"integer from named string", lethe.KindInteger, userID("7"), int64(7), true},
		{"integer from int", lethe.KindInteger, 42, int64(42), true},
		{"integer from uint8", lethe.KindInteger, uint8(9), int64(9), true},
		{"integer from whole float", lethe.KindInteger, 3.0, int64(3), true},
		{"integer from fraction", lethe.KindInteger, 1.5, nil, false},
		{"integer from huge float", lethe.KindInteger, 1e30, nil, false},
		{"integer from huge uint", lethe.KindInteger, uint64(math.MaxUint64), nil, false},
		{"integer from SQL", lethe.KindInteger, "1; DROP TABLE users", nil, false},
		{"integer from 1 OR 1=1", lethe.KindInteger, "1 OR 1=1", nil, false},
		{"integer from padded text", lethe.KindInteger, " 1", nil, false},
		{"integer from overflow text", lethe.KindInteger, "99999999999999999999", nil, false},
		{"integer from hex", lethe.KindInteger, "0x10", nil, false},
		{"integer from bool", lethe.KindInteger, true, nil, false},
		{"integer from time", lethe.KindInteger, ts, nil, false},
		{"integer from struct", lethe.KindInteger, struct{}{}, nil, false},
		{"integer from nil", lethe.KindInteger, nil, nil, true},
		{"integer from nil pointer", lethe.KindInteger, (*int)(nil), nil, true},
		{"integer from pointer", lethe.KindInteger, new(int), int64(0), true},
		{"text from text", lethe.KindText, "x'; DROP TABLE", "x'; DROP TABLE", true},
		{"text from int", lethe.KindText, int64(42), "42", true},
		{"text from bytes", lethe.KindText, []byte("abc"), "abc", true},
		{"text from invalid utf-8", lethe.KindText, []byte{0xff, 0xfe}, nil, false},
		{"text from bool", lethe.KindText, true, nil, false},
		{"text from time", lethe.KindText, ts, nil, false},
		{"float from text", lethe.KindFloat, "1.25", 1.25, true},
		{"float from NaN", lethe.KindFloat, "NaN", nil, false},
		{"float from Inf", lethe.KindFloat, math.Inf(1), nil, false},
		{"bool from t", lethe.KindBool, "t", true, true},
		{"bool from 0", lethe.KindBool, int64(0), false, true},
		{"bool from 2", lethe.KindBool, int64(2), nil, false},
		{"bool from yes", lethe.KindBool, "yes", nil, false},
		{"time from RFC 3339", lethe.KindTime, "2024-05-06T07:08:09Z", ts, true},
		{"time from SQL layout", lethe.KindTime, "2024-05-06 07:08:09", ts, true},
		{"time from junk", lethe.KindTime, "yesterday", nil, false},
		{"date from text", lethe.KindDate, "2024-05-06", time.Date(2024, 5, 6, 0, 0, 0, 0, time.UTC), true},
		{"uuid canonical", lethe.KindUUID, "A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11", "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", true},
		{"uuid from junk", lethe.KindUUID, "' OR 1=1", nil, false},
		{"inet address", lethe.KindInet, "192.0.2.1", "192.0.2.1", true},
		{"inet prefix", lethe.KindInet, "192.0.2.0/24", "192.0.2.0/24", true},
		{"inet host prefix", lethe.KindInet, "192.0.2.1/32", "192.0.2.1", true},
		{"inet canonical v6", lethe.KindInet, "2001:DB8:0:0::1", "2001:db8::1", true},
		{"inet junk", lethe.KindInet, "192.0.2.1; --", nil, false},
		{"bytes from text", lethe.KindBytes, "ab", []byte("ab"), true},
		{"json as text", lethe.KindJSON, "{\"a\":1}", "{\"a\":1}", true},
		{"other from int", lethe.KindOther, int64(5), "5", true},
		{"other from map", lethe.KindOther, map[string]int{}, nil, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, ok := Coerce(c.kind, c.in)
			if ok != c.ok || !cmp.Equal(got, c.want) {
				t.Errorf("Coerce(%s, %#v) = %#v, %v; want %#v, %v", c.kind, c.in, got, ok, c.want, c.ok)
			}
		})
	}
}

func TestNormalise(t *testing.T) {
	t.Parallel()
	cases := []struct {
		kind lethe.ColumnKind
		in   any
		want any
	}{
		{lethe.KindText, []byte("abc"), "abc"},
		{lethe.KindBytes, []byte("abc"), []byte("abc")},
		{lethe.KindBool, int64(1), true},
		{lethe.KindBool, []byte("0"), false},
		{lethe.KindInteger, []byte("12"), int64(12)},
		{lethe.KindInteger, uint64(12), int64(12)},
		{lethe.KindInteger, uint64(math.MaxUint64), "18446744073709551615"},
		{lethe.KindInteger, int32(5), int64(5)},
		{lethe.KindFloat, float32(1.5), 1.5},
		{lethe.KindFloat, []byte("12.50"), "12.50"}, // a decimal keeps its digits
		{lethe.KindUUID, []byte{0xa0, 0xee, 0xbc, 0x99, 0x9c, 0x0b, 0x4e, 0xf8, 0xbb, 0x6d, 0x6b, 0xb9, 0xbd, 0x38, 0x0a, 0x11}, "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"},
		{lethe.KindText, nil, nil},
	}
	for _, c := range cases {
		if got := Normalise(c.kind, c.in); !cmp.Equal(got, c.want) {
			t.Errorf("Normalise(%s, %#v) = %#v, want %#v", c.kind, c.in, got, c.want)
		}
	}
}

func TestPack(t *testing.T) {
	t.Parallel()
	vals := func(n int) []any {
		v := make([]any, n)
		for i := range v {
			v[i] = int64(i)
		}
		return v
	}
	a := cond{quoted: "a", vals: vals(1500)}
	b := cond{quoted: "b", vals: vals(700)}
	chunks := pack([]cond{a, b}, 1000)
	var sizes [][]int
	for _, ch := range chunks {
		var s []int
		for _, cd := range ch {
			s = append(s, len(cd.vals))
		}
		sizes = append(sizes, s)
	}
	// 1000 of a; 500 of a and 500 of b; 200 of b.
	if want := [][]int{{1000}, {500, 500}, {200}}; !cmp.Equal(sizes, want) {
		t.Errorf("pack 1500 + 700 values by 1000: %v, want %v", sizes, want)
	}
	if got := pack([]cond{{quoted: "a", vals: vals(3)}, {quoted: "b", vals: vals(2)}}, 1000); len(got) != 1 || len(got[0]) != 2 {
		t.Errorf("a few values over two columns take one statement, got %d", len(got))
	}
}

// FuzzCoerce checks that any text coerces without panicking to a value of
// the kind's Go type, and that coercing the result again gives it back.
func FuzzCoerce(f *testing.F) {
	for _, s := range []string{"42", "-1", "1.5", "1e3", "true", "2024-05-06", "2024-05-06T07:08:09Z", "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", "::1", "x'; DROP TABLE t; --", "\x00", "\xff"} {
		f.Add(s)
	}
	kinds := []lethe.ColumnKind{lethe.KindText, lethe.KindInteger, lethe.KindFloat, lethe.KindBool, lethe.KindTime, lethe.KindDate, lethe.KindBytes, lethe.KindJSON, lethe.KindUUID, lethe.KindInet, lethe.KindOther}
	f.Fuzz(func(t *testing.T, s string) {
		for _, k := range kinds {
			v, ok := Coerce(k, s)
			if !ok {
				continue
			}
			switch v.(type) {
			case int64, float64, bool, string, []byte, time.Time:
			default:
				t.Fatalf("Coerce(%s, %q) gave a %T", k, s, v)
			}
			again, ok := Coerce(k, v)
			if !ok || !cmp.Equal(again, v) {
				t.Fatalf("Coerce(%s, %q) = %#v, which coerces again to %#v, %v", k, s, v, again, ok)
			}
		}
	})
}
