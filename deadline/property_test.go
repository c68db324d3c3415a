package deadline_test

import (
	"math/rand/v2"
	"testing"
	"testing/quick"
	"time"

	"github.com/lethe-privacy/lethe"
	"github.com/lethe-privacy/lethe/deadline"
)

// zones mixes zones without clock changes, with ordinary ones, and with
// changes that skip or repeat midnight.
var zones = []string{"UTC", "Europe/Berlin", "Europe/Dublin", "America/Los_Angeles", "America/Sao_Paulo", "America/Havana", "America/Santiago", "Asia/Kolkata", "Pacific/Auckland", "Pacific/Kiritimati"}

// randomCase draws a receipt between 2000 and 2100 in a random zone, with
// holidays in runs of one to six days over the following 130 days.
func randomCase(t *testing.T, seed uint64) (deadline.Calendar, time.Time) {
	rng := rand.New(rand.NewPCG(seed, seed>>32|1))
	lo := time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC).Unix()
	hi := time.Date(2100, 12, 31, 23, 59, 59, 0, time.UTC).Unix()
	received := time.Unix(lo+rng.Int64N(hi-lo), rng.Int64N(1e9))
	cal := deadline.Calendar{Location: zone(t, zones[rng.IntN(len(zones))])}
	start := cal.DateOf(received)
	for range rng.IntN(12) {
		d := start.AddDays(rng.IntN(130))
		for range 1 + rng.IntN(6) {
			cal.Holidays = append(cal.Holidays, d)
			d = d.AddDays(1)
		}
	}
	return cal, received
}

// longestRest is the longest run of non-working days starting on or after
// from within days days.
func longestRest(cal deadline.Calendar, from deadline.Date, days int) int {
	longest, run := 0, 0
	for i := range days {
		if cal.IsWorkingDay(from.AddDays(i)) {
			run = 0
			continue
		}
		run++
		longest = max(longest, run)
	}
	return longest
}

// isLastInstant reports whether t is the last nanosecond of day d.
func isLastInstant(cal deadline.Calendar, t time.Time, d deadline.Date) bool {
	return cal.DateOf(t) == d && cal.DateOf(t.Add(time.Nanosecond)) == d.AddDays(1)
}

func TestGDPRProperties(t *testing.T) {
	t.Parallel()
	property := func(seed uint64, later uint32) bool {
		cal, received := randomCase(t, seed)
		dl, err := cal.Due(lethe.GDPR, received)
		if err != nil {
			t.Logf("seed %d: %v", seed, err)
			return false
		}
		r := cal.DateOf(received)
		due, ext := cal.DateOf(dl.Due), cal.DateOf(dl.ExtendedDue)
		rest := longestRest(cal, r, 130)
		fail := func(why string) bool {
			t.Logf("seed %d: received %s (%s, %s) in %s, holidays %v: due %s, extended %s: %s",
				seed, received, r, r.Weekday(), cal.Location, cal.Holidays, due, ext, why)
			return false
		}
		switch days := r.DaysUntil(due); {
		case days < 28:
			return fail("due before receipt + 28 days")
		case days > 31+rest:
			return fail("due after receipt + 31 days + the longest rest")
		case !cal.IsWorkingDay(due):
			return fail("due on a non-working day")
		case !cal.IsWorkingDay(ext):
			return fail("extended due on a non-working day")
		case !dl.ExtendedDue.After(dl.Due):
			return fail("extended due not after due")
		case r.DaysUntil(ext) < 89 || r.DaysUntil(ext) > 92+rest:
			return fail("extended due not three months after receipt")
		case !isLastInstant(cal, dl.Due, due) || !isLastInstant(cal, dl.ExtendedDue, ext):
			return fail("a deadline is not the last instant of its day")
		case !dl.ExtendBy.Equal(dl.Due) || !dl.CanExtend(dl.Due) || dl.CanExtend(dl.Due.Add(time.Nanosecond)):
			return fail("extension not allowed exactly up to the original due")
		case dl.Overdue(dl.Due, false) || !dl.Overdue(dl.Due.Add(time.Nanosecond), false):
			return fail("overdue not exactly after the due instant")
		}
		// Monotonic: a later receipt is never due earlier.
		dl2, err := cal.Due(lethe.GDPR, received.Add(time.Duration(later)*time.Second))
		if err != nil {
			return fail(err.Error())
		}
		if dl2.Due.Before(dl.Due) || dl2.ExtendedDue.Before(dl.ExtendedDue) {
			return fail("a later receipt is due earlier: " + dl2.Due.String())
		}
		return true
	}
	if err := quick.Check(property, &quick.Config{MaxCount: 3000}); err != nil {
		t.Error(err)
	}
}

func TestCCPAAndLGPDProperties(t *testing.T) {
	t.Parallel()
	property := func(seed uint64) bool {
		cal, received := randomCase(t, seed)
		r := cal.DateOf(received)
		ccpa, err := cal.Due(lethe.CCPA, received)
		if err != nil {
			return false
		}
		lgpd, err := cal.Due(lethe.LGPD, received)
		if err != nil {
			return false
		}
		confirm := cal.DateOf(ccpa.ConfirmBy)
		working := 0
		for d := r.AddDays(1); !d.After(confirm); d = d.AddDays(1) {
			if cal.IsWorkingDay(d) {
				working++
			}
		}
		ok := isLastInstant(cal, ccpa.Due, r.AddDays(45)) &&
			isLastInstant(cal, ccpa.ExtendedDue, r.AddDays(90)) &&
			isLastInstant(cal, lgpd.Due, r.AddDays(15)) &&
			cal.IsWorkingDay(confirm) && working == 10 &&
			ccpa.ExtendBy.Equal(ccpa.Due) && lgpd.ExtendedDue.IsZero()
		if !ok {
			t.Logf("seed %d: received %s (%s) in %s, holidays %v: CCPA %+v, LGPD %+v", seed, received, r, cal.Location, cal.Holidays, ccpa, lgpd)
		}
		return ok
	}
	if err := quick.Check(property, &quick.Config{MaxCount: 2000}); err != nil {
		t.Error(err)
	}
}
