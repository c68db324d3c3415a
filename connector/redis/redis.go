package redis

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/lethe-privacy/lethe"
)

// MaxValueBytes bounds one key's value as Find reads it: a longer string,
// or a hash, set, list, sorted set or stream whose members add up to
// more, fails Find with ETOOLARGE rather than sit in memory or be cut
// short in an export.
const MaxValueBytes = 64 << 20

// DefaultTimeout bounds one call to the server when the datastore does
// not set timeout.
const DefaultTimeout = 30 * time.Second

// scanCount is the COUNT hint of SCAN and of HSCAN/SSCAN, and the chunk
// in which lists, sorted sets and streams are read.
const scanCount = 1000

// Column names of the rows Find returns, besides the key pattern's
// variables.
const (
	ColumnKey       = "key"
	ColumnType      = "type"
	ColumnExpiresAt = "expires_at"
	ColumnValue     = "value"
)

// Connector reads and deletes the keys that hold a subject's data in one
// Redis server (or Sentinel group, or cluster). It is safe for
// concurrent use.
type Connector struct {
	client goredis.UniversalClient
	// name is the datastore's name, for messages.
	name string
	// maxValue is MaxValueBytes; tests lower it.
	maxValue int
}

var (
	_ lethe.Connector    = (*Connector)(nil)
	_ lethe.ValueScanner = (*Connector)(nil)
)

// Open connects to the Redis server at ds.URL (redis://, rediss:// for
// TLS, or unix://) and checks that it answers. ds.Timeout bounds dialing
// and each command (defaults to 30s; timeouts given in the URL's query
// win over the default but not over ds.Timeout). It returns EINVALID
// when the URL is missing or malformed and EUNAVAILABLE when the server
// cannot be reached or refuses the credentials; neither message repeats
// the URL.
func Open(ctx context.Context, ds *lethe.Datastore) (*Connector, error) {
	if ds.URL == "" {
		return nil, lethe.Errorf(lethe.EINVALID, "datastore %s: url is required for redis (redis://[user:password@]host:6379/0)", ds.Name)
	}
	opts, err := goredis.ParseURL(ds.URL)
	if err != nil {
		// The parse error may quote the URL, password and all.
		return nil, lethe.Errorf(lethe.EINVALID, "datastore %s: url is not a redis URL; write redis://[user:password@]host:6379/0, rediss://... for TLS, or unix:///path/to/socket", ds.Name)
	}
	timeout := DefaultTimeout
	if !ds.Timeout.IsZero() {
		t0 := time.Unix(0, 0)
		timeout = ds.Timeout.AddTo(t0).Sub(t0)
	}
	if !ds.Timeout.IsZero() || opts.DialTimeout == 0 {
		opts.DialTimeout = timeout
	}
	if !ds.Timeout.IsZero() || opts.ReadTimeout == 0 {
		opts.ReadTimeout = timeout
	}
	if !ds.Timeout.IsZero() || opts.WriteTimeout == 0 {
		opts.WriteTimeout = timeout
	}
	c := New(goredis.NewClient(opts))
	c.name = ds.Name
	pctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := c.client.Ping(pctx).Err(); err != nil {
		c.client.Close()
		return nil, c.unavailable(ctx, "connect", err)
	}
	return c, nil
}

// New returns a Connector that uses client, which it then owns: Close
// closes it. A *redis.ClusterClient or *redis.Ring is scanned node by
// node.
func New(client goredis.UniversalClient) *Connector {
	return &Connector{client: client, maxValue: MaxValueBytes}
}

// Close closes the client.
func (c *Connector) Close() error { return c.client.Close() }

// Describe checks each collection's key pattern and reports it as
// existing, without columns: a key pattern has no schema to introspect.
// It returns EINVALID for a collection without a valid key pattern.
func (c *Connector) Describe(ctx context.Context, collections []*lethe.Collection) ([]lethe.TableSchema, error) {
	out := make([]lethe.TableSchema, 0, len(collections))
	for _, col := range collections {
		if _, err := collectionPattern(col); err != nil {
			return nil, err
		}
		out = append(out, lethe.TableSchema{Collection: col, Exists: true})
	}
	return out, nil
}

