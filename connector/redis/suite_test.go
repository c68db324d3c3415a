package redis

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	goredis "github.com/redis/go-redis/v9"

	"github.com/lethe-privacy/lethe"
	"github.com/lethe-privacy/lethe/connector/connectortest"
	"github.com/lethe-privacy/lethe/internal/testenv"
)

// The shared suite, on hashes: users at user:{id} with the fields email,
// name and created_at; orders at order:{user_id}:{id} with total, note
// and created_at. A NULL is a field left out.
//
// Capabilities: references hold, since user_id is a variable of the
// orders' pattern. Not claimed: Columns (rows carry key, type and
// expires_at besides the fields, where the suite wants exactly the four
// columns of a users row), Anonymise and Cutoff (refused with EINVALID),
// Transactions (Redis has none across batches), Schema (no columns to
// describe) and Types (every value is text).
func TestSuite(t *testing.T) {
	connectortest.Run(t, connectortest.Harness{
		Capabilities: connectortest.Capabilities{References: true},
		Setup:        suiteSetup,
	})
}

func suiteSetup(t testing.TB, data connectortest.Dataset) connectortest.Fixture {
	url, prefix := testenv.RedisPrefix(t)
	ctx := context.Background()
	opts, err := goredis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	raw := goredis.NewClient(opts)
	t.Cleanup(func() { raw.Close() })
	pipe := raw.Pipeline()
	for _, u := range data.Users {
		fields := []any{"email", u.Email, "created_at", u.CreatedAt.UTC().Format(time.RFC3339)}
		if u.Name != "" {
			fields = append(fields, "name", u.Name)
		}
		pipe.HSet(ctx, fmt.Sprintf("%suser:%d", prefix, u.ID), fields...)
	}
	for _, o := range data.Orders {
		fields := []any{"total", o.Total, "created_at", o.CreatedAt.UTC().Format(time.RFC3339)}
		if o.Note != "" {
			fields = append(fields, "note", o.Note)
		}
		pipe.HSet(ctx, fmt.Sprintf("%sorder:%d:%d", prefix, o.UserID, o.ID), fields...)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		t.Fatalf("store the dataset: %v", err)
	}
	c, err := Open(ctx, &lethe.Datastore{Name: "cache", Driver: lethe.DriverRedis, URL: url})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })

	users := &lethe.Collection{
		Name: "users", Datastore: "cache", Key: prefix + "user:{id}", PrimaryKey: "id",
		Identities: map[lethe.IdentityType]string{lethe.IdentityUserID: "id", lethe.IdentityEmail: "email"},
		Fields:     map[string]*lethe.Field{"email": {Category: "contact.email"}, "name": {Category: "name"}},
	}
	orders := &lethe.Collection{
		Name: "orders", Datastore: "cache", Key: prefix + "order:{user_id}:{id}", PrimaryKey: "id",
		References: map[string]string{"user_id": "users.id"},
		Fields:     map[string]*lethe.Field{"note": {Category: "free_text"}},
	}
	rawRead := func(t testing.TB, collection string) []connectortest.Record {
		t.Helper()
		var out []connectortest.Record
		iter := raw.Scan(ctx, 0, escapeGlob(prefix+collection[:len(collection)-1]+":")+"*", 1000).Iterator()
		for iter.Next(ctx) {
			key := iter.Val()
			h, err := raw.HGetAll(ctx, key).Result()
			if err != nil {
				t.Fatal(err)
			}
			rec := connectortest.Record{}
			parts := strings.Split(strings.TrimPrefix(key, prefix), ":")
			if collection == "users" {
				rec["id"] = parts[1]
				rec["email"] = h["email"]
				rec["name"] = nullable(h, "name")
			} else {
				rec["user_id"], rec["id"] = parts[1], parts[2]
				rec["total"] = h["total"]
				rec["note"] = nullable(h, "note")
			}
			rec["created_at"] = h["created_at"]
			out = append(out, rec)
		}
		if err := iter.Err(); err != nil {
			t.Fatal(err)
		}
		return out
	}
	return connectortest.Fixture{Connector: c, Users: users, Orders: orders, Raw: rawRead}
}

func nullable(h map[string]string, field string) any {
	if v, ok := h[field]; ok {
		return v
	}
	return nil
}

// TestSuiteColumnsDistinct runs what the suite's ColumnsDistinct case
// checks after the one assertion a redis row cannot meet (exactly the
// four columns of a users row).
func TestSuiteColumnsDistinct(t *testing.T) {
	fx := suiteSetup(t, connectortest.Dataset{
		Users:  []connectortest.User{{ID: 1, Email: "alice@example.com", Name: "Alice"}, {ID: 2, Email: "bob@example.com"}, {ID: 3, Email: "carol@example.com"}},
		Orders: []connectortest.Order{{ID: 100, UserID: 1, Note: "a"}, {ID: 101, UserID: 1, Note: "b"}, {ID: 200, UserID: 2}},
	})
	ctx := context.Background()
	collect := func(p lethe.FindParams) [][]any {
		t.Helper()
		var out [][]any
		err := fx.Connector.Find(ctx, p, func(r lethe.Row) error {
			if !slices.Equal(r.Columns, p.Columns) {
				t.Errorf("row columns %v, want %v", r.Columns, p.Columns)
			}
			out = append(out, slices.Clone(r.Values))
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		slices.SortFunc(out, func(a, b []any) int { return strings.Compare(fmt.Sprint(a), fmt.Sprint(b)) })
		return out
	}
	got := collect(lethe.FindParams{Collection: fx.Orders, Matches: []lethe.Match{{Column: "user_id", Values: []any{int64(1), int64(2)}}}, Columns: []string{"user_id"}, Distinct: true})
	if !cmp.Equal(got, [][]any{{"1"}, {"2"}}) {
		t.Errorf("distinct user_id: %v", got)
	}
	got = collect(lethe.FindParams{Collection: fx.Orders, Matches: []lethe.Match{{Column: "user_id", Values: []any{int64(1)}}}, Columns: []string{"note", "id"}})
	if !cmp.Equal(got, [][]any{{"a", "100"}, {"b", "101"}}) {
		t.Errorf("note, id: %v", got)
	}
	var many []any
	for i := range 2 * lethe.MaxBatch {
		many = append(many, fmt.Sprintf("nobody%d@example.com", i))
	}
	got = collect(lethe.FindParams{Collection: fx.Users, Matches: []lethe.Match{
		{Column: "email", Values: append(many, "alice@example.com", "bob@example.com")},
		{Column: "id", Values: []any{int64(1), int64(2)}},
	}, Columns: []string{"id"}, Distinct: true})
	if !cmp.Equal(got, [][]any{{"1"}, {"2"}}) {
		t.Errorf("distinct over batches: %v", got)
	}
}
