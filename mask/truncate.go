package mask

import (
	"errors"
	"math"
	"net/netip"
	"strings"
	"time"

	"github.com/lethe-privacy/lethe"
)

// ipMask keeps the network of an IP address and zeroes the host part:
// strategy truncate.ip.
type ipMask struct{}

// IP prefix lengths truncate.ip keeps: an IPv4 /24 (the last octet is
// zeroed) and an IPv6 /48 (a site's prefix; the subnet and interface are
// zeroed), the granularity commonly treated as no longer identifying a
// subscriber.
const (
	keepBits4 = 24
	keepBits6 = 48
)

func (ipMask) Name() string              { return nameIP }
func (ipMask) Constant() (any, bool)     { return nil, false }
func (ipMask) PreservesUniqueness() bool { return false }
func (m ipMask) Fits(col lethe.ColumnSchema) error {
	return fitError(nameIP, col, m.misfit(col))
}

// Apply takes an address as text (192.0.2.55, 2001:db8::1,
// ::ffff:192.0.2.55, fe80::1%eth0) or as a prefix (192.0.2.0/25); as
// []byte holding that text or the 4 or 16 bytes of the address (MySQL's
// INET6_ATON); or as an int64 IPv4 address (MySQL's INET_ATON). The
// output has the input's form: an IPv4-mapped IPv6 address stays mapped
// and is truncated as IPv4, a prefix keeps the shorter of its length and
// the truncation's, a zone is dropped.
func (ipMask) Apply(v any) (any, error) {
	const why = "truncate.ip takes an IPv4 or IPv6 address as text, as 4 or 16 bytes, or as an IPv4 integer"
	switch x := v.(type) {
	case nil:
		return nil, nil
	case string:
		s, err := truncateIPText(x)
		if err != nil {
			return nil, cannotMask(nameIP, v, why)
		}
		return s, nil
	case []byte:
		if s, err := truncateIPText(string(x)); err == nil {
			return []byte(s), nil
		}
		if a, ok := netip.AddrFromSlice(x); ok {
			return truncateAddr(a).AsSlice(), nil
		}
		return nil, cannotMask(nameIP, v, why)
	case int64:
		if x < 0 || x > math.MaxUint32 {
			return nil, cannotMask(nameIP, v, why)
		}
		return x &^ 0xff, nil
	}
	return nil, cannotMask(nameIP, v, why)
}

// truncateIPText truncates an address or prefix written as text.
func truncateIPText(s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", nil
	}
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return "", err
		}
		bits := min(p.Bits(), keepBits(p.Addr()))
		return netip.PrefixFrom(p.Addr(), bits).Masked().String(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return "", err
	}
	return truncateAddr(a).String(), nil
}

// keepBits returns how many leading bits of a truncate.ip keeps.
func keepBits(a netip.Addr) int {
	switch {
	case a.Is4():
		return keepBits4
	case a.Is4In6():
		return 96 + keepBits4
	}
	return keepBits6
}

// truncateAddr zeroes the host part of a, and drops its zone.
func truncateAddr(a netip.Addr) netip.Addr {
	a = a.WithZone("")
	p, err := a.Prefix(keepBits(a))
	if err != nil {
		// Unreachable: a is valid and the length within its size.
		return netip.Addr{}
	}
	return p.Addr()
}

func (ipMask) misfit(col lethe.ColumnSchema) misfit {
	switch col.Kind {
	case lethe.KindText, lethe.KindInet, lethe.KindBytes, lethe.KindInteger, lethe.KindOther, "":
		// The output is never longer than the input, so a varchar that
		// held the address holds its truncation.
		return misfit{}
	}
	return misfit{why: "truncate.ip writes an IP address, which " + columnType(col) + " cannot hold"}
}

// dateMask truncates a date or time to the first instant of its month or
// year: strategies truncate.date.month (also written truncate.date) and
// truncate.date.year.
type dateMask struct{ year bool }

func (m dateMask) Name() string {
	if m.year {
		return nameDateYear
	}
	return nameDateMonth
}

func (dateMask) Constant() (any, bool)     { return nil, false }
func (dateMask) PreservesUniqueness() bool { return false }
func (m dateMask) Fits(col lethe.ColumnSchema) error {
	return fitError(m.Name(), col, m.misfit(col))
}

// Apply takes a time.Time, truncated in its own location, or text holding
// a date (2024-05-17) or a date and time (2024-05-17T10:20:30Z,
// 2024-05-17 10:20:30.123+02, 2024-05-17 10:20:30), truncated as written
// and returned in the same form, offset included: 2024-05-17 10:20:30+02
// becomes 2024-05-01 00:00:00+02.
func (m dateMask) Apply(v any) (any, error) {
	switch x := v.(type) {
	case nil:
		return nil, nil
	case time.Time:
		month := x.Month()
		if m.year {
			month = time.January
		}
		return time.Date(x.Year(), month, 1, 0, 0, 0, 0, x.Location()), nil
	}
	s, isBytes, ok := text(v)
	if !ok {
		return nil, cannotMask(m.Name(), v, "truncate.date takes a time, or text holding a date or time such as 2024-05-17 or 2024-05-17T10:20:30Z")
	}
	if s == "" {
		return asInput("", isBytes), nil
	}
	d, err := parseDate(s)
	if err != nil {
		return nil, cannotMask(m.Name(), v, "the text is not a date or time such as 2024-05-17 or 2024-05-17T10:20:30Z")
	}
	return asInput(d.truncate(m.year), isBytes), nil
}