// Find calls fn with one row per key that the matches select, each key
// once. The row's columns are the same for every key of the collection:
// key, type, the key pattern's variables, expires_at, the collection's
// fields (hash fields) and value (see the package documentation); or
// those p.Columns names, where a name that is none of those is a hash
// field. Keys are read in pipelined batches of up to lethe.MaxBatch. It
// returns ETOOLARGE when a value exceeds MaxValueBytes and EUNAVAILABLE
// when the server fails.
func (c *Connector) Find(ctx context.Context, p lethe.FindParams, fn func(lethe.Row) error) error {
	pat, err := collectionPattern(p.Collection)
	if err != nil {
		return err
	}
	if err := checkMatches(p.Collection, p.Matches); err != nil {
		return err
	}
	f := newFinder(c, p, pat, fn)
	if err := c.eachKey(ctx, pat, p.Matches, func(key string, vars []string) error {
		return f.add(ctx, key, vars)
	}); err != nil {
		return err
	}
	return f.flush(ctx)
}

// Erase deletes (UNLINK) the keys each step's matches select, step by
// step, in batches of up to lethe.MaxBatch keys. Each batch is one
// UNLINK, which Redis applies atomically; Redis has no transaction that
// spans batches or steps, so a failure leaves earlier batches deleted
// (erasing again finishes the work: Erase is idempotent and counts only
// the keys it removed). A cluster deletes key by key in one pipeline,
// since one command cannot span hash slots.
//
// Keys cannot be anonymised, nor kept past a cutoff: a step with the
// anonymise action or a Before cutoff is EINVALID, checked before any
// key is deleted.
func (c *Connector) Erase(ctx context.Context, steps []lethe.EraseStep) ([]lethe.EraseStepResult, error) {
	pats := make([]*keyPattern, len(steps))
	for i, s := range steps {
		pat, err := collectionPattern(s.Collection)
		if err != nil {
			return nil, err
		}
		switch s.Action {
		case "", lethe.EraseDelete:
		case lethe.EraseAnonymise:
			return nil, lethe.Errorf(lethe.EINVALID, "collection %s: redis keys cannot be anonymised; set erase: delete (the whole key is removed)", s.Collection.Name)
		default:
			return nil, lethe.Errorf(lethe.EINVALID, "collection %s: unknown erase action %q; redis supports delete", s.Collection.Name, s.Action)
		}
		if s.Before != nil {
			return nil, lethe.Errorf(lethe.EINVALID, "collection %s: redis keys have no time column to keep the newer ones by; remove since from the hold (it then keeps every key until it ends)", s.Collection.Name)
		}
		if err := checkMatches(s.Collection, s.Matches); err != nil {
			return nil, err
		}
		pats[i] = pat
	}
	results := make([]lethe.EraseStepResult, len(steps))
	for i, s := range steps {
		if s.Await != nil && s.Await(ctx) != nil {
			for j := i; j < len(steps); j++ {
				results[j].Skipped = true
			}
			break
		}
		batch := make([]string, 0, 64)
		unlink := func() error {
			n, err := c.unlink(ctx, batch)
			results[i].Rows += n
			batch = batch[:0]
			return err
		}
		err := c.eachKey(ctx, pats[i], s.Matches, func(key string, _ []string) error {
			batch = append(batch, key)
			if len(batch) == lethe.MaxBatch {
				return unlink()
			}
			return nil
		})
		if err == nil && len(batch) > 0 {
			err = unlink()
		}
		if err != nil {
			return nil, fmt.Errorf("erase %s: %w", s.Collection.Name, err)
		}
	}
	return results, nil
}

// unlink removes keys and returns how many existed.
func (c *Connector) unlink(ctx context.Context, keys []string) (int64, error) {
	if _, ok := c.client.(*goredis.Client); ok {
		n, err := c.client.Unlink(ctx, keys...).Result()
		if err != nil {
			return 0, c.unavailable(ctx, "unlink keys", err)
		}
		return n, nil
	}
	pipe := c.client.Pipeline()
	cmds := make([]*goredis.IntCmd, len(keys))
	for i, k := range keys {
		cmds[i] = pipe.Unlink(ctx, k)
	}
	_, _ = pipe.Exec(ctx)
	var n int64
	for _, cmd := range cmds {
		if err := cmd.Err(); err != nil {
			return n, c.unavailable(ctx, "unlink keys", err)
		}
		n += cmd.Val()
	}
	return n, nil
}

