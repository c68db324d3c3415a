package deadline_test

import (
	"errors"
	"testing"
	"time"
	_ "time/tzdata" // the zone tests must not depend on the machine's tzdata

	"github.com/lethe-privacy/lethe"
	"github.com/lethe-privacy/lethe/deadline"
)

func date(t *testing.T, s string) deadline.Date {
	t.Helper()
	d, err := deadline.ParseDate(s)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func dates(t *testing.T, ss ...string) []deadline.Date {
	t.Helper()
	var ds []deadline.Date
	for _, s := range ss {
		ds = append(ds, date(t, s))
	}
	return ds
}

func zone(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

// endOf is the instant a deadline on day s must be: the last nanosecond of
// that day in loc.
func endOf(t *testing.T, s string, loc *time.Location) time.Time {
	t.Helper()
	d := date(t, s)
	return time.Date(d.Year, d.Month, d.Day, 23, 59, 59, 999999999, loc).UTC()
}

func TestDateAddMonths(t *testing.T) {
	t.Parallel()
	tests := []struct {
		from   string
		months int
		want   string
	}{
		{"2025-01-31", 1, "2025-02-28"},
		{"2028-01-31", 1, "2028-02-29"},
		{"2025-01-30", 1, "2025-02-28"},
		{"2025-01-29", 1, "2025-02-28"},
		{"2028-01-29", 1, "2028-02-29"},
		{"2026-03-15", 1, "2026-04-15"},
		{"2026-03-31", 1, "2026-04-30"},
		{"2026-11-30", 1, "2026-12-30"},
		{"2024-12-31", 1, "2025-01-31"},
		{"2025-01-31", 3, "2025-04-30"},
		{"2026-11-30", 3, "2027-02-28"},
		{"2027-11-30", 3, "2028-02-29"},
		{"2028-02-29", 12, "2029-02-28"},
		{"2026-03-31", -1, "2026-02-28"},
	}
	for _, tt := range tests {
		if got := date(t, tt.from).AddMonths(tt.months); got != date(t, tt.want) {
			t.Errorf("%s + %d months = %s, want %s", tt.from, tt.months, got, tt.want)
		}
	}
}

func TestParseDate(t *testing.T) {
	t.Parallel()
	if got := date(t, "2026-12-25"); got != (deadline.Date{Year: 2026, Month: time.December, Day: 25}) {
		t.Errorf("ParseDate(2026-12-25) = %#v", got)
	}
	for _, bad := range []string{"", "2026-02-29", "2026-13-01", "25/12/2026", "2026-12-25T00:00:00Z"} {
		_, err := deadline.ParseDate(bad)
		if lethe.ErrorCode(err) != lethe.EINVALID {
			t.Errorf("ParseDate(%q) error = %v, want EINVALID", bad, err)
		}
	}
	var d deadline.Date
	if err := d.UnmarshalText([]byte("2028-02-29")); err != nil || d.String() != "2028-02-29" {
		t.Errorf("UnmarshalText(2028-02-29) = %s, %v", d, err)
	}
}

// TestGDPR pins Art. 12(3) counted by Regulation 1182/71: the day of
// receipt is not counted, a month ends on the same date or the month's last
// day, and an end on a weekend or holiday moves to the next working day.
func TestGDPR(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		received string // date of receipt, received at 10:00 UTC
		holidays []string
		due      string
		extended string
	}{
		{"31 Jan to 28 Feb (non-leap)", "2025-01-31", nil, "2025-02-28", "2025-04-30"},
		{"31 Jan to 29 Feb (leap 2028)", "2028-01-31", nil, "2028-02-29", "2028-05-01"}, // 30 Apr 2028 is a Sunday
		{"30 Jan to end of Feb", "2025-01-30", nil, "2025-02-28", "2025-04-30"},
		{"30 Jan to end of Feb (leap)", "2028-01-30", nil, "2028-02-29", "2028-05-01"},
		{"15 Mar to 15 Apr", "2026-03-15", nil, "2026-04-15", "2026-06-15"},
		{"Saturday to Monday", "2026-01-31", nil, "2026-03-02", "2026-04-30"}, // 28 Feb 2026 is a Saturday
		{"Sunday to Monday", "2027-01-28", nil, "2027-03-01", "2027-04-28"},   // 28 Feb 2027 is a Sunday
		{"no holiday declared", "2025-11-25", nil, "2025-12-25", "2026-02-25"},
		{"Christmas, Boxing Day, weekend", "2025-11-25", []string{"2025-12-25", "2025-12-26"}, "2025-12-29", "2026-02-25"},
		{"Good Friday to Easter Monday to Tuesday", "2026-03-03", []string{"2026-04-03", "2026-04-06"}, "2026-04-07", "2026-06-03"},
		{"weekend then Easter Monday", "2026-03-04", []string{"2026-04-03", "2026-04-06"}, "2026-04-07", "2026-06-04"},
		{"extension ends on Sunday before a May Day holiday", "2028-01-31", []string{"2028-05-01"}, "2028-02-29", "2028-05-02"},
		{"30 Nov to 30 Dec", "2026-11-30", nil, "2026-12-30", "2027-03-01"}, // three months: 28 Feb 2027, a Sunday
		{"31 Dec to 31 Jan", "2024-12-31", nil, "2025-01-31", "2025-03-31"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cal := deadline.Calendar{Holidays: dates(t, tt.holidays...)}
			r := date(t, tt.received)
			received := time.Date(r.Year, r.Month, r.Day, 10, 0, 0, 0, time.UTC)
			dl, err := cal.Due(lethe.GDPR, received)
			if err != nil {
				t.Fatal(err)
			}
			if want := endOf(t, tt.due, time.UTC); !dl.Due.Equal(want) {
				t.Errorf("Due = %s, want %s", dl.Due, want)
			}
			if want := endOf(t, tt.extended, time.UTC); !dl.ExtendedDue.Equal(want) {
				t.Errorf("ExtendedDue = %s, want %s", dl.ExtendedDue, want)
			}
			if !dl.ExtendBy.Equal(dl.Due) {
				t.Errorf("ExtendBy = %s, want the original due %s", dl.ExtendBy, dl.Due)
			}
			if !dl.ConfirmBy.IsZero() {
				t.Errorf("ConfirmBy = %s, want zero under the GDPR", dl.ConfirmBy)
			}
			if !dl.Received.Equal(received) || dl.Jurisdiction != lethe.GDPR {
				t.Errorf("Received, Jurisdiction = %s, %s", dl.Received, dl.Jurisdiction)
			}
		})
	}
}

