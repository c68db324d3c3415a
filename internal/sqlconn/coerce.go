package sqlconn

import (
	"encoding/json"
	"math"
	"net/netip"
	"reflect"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/lethe-privacy/lethe"
)

// Coerce converts v to the Go type that a column of the given kind takes as
// a parameter, and reports false when v cannot be a value of that kind:
// the text "abc" or the float 1.5 for an integer column, a malformed UUID,
// an integer out of range. A match value that does not coerce selects
// nothing, so it is dropped rather than sent; a mask output that does not
// coerce is an error. nil coerces to nil.
//
// Integers become int64, floats float64, text string, bytes []byte,
// booleans bool, times and dates time.Time; UUIDs, network addresses,
// JSON and other types travel as their text.
func Coerce(kind lethe.ColumnKind, v any) (any, bool) {
	if c, ok := coerce(kind, v); ok {
		return c, true
	}
	return nil, false
}

func coerce(kind lethe.ColumnKind, v any) (any, bool) {
	v = plain(v)
	if v == nil {
		return nil, true
	}
	switch kind {
	case lethe.KindInteger:
		switch x := v.(type) {
		case int64:
			return x, true
		case uint64:
			if x > math.MaxInt64 {
				return nil, false
			}
			return int64(x), true
		case float64:
			// Float64 represents every integer up to 2^53 exactly; beyond
			// the int64 range the conversion is undefined.
			if x != math.Trunc(x) || x < -(1<<63) || x >= 1<<63 {
				return nil, false
			}
			return int64(x), true
		case string:
			n, err := strconv.ParseInt(x, 10, 64)
			return n, err == nil
		case []byte:
			n, err := strconv.ParseInt(string(x), 10, 64)
			return n, err == nil
		}
	case lethe.KindFloat:
		switch x := v.(type) {
		case int64:
			return float64(x), true
		case uint64:
			return float64(x), true
		case float64:
			return x, !math.IsNaN(x) && !math.IsInf(x, 0)
		case string:
			return parseFloat(x)
		case []byte:
			return parseFloat(string(x))
		}
	case lethe.KindText:
		switch x := v.(type) {
		case string:
			return x, true
		case []byte:
			return string(x), utf8.Valid(x)
		case int64:
			return strconv.FormatInt(x, 10), true
		case uint64:
			return strconv.FormatUint(x, 10), true
		case float64:
			return strconv.FormatFloat(x, 'g', -1, 64), true
		}
	case lethe.KindBool:
		switch x := v.(type) {
		case bool:
			return x, true
		case int64:
			return x == 1, x == 0 || x == 1
		case uint64:
			return x == 1, x == 0 || x == 1
		case string:
			return parseBool(x)
		case []byte:
			return parseBool(string(x))
		}
	case lethe.KindTime:
		switch x := v.(type) {
		case time.Time:
			return x, true
		case string:
			return parseTime(x, timeLayouts)
		case []byte:
			return parseTime(string(x), timeLayouts)
		}
	case lethe.KindDate:
		switch x := v.(type) {
		case time.Time:
			return x, true
		case string:
			return parseTime(x, dateLayouts)
		case []byte:
			return parseTime(string(x), dateLayouts)
		}
	case lethe.KindBytes:
		switch x := v.(type) {
		case []byte:
			return x, true
		case string:
			return []byte(x), true
		}
	case lethe.KindUUID:
		var s string
		switch x := v.(type) {
		case string:
			s = x
		case []byte:
			if len(x) == 16 {
				return uuid.UUID(x).String(), true
			}
			s = string(x)
		default:
			return nil, false
		}
		u, err := uuid.Parse(s)
		if err != nil {
			return nil, false
		}
		return u.String(), true
	case lethe.KindInet:
		var s string
		switch x := v.(type) {
		case string:
			s = x
		case []byte:
			s = string(x)
		default:
			return nil, false
		}
		// Canonical text, so that equal addresses written differently
		// ("::0:1", "10.0.0.1/32") are one value.
		if a, err := netip.ParseAddr(s); err == nil {
			return a.String(), true
		}
		if p, err := netip.ParsePrefix(s); err == nil {
			if p.Bits() == p.Addr().BitLen() {
				return p.Addr().String(), true
			}
			return p.String(), true
		}
		return nil, false
	default: // json, other: compared and written as text
		switch x := v.(type) {
		case string:
			return x, true
		case []byte:
			return string(x), utf8.Valid(x)
		case int64:
			return strconv.FormatInt(x, 10), true
		case uint64:
			return strconv.FormatUint(x, 10), true
		case float64:
			return strconv.FormatFloat(x, 'g', -1, 64), true
		case bool:
			return strconv.FormatBool(x), true
		}
	}
	return nil, false
}

