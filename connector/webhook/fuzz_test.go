package webhook

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/lethe-privacy/lethe"
)

// FuzzVerify feeds Verify arbitrary headers and bodies: it never panics,
// never accepts a header that was not made with the secret for that body
// and time, and always accepts one that was.
func FuzzVerify(f *testing.F) {
	now := time.Unix(1700000000, 0)
	f.Add("t=1700000000,v1=00", []byte("{}"), int64(0))
	f.Add(Sign(testSecret, []byte("{}"), now), []byte("{}"), int64(0))
	f.Add("t=,v1=,,==,t=1", []byte(""), int64(-400))
	f.Fuzz(func(t *testing.T, header string, body []byte, skew int64) {
		err := Verify(testSecret, header, body, now.Add(time.Duration(skew)*time.Second), 0)
		if err == nil && !strings.Contains(header, Sign(testSecret, body, parseT(header))[len("t=1700000000,"):]) {
			t.Fatalf("Verify accepted %q for %q", header, body)
		}
		signed := Sign(testSecret, body, now)
		if err := Verify(testSecret, signed, body, now, 0); err != nil {
			t.Fatalf("Verify refused Sign's own header: %v", err)
		}
	})
}

// parseT returns the header's t, or zero.
func parseT(header string) time.Time {
	for part := range strings.SplitSeq(header, ",") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(part), "t="); ok {
			var sec int64
			for _, c := range v {
				sec = sec*10 + int64(c-'0')
			}
			return time.Unix(sec, 0)
		}
	}
	return time.Time{}
}

// FuzzDecodeRows feeds the access decoder arbitrary bodies: it never
// panics, returns rows of Row types only, and fails only with a
// *badResponse (or the callback's error).
func FuzzDecodeRows(f *testing.F) {
	for _, s := range []string{
		`{"rows": []}`, `{"rows": [{"a": 1, "b": "x", "c": null, "d": [1], "e": {"f": true}}]}`,
		`{"rows": [{"a": 1e400}]}`, `{"rows": [{"a": -0.0, "a": 99999999999999999999}]}`,
		`{"x": {"rows": []}, "rows": [{}]}`, `{"rows": [`, `[]`, `{"rows": [1]}`, "\xff",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		err := decodeRows(json.NewDecoder(strings.NewReader(string(body))), func(r lethe.Row) error {
			if len(r.Columns) != len(r.Values) {
				t.Fatalf("%d columns, %d values", len(r.Columns), len(r.Values))
			}
			for _, v := range r.Values {
				switch v.(type) {
				case nil, int64, float64, bool, string:
				default:
					t.Fatalf("value of type %T", v)
				}
			}
			return nil
		})
		var b *badResponse
		if err != nil && !errors.As(err, &b) {
			t.Fatalf("error %T: %v", err, err)
		}
	})
}
