package lethe

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Duration is a period as people write it in policies: 72h, 30d, 13mo, 2y,
// or a sum such as 1y6mo. Months and years are calendar units (2y from
// 29 February is 1 March two years later, as time.AddDate normalises it), so a Duration is applied to an instant with AddTo rather
// than converted to a fixed number of seconds.
type Duration struct {
	Months int           // calendar months (a year is 12)
	Days   int           // calendar days
	Clock  time.Duration // hours, minutes, seconds
}

// ParseDuration reads a duration made of one or more <number><unit> parts,
// units y, mo, w, d, h, m, s (e.g. "2y", "13mo", "30d", "72h", "1y6mo").
func ParseDuration(s string) (Duration, error) {
	var d Duration
	in := strings.TrimSpace(s)
	if in == "" {
		return d, fmt.Errorf("empty duration; write e.g. 30d, 13mo or 2y")
	}
	if in == "0" {
		return d, nil
	}
	rest := in
	for rest != "" {
		i := 0
		for i < len(rest) && rest[i] >= '0' && rest[i] <= '9' {
			i++
		}
		if i == 0 {
			return Duration{}, fmt.Errorf("%q is not a duration; write e.g. 72h, 30d, 13mo or 2y", in)
		}
		n, err := strconv.Atoi(rest[:i])
		if err != nil || n > 100000 {
			return Duration{}, fmt.Errorf("%q: number too large", in)
		}
		rest = rest[i:]
		j := 0
		for j < len(rest) && (rest[j] < '0' || rest[j] > '9') {
			j++
		}
		unit := rest[:j]
		rest = rest[j:]
		switch unit {
		case "y":
			d.Months += 12 * n
		case "mo":
			d.Months += n
		case "w":
			d.Days += 7 * n
		case "d":
			d.Days += n
		case "h":
			d.Clock += time.Duration(n) * time.Hour
		case "m":
			d.Clock += time.Duration(n) * time.Minute
		case "s":
			d.Clock += time.Duration(n) * time.Second
		default:
			return Duration{}, fmt.Errorf("%q: unknown unit %q; use y, mo, w, d, h, m or s", in, unit)
		}
	}
	return d, nil
}

// IsZero reports whether d is the zero duration (commonly: not set).
func (d Duration) IsZero() bool { return d == Duration{} }

// AddTo returns t + d, adding calendar months and days first.
func (d Duration) AddTo(t time.Time) time.Time {
	return t.AddDate(0, d.Months, d.Days).Add(d.Clock)
}

// SubFrom returns t - d.
func (d Duration) SubFrom(t time.Time) time.Time {
	return t.AddDate(0, -d.Months, -d.Days).Add(-d.Clock)
}

// String writes d in the form ParseDuration reads.
func (d Duration) String() string {
	if d.IsZero() {
		return "0"
	}
	var b strings.Builder
	if y := d.Months / 12; y > 0 {
		fmt.Fprintf(&b, "%dy", y)
	}
	if m := d.Months % 12; m > 0 {
		fmt.Fprintf(&b, "%dmo", m)
	}
	if d.Days > 0 {
		fmt.Fprintf(&b, "%dd", d.Days)
	}
	c := d.Clock
	if h := c / time.Hour; h > 0 {
		fmt.Fprintf(&b, "%dh", h)
		c -= h * time.Hour
	}
	if m := c / time.Minute; m > 0 {
		fmt.Fprintf(&b, "%dm", m)
		c -= m * time.Minute
	}
	if s := c / time.Second; s > 0 {
		fmt.Fprintf(&b, "%ds", s)
	}
	return b.String()
}

// MarshalText writes d as ParseDuration reads it.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText reads a duration written as ParseDuration reads it.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := ParseDuration(string(b))
	if err != nil {
		return err
	}
	*d = v
	return nil
}

// durationEpoch is the instant durations are compared from: months and
// years have no fixed length, so 1mo and 30d compare by what they add to
// the same date.
var durationEpoch = time.Date(2001, time.January, 1, 0, 0, 0, 0, time.UTC)

// Longer reports whether d is longer than o.
func (d Duration) Longer(o Duration) bool {
	return d.AddTo(durationEpoch).After(o.AddTo(durationEpoch))
}
