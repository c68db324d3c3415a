package intake_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/lethe-privacy/lethe"
	"github.com/lethe-privacy/lethe/intake"
	"github.com/lethe-privacy/lethe/keyring"
	"github.com/lethe-privacy/lethe/mail"
	"github.com/lethe-privacy/lethe/store/sqlite"
)

// A person asks for their data without an API key: the server counts the
// request against the address's limit, e-mails a code and, when the person
// types it back, knows they hold the address.
func ExampleService() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "lethe-intake-example")
	defer os.RemoveAll(dir)
	store, err := sqlite.Open(ctx, sqlite.Options{Path: filepath.Join(dir, "lethe.db")})
	if err != nil {
		panic(err)
	}
	defer store.Close()
	secrets, _ := keyring.GenerateSecrets()
	keys := keyring.New(store, secrets, keyring.Options{})
	defer keys.Close()
	outbox, _ := mail.New(mail.Options{Store: store, Sealer: keys})

	svc, err := intake.New(intake.Options{Store: store, Mailer: outbox, Secret: secrets.RefKey[:], Controller: "Example Shop GmbH"})
	if err != nil {
		panic(err)
	}
	email := "jane@example.com"
	if err := svc.LimitIdentity(ctx, email); err != nil {
		panic(err) // ERATELIMITED: answer 429 with intake.RetryAfter(err)
	}
	ref, _ := keys.SubjectRef(lethe.Identity{Type: lethe.IdentityEmail, Value: email})
	issued, err := svc.Issue(ctx, "req_123", ref, email)
	if err != nil {
		panic(err)
	}
	fmt.Println("queued", issued.MessageID)

	// The person types a wrong code: it counts, and says what is left.
	_, err = svc.Check(ctx, "req_123", "0000 0000")
	fmt.Println(lethe.ErrorCode(err), lethe.ErrorMessage(err))
	// Output:
	// queued mail_verification_req_123_1
	// invalid code: wrong code; 4 attempts left
}
