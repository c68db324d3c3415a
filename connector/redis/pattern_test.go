package redis

import (
	"context"
	"slices"
	"testing"
	"unicode/utf8"

	goredis "github.com/redis/go-redis/v9"

	"github.com/lethe-privacy/lethe/internal/testenv"
)

func TestParsePattern(t *testing.T) {
	tests := []struct {
		pattern string
		vars    []string
		ok      bool
	}{
		{"session:{user_id}", []string{"user_id"}, true},
		{"cart:{email}:items", []string{"email"}, true},
		{"s:{user_id}:*", []string{"user_id"}, true},
		{"o:{user_id}:{order_id}", []string{"user_id", "order_id"}, true},
		{"q?[x]\\:{id}", []string{"id"}, true},
		{"", nil, false},
		{"session:*", nil, false},
		{"session", nil, false},
		{"s:{user_id", nil, false},
		{"s:user_id}", nil, false},
		{"s:{}", nil, false},
		{"s:{a b}", nil, false},
		{"s:{a}:{a}", nil, false},
	}
	for _, tt := range tests {
		p, err := parsePattern(tt.pattern)
		if (err == nil) != tt.ok {
			t.Errorf("parsePattern(%q) error = %v, want ok %v", tt.pattern, err, tt.ok)
			continue
		}
		if err == nil && !slices.Equal(p.vars, tt.vars) {
			t.Errorf("parsePattern(%q) vars = %v, want %v", tt.pattern, p.vars, tt.vars)
		}
	}
}

func TestPatternKeyGlobMatch(t *testing.T) {
	p, _ := parsePattern("o?:{user_id}:{order}:*")
	if _, ok := p.key("user_id", "x"); ok {
		t.Error("a pattern with another variable and a wildcard gave a direct key")
	}
	if got, want := p.glob("user_id", "a*[b]"), `o\?:a\*\[b\]:*:*`; got != want {
		t.Errorf("glob = %q, want %q", got, want)
	}
	vars, ok := p.match("o?:a*[b]:1:2:3", "user_id", "a*[b]")
	if !ok || !slices.Equal(vars, []string{"a*[b]", "1"}) {
		t.Errorf("match = %q, %v; want the bound value and the shortest order", vars, ok)
	}
	if _, ok := p.match("o?:a:1:2", "user_id", "a*[b]"); ok {
		t.Error("match took a key of another value")
	}
	d, _ := parsePattern("cart:{email}:items")
	if k, ok := d.key("email", "a*b@example.com"); !ok || k != "cart:a*b@example.com:items" {
		t.Errorf("key = %q, %v", k, ok)
	}
	if vars, ok := d.match("cart:x:items:items", "", ""); !ok || vars[0] != "x:items" {
		t.Errorf("match of a whole key = %q, %v", vars, ok)
	}
}

// FuzzEscapeGlob checks against the real server that an escaped value, as
// a SCAN MATCH pattern, selects only the key that is that value.
func FuzzEscapeGlob(f *testing.F) {
	for _, s := range []string{"", "*", "?", "[", "]", `\`, `\\*`, "[!a]", "[^a-z]", "a*b?c[d]e", "\x00", "\xff*", "^", "x]"} {
		f.Add(s)
	}
	url, prefix := testenv.RedisPrefix(f)
	opts, err := goredis.ParseURL(url)
	if err != nil {
		f.Fatal(err)
	}
	c := goredis.NewClient(opts)
	defer c.Close()
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, v string) {
		if len(v) > 512 {
			return
		}
		key := prefix + "f:" + v
		// Keys the value's metacharacters would reach if they were live.
		decoys := []string{prefix + "f:", prefix + "f:" + v + "x", prefix + "f:x" + v, prefix + "f:a", prefix + "f:ab"}
		if utf8.ValidString(v) && len(v) > 0 {
			decoys = append(decoys, prefix+"f:"+v[:len(v)-1])
		}
		all := append([]string{key}, decoys...)
		for _, k := range all {
			if err := c.Set(ctx, k, "v", 0).Err(); err != nil {
				t.Fatal(err)
			}
		}
		defer c.Del(ctx, all...)
		var got []string
		iter := c.Scan(ctx, 0, escapeGlob(prefix+"f:")+escapeGlob(v), 1000).Iterator()
		for iter.Next(ctx) {
			got = append(got, iter.Val())
		}
		if err := iter.Err(); err != nil {
			t.Fatal(err)
		}
		if len(got) != 1 || got[0] != key {
			t.Errorf("MATCH of escaped %q selected %q", v, got)
		}
	})
}
