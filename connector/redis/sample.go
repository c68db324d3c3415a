package redis

import (
	"context"
	"errors"

	"github.com/lethe-privacy/lethe"
)

var _ lethe.Sampler = (*Connector)(nil)

// errSampleFull stops the SCAN once the sample has its keys.
var errSampleFull = errors.New("sample full")

// Sample reads at most p.Size keys of the collection's key pattern, as
// Find returns them (key, type, the pattern's variables, expires_at, the
// declared hash fields, and value holding the rest), in the order SCAN
// meets them: hash-table order, which does not follow insertion order.
// SCAN stops as soon as the sample is full, so the cost grows with the
// sample, plus the keys SCAN skips because they match no pattern.
// Redis has no tables to list: only the data map's collections are
// sampled.
func (c *Connector) Sample(ctx context.Context, p lethe.SampleParams, fn func(lethe.Row) error) (lethe.SampleResult, error) {
	pat, err := collectionPattern(p.Collection)
	if err != nil {
		return lethe.SampleResult{}, err
	}
	size := p.Size
	if size <= 0 {
		size = lethe.DefaultSampleSize
	}
	res := lethe.SampleResult{Method: lethe.SampleAll}
	counted := func(r lethe.Row) error {
		res.Rows++
		return fn(r)
	}
	f := newFinder(c, lethe.FindParams{Collection: p.Collection}, pat, counted)
	f.seenKeys = map[string]struct{}{} // SCAN may return a key twice
	keys := 0
	err = c.scan(ctx, pat.glob("", ""), func(page []string) error {
		for _, key := range page {
			vars, ok := pat.match(key, "", "")
			if !ok {
				continue
			}
			if _, dup := f.seenKeys[key]; dup {
				continue
			}
			if keys == size {
				res.Method = lethe.SampleKeys
				return errSampleFull
			}
			keys++
			if err := f.add(ctx, key, vars); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil && !errors.Is(err, errSampleFull) {
		return res, err
	}
	return res, f.flush(ctx)
}
