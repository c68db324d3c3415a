package mask_test

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lethe-privacy/lethe"
	"github.com/lethe-privacy/lethe/mask"
)

var (
	testKey  = []byte("0123456789abcdef0123456789abcdef")
	otherKey = []byte("fedcba9876543210fedcba9876543210")
)

// mustParse parses a strategy under testKey.
func mustParse(t testing.TB, name string) mask.Strategy {
	t.Helper()
	s, err := mask.Parse(name, testKey)
	if err != nil {
		t.Fatalf("Parse(%q): %v", name, err)
	}
	return s
}

// concreteNames returns Names with fixed:<value> made concrete.
func concreteNames() []string {
	names := mask.Names()
	for i, n := range names {
		if n == "fixed:<value>" {
			names[i] = "fixed:erased"
		}
	}
	return names
}

// wantInvalid fails unless err is an EINVALID *lethe.Error.
func wantInvalid(t *testing.T, err error) {
	t.Helper()
	var e *lethe.Error
	if !errors.As(err, &e) || e.Code != lethe.EINVALID {
		t.Fatalf("error = %v (%T), want an EINVALID *lethe.Error", err, err)
	}
}

func TestParse(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		strategy string
		wantName string
	}{
		{"empty is null", "", "null"},
		{"null", "null", "null"},
		{"blank", "blank", "blank"},
		{"fixed", "fixed:erased", "fixed:erased"},
		{"fixed empty", "fixed:", "fixed:"},
		{"fixed with colon", "fixed:a:b", "fixed:a:b"},
		{"hmac", "hmac", "hmac"},
		{"fake", "fake.email", "fake.email"},
		{"truncate.ip", "truncate.ip", "truncate.ip"},
		{"truncate.date means month", "truncate.date", "truncate.date.month"},
		{"truncate.date.month", "truncate.date.month", "truncate.date.month"},
		{"truncate.date.year", "truncate.date.year", "truncate.date.year"},
		{"redact", "redact", "redact"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := mustParse(t, tt.strategy)
			if got := s.Name(); got != tt.wantName {
				t.Errorf("Name() = %q, want %q", got, tt.wantName)
			}
			if err := mask.Check(tt.strategy); err != nil {
				t.Errorf("Check(%q) = %v", tt.strategy, err)
			}
			// The canonical name parses to the same strategy.
			again := mustParse(t, s.Name())
			if again.Name() != s.Name() {
				t.Errorf("Parse(Name()).Name() = %q", again.Name())
			}
		})
	}
}

func TestParseEveryName(t *testing.T) {
	t.Parallel()
	for _, n := range concreteNames() {
		if err := mask.Check(n); err != nil {
			t.Errorf("Check(%q) = %v", n, err)
		}
		if _, err := mask.Parse(n, testKey); err != nil {
			t.Errorf("Parse(%q) = %v", n, err)
		}
	}
}

