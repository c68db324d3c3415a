package consent_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/lethe-privacy/lethe/consent"
)

// BenchmarkRecord appends one grant per op: for a new subject (a data key
// is created too, as on sign-up) and for a returning one (key cached).
func BenchmarkRecord(b *testing.B) {
	for _, kind := range []string{"new_subject", "returning_subject"} {
		b.Run(kind, func(b *testing.B) {
			f := benchFixture(b)
			ctx := context.Background()
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				subject := fmt.Sprintf("b-%d", i)
				if kind == "returning_subject" {
					subject = fmt.Sprintf("b-%d", i%100)
				}
				p := grant(subject, "analytics")
				if _, err := f.Record(ctx, p); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkCheck is the in-process hot path: a warm cache over 1,000
// subjects.
func BenchmarkCheck(b *testing.B) {
	f := benchFixture(b)
	ctx := context.Background()
	ids := make([]string, 1000)
	for i := range ids {
		ids[i] = fmt.Sprintf("c-%d", i)
		if _, err := f.Record(ctx, grant(ids[i], "marketing_email")); err != nil {
			b.Fatal(err)
		}
		if _, err := f.Check(ctx, ids[i], "marketing_email"); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		d, err := f.Check(ctx, ids[i%len(ids)], "marketing_email")
		if err != nil || !d.Allowed {
			b.Fatal(d, err)
		}
	}
}

func benchFixture(b *testing.B) *consent.Ledger {
	b.Helper()
	return newFixture(b, openSQLite(b, filepath.Join(b.TempDir(), "lethe.db")), testConfig(), secrets(b)).ledger
}