// TestGDPRZone pins that the day of receipt is the day in the controller's
// zone: a Friday evening in UTC is already Saturday in Berlin.
func TestGDPRZone(t *testing.T) {
	t.Parallel()
	berlin := zone(t, "Europe/Berlin")
	tests := []struct {
		name     string
		loc      *time.Location
		received time.Time
		due      string
	}{
		{"Friday 22:30 UTC, controller in UTC", time.UTC, time.Date(2026, 5, 15, 22, 30, 0, 0, time.UTC), "2026-06-15"},
		{"Friday 22:30 UTC, controller in Berlin (Saturday 00:30)", berlin, time.Date(2026, 5, 15, 22, 30, 0, 0, time.UTC), "2026-06-16"},
		{"Friday 20:30 Berlin, controller in Berlin", berlin, time.Date(2026, 5, 15, 20, 30, 0, 0, berlin), "2026-06-15"},
		{"Friday 23:59:59.999999999 Berlin", berlin, time.Date(2026, 5, 15, 23, 59, 59, 999999999, berlin), "2026-06-15"},
		{"Saturday 00:00 Berlin", berlin, time.Date(2026, 5, 16, 0, 0, 0, 0, berlin), "2026-06-16"},
		// Received in winter time, due in summer time: the end is still
		// local midnight.
		{"across the change to summer time", berlin, time.Date(2026, 3, 10, 9, 0, 0, 0, berlin), "2026-04-10"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cal := deadline.Calendar{Location: tt.loc}
			dl, err := cal.Due(lethe.GDPR, tt.received)
			if err != nil {
				t.Fatal(err)
			}
			want := endOf(t, tt.due, tt.loc)
			if !dl.Due.Equal(want) {
				t.Errorf("Due = %s, want %s", dl.Due, want)
			}
			if dl.Due.Location() != time.UTC {
				t.Errorf("Due is in %s, want UTC", dl.Due.Location())
			}
		})
	}
	// 16 June 2026 ends at 22:00 UTC in Berlin (CEST, UTC+2).
	dl, err := deadline.Calendar{Location: berlin}.Due(lethe.GDPR, time.Date(2026, 5, 15, 22, 30, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	if got := dl.Due.Format(time.RFC3339Nano); got != "2026-06-16T21:59:59.999999999Z" {
		t.Errorf("Due = %s, want 2026-06-16T21:59:59.999999999Z", got)
	}
}

func TestEndOfDay(t *testing.T) {
	t.Parallel()
	tests := []struct {
		zone string
		day  string
		want string
	}{
		{"UTC", "2026-06-16", "2026-06-16T23:59:59.999999999Z"},
		{"Europe/Berlin", "2026-03-28", "2026-03-28T22:59:59.999999999Z"}, // before the change to summer time
		{"Europe/Berlin", "2026-03-29", "2026-03-29T21:59:59.999999999Z"}, // a 23-hour day
		{"Europe/Berlin", "2026-10-25", "2026-10-25T22:59:59.999999999Z"}, // a 25-hour day
		// In 2018 São Paulo skipped midnight: 4 November began at 01:00.
		// 3 November still ends at 23:59:59.999999999 -03.
		{"America/Sao_Paulo", "2018-11-03", "2018-11-04T02:59:59.999999999Z"},
		{"America/Sao_Paulo", "2018-11-04", "2018-11-05T01:59:59.999999999Z"},
		// Havana skipped midnight in March and repeated its first hour in
		// November: 4 November 2018 began at the first 00:00 (-04).
		{"America/Havana", "2018-03-10", "2018-03-11T04:59:59.999999999Z"},
		{"America/Havana", "2018-11-03", "2018-11-04T03:59:59.999999999Z"},
		{"America/Havana", "2018-11-04", "2018-11-05T04:59:59.999999999Z"},
		// Santiago repeated the last hour of 12 May 2018; the day ends
		// after the second 23:59.
		{"America/Santiago", "2018-05-12", "2018-05-13T03:59:59.999999999Z"},
	}
	for _, tt := range tests {
		loc := zone(t, tt.zone)
		cal := deadline.Calendar{Location: loc}
		got := cal.EndOfDay(date(t, tt.day))
		if got.Format(time.RFC3339Nano) != tt.want {
			t.Errorf("%s EndOfDay(%s) = %s, want %s", tt.zone, tt.day, got.Format(time.RFC3339Nano), tt.want)
		}
		if cal.DateOf(got) != date(t, tt.day) || cal.DateOf(got.Add(time.Nanosecond)) != date(t, tt.day).AddDays(1) {
			t.Errorf("%s EndOfDay(%s) = %s is not the day's last instant", tt.zone, tt.day, got)
		}
	}
}

// TestExtendBy pins that a GDPR extension may be recorded up to the last
// instant of the first month (after its move to a working day) and not a
// nanosecond later.
func TestExtendBy(t *testing.T) {
	t.Parallel()
	berlin := zone(t, "Europe/Berlin")
	cal := deadline.Calendar{Location: berlin}
	received := time.Date(2026, 1, 31, 12, 0, 0, 0, berlin)
	dl, err := cal.Due(lethe.GDPR, received)
	if err != nil {
		t.Fatal(err)
	}
	last := time.Date(2026, 3, 2, 23, 59, 59, 999999999, berlin) // 28 Feb 2026 is a Saturday
	if !dl.ExtendBy.Equal(last) {
		t.Fatalf("ExtendBy = %s, want %s", dl.ExtendBy, last)
	}
	for _, c := range []struct {
		at   time.Time
		want bool
	}{
		{received, true},
		{time.Date(2026, 2, 28, 12, 0, 0, 0, berlin), true},
		{last, true},
		{last.Add(time.Nanosecond), false},
		{time.Date(2026, 3, 3, 0, 0, 0, 0, berlin), false},
	} {
		if got := dl.CanExtend(c.at); got != c.want {
			t.Errorf("CanExtend(%s) = %v, want %v", c.at.In(berlin), got, c.want)
		}
	}
	if want := time.Date(2026, 4, 30, 23, 59, 59, 999999999, berlin); !dl.ExtendedDue.Equal(want) {
		t.Errorf("ExtendedDue = %s, want %s", dl.ExtendedDue, want)
	}
}

func TestCCPA(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		received  time.Time
		holidays  []string
		due       string
		extended  string
		confirmBy string
	}{
		// 45 calendar days, no move off a weekend: 31 Jan 2027 is a Sunday.
		// Ten business days skip two weekends and Christmas Day.
		{"across a weekend and Christmas", time.Date(2026, 12, 17, 15, 0, 0, 0, time.UTC), []string{"2026-12-25"}, "2027-01-31", "2027-03-17", "2027-01-01"},
		{"and New Year's Day", time.Date(2026, 12, 17, 15, 0, 0, 0, time.UTC), []string{"2026-12-25", "2027-01-01"}, "2027-01-31", "2027-03-17", "2027-01-04"},
		{"no holidays", time.Date(2026, 12, 17, 15, 0, 0, 0, time.UTC), nil, "2027-01-31", "2027-03-17", "2026-12-31"},
		// Received on a Saturday: the first business day is Monday.
		{"received on a Saturday", time.Date(2026, 3, 7, 9, 0, 0, 0, time.UTC), nil, "2026-04-21", "2026-06-05", "2026-03-20"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cal := deadline.Calendar{Holidays: dates(t, tt.holidays...)}
			dl, err := cal.Due(lethe.CCPA, tt.received)
			if err != nil {
				t.Fatal(err)
			}
			if want := endOf(t, tt.due, time.UTC); !dl.Due.Equal(want) {
				t.Errorf("Due = %s, want %s", dl.Due, want)
			}
			if want := endOf(t, tt.extended, time.UTC); !dl.ExtendedDue.Equal(want) {
				t.Errorf("ExtendedDue = %s, want %s", dl.ExtendedDue, want)
			}
			if want := endOf(t, tt.confirmBy, time.UTC); !dl.ConfirmBy.Equal(want) {
				t.Errorf("ConfirmBy = %s, want %s", dl.ConfirmBy, want)
			}
			if !dl.ExtendBy.Equal(dl.Due) {
				t.Errorf("ExtendBy = %s, want the end of the first 45 days %s", dl.ExtendBy, dl.Due)
			}
		})
	}
	// The day of receipt is the day in the controller's zone: 03:00 UTC on
	// 18 Dec is still 17 Dec in Los Angeles.
	la := zone(t, "America/Los_Angeles")
	dl, err := deadline.Calendar{Location: la}.Due(lethe.CCPA, time.Date(2026, 12, 18, 3, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	if want := endOf(t, "2027-01-31", la); !dl.Due.Equal(want) {
		t.Errorf("Los Angeles Due = %s, want %s", dl.Due, want)
	}
}

func TestLGPD(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		received time.Time
		holidays []string
		due      string
	}{
		{"15 calendar days", time.Date(2026, 3, 10, 14, 0, 0, 0, time.UTC), nil, "2026-03-25"},
		// Calendar days: an end on a Saturday or a holiday stays there.
		{"ends on a Saturday", time.Date(2026, 3, 13, 14, 0, 0, 0, time.UTC), nil, "2026-03-28"},
		{"ends on a holiday", time.Date(2026, 4, 6, 14, 0, 0, 0, time.UTC), []string{"2026-04-21"}, "2026-04-21"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dl, err := deadline.Calendar{Holidays: dates(t, tt.holidays...)}.Due(lethe.LGPD, tt.received)
			if err != nil {
				t.Fatal(err)
			}
			if want := endOf(t, tt.due, time.UTC); !dl.Due.Equal(want) {
				t.Errorf("Due = %s, want %s", dl.Due, want)
			}
			if !dl.ExtendedDue.IsZero() || !dl.ExtendBy.IsZero() || !dl.ConfirmBy.IsZero() {
				t.Errorf("ExtendedDue, ExtendBy, ConfirmBy = %s, %s, %s, want zero", dl.ExtendedDue, dl.ExtendBy, dl.ConfirmBy)
			}
			if dl.CanExtend(tt.received) {
				t.Error("CanExtend = true, want false: the LGPD allows no extension")
			}
			if dl.DueAt(true) != dl.Due {
				t.Errorf("DueAt(extended) = %s, want Due %s", dl.DueAt(true), dl.Due)
			}
		})
	}
}

