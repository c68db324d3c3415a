package deadline

import (
	"fmt"
	"slices"
	"time"

	"github.com/lethe-privacy/lethe"
)

// Calendar is the controller's calendar: the time zone that decides which
// day a request arrived on and when a day ends, and the public holidays on
// which no period may end (GDPR) and which are not business days (CCPA).
// The zero Calendar is UTC with no holidays. A Calendar is read-only once
// built and safe for concurrent use.
type Calendar struct {
	// Location is the controller's time zone. Defaults to UTC.
	Location *time.Location
	// Holidays are the public holidays, as civil dates in Location.
	// Saturdays and Sundays are never working days and need not be listed.
	// Defaults to none.
	Holidays []Date
}

// Validate reports an EINVALID *lethe.Error naming each holiday that is
// not a real date.
func (c Calendar) Validate() error {
	var fields []lethe.FieldError
	for i, h := range c.Holidays {
		if !h.IsValid() {
			fields = append(fields, lethe.FieldError{
				Path:    fmt.Sprintf("holidays[%d]", i),
				Message: fmt.Sprintf("%s is not a calendar date", h),
			})
		}
	}
	if len(fields) > 0 {
		return &lethe.Error{Code: lethe.EINVALID, Message: "invalid holiday calendar", Fields: fields}
	}
	return nil
}

// DateOf returns the day t falls on in the controller's time zone.
func (c Calendar) DateOf(t time.Time) Date { return DateOf(t.In(c.location())) }

// EndOfDay returns the last instant of day d in the controller's time zone
// (23:59:59.999999999 local, one nanosecond before the next day starts), in
// UTC.
func (c Calendar) EndOfDay(d Date) time.Time {
	return c.startOfDay(d.AddDays(1)).Add(-time.Nanosecond).UTC()
}

// startOfDay returns the first instant of day d in the controller's zone.
// That is local midnight, except where a clock change skips midnight (the
// day then starts at the change, e.g. 01:00 in São Paulo on 4 November
// 2018) or repeats it (the first midnight counts); time.Date does not
// promise which side of such a change it picks, so the boundary is searched
// for in the hours around midnight.
func (c Calendar) startOfDay(d Date) time.Time {
	loc := c.location()
	t := time.Date(d.Year, d.Month, d.Day, 0, 0, 0, 0, loc)
	if c.DateOf(t) == d && c.DateOf(t.Add(-time.Nanosecond)).Before(d) {
		return t
	}
	// No offset change exceeds a day, so the day starts within 26 hours
	// either side of t. Search for the first instant on day d or later.
	lo, n := t.Add(-26*time.Hour), int64(52*time.Hour)
	for n > 0 {
		half := n / 2
		if c.DateOf(lo.Add(time.Duration(half))).Before(d) {
			lo = lo.Add(time.Duration(half + 1))
			n -= half + 1
		} else {
			n = half
		}
	}
	return lo
}

// IsWorkingDay reports whether d is neither a Saturday, a Sunday nor a
// holiday.
func (c Calendar) IsWorkingDay(d Date) bool {
	switch d.Weekday() {
	case time.Saturday, time.Sunday:
		return false
	}
	return !slices.Contains(c.Holidays, d)
}

// NextWorkingDay returns d when it is a working day, else the first
// working day after it (Regulation 1182/71 Art. 3(4)).
func (c Calendar) NextWorkingDay(d Date) Date {
	for !c.IsWorkingDay(d) {
		d = d.AddDays(1)
	}
	return d
}

// AddBusinessDays returns the n-th working day after d, d itself not
// counted: two business days after a Friday is the Tuesday.
func (c Calendar) AddBusinessDays(d Date, n int) Date {
	for n > 0 {
		d = d.AddDays(1)
		if c.IsWorkingDay(d) {
			n--
		}
	}
	return d
}

func (c Calendar) location() *time.Location {
	if c.Location == nil {
		return time.UTC
	}
	return c.Location
}
