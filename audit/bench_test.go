package audit_test

import (
	"context"
	"testing"
	"time"

	"github.com/lethe-privacy/lethe"
	"github.com/lethe-privacy/lethe/audit"
)

// Reproduce with:
//
//	go test ./audit/ -run '^$' -bench . -benchmem
//
// Times are per entry, and each benchmark also reports a ratio to a
// baseline measured in the same run on the same store.

// BenchmarkAppend appends one record per call (the common case: one audit
// entry per API call), against a baseline of sealing alone, without a store.
func BenchmarkAppend(b *testing.B) {
	forEachBackendB(b, func(b *testing.B, r *rawStore) {
		ctx := context.Background()
		l := newLog(r, testSigner(b, 1))
		rec := record(1)
		// Baseline: Seal of one record after a log of 1000, hashes in memory.
		_, tree, head := sealAll(b, [][]lethe.AuditRecord{make([]lethe.AuditRecord, 1000)}, time.Now())
		read := func(idx []int64) ([][32]byte, error) {
			hs, err := tree.ReadHashes(idx)
			out := make([][32]byte, len(hs))
			for i, h := range hs {
				out[i] = h
			}
			return out, err
		}
		var base time.Duration
		{
			n, start := 0, time.Now()
			for time.Since(start) < 100*time.Millisecond {
				if _, _, _, err := audit.Seal(head, []lethe.AuditRecord{rec}, time.Now(), read); err != nil {
					b.Fatal(err)
				}
				n++
			}
			base = time.Since(start) / time.Duration(n)
		}
		b.ReportAllocs()
		b.ResetTimer()
		start := time.Now()
		for b.Loop() {
			if _, err := l.Append(ctx, rec); err != nil {
				b.Fatal(err)
			}
		}
		per := time.Since(start) / time.Duration(max(b.N, 1))
		b.ReportMetric(float64(per)/float64(base), "x_seal_only")
	})
}

// BenchmarkVerify verifies a log of 2000 entries with two checkpoints and
// reports the time per entry, against a baseline of streaming the same
// entries without checking anything.
func BenchmarkVerify(b *testing.B) {
	const size = 2000
	forEachBackendB(b, func(b *testing.B, r *rawStore) {
		ctx := context.Background()
		l := newLog(r, testSigner(b, 1))
		batch := make([]lethe.AuditRecord, 100)
		for i := range batch {
			batch[i] = record(i)
		}
		for i := 0; i < size; i += len(batch) {
			if _, err := l.Append(ctx, batch...); err != nil {
				b.Fatal(err)
			}
			if i == size/2 {
				checkpoint(b, l)
			}
		}
		checkpoint(b, l)
		scan := func() {
			if err := r.AuditEntries(ctx, 0, size, func(lethe.AuditEntry) error { return nil }); err != nil {
				b.Fatal(err)
			}
		}
		scan()
		start := time.Now()
		scan()
		base := time.Since(start) / size
		b.ReportAllocs()
		b.ResetTimer()
		start = time.Now()
		for b.Loop() {
			res, err := l.Verify(ctx, audit.VerifyOptions{})
			if err != nil || !res.OK {
				b.Fatalf("verify: %+v, %v", res, err)
			}
		}
		per := time.Since(start) / time.Duration(max(b.N, 1)*size)
		b.ReportMetric(float64(per), "ns/entry")
		b.ReportMetric(float64(per)/float64(base), "x_scan_only")
	})
}

func forEachBackendB(b *testing.B, fn func(b *testing.B, r *rawStore)) {
	for _, be := range backends() {
		b.Run(be.name, func(b *testing.B) { fn(b, be.open(b)) })
	}
}
