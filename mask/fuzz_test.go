package mask_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/lethe-privacy/lethe"
	"github.com/lethe-privacy/lethe/mask"
)

// fuzzInput builds the value FuzzStrategies masks: typ picks its Go type.
func fuzzInput(typ uint8, s string, n int64, f float64, b bool) any {
	switch typ % 8 {
	case 0:
		return nil
	case 1:
		return s
	case 2:
		return []byte(s)
	case 3:
		return n
	case 4:
		return f
	case 5:
		return b
	case 6:
		return time.Unix(n%(1<<36), 0).In(time.FixedZone("", int(n%(14*3600))))
	}
	return int(n) // a Go type connectors never pass
}

// idempotent lists the strategies whose output, masked again, stays the
// same (see TestIdempotent).
func idempotent(name string) bool {
	return !mask.NeedsKey(name)
}

// FuzzStrategies checks, for any strategy name and input, that nothing
// panics, that Parse and Apply fail only with EINVALID errors that do not
// quote the value, that Apply is deterministic and keeps the input's Go
// type, that a constant strategy's Apply agrees with Constant, and that
// the unkeyed strategies are idempotent.
func FuzzStrategies(f *testing.F) {
	values := []string{"", "jane.doe@example.org", "Jane Doe", "192.0.2.55", "::ffff:192.0.2.55", "2001:db8::1/64",
		"2024-05-17", "2024-05-17T10:20:30.5+02:00", "2024-05-17 10:20:30", "Élodie", "\xff\xfe", "0"}
	for i, n := range append(mask.Names(), "", "fixed:0", "fixed:true", "fixed:1970-01-01", "fake.nope", "FIXED:x") {
		if n == "fixed:<value>" {
			n = "fixed:erased"
		}
		for j, v := range values {
			f.Add(n, uint8(i+j), v, int64(3221226039), 1.5, true)
		}
	}
	f.Fuzz(func(t *testing.T, name string, typ uint8, s string, n int64, fl float64, b bool) {
		strategy, err := mask.Parse(name, testKey)
		if err != nil {
			wantFuzzInvalid(t, err)
			if mask.Check(name) == nil {
				t.Fatalf("Parse refuses %q but Check accepts it", name)
			}
			return
		}
		if mask.Check(name) != nil {
			t.Fatalf("Check refuses %q but Parse accepts it", name)
		}
		in := fuzzInput(typ, s, n, fl, b)
		out, err := strategy.Apply(in)
		again, err2 := strategy.Apply(in)
		if (err == nil) != (err2 == nil) {
			t.Fatalf("Apply fails once out of two: %v, %v", err, err2)
		}
		if err != nil {
			wantFuzzInvalid(t, err)
			if distinctive(s) && (typ%8 == 1 || typ%8 == 2) && !strings.Contains(name, s) && strings.Contains(err.Error(), s) {
				t.Fatalf("error %q quotes the value", err)
			}
			return
		}
		if !equalValue(out, again) {
			t.Fatalf("Apply is not deterministic: %#v then %#v", out, again)
		}
		reparsed, _ := mask.Parse(name, testKey)
		if other, _ := reparsed.Apply(in); !equalValue(out, other) {
			t.Fatalf("two parses disagree: %#v, %#v", out, other)
		}
		switch {
		case in == nil || strategy.Name() == "null":
			if out != nil {
				t.Fatalf("Apply(%#v) = %#v, want nil", in, out)
			}
		case reflect.TypeOf(out) != reflect.TypeOf(in):
			t.Fatalf("Apply(%T) returned %T", in, out)
		}
		if c, ok := strategy.Constant(); ok {
			if _, isString := in.(string); isString && out != c {
				t.Fatalf("constant %#v but Apply gave %#v", c, out)
			}
		}
		if idempotent(name) && out != nil {
			twice, err := strategy.Apply(out)
			if err != nil || !equalValue(twice, out) {
				t.Fatalf("masking %#v again gave %#v, %v", out, twice, err)
			}
		}
	})
}

// distinctive reports whether s is long enough and holds a byte that no
// error message's fixed text holds, so that finding s in a message means
// the value leaked (and not that "2024-05-17" is part of the help text).
func distinctive(s string) bool {
	return len(s) >= 6 && strings.ContainsFunc(s, func(r rune) bool {
		return r < 0x20 || r >= 0x80 || strings.ContainsRune("#~|!$%^&=`[]{}", r)
	})
}

func wantFuzzInvalid(t *testing.T, err error) {
	t.Helper()
	var e *lethe.Error
	if !errors.As(err, &e) || e.Code != lethe.EINVALID {
		t.Fatalf("error = %v (%T), want an EINVALID *lethe.Error", err, err)
	}
	if len(err.Error()) > 1000 {
		t.Fatalf("error is %d bytes long", len(err.Error()))
	}
}
