package app_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"log/slog"
	"os"

	"github.com/lethe-privacy/lethe"
	"github.com/lethe-privacy/lethe/app"
	"github.com/lethe-privacy/lethe/consent"
)

// An application embeds Lethe and checks consent in its own hot path,
// without HTTP.
func ExampleOpen() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "lethe-example-")
	defer os.RemoveAll(dir)

	l, err := app.Open(ctx, app.Options{
		Config: &lethe.Config{
			Controller: lethe.Controller{Name: "Example Shop GmbH"},
			Purposes: []lethe.Purpose{
				{ID: "marketing_email", LawfulBasis: lethe.BasisConsent, PolicyVersion: "2026-03"},
				{ID: "order_fulfilment", LawfulBasis: lethe.BasisContract},
			},
		},
		DataDir: dir,
		Logger:  slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		log.Fatal(err)
	}
	defer l.Close()

	_, err = l.Consent.Record(ctx, consent.RecordParams{
		SubjectID: "u-1", PolicyVersion: "2026-03", Mechanism: "signup_form_v3", Source: "library",
		Evidence: lethe.ConsentEvidence{IP: "203.0.113.7"},
		Purposes: []consent.PurposeChoice{{Purpose: "marketing_email", Granted: true}},
	})
	if err != nil {
		log.Fatal(err)
	}
	for _, purpose := range []string{"marketing_email", "order_fulfilment"} {
		d, err := l.Consent.Check(ctx, "u-1", purpose)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(purpose, d.Allowed, d.Reason)
	}
	d, _ := l.Consent.Check(ctx, "u-2", "marketing_email")
	fmt.Println("u-2", d.Allowed, d.Reason)
	// Output:
	// marketing_email true granted
	// order_fulfilment true lawful_basis:contract
	// u-2 false never_given
}
