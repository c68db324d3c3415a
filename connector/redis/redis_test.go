package redis

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	goredis "github.com/redis/go-redis/v9"

	"github.com/lethe-privacy/lethe"
	"github.com/lethe-privacy/lethe/internal/testenv"
)

// env is one test's connector, a raw client for checks, and its key
// prefix.
type env struct {
	t      *testing.T
	c      *Connector
	raw    *goredis.Client
	prefix string
}

func newEnv(t *testing.T) *env {
	t.Helper()
	url, prefix := testenv.RedisPrefix(t)
	c, err := Open(context.Background(), &lethe.Datastore{Name: "cache", Driver: lethe.DriverRedis, URL: url})
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	opts, err := goredis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	raw := goredis.NewClient(opts)
	t.Cleanup(func() { raw.Close() })
	return &env{t: t, c: c, raw: raw, prefix: prefix}
}

// collection declares a key pattern under the test's prefix, each
// variable an identity of its own name.
func (e *env) collection(name, pattern string) *lethe.Collection {
	e.t.Helper()
	pat, err := parsePattern(pattern)
	if err != nil {
		e.t.Fatal(err)
	}
	col := &lethe.Collection{Name: name, Datastore: "cache", Key: e.prefix + pattern, Identities: map[lethe.IdentityType]string{}}
	for _, v := range pat.vars {
		col.Identities[lethe.IdentityType(v)] = v
	}
	return col
}

// k returns the full key for a key under the prefix.
func (e *env) k(key string) string { return e.prefix + key }

func (e *env) do(args ...any) {
	e.t.Helper()
	for i, a := range args {
		if s, ok := a.(string); ok && i == 1 {
			args[i] = e.k(s)
		}
	}
	if err := e.raw.Do(context.Background(), args...).Err(); err != nil {
		e.t.Fatalf("%v: %v", args[0], err)
	}
}

// keys lists the keys under the prefix, without it, sorted.
func (e *env) keys() []string {
	e.t.Helper()
	var out []string
	iter := e.raw.Scan(context.Background(), 0, escapeGlob(e.prefix)+"*", 1000).Iterator()
	for iter.Next(context.Background()) {
		out = append(out, strings.TrimPrefix(iter.Val(), e.prefix))
	}
	if err := iter.Err(); err != nil {
		e.t.Fatal(err)
	}
	slices.Sort(out)
	return out
}

// find runs Find and copies the rows into maps, keys without the prefix.
func (e *env) find(p lethe.FindParams) []map[string]any {
	e.t.Helper()
	rows, err := e.tryFind(p)
	if err != nil {
		e.t.Fatalf("find: %v", err)
	}
	return rows
}

func (e *env) tryFind(p lethe.FindParams) ([]map[string]any, error) {
	var rows []map[string]any
	err := e.c.Find(context.Background(), p, func(r lethe.Row) error {
		if len(r.Columns) != len(r.Values) {
			e.t.Fatalf("row has %d columns and %d values", len(r.Columns), len(r.Values))
		}
		m := make(map[string]any, len(r.Columns))
		for i, c := range r.Columns {
			v := r.Values[i]
			if c == ColumnKey {
				v = strings.TrimPrefix(v.(string), e.prefix)
			}
			m[c] = v
		}
		rows = append(rows, m)
		return nil
	})
	slices.SortFunc(rows, func(a, b map[string]any) int {
		return strings.Compare(fmt.Sprint(a[ColumnKey]), fmt.Sprint(b[ColumnKey]))
	})
	return rows, err
}

func (e *env) erase(steps ...lethe.EraseStep) []int64 {
	e.t.Helper()
	res, err := e.c.Erase(context.Background(), steps)
	if err != nil {
		e.t.Fatalf("erase: %v", err)
	}
	n := make([]int64, len(res))
	for i, r := range res {
		n[i] = r.Rows
	}
	return n
}

func match(column string, values ...any) lethe.Match {
	return lethe.Match{Column: column, Values: values, Identity: lethe.IdentityType(column)}
}

func keyNames(rows []map[string]any) []string {
	out := make([]string, len(rows))
	for i, r := range rows {
		out[i] = fmt.Sprint(r[ColumnKey])
	}
	return out
}

