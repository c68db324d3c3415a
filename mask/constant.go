package mask

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/lethe-privacy/lethe"
)

// nullMask writes NULL: strategy null, and the empty name.
type nullMask struct{}

func (nullMask) Name() string                        { return nameNull }
func (nullMask) Apply(any) (any, error)              { return nil, nil }
func (nullMask) Constant() (any, bool)               { return nil, true }
func (nullMask) PreservesUniqueness() bool           { return true }
func (m nullMask) Fits(col lethe.ColumnSchema) error { return fitError(nameNull, col, m.misfit(col)) }

func (nullMask) misfit(col lethe.ColumnSchema) misfit {
	if !col.Nullable {
		return misfit{why: "null cannot be written to a NOT NULL column"}
	}
	return misfit{}
}

// blankMask writes empty text: strategy blank.
type blankMask struct{}

func (blankMask) Name() string              { return nameBlank }
func (blankMask) Constant() (any, bool)     { return "", true }
func (blankMask) PreservesUniqueness() bool { return false }
func (m blankMask) Fits(col lethe.ColumnSchema) error {
	return fitError(nameBlank, col, m.misfit(col))
}

func (blankMask) Apply(v any) (any, error) {
	switch v.(type) {
	case nil:
		return nil, nil
	case string:
		return "", nil
	case []byte:
		return []byte{}, nil
	}
	return nil, cannotMask(nameBlank, v, "blank writes empty text; choose null or fixed:<value> for other types")
}

func (blankMask) misfit(col lethe.ColumnSchema) misfit {
	return textMisfit(nameBlank, col, 0, "empty text")
}

// fixedMask writes one value given in the name: strategy fixed:<value>.
type fixedMask struct{ value string }

func (m fixedMask) Name() string              { return prefixFixed + m.value }
func (m fixedMask) PreservesUniqueness() bool { return false }
func (m fixedMask) Fits(col lethe.ColumnSchema) error {
	return fitError(m.Name(), col, m.misfit(col))
}

// Constant returns the value as text whatever the column's type: a
// connector converts it, as it converts match values.
func (m fixedMask) Constant() (any, bool) { return m.value, true }

// Apply returns the value in the input's type: text for text, and for an
// int64, float64, bool or time.Time input the value parsed as one, or an
// error when it does not parse.
func (m fixedMask) Apply(v any) (any, error) {
	switch x := v.(type) {
	case nil:
		return nil, nil
	case string:
		return m.value, nil
	case []byte:
		return []byte(m.value), nil
	case int64:
		n, err := strconv.ParseInt(m.value, 10, 64)
		if err != nil {
			return nil, cannotMask(m.Name(), v, "the fixed value is not an integer")
		}
		return n, nil
	case float64:
		f, err := strconv.ParseFloat(m.value, 64)
		if err != nil {
			return nil, cannotMask(m.Name(), v, "the fixed value is not a number")
		}
		return f, nil
	case bool:
		b, err := strconv.ParseBool(m.value)
		if err != nil {
			return nil, cannotMask(m.Name(), v, "the fixed value is not true or false")
		}
		return b, nil
	case time.Time:
		t, err := parseDate(m.value)
		if err != nil {
			return nil, cannotMask(m.Name(), v, "the fixed value is not a date or time such as 1970-01-01 or 1970-01-01T00:00:00Z")
		}
		if t.zone == "" {
			// A value without an offset is taken in the input's
			// location, as the database would take it.
			return time.Date(t.Year(), t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), x.Location()), nil
		}
		return t.Time, nil
	}
	return nil, cannotMask(m.Name(), v, "unsupported type")
}

func (m fixedMask) misfit(col lethe.ColumnSchema) misfit {
	name := display(m.Name())
	bad := func(what string) misfit {
		return misfit{why: fmt.Sprintf("%s is not %s, which %s needs", name, what, columnType(col))}
	}
	switch col.Kind {
	case lethe.KindInteger:
		if _, err := strconv.ParseInt(m.value, 10, 64); err != nil {
			return bad("an integer")
		}
	case lethe.KindFloat:
		if _, err := strconv.ParseFloat(m.value, 64); err != nil {
			return bad("a number")
		}
	case lethe.KindBool:
		if _, err := strconv.ParseBool(m.value); err != nil {
			return bad("true or false")
		}
	case lethe.KindDate, lethe.KindTime:
		if _, err := parseDate(m.value); err != nil {
			return bad("a date or time (1970-01-01, 1970-01-01T00:00:00Z)")
		}
	case lethe.KindInet:
		if _, err := netip.ParseAddr(m.value); err != nil {
			if _, err := netip.ParsePrefix(m.value); err != nil {
				return bad("an IP address")
			}
		}
	case lethe.KindUUID:
		if !isUUID(m.value) {
			return bad("a UUID")
		}
	case lethe.KindJSON:
		if !json.Valid([]byte(m.value)) {
			return bad("JSON")
		}
	}
	if n := utf8.RuneCountInString(m.value); col.MaxLength > 0 && n > col.MaxLength {
		return misfit{
			why:   fmt.Sprintf("%s writes %d characters, but the column holds at most %d", name, n, col.MaxLength),
			widen: true,
		}
	}
	return misfit{}
}

// isUUID reports whether s is a UUID in its canonical text form.
func isUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
				return false
			}
		}
	}
	return true
}