func TestDueInvalid(t *testing.T) {
	t.Parallel()
	received := time.Date(2026, 3, 10, 14, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		cal  deadline.Calendar
		j    lethe.Jurisdiction
		at   time.Time
	}{
		{"unknown jurisdiction", deadline.Calendar{}, "pipeda", received},
		{"empty jurisdiction", deadline.Calendar{}, "", received},
		{"no receipt time", deadline.Calendar{}, lethe.GDPR, time.Time{}},
		{"holiday that does not exist", deadline.Calendar{Holidays: []deadline.Date{{Year: 2026, Month: time.February, Day: 30}}}, lethe.GDPR, received},
	}
	for _, tt := range tests {
		_, err := tt.cal.Due(tt.j, tt.at)
		var le *lethe.Error
		if !errors.As(err, &le) || le.Code != lethe.EINVALID {
			t.Errorf("%s: error = %v, want EINVALID", tt.name, err)
		}
	}
	_, err := deadline.Calendar{Holidays: []deadline.Date{{Year: 2026, Month: time.December, Day: 25}, {Year: 2026, Month: 13, Day: 1}}}.Due(lethe.GDPR, received)
	if f := lethe.ErrorFields(err); len(f) != 1 || f[0].Path != "holidays[1]" {
		t.Errorf("fields = %v, want one naming holidays[1]", f)
	}
}

