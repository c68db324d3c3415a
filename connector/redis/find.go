package redis

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	goredis "github.com/redis/go-redis/v9"

	"github.com/lethe-privacy/lethe"
)

// A column of the rows Find returns.
type column struct {
	name string
	// v is the variable's index in the pattern, or -1 for the key, type,
	// expires_at and value columns.
	v int
}

// pending is a key waiting in a batch.
type pending struct {
	key  string
	vars []string
}

// finder batches the keys a Find selects and reads them.
type finder struct {
	c    *Connector
	col  *lethe.Collection
	cols []column
	fn   func(lethe.Row) error

	needType, needTTL, needValue bool
	// seenKeys drops keys met again; nil when the matches cannot give a
	// key twice.
	seenKeys map[string]struct{}
	// seenRows drops repeated rows of a Distinct find whose columns do
	// not include the key.
	seenRows map[string]struct{}

	batch []pending
	row   lethe.Row
}

func newFinder(c *Connector, p lethe.FindParams, pat *keyPattern, fn func(lethe.Row) error) (*finder, error) {
	f := &finder{c: c, col: p.Collection, fn: fn, needType: true}
	names := p.Columns
	if len(names) == 0 {
		names = append([]string{ColumnKey, ColumnType}, pat.vars...)
		names = append(names, ColumnExpiresAt, ColumnValue)
	}
	hasKey := false
	for _, name := range names {
		col := column{name: name, v: pat.varIndex(name)}
		switch name {
		case ColumnKey:
			hasKey = true
		case ColumnType:
		case ColumnExpiresAt:
			f.needTTL = true
		case ColumnValue:
			f.needValue = true
		default:
			if col.v < 0 {
				return nil, lethe.Errorf(lethe.EINVALID, "collection %s has no column %q: redis rows have key, type, expires_at, value and the key pattern's variables", p.Collection.Name, name)
			}
		}
		f.cols = append(f.cols, col)
	}
	f.row.Columns = make([]string, len(f.cols))
	for i, col := range f.cols {
		f.row.Columns[i] = col.name
	}
	f.row.Values = make([]any, len(f.cols))
	// Direct keys from one match's distinct values are distinct; scans
	// and several matches can meet a key twice.
	direct := len(pat.vars) == 1 && !slices.ContainsFunc(pat.parts, func(p patternPart) bool { return p.kind == partStar })
	if len(p.Matches) > 1 || !direct || len(p.Matches) == 1 && p.Matches[0].Column == ColumnKey {
		f.seenKeys = make(map[string]struct{})
	}
	if p.Distinct && !hasKey {
		f.seenRows = make(map[string]struct{})
	}
	f.batch = make([]pending, 0, 64)
	return f, nil
}

func (f *finder) add(ctx context.Context, key string, vars []string) error {
	if f.seenKeys != nil {
		if _, ok := f.seenKeys[key]; ok {
			return nil
		}
		f.seenKeys[key] = struct{}{}
	}
	f.batch = append(f.batch, pending{key: key, vars: vars})
	if len(f.batch) == lethe.MaxBatch {
		return f.flush(ctx)
	}
	return nil
}

// keyRead is what the first pipeline learnt of a key.
type keyRead struct {
	typ     string
	ttl     time.Duration
	value   any
	pending bool // a collection value still to read
	// The first chunk of a collection, read in the second pipeline.
	first goredis.Cmder
}

