package mask

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/lethe-privacy/lethe"
)

// MinKeySize is the shortest key, in bytes, that Parse accepts for the
// keyed strategies (hmac and fake.*).
const MinKeySize = 16

// Strategy is a masking strategy parsed from its name in the data map. It
// is a lethe.Mask, so an erase step can carry it as is. A Strategy is
// immutable and safe for concurrent use.
//
// Apply takes nil, string, []byte, int64, float64, bool or time.Time.
// Apply(nil) returns nil. Otherwise the output has the input's Go type
// (string in, string out; []byte in, []byte out; time.Time in, time.Time
// out), except under null, which always returns nil. A value the strategy
// cannot mask (an int64 given to hmac, a text that is not an IP address
// given to truncate.ip) gives an EINVALID *lethe.Error that names the
// strategy and the value's Go type, never the value. The strategies that
// compute from the value (hmac, fake.*, truncate.*, redact) return empty
// text unchanged: there is nothing to hide.
type Strategy interface {
	lethe.Mask
	// Name returns the canonical name: the name Parse was given, with
	// "" written null and truncate.date written truncate.date.month.
	// Parse(s.Name(), key) gives an equivalent strategy.
	Name() string
	// PreservesUniqueness reports whether distinct inputs give distinct
	// outputs, so that the strategy can rewrite a column under a unique
	// index. null counts (a unique index admits any number of NULLs);
	// hmac and fake.email, fake.username and fake.iban count because
	// they carry at least 64 bits of a keyed digest (see the package
	// documentation for the odds). Fits does not look at
	// ColumnSchema.Unique: a caller checking a column compares the two.
	PreservesUniqueness() bool
	// Fits returns nil when every output of the strategy can be written
	// to col: its kind, nullability and varchar length. Otherwise it
	// returns an EINVALID *lethe.Error saying why, and what to choose
	// instead. A column of kind other (or no kind) is checked for
	// nullability and length only. The message names no column: the
	// caller adds where.
	Fits(col lethe.ColumnSchema) error
}

// Strategy names, as written in lethe.yaml.
const (
	nameNull      = "null"
	nameBlank     = "blank"
	nameHMAC      = "hmac"
	nameRedact    = "redact"
	nameIP        = "truncate.ip"
	nameDate      = "truncate.date"
	nameDateMonth = "truncate.date.month"
	nameDateYear  = "truncate.date.year"
	prefixFixed   = "fixed:"
	prefixFake    = "fake."
)

// Names returns every strategy name Parse accepts, in the order the
// documentation lists them. The entry "fixed:<value>" stands for fixed:
// followed by any text; truncate.date is listed as well as its canonical
// truncate.date.month. The empty name, which means null, is not listed.
// The caller owns the returned slice.
func Names() []string {
	names := []string{nameNull, nameBlank, prefixFixed + "<value>", nameHMAC}
	for _, k := range fakeKinds {
		names = append(names, prefixFake+k.name)
	}
	return append(names, nameIP, nameDate, nameDateMonth, nameDateYear, nameRedact)
}

// Parse returns the strategy named strategy. key is the secret of the
// keyed strategies (hmac and fake.*), at least MinKeySize bytes; the
// others ignore it, and it may be nil for them. Parse copies key.
//
// Errors are EINVALID: an unknown name (the message quotes it, suggests a
// close name and lists the valid ones) or a missing or short key (the
// message never shows the key).
func Parse(strategy string, key []byte) (Strategy, error) {
	switch {
	case strategy == "" || strategy == nameNull:
		return nullMask{}, nil
	case strategy == nameBlank:
		return blankMask{}, nil
	case strings.HasPrefix(strategy, prefixFixed):
		return fixedMask{value: strategy[len(prefixFixed):]}, nil
	case strategy == nameHMAC:
		k, err := newKeyed(strategy, key)
		if err != nil {
			return nil, err
		}
		return hmacMask{k}, nil
	case strings.HasPrefix(strategy, prefixFake):
		kind, ok := fakeKindNamed(strategy[len(prefixFake):])
		if !ok {
			break
		}
		k, err := newKeyed(strategy, key)
		if err != nil {
			return nil, err
		}
		return fakeMask{kind: kind, keyed: k}, nil
	case strategy == nameIP:
		return ipMask{}, nil
	case strategy == nameDate || strategy == nameDateMonth:
		return dateMask{year: false}, nil
	case strategy == nameDateYear:
		return dateMask{year: true}, nil
	case strategy == nameRedact:
		return redactMask{}, nil
	}
	return nil, unknownStrategy(strategy)
}

