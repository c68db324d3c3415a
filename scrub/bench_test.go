package scrub_test

import (
	"context"
	"testing"

	"github.com/lethe-privacy/lethe/internal/scrubbench"
	"github.com/lethe-privacy/lethe/internal/testenv"
)

// BenchmarkScrubVsUpdate scrubs a 20,000-row PostgreSQL table with five
// personal columns (one unique) against a plain UPDATE ... SET col =
// md5(col) of the same columns on an identical copy, in the same run.
// ratio is the scrub's rate over the baseline's (>= 0.8 is the goal).
// The 1,000,000-row figures of BENCHMARKS.md come from `lethe bench
// scrub`.
func BenchmarkScrubVsUpdate(b *testing.B) {
	u := testenv.PostgresURL(b)
	for b.Loop() {
		r, err := scrubbench.Run(context.Background(), scrubbench.Options{PostgresURL: u + "&search_path=lethe_gobench_scrub", Rows: 20_000, Rounds: 1})
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(r.RowsPerSec(r.Scrub), "scrub-rows/s")
		b.ReportMetric(r.RowsPerSec(r.Baseline), "update-rows/s")
		b.ReportMetric(r.Ratio(), "ratio")
	}
}