// collectionPattern parses a collection's key pattern.
func collectionPattern(col *lethe.Collection) (*keyPattern, error) {
	if col == nil {
		return nil, lethe.Errorf(lethe.EINVALID, "no collection given")
	}
	if col.Key == "" {
		return nil, lethe.Errorf(lethe.EINVALID, "collection %s: key is required for redis: a key pattern such as session:{user_id}", col.Name)
	}
	pat, err := parsePattern(col.Key)
	if err != nil {
		return nil, lethe.Errorf(lethe.EINVALID, "collection %s: %v", col.Name, err)
	}
	for _, v := range pat.vars {
		switch v {
		case ColumnKey, ColumnType, ColumnExpiresAt, ColumnValue:
			return nil, lethe.Errorf(lethe.EINVALID, "collection %s: key pattern variable {%s} has the name of a row column (key, type, expires_at, value); rename it", col.Name, v)
		}
	}
	return pat, nil
}

// checkMatches refuses a match without a column.
func checkMatches(col *lethe.Collection, matches []lethe.Match) error {
	for _, m := range matches {
		if m.Column == "" {
			return lethe.Errorf(lethe.EINVALID, "collection %s: a match names no column", col.Name)
		}
	}
	return nil
}

// eachKey calls fn for each key the matches select (a key may come more
// than once, through several matches), with the values of the pattern's
// variables. A value that fills the pattern alone gives one key, read
// without a scan (it may not exist). A value of a variable that leaves
// wildcards is a SCAN whose MATCH holds the value escaped. Whole keys
// (the key column) are kept if they fit the pattern. Any other column is
// a hash field: every key of the pattern is scanned once per column and
// kept if the field holds one of the values.
func (c *Connector) eachKey(ctx context.Context, pat *keyPattern, matches []lethe.Match, fn func(key string, vars []string) error) error {
	fields := map[string]map[string]struct{}{}
	var fieldOrder []string
	for _, m := range matches {
		values := keyValues(m.Values)
		switch {
		case len(values) == 0:
		case m.Column == ColumnKey:
			for _, v := range values {
				if vars, ok := pat.match(v, "", ""); ok {
					if err := fn(v, vars); err != nil {
						return err
					}
				}
			}
		case pat.hasVar(m.Column):
			for _, v := range values {
				if err := c.eachVarKey(ctx, pat, m.Column, v, fn); err != nil {
					return err
				}
			}
		default:
			want := fields[m.Column]
			if want == nil {
				want = map[string]struct{}{}
				fields[m.Column] = want
				fieldOrder = append(fieldOrder, m.Column)
			}
			for _, v := range values {
				want[v] = struct{}{}
			}
		}
	}
	for _, field := range fieldOrder {
		if err := c.eachFieldKey(ctx, pat, field, fields[field], fn); err != nil {
			return err
		}
	}
	return nil
}

// eachVarKey calls fn for the keys where variable name is value.
func (c *Connector) eachVarKey(ctx context.Context, pat *keyPattern, name, value string, fn func(key string, vars []string) error) error {
	if key, ok := pat.key(name, value); ok {
		return fn(key, []string{value})
	}
	return c.scan(ctx, pat.glob(name, value), func(keys []string) error {
		for _, key := range keys {
			// The server matched the glob; matching again recovers the
			// other variables' values.
			vars, ok := pat.match(key, name, value)
			if !ok {
				continue
			}
			if err := fn(key, vars); err != nil {
				return err
			}
		}
		return nil
	})
}