// checkKey stands in for the real key in Check, which validates names
// only.
var checkKey = make([]byte, MinKeySize)

// Check returns nil when strategy names a strategy Parse accepts given a
// valid key, else the EINVALID error Parse would return for it. It is for
// validating a configuration before any key is at hand.
func Check(strategy string) error {
	_, err := Parse(strategy, checkKey)
	return err
}

// NeedsKey reports whether strategy is a keyed strategy (hmac, fake.*),
// so that a configuration using one must provide a key. It is false for
// any other name, valid or not.
func NeedsKey(strategy string) bool {
	if strategy == nameHMAC {
		return true
	}
	if k, ok := strings.CutPrefix(strategy, prefixFake); ok {
		_, ok := fakeKindNamed(k)
		return ok
	}
	return false
}

// unknownStrategy is the error for a name Parse does not know.
func unknownStrategy(strategy string) error {
	var b strings.Builder
	fmt.Fprintf(&b, "unknown masking strategy %q", display(strategy))
	if near := closest(strategy); near != "" {
		fmt.Fprintf(&b, " (did you mean %s?)", near)
	}
	b.WriteString(": choose one of ")
	b.WriteString(strings.Join(Names(), ", "))
	return lethe.Errorf(lethe.EINVALID, "%s", b.String())
}

// display shortens a strategy name for a message: a fixed: value can be
// long, and a message should stay one readable line.
func display(name string) string {
	const maxRunes = 40
	if utf8.RuneCountInString(name) <= maxRunes {
		return name
	}
	r := []rune(name)
	return string(r[:maxRunes]) + "..."
}

// closest returns the valid name nearest to a misspelt one, or "" when
// none is within two edits.
func closest(strategy string) string {
	best, bestDist := "", 3
	for _, n := range Names() {
		if strings.HasPrefix(n, prefixFixed) {
			continue
		}
		if d := editDistance(strategy, n, bestDist); d < bestDist {
			best, bestDist = n, d
		}
	}
	return best
}

// editDistance returns the Levenshtein distance between a and b, or limit
// when it is at least limit (which bounds the work on long input).
func editDistance(a, b string, limit int) int {
	if len(a)-len(b) >= limit || len(b)-len(a) >= limit {
		return limit
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		rowMin := cur[0]
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			rowMin = min(rowMin, cur[j])
		}
		if rowMin >= limit {
			return limit
		}
		prev, cur = cur, prev
	}
	return min(prev[len(b)], limit)
}

// cannotMask is the error for a value a strategy cannot handle. It names
// the value's Go type, never the value.
func cannotMask(name string, v any, why string) error {
	return lethe.Errorf(lethe.EINVALID, "masking strategy %s cannot mask a value of type %T: %s", display(name), v, why)
}

// text returns a string or []byte value as a string, and whether it was
// []byte.
func text(v any) (s string, isBytes, ok bool) {
	switch x := v.(type) {
	case string:
		return x, false, true
	case []byte:
		return string(x), true, true
	}
	return "", false, false
}

// asInput returns s in the Go type of the input: []byte when the input
// was []byte, else string.
func asInput(s string, isBytes bool) any {
	if isBytes {
		return []byte(s)
	}
	return s
}