func TestParseUnknown(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		strategy string
		wantIn   []string
	}{
		{"misspelt fake", "fake.nam", []string{`"fake.nam"`, "did you mean fake.name?", "fake.username", "truncate.date.year"}},
		{"misspelt hmac", "hmca", []string{`"hmca"`, "did you mean hmac?"}},
		{"unknown kind", "fake.ssn", []string{`"fake.ssn"`, "choose one of null, blank, fixed:<value>, hmac"}},
		{"case matters", "NULL", []string{`"NULL"`}},
		{"no spaces", " hmac", []string{`" hmac"`}},
		{"long name is cut", strings.Repeat("x", 500), []string{`"` + strings.Repeat("x", 40) + `..."`}},
		{"fixed needs colon", "fixed", []string{`"fixed"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			for _, err := range []error{mask.Check(tt.strategy), parseErr(tt.strategy, testKey)} {
				wantInvalid(t, err)
				for _, w := range tt.wantIn {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q does not contain %q", err, w)
					}
				}
			}
		})
	}
}

func parseErr(strategy string, key []byte) error {
	_, err := mask.Parse(strategy, key)
	return err
}

func TestParseKey(t *testing.T) {
	t.Parallel()
	short := []byte("fifteen bytes..")
	for _, n := range concreteNames() {
		keyed := n == "hmac" || strings.HasPrefix(n, "fake.")
		if got := mask.NeedsKey(n); got != keyed {
			t.Errorf("NeedsKey(%q) = %v, want %v", n, got, keyed)
		}
		for _, key := range [][]byte{nil, short} {
			err := parseErr(n, key)
			switch {
			case keyed && err == nil:
				t.Errorf("Parse(%q) with a %d-byte key succeeded", n, len(key))
			case keyed:
				wantInvalid(t, err)
				if strings.Contains(err.Error(), string(short)) {
					t.Errorf("error shows the key: %v", err)
				}
			case err != nil:
				t.Errorf("Parse(%q) without a key: %v", n, err)
			}
		}
	}
	if mask.NeedsKey("fake.ssn") || mask.NeedsKey("") {
		t.Error("NeedsKey is true for a name that is not keyed")
	}
}

func TestParseCopiesKey(t *testing.T) {
	t.Parallel()
	key := slices.Clone(testKey)
	s, err := mask.Parse("hmac", key)
	if err != nil {
		t.Fatal(err)
	}
	before, _ := s.Apply("jane@example.com")
	key[0] ^= 0xff
	after, _ := s.Apply("jane@example.com")
	if before != after {
		t.Error("changing the caller's key slice changed the strategy's output")
	}
}

func TestNames(t *testing.T) {
	t.Parallel()
	names := mask.Names()
	want := []string{
		"null", "blank", "fixed:<value>", "hmac",
		"fake.name", "fake.first_name", "fake.last_name", "fake.email", "fake.phone",
		"fake.street", "fake.city", "fake.postcode", "fake.iban", "fake.company", "fake.username",
		"truncate.ip", "truncate.date", "truncate.date.month", "truncate.date.year", "redact",
	}
	if !slices.Equal(names, want) {
		t.Errorf("Names() = %q\nwant %q", names, want)
	}
	names[0] = "changed"
	if mask.Names()[0] != "null" {
		t.Error("Names returns a shared slice")
	}
}

// applyCase is one input and the output (or error) it should give.
type applyCase struct {
	name    string
	in      any
	want    any
	wantErr bool
}

// runApply runs the cases against the named strategy.
func runApply(t *testing.T, strategy string, tests []applyCase) {
	t.Helper()
	s := mustParse(t, strategy)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.Apply(tt.in)
			if tt.wantErr {
				wantInvalid(t, err)
				return
			}
			if err != nil {
				t.Fatalf("Apply: %v", err)
			}
			if !equalValue(got, tt.want) {
				t.Errorf("Apply(%#v) = %#v, want %#v", tt.in, got, tt.want)
			}
		})
	}
}

// equalValue compares values as a database would: times by instant and
// location name, everything else deeply and by type.
func equalValue(a, b any) bool {
	if ta, ok := a.(time.Time); ok {
		tb, ok := b.(time.Time)
		return ok && ta.Equal(tb) && ta.Location().String() == tb.Location().String()
	}
	return reflect.DeepEqual(a, b)
}

var paris = func() *time.Location {
	loc, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		return time.FixedZone("CET", 3600)
	}
	return loc
}()

func TestNull(t *testing.T) {
	t.Parallel()
	runApply(t, "null", []applyCase{
		{"nil", nil, nil, false},
		{"string", "jane@example.com", nil, false},
		{"bytes", []byte("x"), nil, false},
		{"int", int64(7), nil, false},
		{"float", 1.5, nil, false},
		{"bool", true, nil, false},
		{"time", time.Now(), nil, false},
	})
}

func TestBlank(t *testing.T) {
	t.Parallel()
	runApply(t, "blank", []applyCase{
		{"nil", nil, nil, false},
		{"string", "Jane Doe", "", false},
		{"bytes", []byte("Jane Doe"), []byte{}, false},
		{"int", int64(7), nil, true},
		{"float", 1.5, nil, true},
		{"bool", true, nil, true},
		{"time", time.Now(), nil, true},
		{"unsupported Go type", 7, nil, true},
	})
}

func TestFixed(t *testing.T) {
	t.Parallel()
	runApply(t, "fixed:erased", []applyCase{
		{"nil", nil, nil, false},
		{"string", "Jane Doe", "erased", false},
		{"bytes", []byte("Jane Doe"), []byte("erased"), false},
		{"int", int64(7), nil, true},
		{"float", 1.5, nil, true},
		{"bool", true, nil, true},
		{"time", time.Now(), nil, true},
	})
	runApply(t, "fixed:0", []applyCase{
		{"int", int64(1987), int64(0), false},
		{"float", 1.5, 0.0, false},
		{"bool", true, false, false},
		{"string", "1987", "0", false},
	})
	runApply(t, "fixed:", []applyCase{
		{"empty value", "Jane", "", false},
	})
	runApply(t, "fixed:1970-01-01", []applyCase{
		{"date in the input's location", time.Date(1987, 6, 5, 0, 0, 0, 0, paris), time.Date(1970, 1, 1, 0, 0, 0, 0, paris), false},
	})
	runApply(t, "fixed:1970-01-01T00:00:00Z", []applyCase{
		{"time with offset", time.Date(1987, 6, 5, 0, 0, 0, 0, paris), time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC), false},
	})
}

func TestHMAC(t *testing.T) {
	t.Parallel()
	// Reference values: echo -n 'jane@example.com' | openssl dgst
	// -sha256 -hmac 0123456789abcdef0123456789abcdef.
	const jane = "e54ecd8285defd5c7a03f9025dba809862224f8c4b3b8ec1b7844d775a27b734"
	runApply(t, "hmac", []applyCase{
		{"nil", nil, nil, false},
		{"string", "jane@example.com", jane, false},
		{"bytes give hex bytes", []byte("jane@example.com"), []byte(jane), false},
		{"empty stays empty", "", "", false},
		{"int", int64(7), nil, true},
		{"time", time.Now(), nil, true},
	})
}

func TestRedact(t *testing.T) {
	t.Parallel()
	runApply(t, "redact", []applyCase{
		{"nil", nil, nil, false},
		{"e-mail", "jane.doe@example.com", "j***@example.com", false},
		{"e-mail short local part", "jo@example.com", "***@example.com", false},
		{"e-mail with @ in local part", `"a@b"@example.com`, `"***@example.com`, false},
		{"name", "Jane Doe", "J***", false},
		{"four characters", "Jane", "J***", false},
		{"three characters", "Ann", "***", false},
		{"one character", "J", "***", false},
		{"empty", "", "", false},
		{"multi-byte first character", "Élodie", "É***", false},
		{"trailing @ is not an e-mail", "jane@", "j***", false},
		{"leading @ is not an e-mail", "@jane", "@***", false},
		{"bytes", []byte("Jane Doe"), []byte("J***"), false},
		{"bytes not UTF-8", []byte{0xff, 0xfe, 0xfd, 0xfc}, []byte("***"), false},
		{"int", int64(7), nil, true},
	})
}

