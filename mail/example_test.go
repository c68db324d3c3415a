package mail_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/lethe-privacy/lethe"
	"github.com/lethe-privacy/lethe/keyring"
	"github.com/lethe-privacy/lethe/mail"
	"github.com/lethe-privacy/lethe/store/sqlite"
)

// Without an SMTP server configured, e-mails are queued, sealed with the
// subject's key, and wait until an outbox with SMTP sends them.
func ExampleOutbox() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "lethe-mail-example")
	defer os.RemoveAll(dir)
	store, err := sqlite.Open(ctx, sqlite.Options{Path: filepath.Join(dir, "lethe.db")})
	if err != nil {
		panic(err)
	}
	defer store.Close()
	secrets, _ := keyring.GenerateSecrets()
	keys := keyring.New(store, secrets, keyring.Options{})
	defer keys.Close()

	outbox, err := mail.New(mail.Options{Store: store, Sealer: keys}) // SMTP: &mail.SMTPConfig{...} to send
	if err != nil {
		panic(err)
	}
	subject := lethe.SubjectRef{1}
	if _, err := outbox.Enqueue(ctx, subject, "alice@example.org", mail.TemplateVerificationCode,
		map[string]any{"code": "482913", "expires_in": "15 minutes"}); err != nil {
		panic(err)
	}
	res, err := outbox.SendDue(ctx)
	fmt.Println(res.Waiting, err)
	// Output: 1 <nil>
}
