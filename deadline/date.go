package deadline

import (
	"fmt"
	"time"

	"github.com/lethe-privacy/lethe"
)

// Date is a civil date (a day in some calendar, with no time zone), as
// holidays are declared and as legal periods are counted.
type Date struct {
	Year  int
	Month time.Month
	Day   int
}

// ParseDate reads a date written as YYYY-MM-DD ("2026-12-25"). It returns
// an EINVALID *lethe.Error for anything else, including dates that do not
// exist (2026-02-29).
func ParseDate(s string) (Date, error) {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return Date{}, lethe.Errorf(lethe.EINVALID, "date %q is not a calendar date written as YYYY-MM-DD (e.g. 2026-12-25)", s)
	}
	return DateOf(t), nil
}

// DateOf returns the date of t in t's own location; convert t with In
// first to take the date somewhere else.
func DateOf(t time.Time) Date {
	y, m, d := t.Date()
	return Date{y, m, d}
}

// IsValid reports whether d names a day that exists (month 1-12, day within
// the month, leap years included).
func (d Date) IsValid() bool {
	return d.Month >= time.January && d.Month <= time.December &&
		d.Day >= 1 && d.Day <= daysIn(d.Year, d.Month)
}

// String writes d as YYYY-MM-DD.
func (d Date) String() string {
	return fmt.Sprintf("%04d-%02d-%02d", d.Year, int(d.Month), d.Day)
}

// MarshalText writes d as YYYY-MM-DD.
func (d Date) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText reads d as ParseDate does.
func (d *Date) UnmarshalText(b []byte) error {
	v, err := ParseDate(string(b))
	if err != nil {
		return err
	}
	*d = v
	return nil
}

// AddDays returns the date n days after d (before, for negative n).
func (d Date) AddDays(n int) Date {
	return DateOf(d.midnightUTC().AddDate(0, 0, n))
}

// AddMonths returns the date n months after d with the same day of the
// month or, when the target month is shorter, its last day: 31 January plus
// one month is 28 February (29 in a leap year), not 3 March as
// time.AddDate would have it. This is Art. 3(2)(c) of Regulation 1182/71.
func (d Date) AddMonths(n int) Date {
	first := time.Date(d.Year, d.Month+time.Month(n), 1, 0, 0, 0, 0, time.UTC)
	y, m := first.Year(), first.Month()
	return Date{y, m, min(d.Day, daysIn(y, m))}
}

// Weekday returns the day of the week of d.
func (d Date) Weekday() time.Weekday { return d.midnightUTC().Weekday() }

// Compare returns -1, 0 or +1 as d is before, equal to or after e.
func (d Date) Compare(e Date) int { return d.midnightUTC().Compare(e.midnightUTC()) }

// Before reports whether d is before e.
func (d Date) Before(e Date) bool { return d.Compare(e) < 0 }

// After reports whether d is after e.
func (d Date) After(e Date) bool { return d.Compare(e) > 0 }

// DaysUntil returns the number of days from d to e (negative when e is
// before d).
func (d Date) DaysUntil(e Date) int {
	// UTC has no DST, so every day is exactly 24 hours.
	return int(e.midnightUTC().Sub(d.midnightUTC()) / (24 * time.Hour))
}

func (d Date) midnightUTC() time.Time {
	return time.Date(d.Year, d.Month, d.Day, 0, 0, 0, 0, time.UTC)
}

func daysIn(year int, m time.Month) int {
	return time.Date(year, m+1, 0, 0, 0, 0, 0, time.UTC).Day()
}
