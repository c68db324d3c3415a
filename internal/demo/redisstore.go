package demo

import (
	"context"
	"errors"
	"regexp"
	"strconv"

	"github.com/redis/go-redis/v9"

	"github.com/lethe-privacy/lethe"
)

// Redis key patterns of the sessions and carts tables: session:{user_id}
// is a hash (id, ip, user_agent, created_at, expires_at), cart:{user_id}
// a list of JSON items ({"sku", "quantity", "added_at"}), oldest first.
const (
	RedisSessionKey = "session:{user_id}"
	RedisCartKey    = "cart:{user_id}"
)

// redisStore writes sessions and carts as keys under a prefix.
type redisStore struct {
	client *redis.Client
	prefix string
	// demoKey matches the keys the demo writes, and nothing else under
	// the same pattern (session:abc is not the demo's).
	demoKey *regexp.Regexp
}

func openRedis(ctx context.Context, rawURL, prefix string) (*redisStore, error) {
	opts, err := redis.ParseURL(rawURL)
	if err != nil {
		return nil, lethe.FieldErrorf("redis", "not a valid Redis URL (redis://host:6379/0)")
	}
	c := redis.NewClient(opts)
	if err := c.Ping(ctx).Err(); err != nil {
		c.Close()
		return nil, lethe.Errorf(lethe.EUNAVAILABLE, "redis: the server cannot be reached: %v", err)
	}
	return &redisStore{client: c, prefix: prefix, demoKey: regexp.MustCompile(`^` + regexp.QuoteMeta(prefix) + `(session|cart):[0-9]+$`)}, nil
}

func (s *redisStore) driver() string { return "redis" }
func (s *redisStore) close() error   { return s.client.Close() }

// keyPrefix is the fixed part of the table's key pattern.
func (s *redisStore) keyPrefix(t *table) string {
	if t.name == TableSessions {
		return s.prefix + "session:"
	}
	return s.prefix + "cart:"
}

// scan calls fn with batches of the demo's keys of t.
func (s *redisStore) scan(ctx context.Context, t *table, fn func(keys []string) error) error {
	var cursor uint64
	for {
		keys, next, err := s.client.Scan(ctx, cursor, escapeGlob(s.keyPrefix(t))+"[0-9]*", 1000).Result()
		if err != nil {
			return lethe.Errorf(lethe.EUNAVAILABLE, "redis: scan %s keys: %v", t.name, err)
		}
		demo := keys[:0]
		for _, k := range keys {
			if s.demoKey.MatchString(k) {
				demo = append(demo, k)
			}
		}
		if len(demo) > 0 {
			if err := fn(demo); err != nil {
				return err
			}
		}
		if next == 0 {
			return nil
		}
		cursor = next
	}
}

var errFound = errors.New("found")

func (s *redisStore) occupied(ctx context.Context, ts []*table) ([]string, error) {
	var names []string
	for _, t := range ts {
		err := s.scan(ctx, t, func([]string) error { return errFound })
		switch {
		case errors.Is(err, errFound):
			names = append(names, t.name)
		case err != nil:
			return nil, err
		}
	}
	return names, nil
}

func (s *redisStore) create(ctx context.Context, ts []*table, reset bool) error {
	if !reset {
		return nil
	}
	for _, t := range ts {
		err := s.scan(ctx, t, func(keys []string) error {
			if err := s.client.Unlink(ctx, keys...).Err(); err != nil {
				return lethe.Errorf(lethe.EUNAVAILABLE, "redis: delete %s keys: %v", t.name, err)
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

func (s *redisStore) write(ctx context.Context, ts []*table, c *chunk) error {
	pipe := s.client.Pipeline()
	for _, t := range ts {
		for _, row := range c.rows[tableIndex(t)] {
			key := s.keyPrefix(t) + strconv.FormatInt(row[1].(int64), 10)
			if t.name == TableSessions {
				pipe.HSet(ctx, key, sessionHash(row))
			} else {
				pipe.RPush(ctx, key, cartItem(row))
			}
		}
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return lethe.Errorf(lethe.EUNAVAILABLE, "redis: write sessions and carts: %v", err)
	}
	return nil
}

func (s *redisStore) finish(context.Context, []*table) error { return nil }

// escapeGlob escapes the characters SCAN MATCH treats as a pattern.
func escapeGlob(s string) string {
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '*', '?', '[', ']', '\\':
			out = append(out, '\\')
		}
		out = append(out, s[i])
	}
	return string(out)
}