func TestConstant(t *testing.T) {
	t.Parallel()
	tests := []struct {
		strategy string
		want     any
		constant bool
	}{
		{"null", nil, true},
		{"blank", "", true},
		{"fixed:erased", "erased", true},
		{"hmac", nil, false},
		{"fake.name", nil, false},
		{"truncate.ip", nil, false},
		{"truncate.date", nil, false},
		{"redact", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.strategy, func(t *testing.T) {
			t.Parallel()
			got, ok := mustParse(t, tt.strategy).Constant()
			if ok != tt.constant || got != tt.want {
				t.Errorf("Constant() = %#v, %v; want %#v, %v", got, ok, tt.want, tt.constant)
			}
		})
	}
}

// sampleInputs returns an input each strategy accepts.
func sampleInput(strategy string) any {
	switch {
	case strategy == "truncate.ip":
		return "192.0.2.55"
	case strings.HasPrefix(strategy, "truncate.date"):
		return "2024-05-17"
	}
	return "jane.doe@example.org"
}

func TestDeterministicAndKeyed(t *testing.T) {
	t.Parallel()
	for _, n := range concreteNames() {
		t.Run(n, func(t *testing.T) {
			t.Parallel()
			in := sampleInput(n)
			a := mustParse(t, n)
			b := mustParse(t, n) // a second instance, as in another run
			other, err := mask.Parse(n, otherKey)
			if err != nil {
				t.Fatal(err)
			}
			out1, err1 := a.Apply(in)
			out2, err2 := b.Apply(in)
			out3, err3 := other.Apply(in)
			if err := errors.Join(err1, err2, err3); err != nil {
				t.Fatal(err)
			}
			if !equalValue(out1, out2) {
				t.Errorf("same key: %v then %v", out1, out2)
			}
			if mask.NeedsKey(n) && equalValue(out1, out3) {
				t.Errorf("different keys give the same output %v", out1)
			}
			if !mask.NeedsKey(n) && !equalValue(out1, out3) {
				t.Errorf("an unkeyed strategy depends on the key: %v, %v", out1, out3)
			}
			if mask.NeedsKey(n) && equalValue(out1, in) {
				t.Errorf("output equals input")
			}
		})
	}
}

func TestPreservesUniqueness(t *testing.T) {
	t.Parallel()
	want := map[string]bool{
		"null": true, "hmac": true, "fake.email": true, "fake.username": true, "fake.iban": true,
	}
	for _, n := range concreteNames() {
		if got := mustParse(t, n).PreservesUniqueness(); got != want[n] {
			t.Errorf("%s: PreservesUniqueness() = %v, want %v", n, got, want[n])
		}
	}
}