// flush reads the batch's keys and emits their rows. Strings come in one
// pipeline (TYPE, PTTL, GETRANGE); other types' first chunk in a second
// one; a collection larger than a chunk is then read chunk by chunk.
func (f *finder) flush(ctx context.Context) error {
	if len(f.batch) == 0 {
		return nil
	}
	defer func() { f.batch = f.batch[:0] }()
	c := f.c
	reads := make([]keyRead, len(f.batch))

	// With the value wanted, PTTL (-2 for a key that is gone) and
	// GETRANGE (WRONGTYPE on other types) read a string in one round trip
	// of two commands; TYPE then names the other types.
	pipe := c.client.Pipeline()
	types := make([]*goredis.StatusCmd, len(f.batch))
	ttls := make([]*goredis.DurationCmd, len(f.batch))
	strs := make([]*goredis.StringCmd, len(f.batch))
	for i, p := range f.batch {
		if f.needValue {
			ttls[i] = pipe.PTTL(ctx, p.key)
			strs[i] = pipe.GetRange(ctx, p.key, 0, int64(c.maxValue))
			continue
		}
		types[i] = pipe.Type(ctx, p.key)
		if f.needTTL {
			ttls[i] = pipe.PTTL(ctx, p.key)
		}
	}
	_, _ = pipe.Exec(ctx)
	var untyped []int
	for i := range f.batch {
		r := &reads[i]
		var err error
		if ttls[i] != nil {
			if r.ttl, err = ttls[i].Result(); err != nil {
				return c.unavailable(ctx, "read key expiry", err)
			}
		}
		if !f.needValue {
			if r.typ, err = types[i].Result(); err != nil {
				return c.unavailable(ctx, "read key types", err)
			}
			continue
		}
		if r.ttl == -2 {
			r.typ = "none"
			continue
		}
		s, err := strs[i].Result()
		switch {
		case err == nil:
			if len(s) > c.maxValue {
				return f.tooLarge()
			}
			r.typ, r.value = "string", stringValue(s)
		case isWrongType(err):
			untyped = append(untyped, i)
		default:
			return c.unavailable(ctx, "read values", err)
		}
	}
	if len(untyped) > 0 {
		pipe = c.client.Pipeline()
		for _, i := range untyped {
			types[i] = pipe.Type(ctx, f.batch[i].key)
		}
		_, _ = pipe.Exec(ctx)
		for _, i := range untyped {
			r := &reads[i]
			typ, err := types[i].Result()
			if err != nil {
				return c.unavailable(ctx, "read key types", err)
			}
			r.typ = typ
			switch typ {
			case "hash", "set", "list", "zset", "stream":
				r.pending = true
			case "string":
				return errChanged
			}
		}
	}

	if f.needValue {
		pipe = c.client.Pipeline()
		n := 0
		for i, p := range f.batch {
			r := &reads[i]
			if !r.pending {
				continue
			}
			n++
			switch r.typ {
			case "hash":
				r.first = pipe.HScan(ctx, p.key, 0, "", scanCount)
			case "set":
				r.first = pipe.SScan(ctx, p.key, 0, "", scanCount)
			case "list":
				r.first = pipe.LRange(ctx, p.key, 0, scanCount-1)
			case "zset":
				r.first = pipe.ZRangeWithScores(ctx, p.key, 0, scanCount-1)
			case "stream":
				r.first = pipe.XRangeN(ctx, p.key, "-", "+", scanCount)
			}
		}
		if n > 0 {
			_, _ = pipe.Exec(ctx)
		}
		for i, p := range f.batch {
			r := &reads[i]
			if !r.pending {
				continue
			}
			v, err := f.readCollection(ctx, p.key, r)
			if err != nil {
				return err
			}
			if v == nil {
				// The key went between the pipelines: Redis holds no
				// empty collections.
				r.typ = "none"
				continue
			}
			r.value = *v
		}
	}

	now := time.Now()
	for i, p := range f.batch {
		r := &reads[i]
		if r.typ == "none" {
			continue
		}
		for j, col := range f.cols {
			var v any
			switch {
			case col.v >= 0:
				v = p.vars[col.v]
			case col.name == ColumnKey:
				v = stringValue(p.key)
			case col.name == ColumnType:
				v = r.typ
			case col.name == ColumnExpiresAt:
				// PTTL is -1 for a key without expiry (and -2 for one
				// gone since TYPE).
				if r.ttl >= 0 {
					v = now.Add(r.ttl).UTC().Truncate(time.Millisecond)
				}
			case col.name == ColumnValue:
				v = r.value
			}
			f.row.Values[j] = v
		}
		if f.seenRows != nil {
			id, err := json.Marshal(f.row.Values)
			if err != nil {
				return err
			}
			if _, ok := f.seenRows[string(id)]; ok {
				continue
			}
			f.seenRows[string(id)] = struct{}{}
		}
		if err := f.fn(f.row); err != nil {
			return err
		}
	}
	return nil
}