func TestFindEveryValueType(t *testing.T) {
	e := newEnv(t)
	col := e.collection("profile", "u:{user_id}:*")
	e.do("SET", "u:42:string", "jane@example.com")
	e.do("SET", "u:42:bytes", "\xff\xfe raw")
	e.do("HSET", "u:42:hash", "name", "Jane Roe", "email", "jane@example.com")
	e.do("SADD", "u:42:set", "b", "a", "c")
	e.do("RPUSH", "u:42:list", "first", "second", "first")
	e.do("ZADD", "u:42:zset", "2.5", "two", "1", "one", "+inf", "top")
	e.do("XADD", "u:42:stream", "1700000000000-0", "page", "/home")
	e.do("XADD", "u:42:stream", "1700000000000-1", "page", "/cart", "ip", "192.0.2.1")
	e.do("SET", "u:42:ttl", "soon", "EX", "3600")
	e.do("SET", "u:43:string", "someone else")

	before := time.Now()
	rows := e.find(lethe.FindParams{Collection: col, Matches: []lethe.Match{match("user_id", "42")}})
	var expiry any
	for _, r := range rows {
		if r[ColumnKey] == "u:42:ttl" {
			expiry = r[ColumnExpiresAt]
			r[ColumnExpiresAt] = "checked"
		}
	}
	if exp, ok := expiry.(time.Time); !ok || exp.Before(before.Add(3599*time.Second)) || exp.After(time.Now().Add(3601*time.Second)) {
		t.Errorf("expires_at of a key with EX 3600 = %v, want about an hour from now", expiry)
	}
	row := func(key, typ string, value any) map[string]any {
		return map[string]any{"key": key, "type": typ, "user_id": "42", "expires_at": nil, "value": value}
	}
	want := []map[string]any{
		row("u:42:bytes", "string", []byte("\xff\xfe raw")),
		row("u:42:hash", "hash", `{"email":"jane@example.com","name":"Jane Roe"}`),
		row("u:42:list", "list", `["first","second","first"]`),
		row("u:42:set", "set", `["a","b","c"]`),
		row("u:42:stream", "stream", `[{"id":"1700000000000-0","fields":{"page":"/home"}},{"id":"1700000000000-1","fields":{"ip":"192.0.2.1","page":"/cart"}}]`),
		row("u:42:string", "string", "jane@example.com"),
		row("u:42:ttl", "string", "soon"),
		row("u:42:zset", "zset", `[{"member":"one","score":1},{"member":"two","score":2.5},{"member":"top","score":"inf"}]`),
	}
	want[6]["expires_at"] = "checked"
	if diff := cmp.Diff(want, rows); diff != "" {
		t.Errorf("rows (-want +got):\n%s", diff)
	}
}

