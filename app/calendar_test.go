package app_test

import (
	"context"
	"testing"
	"time"

	"github.com/lethe-privacy/lethe"
	"github.com/lethe-privacy/lethe/app"
	"github.com/lethe-privacy/lethe/config"
	"github.com/lethe-privacy/lethe/dsr"
)

// The config's calendar decides request deadlines: received on Friday
// 27 March 2026 in Berlin, a GDPR request is due one month later, on
// Monday 27 April... unless that day is a listed holiday, then on the
// Tuesday.
func TestRequestDeadlinesFollowTheConfigCalendar(t *testing.T) {
	cfg, err := config.Parse([]byte(`
controller: {name: Shop}
purposes: [{id: orders, lawful_basis: contract}]
calendar: {time_zone: Europe/Berlin, holidays: ["2026-04-27"]}
`), "lethe.yaml")
	if err != nil {
		t.Fatal(err)
	}
	received := time.Date(2026, 3, 27, 22, 30, 0, 0, time.UTC) // 23:30 in Berlin, still Friday
	a, err := app.Open(context.Background(), app.Options{Config: cfg, DataDir: t.TempDir(), Clock: lethe.ClockFunc(func() time.Time { return received })})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	r, err := a.Requests.Create(context.Background(), dsr.CreateParams{Type: lethe.RequestAccess, Identities: []lethe.Identity{{Type: lethe.IdentityUserID, Value: "7"}}, Wait: true, Verified: true})
	if err != nil {
		t.Fatal(err)
	}
	berlin, _ := time.LoadLocation("Europe/Berlin")
	want := time.Date(2026, 4, 28, 23, 59, 59, 999999999, berlin)
	if !r.DueAt.Equal(want) {
		t.Errorf("due %v, want %v (27 April is a holiday, so Tuesday 28 April, end of day in Berlin)", r.DueAt.In(berlin), want)
	}
	if _, err := config.Parse([]byte("controller: {name: Shop}\npurposes: [{id: orders, lawful_basis: contract}]\ncalendar: {time_zone: Mars/Olympus, holidays: [\"2026-02-30\"]}\n"), "lethe.yaml"); len(lethe.ErrorFields(err)) != 2 {
		t.Errorf("a bad zone and a date that does not exist: %v", err)
	}
}