// eachFieldKey calls fn for the hashes of the pattern whose field holds
// one of the values, testing each page of keys with pipelined HGETs.
func (c *Connector) eachFieldKey(ctx context.Context, pat *keyPattern, field string, values map[string]struct{}, fn func(key string, vars []string) error) error {
	return c.scan(ctx, pat.glob("", ""), func(keys []string) error {
		pipe := c.client.Pipeline()
		cmds := make([]*goredis.StringCmd, len(keys))
		for i, key := range keys {
			cmds[i] = pipe.HGet(ctx, key, field)
		}
		_, _ = pipe.Exec(ctx)
		for i, key := range keys {
			v, err := cmds[i].Result()
			switch {
			case errors.Is(err, goredis.Nil), isWrongType(err):
				continue // no such field, or not a hash
			case err != nil:
				return c.unavailable(ctx, "read hash fields", err)
			}
			if _, ok := values[v]; !ok {
				continue
			}
			vars, ok := pat.match(key, "", "")
			if !ok {
				continue
			}
			if err := fn(key, vars); err != nil {
				return err
			}
		}
		return nil
	})
}

// scan calls fn with each page of keys that SCAN MATCH match returns, on
// every master of a cluster or shard of a ring. fn is never called
// concurrently.
func (c *Connector) scan(ctx context.Context, match string, fn func([]string) error) error {
	var (
		mu      sync.Mutex
		stopped error
	)
	serial := func(keys []string) error {
		mu.Lock()
		defer mu.Unlock()
		if stopped != nil {
			return stopped
		}
		stopped = fn(keys)
		return stopped
	}
	switch cl := c.client.(type) {
	case *goredis.ClusterClient:
		err := cl.ForEachMaster(ctx, func(ctx context.Context, node *goredis.Client) error {
			return c.scanNode(ctx, node, match, serial)
		})
		return c.firstErr(ctx, stopped, err)
	case *goredis.Ring:
		err := cl.ForEachShard(ctx, func(ctx context.Context, node *goredis.Client) error {
			return c.scanNode(ctx, node, match, serial)
		})
		return c.firstErr(ctx, stopped, err)
	}
	return c.scanNode(ctx, c.client, match, fn)
}

// firstErr prefers the error fn returned over the ones it caused on
// other nodes, and sanitises an error from the client itself.
func (c *Connector) firstErr(ctx context.Context, stopped, err error) error {
	if stopped != nil {
		return stopped
	}
	var le *lethe.Error
	if err == nil || errors.As(err, &le) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return c.unavailable(ctx, "list cluster nodes", err)
}

func (c *Connector) scanNode(ctx context.Context, node goredis.Cmdable, match string, fn func([]string) error) error {
	var cursor uint64
	for {
		keys, next, err := node.Scan(ctx, cursor, match, scanCount).Result()
		if err != nil {
			return c.unavailable(ctx, "scan keys", err)
		}
		if len(keys) > 0 {
			if err := fn(keys); err != nil {
				return err
			}
		}
		if next == 0 {
			return nil
		}
		cursor = next
	}
}

// keyValues converts match values to the text they stand for in a key,
// dropping nulls and repeats.
func keyValues(values []any) []string {
	out := make([]string, 0, len(values))
	seen := make(map[string]struct{}, len(values))
	for _, v := range values {
		s, ok := keyText(v)
		if !ok {
			continue
		}
		if _, dup := seen[s]; dup {
			continue
		}
		seen[s] = struct{}{}
		out = append(out, s)
	}
	return out
}

// keyText returns the text a value stands for in a key: strings and
// bytes as they are, numbers in their shortest decimal form (42.0 is
// "42"), booleans as true/false, times in RFC 3339 UTC. A null matches
// no key.
func keyText(v any) (string, bool) {
	switch v := v.(type) {
	case nil:
		return "", false
	case string:
		return v, true
	case []byte:
		return string(v), true
	case int64:
		return strconv.FormatInt(v, 10), true
	case int:
		return strconv.Itoa(v), true
	case int32:
		return strconv.FormatInt(int64(v), 10), true
	case uint64:
		return strconv.FormatUint(v, 10), true
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64), true
	case float32:
		return strconv.FormatFloat(float64(v), 'f', -1, 32), true
	case bool:
		return strconv.FormatBool(v), true
	case time.Time:
		return v.UTC().Format(time.RFC3339Nano), true
	case fmt.Stringer:
		return v.String(), true
	}
	return fmt.Sprint(v), true
}