// Every row of a collection has the same columns: key, type, the
// variables, expires_at, the data map's fields, and value, which holds a
// hash's other fields.
func TestFindDeclaredFieldsAreColumns(t *testing.T) {
	e := newEnv(t)
	col := e.collection("profile", "p:{user_id}")
	col.Fields = map[string]*lethe.Field{
		"name": {Category: "name"}, "email": {Category: "contact.email"},
		"user_id": {Category: "id"}, "value": {Category: "other"},
	}
	e.do("HSET", "p:42", "name", "Jane", "user_id", "other", "key", "k", "type", "t", "value", "v", "bin", "\xff")
	e.do("HSET", "p:43", "name", "John")
	e.do("SET", "p:44", "a string")
	var rows [][]any
	err := e.c.Find(context.Background(), lethe.FindParams{Collection: col, Matches: []lethe.Match{match("user_id", "42", "43", "44")}}, func(r lethe.Row) error {
		if want := []string{"key", "type", "user_id", "expires_at", "email", "name", "value"}; !slices.Equal(r.Columns, want) {
			t.Errorf("columns %q, want %q", r.Columns, want)
		}
		rows = append(rows, slices.Clone(r.Values))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := [][]any{
		{e.k("p:42"), "hash", "42", nil, nil, "Jane", `{"bin":"\ufffd","key":"k","type":"t","user_id":"other","value":"v"}`},
		{e.k("p:43"), "hash", "43", nil, nil, "John", nil},
		{e.k("p:44"), "string", "44", nil, nil, nil, "a string"},
	}
	if diff := cmp.Diff(want, rows); diff != "" {
		t.Errorf("rows (-want +got):\n%s", diff)
	}

	// Named columns: fields (HMGET), absent fields, and the hash as JSON.
	got := e.find(lethe.FindParams{Collection: col, Matches: []lethe.Match{match("user_id", "42", "44")}, Columns: []string{"user_id", "name", "missing"}})
	wantRows := []map[string]any{{"user_id": "42", "name": "Jane", "missing": nil}, {"user_id": "44", "name": nil, "missing": nil}}
	if diff := cmp.Diff(wantRows, got); diff != "" {
		t.Errorf("named fields (-want +got):\n%s", diff)
	}
	got = e.find(lethe.FindParams{Collection: col, Matches: []lethe.Match{match("user_id", "43")}, Columns: []string{"name", "value"}})
	if len(got) != 1 || got[0]["name"] != "John" || got[0]["value"] != `{"name":"John"}` {
		t.Errorf("name and value of a hash: %q", got)
	}
}

// A match on a column that is not a variable selects the hashes whose
// field holds a value: sessions keyed by a random id, the user inside.
func TestMatchOnHashField(t *testing.T) {
	e := newEnv(t)
	col := e.collection("sessions", "sess:{sid}")
	col.Fields = map[string]*lethe.Field{"ip": {Category: "network.ip"}}
	e.do("HSET", "sess:a1", "user_id", "42", "ip", "192.0.2.1")
	e.do("HSET", "sess:b2", "user_id", "42", "ip", "192.0.2.2")
	e.do("HSET", "sess:c3", "user_id", "420", "ip", "192.0.2.3")
	e.do("HSET", "sess:d4", "user", "42")
	e.do("SET", "sess:e5", "42")
	e.do("HSET", "other:x", "user_id", "42")
	ms := []lethe.Match{match("user_id", "42", int64(42), "*")}
	rows := e.find(lethe.FindParams{Collection: col, Matches: ms})
	if got := keyNames(rows); !slices.Equal(got, []string{"sess:a1", "sess:b2"}) {
		t.Fatalf("sessions of user 42: %v", got)
	}
	if rows[0]["sid"] != "a1" || rows[0]["ip"] != "192.0.2.1" {
		t.Errorf("row %v", rows[0])
	}
	if got := e.erase(lethe.EraseStep{Collection: col, Matches: ms, Action: lethe.EraseDelete}); !slices.Equal(got, []int64{2}) {
		t.Errorf("erase = %v, want [2]", got)
	}
	if got, want := e.keys(), []string{"other:x", "sess:c3", "sess:d4", "sess:e5"}; !slices.Equal(got, want) {
		t.Errorf("keys left = %v, want %v", got, want)
	}
}

func TestFindColumnsInPatternOrder(t *testing.T) {
	e := newEnv(t)
	col := e.collection("orders", "o:{user_id}:{order_id}")
	e.do("SET", "o:7:1001", "x")
	var cols []string
	err := e.c.Find(context.Background(), lethe.FindParams{Collection: col, Matches: []lethe.Match{match("user_id", int64(7))}}, func(r lethe.Row) error {
		cols = slices.Clone(r.Columns)
		if v, _ := r.Get("order_id"); v != "1001" {
			t.Errorf("order_id = %v, want 1001 (read from the key)", v)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"key", "type", "user_id", "order_id", "expires_at", "value"}; !slices.Equal(cols, want) {
		t.Errorf("columns = %v, want %v", cols, want)
	}
}

// Patterns with several variables, wildcards or none at all each select
// exactly the subject's keys.
func TestFindPatterns(t *testing.T) {
	e := newEnv(t)
	for _, k := range []string{
		"session:u1", "session:u10", "session:u1:x",
		"cart:jane@example.com:items", "cart:jane@example.com:items:old", "cart:jane@example.com",
		"s:u1:a", "s:u1:b:c", "s:u10:a", "s:u1",
		"o:u1:5", "o:u2:5", "o:5:u1",
	} {
		e.do("SET", k, "v")
	}
	tests := []struct {
		name    string
		pattern string
		m       lethe.Match
		want    []string
	}{
		{"direct", "session:{user_id}", match("user_id", "u1"), []string{"session:u1"}},
		{"value in the middle", "cart:{email}:items", match("email", "jane@example.com"), []string{"cart:jane@example.com:items"}},
		{"wildcard suffix", "s:{user_id}:*", match("user_id", "u1"), []string{"s:u1:a", "s:u1:b:c"}},
		{"first of two variables", "o:{user_id}:{order_id}", match("user_id", "u1"), []string{"o:u1:5"}},
		{"second of two variables", "o:{user_id}:{order_id}", match("order_id", "u1"), []string{"o:5:u1"}},
		{"several values", "session:{user_id}", match("user_id", "u1", "u10", "u1", nil, "missing"), []string{"session:u1", "session:u10"}},
		{"whole keys", "s:{user_id}:*", lethe.Match{Column: "key", Values: []any{e.k("s:u1:a"), e.k("session:u1"), e.k("s:u10:a")}}, []string{"s:u10:a", "s:u1:a"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			col := e.collection("c", tt.pattern)
			rows := e.find(lethe.FindParams{Collection: col, Matches: []lethe.Match{tt.m}})
			if got := keyNames(rows); !slices.Equal(got, tt.want) {
				t.Errorf("keys = %v, want %v", got, tt.want)
			}
		})
	}
}

// Identities holding glob metacharacters select only the keys that hold
// them literally, in Find and in Erase, direct or scanned.
func TestGlobCharactersAreInert(t *testing.T) {
	e := newEnv(t)
	values := []string{"*", "?", "[ab]", "a", "b", "ab", "a*", `a\`, `a\*`, "[", "]", "a?", "x]y", `\`, "^a", "[!a]", "{x}", ""}
	for _, v := range values {
		e.do("SET", "d:"+v, "v")
		e.do("SET", "g:"+v+":1", "v")
		e.do("SET", "g:"+v+":2", "v")
	}
	direct := e.collection("direct", "d:{id}")
	scanned := e.collection("scanned", "g:{id}:*")
	for _, v := range values {
		rows := e.find(lethe.FindParams{Collection: direct, Matches: []lethe.Match{match("id", v)}})
		if got := keyNames(rows); !slices.Equal(got, []string{"d:" + v}) {
			t.Errorf("direct %q: keys = %q", v, got)
		}
		rows = e.find(lethe.FindParams{Collection: scanned, Matches: []lethe.Match{match("id", v)}})
		if got, want := keyNames(rows), []string{"g:" + v + ":1", "g:" + v + ":2"}; !slices.Equal(got, want) {
			t.Errorf("scanned %q: keys = %q, want %q", v, got, want)
		}
	}
	for _, v := range []string{"*", "?", "[ab]", `\`} {
		n := e.erase(
			lethe.EraseStep{Collection: direct, Matches: []lethe.Match{match("id", v)}, Action: lethe.EraseDelete},
			lethe.EraseStep{Collection: scanned, Matches: []lethe.Match{match("id", v)}, Action: lethe.EraseDelete},
		)
		if !slices.Equal(n, []int64{1, 2}) {
			t.Errorf("erase %q removed %v keys, want [1 2]", v, n)
		}
	}
	left := e.keys()
	if got, want := len(left), 3*(len(values)-4); got != want {
		t.Errorf("%d keys left, want %d: %q", got, want, left)
	}
	for _, k := range []string{"d:a", "d:ab", "g:a:1", "g:b:2", "d:[", "g:a*:1", "d:"} {
		if !slices.Contains(left, k) {
			t.Errorf("erasing glob-like identities removed another subject's key %q", k)
		}
	}
}

// More keys than a batch and than a SCAN page, and collections larger
// than a chunk, come back whole.
func TestFindBeyondBatches(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	const n = 2500
	pipe := e.raw.Pipeline()
	ids := make([]any, n)
	for i := range n {
		ids[i] = fmt.Sprintf("u%d", i)
		pipe.Set(ctx, e.k(fmt.Sprintf("many:u1:%05d", i)), i, 0)
		pipe.Set(ctx, e.k(fmt.Sprintf("one:u%d", i)), i, 0)
		pipe.HSet(ctx, e.k("big:hash"), fmt.Sprintf("f%05d", i), i)
		pipe.SAdd(ctx, e.k("big:set"), fmt.Sprintf("m%05d", i))
		pipe.RPush(ctx, e.k("big:list"), i)
		pipe.ZAdd(ctx, e.k("big:zset"), goredis.Z{Score: float64(i), Member: fmt.Sprintf("m%05d", i)})
		pipe.XAdd(ctx, &goredis.XAddArgs{Stream: e.k("big:stream"), ID: fmt.Sprintf("1-%d", i+1), Values: []any{"i", i}})
	}
	pipe.Set(ctx, e.k("many:u2:00000"), "other", 0)
	if _, err := pipe.Exec(ctx); err != nil {
		t.Fatal(err)
	}

	rows := e.find(lethe.FindParams{Collection: e.collection("many", "many:{user_id}:*"), Matches: []lethe.Match{match("user_id", "u1")}, Columns: []string{"key"}})
	if len(rows) != n {
		t.Errorf("scanned pattern: %d rows, want %d", len(rows), n)
	}
	rows = e.find(lethe.FindParams{Collection: e.collection("one", "one:{user_id}"), Matches: []lethe.Match{match("user_id", ids...)}})
	if len(rows) != n {
		t.Errorf("direct pattern with %d values: %d rows", n, len(rows))
	}

	rows = e.find(lethe.FindParams{Collection: e.collection("big", "big:{kind}"), Matches: []lethe.Match{match("kind", "hash", "set", "list", "zset", "stream")}})
	if len(rows) != 5 {
		t.Fatalf("%d rows, want 5", len(rows))
	}
	for _, r := range rows {
		var elems []any
		if r["type"] == "hash" {
			var h map[string]any
			if err := json.Unmarshal([]byte(r["value"].(string)), &h); err != nil {
				t.Fatal(err)
			}
			if len(h) != n || h["f00000"] != "0" || h["f02499"] != "2499" {
				t.Errorf("hash: %d fields, f00000 = %v, f02499 = %v", len(h), h["f00000"], h["f02499"])
			}
			continue
		}
		if err := json.Unmarshal([]byte(r["value"].(string)), &elems); err != nil {
			t.Fatalf("%s: %v", r["type"], err)
		}
		if len(elems) != n {
			t.Errorf("%s: %d elements, want %d", r["type"], len(elems), n)
			continue
		}
		var last any
		switch r["type"] {
		case "set", "list":
			last = elems[n-1]
		case "zset":
			last = elems[n-1].(map[string]any)["member"]
		case "stream":
			last = elems[n-1].(map[string]any)["id"]
		}
		if want := map[any]any{"set": "m02499", "list": "2499", "zset": "m02499", "stream": "1-2500"}[r["type"]]; last != want {
			t.Errorf("%s: last element %v, want %v", r["type"], last, want)
		}
	}

	steps := []lethe.EraseStep{{Collection: e.collection("many", "many:{user_id}:*"), Matches: []lethe.Match{match("user_id", "u1")}, Action: lethe.EraseDelete}}
	if got := e.erase(steps...); !slices.Equal(got, []int64{n}) {
		t.Errorf("erase removed %v keys, want %d", got, n)
	}
	if got := e.erase(steps...); !slices.Equal(got, []int64{0}) {
		t.Errorf("erasing again removed %v keys, want 0", got)
	}
	if n, err := e.raw.Exists(ctx, e.k("many:u2:00000"), e.k("one:u1"), e.k("big:hash")).Result(); err != nil || n != 3 {
		t.Errorf("other subjects' keys left: %d of 3 (%v)", n, err)
	}
}

func TestEraseIdempotentAndScoped(t *testing.T) {
	e := newEnv(t)
	for _, k := range []string{"session:jane", "session:john", "cart:jane:1", "cart:jane:2", "cart:john:1", "cart:janet:1"} {
		e.do("SET", k, "v")
	}
	steps := []lethe.EraseStep{
		{Collection: e.collection("sessions", "session:{user_id}"), Matches: []lethe.Match{match("user_id", "jane")}, Action: lethe.EraseDelete},
		{Collection: e.collection("carts", "cart:{user_id}:*"), Matches: []lethe.Match{match("user_id", "jane")}},
	}
	if got := e.erase(steps...); !slices.Equal(got, []int64{1, 2}) {
		t.Errorf("first erase = %v, want [1 2]", got)
	}
	if got := e.erase(steps...); !slices.Equal(got, []int64{0, 0}) {
		t.Errorf("second erase = %v, want [0 0]", got)
	}
	if got, want := e.keys(), []string{"cart:janet:1", "cart:john:1", "session:john"}; !slices.Equal(got, want) {
		t.Errorf("keys left = %v, want %v", got, want)
	}
}

func TestEraseRefusesWhatRedisCannotDo(t *testing.T) {
	e := newEnv(t)
	e.do("SET", "s:jane", "v")
	col := e.collection("sessions", "s:{user_id}")
	del := lethe.EraseStep{Collection: col, Matches: []lethe.Match{match("user_id", "jane")}, Action: lethe.EraseDelete}
	tests := []struct {
		name string
		step lethe.EraseStep
		want string
	}{
		{"anonymise", lethe.EraseStep{Collection: col, Matches: del.Matches, Action: lethe.EraseAnonymise}, "erase: delete"},
		{"cutoff", lethe.EraseStep{Collection: col, Matches: del.Matches, Action: lethe.EraseDelete, Before: &lethe.Cutoff{Column: "created_at", Time: time.Now()}}, "since"},
		{"no column", lethe.EraseStep{Collection: col, Matches: []lethe.Match{match("", "jane")}, Action: lethe.EraseDelete}, "no column"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// The valid step comes first: nothing may be deleted before
			// the invalid one is refused.
			_, err := e.c.Erase(context.Background(), []lethe.EraseStep{del, tt.step})
			if lethe.ErrorCode(err) != lethe.EINVALID || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want EINVALID mentioning %q", err, tt.want)
			}
			if got := e.keys(); !slices.Equal(got, []string{"s:jane"}) {
				t.Errorf("keys after a refused erase = %v", got)
			}
		})
	}
}

func TestFindColumnsAndDistinct(t *testing.T) {
	e := newEnv(t)
	for _, k := range []string{"o:u1:1", "o:u1:2", "o:u2:3"} {
		e.do("SET", k, "v")
	}
	col := e.collection("orders", "o:{user_id}:{order_id}")
	ms := []lethe.Match{match("user_id", "u1", "u2")}
	rows := e.find(lethe.FindParams{Collection: col, Matches: ms, Columns: []string{"user_id"}, Distinct: true})
	slices.SortFunc(rows, func(a, b map[string]any) int { return strings.Compare(a["user_id"].(string), b["user_id"].(string)) })
	if want := []map[string]any{{"user_id": "u1"}, {"user_id": "u2"}}; !cmp.Equal(rows, want) {
		t.Errorf("distinct user_id rows = %v, want %v", rows, want)
	}
	rows = e.find(lethe.FindParams{Collection: col, Matches: ms, Columns: []string{"order_id", "key"}})
	if len(rows) != 3 || rows[0]["order_id"] != "1" || len(rows[0]) != 2 {
		t.Errorf("rows with order_id, key = %v", rows)
	}
	// Several matches reaching the same key give it once.
	rows = e.find(lethe.FindParams{Collection: col, Matches: []lethe.Match{match("user_id", "u1"), match("order_id", "1", "2")}})
	if got := keyNames(rows); !slices.Equal(got, []string{"o:u1:1", "o:u1:2"}) {
		t.Errorf("keys = %v, want each once", got)
	}
	// A column that is none of a row's is a hash field: null for strings.
	rows = e.find(lethe.FindParams{Collection: col, Matches: ms, Columns: []string{"key", "email"}})
	if len(rows) != 3 || rows[0]["email"] != nil {
		t.Errorf("a field of string keys: %v", rows)
	}
}

func TestFindStopsAtCallbackError(t *testing.T) {
	e := newEnv(t)
	for i := range 3 {
		e.do("SET", fmt.Sprintf("s:u:%d", i), "v")
	}
	stop := fmt.Errorf("stop")
	calls := 0
	err := e.c.Find(context.Background(), lethe.FindParams{Collection: e.collection("s", "s:{user_id}:*"), Matches: []lethe.Match{match("user_id", "u")}}, func(lethe.Row) error {
		calls++
		return stop
	})
	if err != stop || calls != 1 {
		t.Errorf("err = %v after %d calls, want stop after 1", err, calls)
	}
}

func TestFindValueTooLarge(t *testing.T) {
	e := newEnv(t)
	e.c.maxValue = 1000
	e.do("SET", "s:big", strings.Repeat("x", 1001))
	e.do("SET", "s:fits", strings.Repeat("x", 1000))
	e.do("RPUSH", "l:big", strings.Repeat("x", 600), strings.Repeat("y", 600))
	e.do("HSET", "h:big", "a", strings.Repeat("x", 600), "b", strings.Repeat("y", 600))
	s := e.collection("s", "s:{id}")
	if rows := e.find(lethe.FindParams{Collection: s, Matches: []lethe.Match{match("id", "fits")}}); len(rows) != 1 || len(rows[0]["value"].(string)) != 1000 {
		t.Errorf("a value of exactly the limit: %d rows", len(rows))
	}
	for _, c := range []struct{ pattern, id string }{{"s:{id}", "big"}, {"l:{id}", "big"}, {"h:{id}", "big"}} {
		_, err := e.tryFind(lethe.FindParams{Collection: e.collection("c", c.pattern), Matches: []lethe.Match{match("id", c.id)}})
		if lethe.ErrorCode(err) != lethe.ETOOLARGE {
			t.Errorf("%s: err = %v, want ETOOLARGE", c.pattern, err)
		}
	}
	// Without the value column, the key's size does not matter.
	if rows := e.find(lethe.FindParams{Collection: s, Matches: []lethe.Match{match("id", "big")}, Columns: []string{"key", "type"}}); len(rows) != 1 {
		t.Errorf("key and type of a large value: %d rows", len(rows))
	}
}

func TestDescribe(t *testing.T) {
	e := newEnv(t)
	col := e.collection("sessions", "session:{user_id}")
	got, err := e.c.Describe(context.Background(), []*lethe.Collection{col})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || !got[0].Exists || len(got[0].Columns) != 0 || got[0].Collection != col {
		t.Errorf("Describe = %+v, want the collection existing with no columns", got)
	}
	for _, bad := range []string{"", "session:*", "session:{user_id", "s:{a}:{a}", "s:{value}", "s:{user-id}"} {
		_, err := e.c.Describe(context.Background(), []*lethe.Collection{{Name: "bad", Key: bad}})
		if lethe.ErrorCode(err) != lethe.EINVALID {
			t.Errorf("pattern %q: err = %v, want EINVALID", bad, err)
		}
	}
}

func TestOpenKeepsSecretsOutOfErrors(t *testing.T) {
	url, _ := testenv.RedisPrefix(t)
	_, rest, _ := strings.Cut(url, "://")
	tests := []struct {
		name string
		url  string
		code lethe.Code
	}{
		{"missing", "", lethe.EINVALID},
		{"not a url", "redis://user:hunter2-secret@[::1", lethe.EINVALID},
		{"wrong scheme", "http://user:hunter2-secret@127.0.0.1:6379", lethe.EINVALID},
		{"unreachable", "redis://user:hunter2-secret@127.0.0.1:1/0", lethe.EUNAVAILABLE},
		{"refused credentials", "redis://nosuchuser:hunter2-secret@" + rest, lethe.EUNAVAILABLE},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			c, err := Open(ctx, &lethe.Datastore{Name: "cache", URL: tt.url, Timeout: lethe.Duration{Clock: 2 * time.Second}})
			if err == nil {
				c.Close()
				t.Fatal("Open succeeded")
			}
			if lethe.ErrorCode(err) != tt.code {
				t.Errorf("code = %s, want %s (%v)", lethe.ErrorCode(err), tt.code, err)
			}
			msg := err.Error()
			t.Log(msg)
			for _, secret := range []string{"hunter2", "127.0.0.1", "::1"} {
				if strings.Contains(msg, secret) {
					t.Errorf("error %q holds %q", msg, secret)
				}
			}
			if !strings.Contains(msg, "cache") {
				t.Errorf("error %q does not name the datastore", msg)
			}
		})
	}
}

func TestFindUnavailable(t *testing.T) {
	e := newEnv(t)
	col := e.collection("s", "s:{user_id}")
	e.c.Close()
	_, err := e.tryFind(lethe.FindParams{Collection: col, Matches: []lethe.Match{match("user_id", "jane@example.com")}})
	if lethe.ErrorCode(err) != lethe.EUNAVAILABLE || strings.Contains(err.Error(), "jane") {
		t.Errorf("find on a closed connector: %v, want EUNAVAILABLE without the identity", err)
	}
}

func TestScore(t *testing.T) {
	if score(math.Inf(-1)) != "-inf" || score(1.5) != 1.5 {
		t.Error("score")
	}
}
