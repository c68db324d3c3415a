package deadline_test

import (
	"fmt"
	"time"

	"github.com/lethe-privacy/lethe"
	"github.com/lethe-privacy/lethe/deadline"
)

func ExampleCalendar_Due() {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		panic(err)
	}
	easter, _ := deadline.ParseDate("2026-04-06")
	cal := deadline.Calendar{Location: berlin, Holidays: []deadline.Date{easter}}

	// Received on 6 March: one month runs to 6 April, Easter Monday, so the
	// response is due at the end of Tuesday 7 April, Berlin time.
	received := time.Date(2026, 3, 6, 17, 45, 0, 0, berlin)
	dl, err := cal.Due(lethe.GDPR, received)
	if err != nil {
		panic(err)
	}
	fmt.Println("due:        ", dl.Due.In(berlin).Format(time.DateTime))
	fmt.Println("extend by:  ", dl.ExtendBy.In(berlin).Format(time.DateTime))
	fmt.Println("if extended:", dl.ExtendedDue.In(berlin).Format(time.DateTime))

	now := time.Date(2026, 4, 2, 9, 0, 0, 0, berlin)
	fmt.Println("due within 7d:", dl.DueWithin(now, lethe.Duration{Days: 7}, false))
	fmt.Println("overdue on 8 April:", dl.Overdue(time.Date(2026, 4, 8, 0, 0, 0, 0, berlin), false))
	fmt.Println("overdue on 8 April if extended:", dl.Overdue(time.Date(2026, 4, 8, 0, 0, 0, 0, berlin), true))
	// Output:
	// due:         2026-04-07 23:59:59
	// extend by:   2026-04-07 23:59:59
	// if extended: 2026-06-08 23:59:59
	// due within 7d: true
	// overdue on 8 April: true
	// overdue on 8 April if extended: false
}
