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

// colKind says where a column's value comes from.
type colKind int

const (
	colKey colKind = iota
	colType
	colVar
	colExpiresAt
	colValue
	colField
)

// A column of the rows Find returns when FindParams.Columns names them.
type column struct {
	kind colKind
	// i is the variable's index in the pattern (colVar) or the field's
	// in finder.fields (colField).
	i int
}

// pending is a key waiting in a batch, with its variables' values.
type pending struct {
	key  string
	vars []string
}

// finder batches the keys a Find selects, reads them and emits rows.
type finder struct {
	c   *Connector
	col *lethe.Collection
	pat *keyPattern
	fn  func(lethe.Row) error

	cols []column
	// fields are the columns that are hash fields.
	fields []string
	// rest: every column was asked for, so value holds a hash's fields
	// that are not columns of their own.
	rest bool
	// needValue: strings and whole collections are read. needTTL: PTTL
	// is read.
	needValue, needTTL bool
	// seenKeys drops keys met again; nil when the matches cannot give a
	// key twice.
	seenKeys map[string]struct{}
	// seenRows drops repeated rows of a Distinct find whose columns do
	// not include the key.
	seenRows map[string]struct{}

	batch []pending
	row   lethe.Row
}

// rowColumns returns every column of a collection's rows: key, type, the
// pattern's variables, expires_at, the data map's fields that are none
// of these (hash fields), and value. Every row of a collection has the
// same columns, as an export's table needs.
func rowColumns(col *lethe.Collection, pat *keyPattern) []string {
	names := append([]string{ColumnKey, ColumnType}, pat.vars...)
	names = append(names, ColumnExpiresAt)
	for _, f := range col.FieldNames() {
		if !slices.Contains(names, f) && f != ColumnValue {
			names = append(names, f)
		}
	}
	return append(names, ColumnValue)
}

