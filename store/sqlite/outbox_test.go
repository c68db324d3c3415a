package sqlite_test

import (
	"path/filepath"
	"testing"

	"github.com/lethe-privacy/lethe"
	"github.com/lethe-privacy/lethe/store/storetest"
)

func TestOutbox(t *testing.T) {
	storetest.RunOutbox(t, storetest.Harness{
		New: func(t *testing.T) lethe.Store { return open(t, filepath.Join(t.TempDir(), "lethe.db")) },
	})
}

func TestEvents(t *testing.T) {
	storetest.RunEvents(t, storetest.Harness{
		New: func(t *testing.T) lethe.Store { return open(t, filepath.Join(t.TempDir(), "lethe.db")) },
	})
}
