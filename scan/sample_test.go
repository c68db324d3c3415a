package scan_test

import (
	"context"
	"testing"

	"github.com/lethe-privacy/lethe"
	"github.com/lethe-privacy/lethe/connector"
)

// TestSampleMethods: a table without an integer key is sampled by random
// pages on PostgreSQL once the statistics say it is large, by its first
// rows elsewhere, never more than the sample size; SQLite spreads over
// the rowid when no integer key is declared.
func TestSampleMethods(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		mk    func(*testing.T) sqlDB
		setup []string
		rows  int
		// want is the method for the keyless table of `rows` rows.
		want lethe.SampleMethod
	}{
		{"postgres", postgresDB, []string{
			"CREATE TABLE keyless (code text PRIMARY KEY, contact text)",
			"INSERT INTO keyless SELECT 'c' || g, 'user' || g || '@example.org' FROM generate_series(1, 50000) g",
			"ANALYZE keyless",
		}, 50000, lethe.SampleBlocks},
		{"mariadb", mysqlDB, []string{
			"CREATE TABLE keyless (code varchar(20) PRIMARY KEY, contact text)",
			"INSERT INTO keyless SELECT concat('c', seq), concat('user', seq, '@example.org') FROM seq_1_to_3000",
		}, 3000, lethe.SampleFirst},
		{"sqlite without rowid", sqliteDB, []string{
			"CREATE TABLE keyless (code text PRIMARY KEY, contact text) WITHOUT ROWID",
			"WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < 3000) INSERT INTO keyless SELECT 'c' || n, 'user' || n || '@example.org' FROM g",
		}, 3000, lethe.SampleFirst},
		{"sqlite rowid", sqliteDB, []string{
			"CREATE TABLE keyless (code text, contact text)",
			"WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < 3000) INSERT INTO keyless SELECT 'c' || n, 'user' || n || '@example.org' FROM g",
		}, 3000, lethe.SampleSpread},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			d := tc.mk(t)
			db, err := d.open()
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			for _, q := range tc.setup {
				if _, err := db.Exec(q); err != nil {
					t.Fatalf("%s: %v", q, err)
				}
			}
			ds := &lethe.Datastore{Name: "shop", Driver: d.driver, DSN: d.dsn}
			set := connector.NewSet(map[string]*lethe.Datastore{"shop": ds}, connector.Options{})
			defer set.Close()
			ctx := context.Background()
			conn, err := set.Connector(ctx, "shop")
			if err != nil {
				t.Fatal(err)
			}
			tables, err := conn.(lethe.TableLister).Tables(ctx)
			if err != nil || len(tables) != 1 || tables[0] != "keyless" {
				t.Fatalf("tables %v (%v), want [keyless]", tables, err)
			}
			coll := &lethe.Collection{Name: "keyless", Datastore: "shop"}
			if _, err := conn.Describe(ctx, []*lethe.Collection{coll}); err != nil {
				t.Fatal(err)
			}
			seen := map[string]bool{}
			res, err := conn.(lethe.Sampler).Sample(ctx, lethe.SampleParams{Collection: coll, Size: 200}, func(r lethe.Row) error {
				v, _ := r.Get("code")
				seen[v.(string)] = true
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if res.Method != tc.want || res.Rows != 200 || len(seen) != 200 {
				t.Errorf("sampled %d rows (%d distinct) by %s, want 200 distinct by %s", res.Rows, len(seen), res.Method, tc.want)
			}
			_, err = conn.(lethe.Sampler).Sample(ctx, lethe.SampleParams{Collection: &lethe.Collection{Name: "missing", Datastore: "shop"}}, func(lethe.Row) error { return nil })
			if lethe.ErrorCode(err) != lethe.EINVALID {
				t.Errorf("sampling a missing table: %v, want EINVALID", err)
			}
		})
	}
}
