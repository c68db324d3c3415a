package app

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/lethe-privacy/lethe"
	"github.com/lethe-privacy/lethe/keyring"
)

// ShredJournal is the file in the data directory where every shred is also
// appended, PII-free (subject reference and time). It lives outside the
// database on purpose: after the database is restored from a backup taken
// before a shred, `lethe subject reshred <data-dir>/shreds.log` destroys the
// resurrected keys again. Keep it out of the database's backup rotation.
const ShredJournal = "shreds.log"

// ShredSubject destroys the subject's data keys (see keyring.Keyring.Shred),
// appends the shred to the journal, and drops the subject from the consent
// cache. It returns how many keys it destroyed.
func (a *App) ShredSubject(ctx context.Context, ref lethe.SubjectRef, actor string) (int, error) {
	n, err := a.Keyring.Shred(ctx, ref, actor)
	if err != nil {
		return 0, err
	}
	a.Consent.Forget(ref)
	if a.dataDir != "" {
		if err := appendJournal(filepath.Join(a.dataDir, ShredJournal), lethe.SubjectShred{SubjectRef: ref, ShreddedAt: time.Now().UTC()}); err != nil {
			return n, fmt.Errorf("keys destroyed, but the shred journal could not be written: %w", err)
		}
	}
	return n, nil
}

func appendJournal(path string, s lethe.SubjectShred) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("open shred journal: %w", err)
	}
	if err := keyring.WriteShreds(f, []lethe.SubjectShred{s}); err != nil {
		f.Close()
		return fmt.Errorf("write shred journal: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("sync shred journal: %w", err)
	}
	return f.Close()
}
