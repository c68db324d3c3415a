package redis

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/lethe-privacy/lethe"
	"github.com/lethe-privacy/lethe/internal/testenv"
)

// Reproduce with:
//
//	go test ./connector/redis/ -run '^$' -bench Find -benchmem
//
// BenchmarkFind reads 10,000 string keys of 100 bytes and reports its
// time as a ratio to a baseline measured in the same run on the same
// server: plain GETs of the same keys, pipelined 1,000 at a time (after
// the same SCAN, for a pattern that needs one).
func BenchmarkFind(b *testing.B) {
	const n = 10000
	ctx := context.Background()
	url, prefix := testenv.RedisPrefix(b)
	opts, err := goredis.ParseURL(url)
	if err != nil {
		b.Fatal(err)
	}
	raw := goredis.NewClient(opts)
	defer raw.Close()
	c := New(goredis.NewClient(opts))
	defer c.Close()

	value := strings.Repeat("v", 100)
	ids := make([]any, n)
	direct := make([]string, n)
	scanned := make([]string, n)
	pipe := raw.Pipeline()
	for i := range n {
		ids[i] = fmt.Sprintf("user%05d", i)
		direct[i] = fmt.Sprintf("%sd:user%05d", prefix, i)
		scanned[i] = fmt.Sprintf("%ss:jane:%05d", prefix, i)
		pipe.Set(ctx, direct[i], value, 0)
		pipe.Set(ctx, scanned[i], value, 0)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		b.Fatal(err)
	}

	getAll := func(keys []string) {
		for start := 0; start < len(keys); start += lethe.MaxBatch {
			pipe := raw.Pipeline()
			for _, k := range keys[start:min(start+lethe.MaxBatch, len(keys))] {
				pipe.Get(ctx, k)
			}
			if _, err := pipe.Exec(ctx); err != nil {
				b.Fatal(err)
			}
		}
	}
	find := func(b *testing.B, p lethe.FindParams) {
		rows := 0
		if err := c.Find(ctx, p, func(lethe.Row) error { rows++; return nil }); err != nil {
			b.Fatal(err)
		}
		if rows != n {
			b.Fatalf("%d rows, want %d", rows, n)
		}
	}
	scanGetAll := func(match string) {
		var cursor uint64
		for {
			keys, next, err := raw.Scan(ctx, cursor, match, 1000).Result()
			if err != nil {
				b.Fatal(err)
			}
			getAll(keys)
			if next == 0 {
				return
			}
			cursor = next
		}
	}
	cases := []struct {
		name     string
		p        lethe.FindParams
		baseline func()
	}{
		// One key per value: 10,000 identities, no SCAN.
		{"direct", lethe.FindParams{
			Collection: &lethe.Collection{Name: "d", Key: prefix + "d:{user_id}"},
			Matches:    []lethe.Match{{Column: "user_id", Values: ids}},
		}, func() { getAll(direct) }},
		// 10,000 keys of one subject found by SCAN MATCH, against the
		// same SCAN with GETs of each page's keys.
		{"scanned", lethe.FindParams{
			Collection: &lethe.Collection{Name: "s", Key: prefix + "s:{user_id}:*"},
			Matches:    []lethe.Match{{Column: "user_id", Values: []any{"jane"}}},
		}, func() { scanGetAll(prefix + "s:jane:*") }},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			tc.baseline() // warm the connections
			b.ReportAllocs()
			// Connector and baseline runs alternate, so that a change in
			// the machine's load weighs on both alike.
			var own, base time.Duration
			for b.Loop() {
				start := time.Now()
				find(b, tc.p)
				own += time.Since(start)
				b.StopTimer()
				start = time.Now()
				tc.baseline()
				base += time.Since(start)
				b.StartTimer()
			}
			b.ReportMetric(float64(base.Microseconds())/float64(b.N), "baseline_us")
			b.ReportMetric(float64(own)/float64(base), "x_pipelined_get")
		})
	}
}