// plain reduces v to nil, int64, uint64, float64, bool, string, []byte or
// time.Time, or returns it unchanged when it is none of those (a struct, a
// map), which then coerces to nothing.
func plain(v any) any {
	switch x := v.(type) {
	case nil, int64, uint64, float64, bool, string, []byte, time.Time:
		return v
	case int:
		return int64(x)
	case int32:
		return int64(x)
	case int16:
		return int64(x)
	case int8:
		return int64(x)
	case uint:
		return uint64(x)
	case uint32:
		return uint64(x)
	case uint16:
		return uint64(x)
	case uint8:
		return uint64(x)
	case float32:
		return float64(x)
	case json.Number:
		if n, err := x.Int64(); err == nil {
			return n
		}
		return string(x)
	case uuid.UUID:
		return x.String()
	case *time.Time:
		if x == nil {
			return nil
		}
		return *x
	}
	// Named types (type UserID string) and pointers to scalars.
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Pointer:
		if rv.IsNil() {
			return nil
		}
		return plain(rv.Elem().Interface())
	case reflect.String:
		return rv.String()
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return rv.Int()
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return rv.Uint()
	case reflect.Float32, reflect.Float64:
		return rv.Float()
	case reflect.Bool:
		return rv.Bool()
	case reflect.Slice:
		if rv.Type().Elem().Kind() == reflect.Uint8 {
			return rv.Bytes()
		}
	}
	return v
}

func parseFloat(s string) (any, bool) {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return nil, false
	}
	return f, true
}

func parseBool(s string) (any, bool) {
	switch strings.ToLower(s) {
	case "true", "t", "1":
		return true, true
	case "false", "f", "0":
		return false, true
	}
	return nil, false
}

var timeLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02 15:04:05.999999999Z07:00",
	"2006-01-02T15:04:05.999999999",
	"2006-01-02 15:04:05.999999999",
	time.DateOnly,
}

var dateLayouts = []string{time.DateOnly, time.RFC3339Nano}

func parseTime(s string, layouts []string) (any, bool) {
	for _, l := range layouts {
		if t, err := time.Parse(l, s); err == nil {
			return t, true
		}
	}
	return nil, false
}

// Normalise turns a scanned value into one of the types a lethe.Row holds
// (nil, int64, float64, bool, string, []byte, time.Time), using the
// column's kind: text arrives as string even where a driver hands it over
// as bytes, booleans stored as 0/1 become bool, and bytes stay bytes.
// Decimal numbers the driver returns as text (numeric, DECIMAL) stay
// strings so that no digit is lost.
func Normalise(kind lethe.ColumnKind, v any) any {
	switch x := v.(type) {
	case nil, string, float64, time.Time:
		return v
	case int64:
		if kind == lethe.KindBool && (x == 0 || x == 1) {
			return x == 1
		}
		return x
	case bool:
		return x
	case []byte:
		if kind == lethe.KindBytes {
			return x
		}
		if kind == lethe.KindBool && len(x) == 1 && (x[0] == '0' || x[0] == '1') {
			return x[0] == '1'
		}
		if kind == lethe.KindInteger {
			if n, err := strconv.ParseInt(string(x), 10, 64); err == nil {
				return n
			}
		}
		if kind == lethe.KindUUID && len(x) == 16 {
			return uuid.UUID(x).String()
		}
		if utf8.Valid(x) {
			return string(x)
		}
		return x
	}
	switch x := plain(v).(type) {
	case int64, float64, bool, string, []byte, time.Time:
		return Normalise(kind, x)
	case uint64:
		if x <= math.MaxInt64 {
			return int64(x)
		}
		return strconv.FormatUint(x, 10)
	}
	if s, ok := v.(interface{ String() string }); ok {
		return s.String()
	}
	return v
}