func (m dateMask) misfit(col lethe.ColumnSchema) misfit {
	switch col.Kind {
	case lethe.KindDate, lethe.KindTime, lethe.KindText, lethe.KindBytes, lethe.KindOther, "":
		// The output is never longer than the input.
		return misfit{}
	}
	return misfit{why: m.Name() + " needs a date, time or text column, not " + columnType(col)}
}

// dateText is a date or time parsed from text, with the parts of the text
// that truncation keeps, so that the result is written in the same form.
type dateText struct {
	time.Time
	// sep is the byte between date and time, T or space; 0 for a date
	// alone.
	sep byte
	// zone is the offset as written (Z, +02, +0200, +02:00), or "".
	zone string
}

var errNotDate = errors.New("not a date")

// parseDate parses 2006-01-02, optionally followed by T or a space,
// 15:04:05, a fraction of a second and an offset (Z, +07, +0700, +07:00).
// A text without an offset is read as UTC.
func parseDate(s string) (dateText, error) {
	var d dateText
	if len(s) < 10 || !digitsAt(s, 0, 4) || s[4] != '-' || !digitsAt(s, 5, 2) || s[7] != '-' || !digitsAt(s, 8, 2) {
		return d, errNotDate
	}
	day, err := time.Parse(time.DateOnly, s[:10])
	if err != nil {
		return d, errNotDate
	}
	if len(s) == 10 {
		d.Time = day
		return d, nil
	}
	if (s[10] != 'T' && s[10] != ' ') || len(s) < 19 ||
		!digitsAt(s, 11, 2) || s[13] != ':' || !digitsAt(s, 14, 2) || s[16] != ':' || !digitsAt(s, 17, 2) {
		return d, errNotDate
	}
	d.sep = s[10]
	hour, minute, sec := atoi(s[11:13]), atoi(s[14:16]), atoi(s[17:19])
	if hour > 23 || minute > 59 || sec > 59 {
		return d, errNotDate
	}
	rest := s[19:]
	nsec := 0
	if rest != "" && (rest[0] == '.' || rest[0] == ',') {
		n := 1
		for n < len(rest) && '0' <= rest[n] && rest[n] <= '9' {
			n++
		}
		if n == 1 || n > 10 {
			return d, errNotDate
		}
		frac := rest[1:n] + strings.Repeat("0", 10-n)
		nsec = atoi(frac)
		rest = rest[n:]
	}
	loc, ok := parseOffset(rest)
	if !ok {
		return d, errNotDate
	}
	d.zone = rest
	d.Time = time.Date(day.Year(), day.Month(), day.Day(), hour, minute, sec, nsec, loc)
	return d, nil
}

// parseOffset parses "", Z, +07, +0700 or +07:00 (or -).
func parseOffset(z string) (*time.Location, bool) {
	switch {
	case z == "":
		return time.UTC, true
	case z == "Z":
		return time.UTC, true
	case z[0] != '+' && z[0] != '-':
		return nil, false
	}
	var h, m int
	switch {
	case len(z) == 3 && digitsAt(z, 1, 2):
		h = atoi(z[1:3])
	case len(z) == 5 && digitsAt(z, 1, 4):
		h, m = atoi(z[1:3]), atoi(z[3:5])
	case len(z) == 6 && digitsAt(z, 1, 2) && z[3] == ':' && digitsAt(z, 4, 2):
		h, m = atoi(z[1:3]), atoi(z[4:6])
	default:
		return nil, false
	}
	if h > 23 || m > 59 {
		return nil, false
	}
	off := (h*60 + m) * 60
	if z[0] == '-' {
		off = -off
	}
	return time.FixedZone("", off), true
}

// truncate returns the first instant of d's month (or year) in d's form.
func (d dateText) truncate(year bool) string {
	month := d.Month()
	if year {
		month = time.January
	}
	out := time.Date(d.Year(), month, 1, 0, 0, 0, 0, time.UTC).Format(time.DateOnly)
	if d.sep == 0 {
		return out
	}
	return out + string(d.sep) + "00:00:00" + d.zone
}

// digitsAt reports whether s[i:i+n] is n ASCII digits.
func digitsAt(s string, i, n int) bool {
	if i+n > len(s) {
		return false
	}
	for _, c := range []byte(s[i : i+n]) {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// atoi returns the value of a string of ASCII digits.
func atoi(s string) int {
	n := 0
	for _, c := range []byte(s) {
		n = n*10 + int(c-'0')
	}
	return n
}
