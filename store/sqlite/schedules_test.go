package sqlite_test

import (
	"path/filepath"
	"testing"

	"github.com/lethe-privacy/lethe"
	"github.com/lethe-privacy/lethe/store/storetest"
)

func TestSchedules(t *testing.T) {
	storetest.RunSchedules(t, storetest.Harness{
		New: func(t *testing.T) lethe.Store { return open(t, filepath.Join(t.TempDir(), "lethe.db")) },
	})
}