// readCollection renders a hash, set, list, sorted set or stream as JSON
// from the first chunk the pipeline read, reading the rest chunk by
// chunk. It returns nil when the key is gone.
func (f *finder) readCollection(ctx context.Context, key string, r *keyRead) (*string, error) {
	c := f.c
	if err := r.first.Err(); err != nil {
		return nil, c.changed(ctx, err)
	}
	var size int
	grow := func(n int) error {
		size += n
		if size > c.maxValue {
			return f.tooLarge()
		}
		return nil
	}
	var out any
	switch r.typ {
	case "hash", "set":
		// HSCAN and SSCAN may return an element twice; the map keeps
		// it once, and JSON writes it sorted.
		members := make(map[string]string)
		cmd := r.first.(*goredis.ScanCmd)
		for {
			page, cursor, err := cmd.Result()
			if err != nil {
				return nil, c.changed(ctx, err)
			}
			if r.typ == "hash" {
				for i := 0; i+1 < len(page); i += 2 {
					if _, ok := members[page[i]]; !ok {
						if err := grow(len(page[i]) + len(page[i+1])); err != nil {
							return nil, err
						}
					}
					members[page[i]] = page[i+1]
				}
			} else {
				for _, m := range page {
					if _, ok := members[m]; !ok {
						if err := grow(len(m)); err != nil {
							return nil, err
						}
					}
					members[m] = ""
				}
			}
			if cursor == 0 {
				break
			}
			if r.typ == "hash" {
				cmd = c.client.HScan(ctx, key, cursor, "", scanCount)
			} else {
				cmd = c.client.SScan(ctx, key, cursor, "", scanCount)
			}
		}
		if len(members) == 0 {
			return nil, nil
		}
		if r.typ == "hash" {
			out = members
		} else {
			set := make([]string, 0, len(members))
			for m := range members {
				set = append(set, m)
			}
			slices.Sort(set)
			out = set
		}
	case "list":
		var list []string
		page := r.first.(*goredis.StringSliceCmd).Val()
		for {
			for _, e := range page {
				if err := grow(len(e)); err != nil {
					return nil, err
				}
			}
			list = append(list, page...)
			if len(page) < scanCount {
				break
			}
			var err error
			start := int64(len(list))
			if page, err = c.client.LRange(ctx, key, start, start+scanCount-1).Result(); err != nil {
				return nil, c.changed(ctx, err)
			}
		}
		if len(list) == 0 {
			return nil, nil
		}
		out = list
	case "zset":
		var zset []zmember
		page := r.first.(*goredis.ZSliceCmd).Val()
		for {
			for _, z := range page {
				m, _ := z.Member.(string)
				if err := grow(len(m) + 8); err != nil {
					return nil, err
				}
				zset = append(zset, zmember{Member: m, Score: score(z.Score)})
			}
			if len(page) < scanCount {
				break
			}
			var err error
			start := int64(len(zset))
			if page, err = c.client.ZRangeWithScores(ctx, key, start, start+scanCount-1).Result(); err != nil {
				return nil, c.changed(ctx, err)
			}
		}
		if len(zset) == 0 {
			return nil, nil
		}
		out = zset
	case "stream":
		var stream []streamEntry
		page := r.first.(*goredis.XMessageSliceCmd).Val()
		for {
			for _, m := range page {
				n := len(m.ID)
				for k, v := range m.Values {
					s, _ := v.(string)
					n += len(k) + len(s)
				}
				if err := grow(n); err != nil {
					return nil, err
				}
				stream = append(stream, streamEntry{ID: m.ID, Fields: m.Values})
			}
			if len(page) < scanCount {
				break
			}
			next, ok := nextStreamID(page[len(page)-1].ID)
			if !ok {
				break
			}
			var err error
			if page, err = c.client.XRangeN(ctx, key, next, "+", scanCount).Result(); err != nil {
				return nil, c.changed(ctx, err)
			}
		}
		if len(stream) == 0 {
			return nil, nil
		}
		out = stream
	}
	b, err := json.Marshal(out)
	if err != nil {
		return nil, lethe.Errorf(lethe.EINTERNAL, "collection %s: render a %s value as JSON: %v", f.col.Name, r.typ, err)
	}
	s := string(b)
	return &s, nil
}

// errChanged reports a key whose type changed between two reads.
var errChanged = lethe.Errorf(lethe.ECONFLICT, "a key changed type while it was read; try again")

// changed reports a read that failed after TYPE: WRONGTYPE means the key
// changed type in between, anything else the server.
func (c *Connector) changed(ctx context.Context, err error) error {
	if isWrongType(err) {
		return errChanged
	}
	return c.unavailable(ctx, "read values", err)
}

func isWrongType(err error) bool {
	var rerr goredis.Error
	return errors.As(err, &rerr) && strings.HasPrefix(rerr.Error(), "WRONGTYPE")
}

func (f *finder) tooLarge() error {
	return lethe.Errorf(lethe.ETOOLARGE, "collection %s: a key's value is larger than %d MiB, more than an export holds", f.col.Name, f.c.maxValue>>20)
}

// zmember is a sorted set member as exported.
type zmember struct {
	Member string `json:"member"`
	Score  any    `json:"score"`
}

// streamEntry is a stream entry as exported.
type streamEntry struct {
	ID     string         `json:"id"`
	Fields map[string]any `json:"fields"`
}

// score is a sorted set score for JSON, which has no infinities: those
// are written "inf" and "-inf", as Redis writes them.
func score(f float64) any {
	switch {
	case math.IsInf(f, 1):
		return "inf"
	case math.IsInf(f, -1):
		return "-inf"
	}
	return f
}

// nextStreamID returns the smallest entry ID after id ("ms-seq").
func nextStreamID(id string) (string, bool) {
	ms, seq, ok := strings.Cut(id, "-")
	if !ok {
		return "", false
	}
	n, err := strconv.ParseUint(seq, 10, 64)
	if err != nil {
		return "", false
	}
	if n == math.MaxUint64 {
		m, err := strconv.ParseUint(ms, 10, 64)
		if err != nil || m == math.MaxUint64 {
			return "", false
		}
		return strconv.FormatUint(m+1, 10) + "-0", true
	}
	return ms + "-" + strconv.FormatUint(n+1, 10), true
}

// stringValue returns text as a string, and other bytes as []byte so
// that an export does not mangle them.
func stringValue(s string) any {
	if utf8.ValidString(s) {
		return s
	}
	return []byte(s)
}
