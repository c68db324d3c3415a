package deadline

import (
	"time"

	"github.com/lethe-privacy/lethe"
)

// Deadline is the timetable of one request. Every instant is in UTC and is
// the last instant of a day in the controller's time zone
// (23:59:59.999999999 local): the deadline is met by anything done at or
// before it.
type Deadline struct {
	// Jurisdiction is the regime whose rule gave the deadline.
	Jurisdiction lethe.Jurisdiction
	// Received is when the request was received, in UTC.
	Received time.Time
	// Due is the end of the period to respond.
	Due time.Time
	// ExtendedDue is the end of the period when the response is extended;
	// zero when the rule allows no extension.
	ExtendedDue time.Time
	// ExtendBy is the last instant at which an extension (with its reasons)
	// may be recorded: the end of the original period. Zero when the rule
	// allows no extension.
	ExtendBy time.Time
	// ConfirmBy is the end of the period to confirm receipt (CCPA: 10
	// business days); zero when the rule asks no confirmation.
	ConfirmBy time.Time
}

// Due computes the deadline of a request under jurisdiction j received at
// received. Only the day of receipt in the controller's time zone counts,
// not the hour. It returns an EINVALID *lethe.Error for an unknown
// jurisdiction, a zero receipt time or an invalid holiday.
func (c Calendar) Due(j lethe.Jurisdiction, received time.Time) (Deadline, error) {
	rule, err := RuleFor(j)
	if err != nil {
		return Deadline{}, err
	}
	if received.IsZero() {
		return Deadline{}, lethe.Errorf(lethe.EINVALID, "the time the request was received is missing")
	}
	if err := c.Validate(); err != nil {
		return Deadline{}, err
	}
	r := c.DateOf(received)
	end := func(p Period) time.Time {
		d := p.EndFrom(r)
		if rule.NextWorkingDay {
			d = c.NextWorkingDay(d)
		}
		return c.EndOfDay(d)
	}
	dl := Deadline{Jurisdiction: j, Received: received.UTC(), Due: end(rule.Respond)}
	if !rule.Extended.IsZero() {
		dl.ExtendedDue = end(rule.Extended)
		dl.ExtendBy = dl.Due
	}
	if rule.ConfirmBusinessDays > 0 {
		dl.ConfirmBy = c.EndOfDay(c.AddBusinessDays(r, rule.ConfirmBusinessDays))
	}
	return dl, nil
}

// CanExtend reports whether an extension recorded at the instant at is in
// time: the rule allows one and at is no later than ExtendBy.
func (d Deadline) CanExtend(at time.Time) bool {
	return !d.ExtendBy.IsZero() && !at.After(d.ExtendBy)
}

// DueAt returns the deadline in force: ExtendedDue when the response was
// extended and the rule allows it, Due otherwise.
func (d Deadline) DueAt(extended bool) time.Time {
	if extended && !d.ExtendedDue.IsZero() {
		return d.ExtendedDue
	}
	return d.Due
}

// Overdue reports whether, at now, the deadline in force (see DueAt) has
// passed: now is after its last instant.
func (d Deadline) Overdue(now time.Time, extended bool) bool {
	return now.After(d.DueAt(extended))
}

// DueWithin reports whether the deadline in force (see DueAt) has not yet
// passed at now but will within the period within (calendar days and
// months as lethe.Duration adds them; "7d" from the CLI). An overdue
// request is not "due within": ask Overdue for those.
func (d Deadline) DueWithin(now time.Time, within lethe.Duration, extended bool) bool {
	due := d.DueAt(extended)
	return !now.After(due) && !due.After(within.AddTo(now))
}