func newFinder(c *Connector, p lethe.FindParams, pat *keyPattern, fn func(lethe.Row) error) *finder {
	f := &finder{c: c, col: p.Collection, pat: pat, fn: fn, batch: make([]pending, 0, 64)}
	names := p.Columns
	if len(names) == 0 {
		names = rowColumns(p.Collection, pat)
		f.rest = true
	}
	hasKey := false
	for _, name := range names {
		col := column{}
		switch v := pat.varIndex(name); {
		case name == ColumnKey:
			col.kind, hasKey = colKey, true
		case name == ColumnType:
			col.kind = colType
		case name == ColumnExpiresAt:
			col.kind, f.needTTL = colExpiresAt, true
		case name == ColumnValue:
			col.kind, f.needValue = colValue, true
		case v >= 0:
			col.kind, col.i = colVar, v
		default:
			col.kind, col.i = colField, len(f.fields)
			f.fields = append(f.fields, name)
		}
		f.cols = append(f.cols, col)
	}
	f.row.Columns = names
	f.row.Values = make([]any, len(f.cols))
	// Direct keys from one match's distinct values are distinct; scans,
	// whole keys, hash fields and several matches can meet a key twice.
	direct := len(pat.vars) == 1 && !slices.ContainsFunc(pat.parts, func(p patternPart) bool { return p.kind == partStar })
	if len(p.Matches) > 1 || !direct || len(p.Matches) == 1 && !pat.hasVar(p.Matches[0].Column) {
		f.seenKeys = make(map[string]struct{})
	}
	if p.Distinct && !hasKey {
		f.seenRows = make(map[string]struct{})
	}
	return f
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

// keyRead is what the pipelines read of a key.
type keyRead struct {
	typ string
	ttl time.Duration
	// value is a string's value, or a collection rendered as JSON.
	value any
	// hash is every field of a hash, sorted by name.
	hash []hashField
	// picked are the values of finder.fields, for a hash.
	picked []any
	// first is the read of a collection's first chunk.
	first goredis.Cmder
}

type hashField struct {
	name  string
	value any
}

// flush reads the batch's keys and emits their rows, in up to three
// pipelined round trips: PTTL and GETRANGE (strings done), TYPE of the
// other keys, then the first chunk of each collection (HSCAN, SSCAN,
// LRANGE, ZRANGE, XRANGE) or the named fields of each hash (HMGET). A
// collection larger than a chunk is then read chunk by chunk.
func (f *finder) flush(ctx context.Context) error {
	if len(f.batch) == 0 {
		return nil
	}
	defer func() { f.batch = f.batch[:0] }()
	c := f.c
	reads := make([]keyRead, len(f.batch))

	pipe := c.client.Pipeline()
	types := make([]*goredis.StatusCmd, len(f.batch))
	ttls := make([]*goredis.DurationCmd, len(f.batch))
	strs := make([]*goredis.StringCmd, len(f.batch))
	for i, p := range f.batch {
		if f.needValue {
			// PTTL is -2 for a key that is gone; GETRANGE reads a string
			// and fails with WRONGTYPE on the other types, which is
			// cheaper than a round trip to learn every key's type first.
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
			typ, err := types[i].Result()
			if err != nil {
				return c.unavailable(ctx, "read key types", err)
			}
			if typ == "string" {
				return errChanged
			}
			reads[i].typ = typ
		}
	}

	pipe = c.client.Pipeline()
	n := 0
	for i, p := range f.batch {
		r := &reads[i]
		switch {
		case r.typ == "hash" && f.needValue:
			r.first = pipe.HScan(ctx, p.key, 0, "", scanCount)
		case r.typ == "hash" && len(f.fields) > 0:
			r.first = pipe.HMGet(ctx, p.key, f.fields...)
		case !f.needValue:
		case r.typ == "set":
			r.first = pipe.SScan(ctx, p.key, 0, "", scanCount)
		case r.typ == "list":
			r.first = pipe.LRange(ctx, p.key, 0, scanCount-1)
		case r.typ == "zset":
			r.first = pipe.ZRangeWithScores(ctx, p.key, 0, scanCount-1)
		case r.typ == "stream":
			r.first = pipe.XRangeN(ctx, p.key, "-", "+", scanCount)
		}
		if r.first != nil {
			n++
		}
	}
	if n > 0 {
		_, _ = pipe.Exec(ctx)
	}
	for i, p := range f.batch {
		r := &reads[i]
		if r.first == nil {
			continue
		}
		gone, err := f.readCollection(ctx, p.key, r)
		if err != nil {
			return err
		}
		if gone {
			// The key went between the round trips: Redis holds no
			// empty collections.
			r.typ = "none"
		}
	}

	now := time.Now()
	for i, p := range f.batch {
		r := &reads[i]
		if r.typ == "none" {
			continue
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		f.fill(p, r, now)
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

// fill sets f.row to the key's row.
func (f *finder) fill(p pending, r *keyRead, now time.Time) {
	for j, col := range f.cols {
		var v any
		switch col.kind {
		case colKey:
			v = stringValue(p.key)
		case colType:
			v = r.typ
		case colVar:
			v = p.vars[col.i]
		case colExpiresAt:
			// PTTL is -1 for a key without expiry (and -2 for one gone
			// since).
			if r.ttl >= 0 {
				v = now.Add(r.ttl).UTC().Truncate(time.Millisecond)
			}
		case colValue:
			v = r.value
		case colField:
			if r.picked != nil {
				v = r.picked[col.i]
			} else if k, ok := slices.BinarySearchFunc(r.hash, f.fields[col.i], func(h hashField, name string) int { return strings.Compare(h.name, name) }); ok {
				v = r.hash[k].value
			}
		}
		f.row.Values[j] = v
	}
}

// readCollection reads a collection from its first chunk, reading the
// rest chunk by chunk: a hash's fields, sorted, and as a JSON object
// those without a column of their own (all of them when value is named);
// or, with HMGET, its named fields; the other types rendered as JSON. It reports gone when the collection is empty: the
// key went since its type was read.
func (f *finder) readCollection(ctx context.Context, key string, r *keyRead) (gone bool, err error) {
	c := f.c
	if err := r.first.Err(); err != nil {
		return false, c.changed(ctx, err)
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
	switch first := r.first.(type) {
	case *goredis.SliceCmd: // HMGET
		r.picked = make([]any, len(f.fields))
		for i, v := range first.Val() {
			if s, ok := v.(string); ok {
				if err := grow(len(s)); err != nil {
					return false, err
				}
				r.picked[i] = stringValue(s)
			}
		}
		return false, nil
	case *goredis.ScanCmd: // HSCAN, SSCAN
		// HSCAN and SSCAN may return an element twice; the map keeps it
		// once.
		members := make(map[string]string)
		cmd := first
		for {
			page, cursor, err := cmd.Result()
			if err != nil {
				return false, c.changed(ctx, err)
			}
			step := 1
			if r.typ == "hash" {
				step = 2
			}
			for i := 0; i+step <= len(page); i += step {
				m, v := page[i], ""
				if step == 2 {
					v = page[i+1]
				}
				if _, ok := members[m]; !ok {
					if err := grow(len(m) + len(v)); err != nil {
						return false, err
					}
				}
				members[m] = v
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
			return true, nil
		}
		if r.typ == "hash" {
			r.hash = make([]hashField, 0, len(members))
			for name, v := range members {
				r.hash = append(r.hash, hashField{name: name, value: stringValue(v)})
			}
			slices.SortFunc(r.hash, func(a, b hashField) int { return strings.Compare(a.name, b.name) })
			if f.rest {
				// value holds the fields without a column of their own.
				for _, name := range f.fields {
					delete(members, name)
				}
				if len(members) == 0 {
					return false, nil
				}
			}
			out = members
			break
		}
		set := make([]string, 0, len(members))
		for m := range members {
			set = append(set, m)
		}
		slices.Sort(set)
		out = set
	case *goredis.StringSliceCmd: // LRANGE
		var list []string
		page := first.Val()
		for {
			for _, e := range page {
				if err := grow(len(e)); err != nil {
					return false, err
				}
			}
			list = append(list, page...)
			if len(page) < scanCount {
				break
			}
			start := int64(len(list))
			if page, err = c.client.LRange(ctx, key, start, start+scanCount-1).Result(); err != nil {
				return false, c.changed(ctx, err)
			}
		}
		if len(list) == 0 {
			return true, nil
		}
		out = list
	case *goredis.ZSliceCmd: // ZRANGE
		var zset []zmember
		page := first.Val()
		for {
			for _, z := range page {
				m, _ := z.Member.(string)
				if err := grow(len(m) + 8); err != nil {
					return false, err
				}
				zset = append(zset, zmember{Member: m, Score: score(z.Score)})
			}
			if len(page) < scanCount {
				break
			}
			start := int64(len(zset))
			if page, err = c.client.ZRangeWithScores(ctx, key, start, start+scanCount-1).Result(); err != nil {
				return false, c.changed(ctx, err)
			}
		}
		if len(zset) == 0 {
			return true, nil
		}
		out = zset
	case *goredis.XMessageSliceCmd: // XRANGE
		var stream []streamEntry
		page := first.Val()
		for {
			for _, m := range page {
				n := len(m.ID)
				for k, v := range m.Values {
					s, _ := v.(string)
					n += len(k) + len(s)
				}
				if err := grow(n); err != nil {
					return false, err
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
			if page, err = c.client.XRangeN(ctx, key, next, "+", scanCount).Result(); err != nil {
				return false, c.changed(ctx, err)
			}
		}
		if len(stream) == 0 {
			return true, nil
		}
		out = stream
	}
	b, err := json.Marshal(out)
	if err != nil {
		return false, lethe.Errorf(lethe.EINTERNAL, "collection %s: render a %s value as JSON: %v", f.col.Name, r.typ, err)
	}
	r.value = string(b)
	return false, nil
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