// TestUniquenessClaims checks the strategies that claim to preserve
// uniqueness on 100,000 distinct inputs, and that the others do repeat.
func TestUniquenessClaims(t *testing.T) {
	t.Parallel()
	const n = 100_000
	inputs := make([]string, n)
	for i := range inputs {
		inputs[i] = fmt.Sprintf("user%d@example.org", i)
	}
	for _, name := range concreteNames() {
		s := mustParse(t, name)
		if name == "null" || strings.HasPrefix(name, "truncate.") {
			continue // null's claim rests on SQL; truncate takes no e-mails
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			seen := make(map[string]int, n)
			for i, in := range inputs {
				out, err := s.Apply(in)
				if err != nil {
					t.Fatal(err)
				}
				if j, dup := seen[out.(string)]; dup {
					if s.PreservesUniqueness() {
						t.Fatalf("inputs %d and %d both give %q", j, i, out)
					}
					return // a repeat, as the claim says
				}
				seen[out.(string)] = i
			}
			if !s.PreservesUniqueness() && name != "fake.phone" {
				// fake.phone repeats only past this sample's size.
				t.Errorf("no repeat among %d inputs: does %s preserve uniqueness after all?", n, name)
			}
		})
	}
}

// TestErrorsHoldNoValue feeds every strategy values it refuses and checks
// that the message does not hold them.
func TestErrorsHoldNoValue(t *testing.T) {
	t.Parallel()
	const secret = "secret-4f9a1c@private.example"
	inputs := []any{secret, []byte(secret), int64(4242424242), 31337.5, true, time.Date(1961, 3, 14, 0, 0, 0, 0, time.UTC), struct{ S string }{secret}}
	for _, n := range concreteNames() {
		s := mustParse(t, n)
		for _, in := range inputs {
			_, err := s.Apply(in)
			if err == nil {
				continue
			}
			wantInvalid(t, err)
			for _, leak := range []string{secret, "4242424242", "31337", "1961"} {
				if strings.Contains(err.Error(), leak) {
					t.Errorf("%s: error %q holds the value", n, err)
				}
			}
		}
	}
}

// TestTypePreserved checks that every output has its input's Go type.
func TestTypePreserved(t *testing.T) {
	t.Parallel()
	inputs := []any{"2024-05-17", []byte("2024-05-17"), "192.0.2.1", []byte("192.0.2.1"), int64(3232235777), 1.5, false, time.Now()}
	for _, n := range concreteNames() {
		s := mustParse(t, n)
		for _, in := range inputs {
			out, err := s.Apply(in)
			if err != nil || n == "null" {
				continue
			}
			if reflect.TypeOf(out) != reflect.TypeOf(in) {
				t.Errorf("%s: Apply(%T) returned %T", n, in, out)
			}
		}
	}
}

// TestIdempotent checks which strategies give the same value when a
// masked value is masked again, as when an erasure re-runs over a row
// that was anonymised already. The unkeyed ones do; hmac and fake.* give
// a new value, since a masked value cannot be told from a real one.
func TestIdempotent(t *testing.T) {
	t.Parallel()
	inputs := []any{"jane.doe@example.org", "Jane Doe", "jo", "192.0.2.55", "2001:db8::1", "2024-05-17T10:20:30Z",
		[]byte("2024-05-17"), int64(3221226039), time.Date(2024, 5, 17, 10, 0, 0, 0, paris)}
	for _, n := range concreteNames() {
		s := mustParse(t, n)
		changed := false
		for _, in := range inputs {
			once, err := s.Apply(in)
			if err != nil || once == nil {
				continue
			}
			twice, err := s.Apply(once)
			if err != nil {
				t.Errorf("%s: masking %#v again: %v", n, once, err)
				continue
			}
			if !equalValue(once, twice) {
				changed = true
			}
		}
		if changed != mask.NeedsKey(n) {
			t.Errorf("%s: masking again changes the value: %v, want %v", n, changed, mask.NeedsKey(n))
		}
	}
}

// TestConcurrentApply runs every strategy from several goroutines (run
// with -race): strategies are shared by connectors working in parallel.
func TestConcurrentApply(t *testing.T) {
	t.Parallel()
	for _, n := range concreteNames() {
		s := mustParse(t, n)
		want, err := s.Apply(sampleInput(n))
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error)
		for range 4 {
			go func() {
				for range 200 {
					got, err := s.Apply(sampleInput(n))
					if err == nil && !equalValue(got, want) {
						err = fmt.Errorf("%s: got %v, want %v", n, got, want)
					}
					if err != nil {
						done <- err
						return
					}
				}
				done <- nil
			}()
		}
		for range 4 {
			if err := <-done; err != nil {
				t.Error(err)
			}
		}
	}
}