func TestOverdueAndDueWithin(t *testing.T) {
	t.Parallel()
	dl, err := deadline.Calendar{}.Due(lethe.GDPR, time.Date(2026, 3, 15, 10, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	due := endOf(t, "2026-04-15", time.UTC)
	extended := endOf(t, "2026-06-15", time.UTC)
	week := lethe.Duration{Days: 7}
	tests := []struct {
		name             string
		now              time.Time
		extended         bool
		overdue, within7 bool
	}{
		{"a month before", due.AddDate(0, -1, 0), false, false, false},
		{"8 days before", due.AddDate(0, 0, -8), false, false, false},
		{"exactly 7 days before", due.AddDate(0, 0, -7), false, false, true},
		{"at the last instant", due, false, false, true},
		{"a nanosecond late", due.Add(time.Nanosecond), false, true, false},
		{"late but extended", due.Add(time.Nanosecond), true, false, false},
		{"extended, at its last instant", extended, true, false, true},
		{"extended, a nanosecond late", extended.Add(time.Nanosecond), true, true, false},
	}
	for _, tt := range tests {
		if got := dl.Overdue(tt.now, tt.extended); got != tt.overdue {
			t.Errorf("%s: Overdue = %v, want %v", tt.name, got, tt.overdue)
		}
		if got := dl.DueWithin(tt.now, week, tt.extended); got != tt.within7 {
			t.Errorf("%s: DueWithin(7d) = %v, want %v", tt.name, got, tt.within7)
		}
	}
}

func TestAddBusinessDays(t *testing.T) {
	t.Parallel()
	cal := deadline.Calendar{Holidays: dates(t, "2026-12-25")}
	tests := []struct {
		from string
		n    int
		want string
	}{
		{"2026-12-18", 0, "2026-12-18"}, // Friday
		{"2026-12-18", 1, "2026-12-21"}, // Monday
		{"2026-12-18", 2, "2026-12-22"},
		{"2026-12-19", 1, "2026-12-21"}, // Saturday to Monday
		{"2026-12-24", 1, "2026-12-28"}, // over Christmas and the weekend
	}
	for _, tt := range tests {
		if got := cal.AddBusinessDays(date(t, tt.from), tt.n); got != date(t, tt.want) {
			t.Errorf("AddBusinessDays(%s, %d) = %s, want %s", tt.from, tt.n, got, tt.want)
		}
	}
}
