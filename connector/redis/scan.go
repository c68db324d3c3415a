package redis

import (
	"context"
	"errors"

	goredis "github.com/redis/go-redis/v9"

	"github.com/lethe-privacy/lethe"
)

// ScanValues passes to fn, in batches, the values the column holds across
// the collection's keys: a variable of the key pattern (the user id of
// session:{user_id}), the whole key, or a hash field. It SCANs every key
// of the pattern once; a value is deduplicated within a batch only, so it
// may come again in a later one (see lethe.ValueScanner).
func (c *Connector) ScanValues(ctx context.Context, p lethe.ScanParams, fn func([]any) error) error {
	pat, err := collectionPattern(p.Collection)
	if err != nil {
		return err
	}
	batch := p.Batch
	if batch <= 0 {
		batch = lethe.MaxBatch
	}
	var (
		vals []any
		seen = map[string]struct{}{}
	)
	add := func(v string) error {
		if _, dup := seen[v]; dup || v == "" {
			return nil
		}
		seen[v] = struct{}{}
		vals = append(vals, v)
		if len(vals) < batch {
			return nil
		}
		out := vals
		vals, seen = nil, map[string]struct{}{}
		return fn(out)
	}
	idx := pat.varIndex(p.Column)
	err = c.scan(ctx, pat.glob("", ""), func(keys []string) error {
		if idx >= 0 || p.Column == ColumnKey {
			for _, key := range keys {
				vars, ok := pat.match(key, "", "")
				if !ok {
					continue
				}
				v := key
				if idx >= 0 {
					v = vars[idx]
				}
				if err := add(v); err != nil {
					return err
				}
			}
			return nil
		}
		// A hash field: read it from every key of the page at once.
		pipe := c.client.Pipeline()
		cmds := make([]*goredis.StringCmd, len(keys))
		for i, key := range keys {
			cmds[i] = pipe.HGet(ctx, key, p.Column)
		}
		_, _ = pipe.Exec(ctx)
		for i, key := range keys {
			v, err := cmds[i].Result()
			switch {
			case errors.Is(err, goredis.Nil), isWrongType(err):
				continue
			case err != nil:
				return c.unavailable(ctx, "read hash fields", err)
			}
			if _, ok := pat.match(key, "", ""); !ok {
				continue
			}
			if err := add(v); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	if len(vals) > 0 {
		return fn(vals)
	}
	return nil
}
