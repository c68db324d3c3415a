package demo_test

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	_ "github.com/go-sql-driver/mysql"
	_ "github.com/jackc/pgx/v5/stdlib"
	"github.com/redis/go-redis/v9"
	_ "modernc.org/sqlite"

	"github.com/lethe-privacy/lethe"
	"github.com/lethe-privacy/lethe/config"
	"github.com/lethe-privacy/lethe/internal/demo"
	"github.com/lethe-privacy/lethe/internal/testenv"
)

var allTables = []string{
	demo.TableUsers, demo.TableAddresses, demo.TableOrders, demo.TableOrderItems, demo.TableNewsletterSubscriptions,
	demo.TableAnalyticsEvents, demo.TableSupportTickets, demo.TableSessions, demo.TableCarts,
}

func seed(t *testing.T, opts demo.Options) demo.Result {
	t.Helper()
	res, err := demo.Seed(context.Background(), opts)
	if err != nil {
		t.Fatalf("seed: %v", err)
	}
	return res
}

func openSQLite(t *testing.T, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func count(t *testing.T, db *sql.DB, query string, args ...any) int64 {
	t.Helper()
	var n int64
	if err := db.QueryRow(query, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

func rowsOf(res demo.Result) map[string]int64 {
	m := map[string]int64{}
	for _, tr := range res.Tables {
		m[tr.Table] = tr.Rows
	}
	return m
}

// checksum hashes a query's rows, with values normalised so that the
// same data reads the same from every engine.
func checksum(t *testing.T, db *sql.DB, query string) string {
	t.Helper()
	rows, err := db.Query(query)
	if err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	h := sha256.New()
	n := 0
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		for _, v := range vals {
			switch v := v.(type) {
			case time.Time:
				fmt.Fprintf(h, "%s|", v.UTC().Format(time.RFC3339))
			case []byte:
				fmt.Fprintf(h, "%s|", v)
			default:
				fmt.Fprintf(h, "%v|", v)
			}
		}
		h.Write([]byte("\n"))
		n++
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%d rows %s", n, hex.EncodeToString(h.Sum(nil)[:8]))
}

func TestSeedSQLite(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "demo", "shop.db")
	var progress []int
	res := seed(t, demo.Options{Subjects: 50, Seed: 7, SQLitePath: path, Progress: func(done, total int) {
		if total != 50 {
			t.Errorf("progress total = %d, want 50", total)
		}
		progress = append(progress, done)
	}})
	if len(progress) == 0 || progress[len(progress)-1] != 50 {
		t.Errorf("progress = %v, want it to end at 50", progress)
	}
	db := openSQLite(t, path)

	// Every table is in the one file, with the rows Seed reports.
	want := rowsOf(res)
	var total int64
	for _, name := range allTables {
		got := count(t, db, "SELECT count(*) FROM "+name)
		if got != want[name] {
			t.Errorf("%s: %d rows, result says %d", name, got, want[name])
		}
		total += got
	}
	if total != res.Rows || len(res.Tables) != len(allTables) {
		t.Errorf("rows = %d in %d tables, result says %d in %d", total, len(allTables), res.Rows, len(res.Tables))
	}
	for _, tr := range res.Tables {
		if tr.Driver != "sqlite" || tr.Path != path {
			t.Errorf("%s went to %s %q, want the embedded file", tr.Table, tr.Driver, tr.Path)
		}
	}
	// Every tenth subject has no account.
	if n := count(t, db, "SELECT count(*) FROM users"); n != 45 {
		t.Errorf("users = %d, want 45 (subjects 10, 20, ... have no account)", n)
	}
	if n := count(t, db, "SELECT count(*) FROM users WHERE id % 10 = 0"); n != 0 {
		t.Errorf("%d users with an id that is a multiple of 10", n)
	}
	// Each subject has about fourteen rows.
	if perSubject := float64(res.Rows) / 50; perSubject < 10 || perSubject > 20 {
		t.Errorf("%.1f rows per subject, want about 14", perSubject)
	}

	// The awkward subjects.
	for _, c := range []struct {
		query string
		want  string
	}{
		{"SELECT name FROM users WHERE id = 1", "Siobhán O'Brien"},
		{"SELECT email FROM users WHERE id = 1", "siobhan.o'brien@example.com"},
		{"SELECT name FROM users WHERE email = 'zoe.mueller@example.com'", "Zoë Müller"},
		{"SELECT name FROM users WHERE phone = '+48 601 234 567'", "Łukasz Żółkiewski"},
		{"SELECT email FROM newsletter_subscriptions WHERE email LIKE '%+shop@%' AND email = 'jane.doe+shop@example.com'", "jane.doe+shop@example.com"},
		{"SELECT email FROM support_tickets WHERE user_id IS NULL AND email = 'renee.darcy+news@example.org'", "renee.darcy+news@example.org"},
	} {
		var got string
		if err := db.QueryRow(c.query).Scan(&got); err != nil || got != c.want {
			t.Errorf("%s = %q, %v; want %q", c.query, got, err, c.want)
		}
	}
	// Subject 1 is in every collection that holds a user_id, and has
	// orders on both sides of the ten-year tax hold.
	for _, q := range []string{
		"SELECT count(*) FROM addresses WHERE user_id = 1",
		"SELECT count(*) FROM orders WHERE user_id = 1",
		"SELECT count(*) FROM order_items WHERE order_id IN (SELECT id FROM orders WHERE user_id = 1)",
		"SELECT count(*) FROM support_tickets WHERE user_id = 1",
		"SELECT count(*) FROM newsletter_subscriptions WHERE email = 'siobhan.o''brien@example.com'",
		"SELECT count(*) FROM analytics_events WHERE user_id = 1",
		"SELECT count(*) FROM sessions WHERE user_id = 1",
		"SELECT count(*) FROM carts WHERE user_id = 1",
	} {
		if count(t, db, q) == 0 {
			t.Errorf("%s: none", q)
		}
	}
	cutoff := demo.DefaultAsOf.AddDate(-10, 0, 0).Format(time.DateTime)
	if count(t, db, "SELECT count(*) FROM orders WHERE user_id = 1 AND created_at < ?", cutoff) == 0 ||
		count(t, db, "SELECT count(*) FROM orders WHERE user_id = 1 AND created_at >= ?", cutoff) == 0 {
		t.Errorf("subject 1 lacks orders older or newer than ten years")
	}
	// Rows that belong to nobody: analytics of visitors who never logged in.
	if count(t, db, "SELECT count(*) FROM analytics_events WHERE user_id IS NULL") == 0 {
		t.Errorf("no anonymous analytics events")
	}
	if count(t, db, "SELECT count(*) FROM users WHERE last_ip LIKE '2001:db8:%'") == 0 {
		t.Errorf("no IPv6 last_ip")
	}

	// SampleSubject names what is in the tables, without a query.
	for _, i := range []int{1, 2, 3, 4, 10, 17, 42, 50} {
		s := demo.SampleSubject(7, i)
		if s.Index != i || s.HasAccount() != (i%10 != 0) {
			t.Errorf("SampleSubject(7, %d) = %+v", i, s)
			continue
		}
		if s.HasAccount() {
			var email, name string
			var phone sql.NullString
			if err := db.QueryRow("SELECT email, name, phone FROM users WHERE id = ?", s.UserID).Scan(&email, &name, &phone); err != nil {
				t.Fatal(err)
			}
			if email != s.Email || name != s.Name || phone.String != s.Phone {
				t.Errorf("user %d = %q %q %q, SampleSubject says %+v", i, email, name, phone.String, s)
			}
		} else if count(t, db, "SELECT (SELECT count(*) FROM newsletter_subscriptions WHERE email = ?) + (SELECT count(*) FROM support_tickets WHERE email = ? AND user_id IS NULL)", s.Email, s.Email) == 0 {
			t.Errorf("subject %d has no account and no newsletter subscription or ticket", i)
		}
	}

	// The references hold, every identity and reference column is
	// indexed, and dates read back as dates.
	fk, err := db.Query("PRAGMA foreign_key_check")
	if err != nil {
		t.Fatal(err)
	}
	if fk.Next() {
		t.Errorf("foreign_key_check reports a violation")
	}
	fk.Close()
	for _, idx := range []string{"users_phone_idx", "addresses_user_id_idx", "orders_user_id_idx", "order_items_order_id_idx",
		"analytics_events_user_id_idx", "support_tickets_user_id_idx", "support_tickets_email_idx", "sessions_user_id_idx", "carts_user_id_idx"} {
		if count(t, db, "SELECT count(*) FROM sqlite_master WHERE type = 'index' AND name = ?", idx) != 1 {
			t.Errorf("index %s missing", idx)
		}
	}
	for _, unique := range []string{"users", "newsletter_subscriptions"} {
		if count(t, db, "SELECT count(*) FROM pragma_index_list(?) WHERE \"unique\" = 1 AND origin = 'u'", unique) != 1 {
			t.Errorf("%s.email is not unique", unique)
		}
	}
	var created time.Time
	var dob sql.NullTime
	if err := db.QueryRow("SELECT created_at, date_of_birth FROM users WHERE date_of_birth IS NOT NULL LIMIT 1").Scan(&created, &dob); err != nil {
		t.Fatalf("times do not read back as time.Time: %v", err)
	}
	if created.IsZero() || created.After(demo.DefaultAsOf) || dob.Time.Hour() != 0 {
		t.Errorf("created_at %v, date_of_birth %v", created, dob.Time)
	}
}

func TestSeedIsDeterministic(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	sum := func(path string, where string) string {
		db := openSQLite(t, path)
		var b strings.Builder
		for _, name := range allTables {
			order := "id"
			fmt.Fprintf(&b, "%s %s\n", name, checksum(t, db, "SELECT * FROM "+name+where+" ORDER BY "+order))
		}
		return b.String()
	}
	a, b, c, big := filepath.Join(dir, "a.db"), filepath.Join(dir, "b.db"), filepath.Join(dir, "c.db"), filepath.Join(dir, "big.db")
	seed(t, demo.Options{Subjects: 120, Seed: 3, SQLitePath: a})
	seed(t, demo.Options{Subjects: 120, Seed: 3, SQLitePath: b})
	seed(t, demo.Options{Subjects: 120, Seed: 4, SQLitePath: c})
	seed(t, demo.Options{Subjects: 1500, Seed: 3, SQLitePath: big})
	if sa, sb := sum(a, ""), sum(b, ""); sa != sb {
		t.Errorf("same subjects and seed, different data:\n%s\n%s", sa, sb)
	}
	if sa, sc := sum(a, ""), sum(c, ""); sa == sc {
		t.Errorf("seeds 3 and 4 gave the same data")
	}
	// The first 120 subjects' accounts are the same in a larger estate
	// (which spans two chunks).
	db := openSQLite(t, big)
	if got, want := checksum(t, db, "SELECT * FROM users WHERE id <= 120 ORDER BY id"), checksum(t, openSQLite(t, a), "SELECT * FROM users ORDER BY id"); got != want {
		t.Errorf("users 1-120 of a larger estate: %s, want %s", got, want)
	}
	if got, want := checksum(t, db, "SELECT * FROM orders WHERE user_id <= 120 ORDER BY id"), checksum(t, openSQLite(t, a), "SELECT * FROM orders ORDER BY id"); got != want {
		t.Errorf("orders of users 1-120 of a larger estate: %s, want %s", got, want)
	}
	if n := count(t, db, "SELECT count(*) FROM users"); n != 1350 {
		t.Errorf("users = %d, want 1350", n)
	}
}

func TestSeedRefusesOccupiedTablesAndResets(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "shop.db")
	db := openSQLite(t, path)
	// A table of someone else's in the same file: never touched.
	if _, err := db.Exec("CREATE TABLE keep_me (id INTEGER PRIMARY KEY, note TEXT); INSERT INTO keep_me VALUES (1, 'mine')"); err != nil {
		t.Fatal(err)
	}
	first := seed(t, demo.Options{Subjects: 20, Seed: 1, SQLitePath: path})

	_, err := demo.Seed(context.Background(), demo.Options{Subjects: 30, Seed: 1, SQLitePath: path})
	if lethe.ErrorCode(err) != lethe.ECONFLICT || !strings.Contains(err.Error(), "users") || !strings.Contains(err.Error(), "reset") {
		t.Fatalf("seed into occupied tables: %v, want ECONFLICT naming users and --reset", err)
	}
	if n := count(t, db, "SELECT count(*) FROM users"); n != 18 {
		t.Errorf("after the refusal users = %d, want the 18 of the first seed", n)
	}
	if n := count(t, db, "SELECT count(*) FROM order_items"); n != rowsOf(first)[demo.TableOrderItems] {
		t.Errorf("after the refusal order_items changed")
	}

	res := seed(t, demo.Options{Subjects: 30, Seed: 1, SQLitePath: path, Reset: true})
	for _, name := range allTables {
		if got, want := count(t, db, "SELECT count(*) FROM "+name), rowsOf(res)[name]; got != want {
			t.Errorf("after reset %s = %d rows, want %d", name, got, want)
		}
	}
	if n := count(t, db, "SELECT count(*) FROM users"); n != 27 {
		t.Errorf("after reset users = %d, want 27", n)
	}
	var note string
	if err := db.QueryRow("SELECT note FROM keep_me WHERE id = 1").Scan(&note); err != nil || note != "mine" {
		t.Errorf("reset touched another table: %q, %v", note, err)
	}

	// Empty demo tables (e.g. created by hand) are filled without Reset.
	empty := filepath.Join(t.TempDir(), "empty.db")
	seed(t, demo.Options{Subjects: 5, SQLitePath: empty})
	edb := openSQLite(t, empty)
	for _, name := range []string{"order_items", "carts", "sessions", "analytics_events", "support_tickets", "newsletter_subscriptions", "orders", "addresses", "users"} {
		if _, err := edb.Exec("DELETE FROM " + name); err != nil {
			t.Fatal(err)
		}
	}
	seed(t, demo.Options{Subjects: 5, SQLitePath: empty})
	if n := count(t, edb, "SELECT count(*) FROM users"); n != 5 {
		t.Errorf("users in emptied tables = %d, want 5", n)
	}
}

func TestSeedOptions(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	if _, err := demo.Seed(ctx, demo.Options{Subjects: 5}); lethe.ErrorCode(err) != lethe.EINVALID {
		t.Errorf("no SQLite path: %v, want EINVALID", err)
	}
	if _, err := demo.Seed(ctx, demo.Options{Subjects: -1, SQLitePath: filepath.Join(t.TempDir(), "x.db")}); lethe.ErrorCode(err) != lethe.EINVALID {
		t.Errorf("-1 subjects: %v, want EINVALID", err)
	}
	for _, o := range []demo.Options{
		{PostgresURL: "postgres://lethe:s3cret-pw@127.0.0.1:5432/test?sslmode=bogus"},
		{MySQLDSN: "lethe:s3cret-pw@tcp(127.0.0.1:3306"},
		{MySQLDSN: "lethe:s3cret-pw@tcp(127.0.0.1:3306)/"},
		{RedisURL: "redis://lethe:s3cret-pw@127.0.0.1:6379/x"},
	} {
		o.SQLitePath = filepath.Join(t.TempDir(), "x.db")
		_, err := demo.Seed(ctx, o)
		if lethe.ErrorCode(err) != lethe.EINVALID || strings.Contains(err.Error(), "s3cret") {
			t.Errorf("bad connection string: %v, want EINVALID without the password", err)
		}
	}
	// Unreachable: EUNAVAILABLE, no password.
	for _, o := range []demo.Options{
		{PostgresURL: "postgres://lethe:s3cret-pw@127.0.0.1:1/test?connect_timeout=2"},
		{MySQLDSN: "lethe:s3cret-pw@tcp(127.0.0.1:1)/test?timeout=2s"},
		{RedisURL: "redis://lethe:s3cret-pw@127.0.0.1:1/0"},
	} {
		o.SQLitePath = filepath.Join(t.TempDir(), "x.db")
		_, err := demo.Seed(ctx, o)
		if lethe.ErrorCode(err) != lethe.EUNAVAILABLE || strings.Contains(err.Error(), "s3cret") {
			t.Errorf("unreachable: %v, want EUNAVAILABLE without the password", err)
		}
	}
}

// TestSeedFourEngines seeds the multi-store estate: the shop on
// PostgreSQL, analytics on MariaDB, support tickets in their own SQLite
// file, sessions and carts in Redis.
func TestSeedFourEngines(t *testing.T) {
	t.Parallel()
	pgURL := testenv.PostgresSchema(t)
	myDSN := testenv.MySQLDatabase(t)
	redisURL, prefix := testenv.RedisPrefix(t)
	dir := t.TempDir()
	embedded, support := filepath.Join(dir, "shop.db"), filepath.Join(dir, "support.db")
	opts := demo.Options{Subjects: 50, Seed: 7, SQLitePath: embedded, SupportSQLitePath: support,
		PostgresURL: pgURL, MySQLDSN: myDSN, RedisURL: redisURL, RedisPrefix: prefix}
	res := seed(t, opts)
	want := rowsOf(res)

	if _, err := os.Stat(embedded); !os.IsNotExist(err) {
		t.Errorf("the embedded file was created though every table went elsewhere: %v", err)
	}
	drivers := map[string]string{}
	for _, tr := range res.Tables {
		drivers[tr.Table] = tr.Driver
	}
	wantDrivers := map[string]string{"users": "postgres", "addresses": "postgres", "orders": "postgres", "order_items": "postgres",
		"newsletter_subscriptions": "postgres", "analytics_events": "mysql", "support_tickets": "sqlite", "sessions": "redis", "carts": "redis"}
	for name, d := range wantDrivers {
		if drivers[name] != d {
			t.Errorf("%s went to %q, want %s", name, drivers[name], d)
		}
	}

	pg, err := sql.Open("pgx", pgURL)
	if err != nil {
		t.Fatal(err)
	}
	defer pg.Close()
	my, err := sql.Open("mysql", myDSN)
	if err != nil {
		t.Fatal(err)
	}
	defer my.Close()
	sup := openSQLite(t, support)
	for name, db := range map[string]*sql.DB{"users": pg, "addresses": pg, "orders": pg, "order_items": pg,
		"newsletter_subscriptions": pg, "analytics_events": my, "support_tickets": sup} {
		if got := count(t, db, "SELECT count(*) FROM "+name); got != want[name] || got == 0 {
			t.Errorf("%s: %d rows, result says %d", name, got, want[name])
		}
	}
	// The same subjects as the embedded estate of the same seed, value for
	// value, whatever the engine.
	ref := filepath.Join(dir, "ref.db")
	seed(t, demo.Options{Subjects: 50, Seed: 7, SQLitePath: ref})
	rdb := openSQLite(t, ref)
	for name, db := range map[string]*sql.DB{"users": pg, "orders": pg, "order_items": pg, "newsletter_subscriptions": pg,
		"analytics_events": my, "support_tickets": sup} {
		q := "SELECT * FROM " + name + " ORDER BY id"
		if got, want := checksum(t, db, q), checksum(t, rdb, q); got != want {
			t.Errorf("%s differs from the embedded estate: %s, want %s", name, got, want)
		}
	}
	var uniques, fks int64
	// The schema's own indexes first: pg_indexes may render the
	// definition of another test's index while its schema is dropped,
	// and fail ("could not open relation with OID").
	uniques = count(t, pg, `WITH mine AS MATERIALIZED (
  SELECT i.indexrelid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
  WHERE c.relnamespace = current_schema()::regnamespace AND i.indisunique)
SELECT count(*) FROM mine WHERE pg_get_indexdef(indexrelid) LIKE '%(email)'`)
	fks = count(t, pg, "SELECT count(*) FROM information_schema.table_constraints WHERE table_schema = current_schema() AND constraint_type = 'FOREIGN KEY'")
	if uniques != 2 || fks != 3 {
		t.Errorf("postgres: %d unique e-mail indexes, %d foreign keys; want 2 and 3", uniques, fks)
	}
	if n := count(t, my, "SELECT count(*) FROM information_schema.statistics WHERE table_schema = DATABASE() AND table_name = 'analytics_events' AND column_name = 'user_id'"); n != 1 {
		t.Errorf("analytics_events.user_id is not indexed in MariaDB")
	}

	// Redis: a hash per session, a list per cart.
	ropts, _ := redis.ParseURL(redisURL)
	rc := redis.NewClient(ropts)
	defer rc.Close()
	ctx := context.Background()
	sessions, _ := rc.Keys(ctx, prefix+"session:*").Result()
	carts, _ := rc.Keys(ctx, prefix+"cart:*").Result()
	var items int64
	for _, k := range carts {
		items += rc.LLen(ctx, k).Val()
	}
	if int64(len(sessions)) != want["sessions"] || items != want["carts"] || len(sessions) == 0 || len(carts) == 0 {
		t.Errorf("redis: %d session keys, %d cart items in %d keys; result says %d sessions, %d carts", len(sessions), items, len(carts), want["sessions"], want["carts"])
	}
	s1 := rc.HGetAll(ctx, prefix+"session:1").Val()
	if len(s1["id"]) != 32 || s1["ip"] == "" || s1["user_agent"] == "" || s1["expires_at"] == "" {
		t.Errorf("session:1 = %v", s1)
	}
	if item := rc.LIndex(ctx, prefix+"cart:1", 0).Val(); !strings.HasPrefix(item, `{"sku":"SKU-`) {
		t.Errorf("cart:1[0] = %q", item)
	}

	// Occupied: refused everywhere, nothing written; reset: the same
	// counts again, not doubled, and a key that is not the demo's stays.
	rc.Set(ctx, prefix+"session:not-a-user", "keep", 0)
	if _, err := demo.Seed(ctx, opts); lethe.ErrorCode(err) != lethe.ECONFLICT {
		t.Fatalf("second seed without reset: %v, want ECONFLICT", err)
	}
	opts.Reset = true
	again := seed(t, opts)
	if again.Rows != res.Rows {
		t.Errorf("after reset %d rows, want %d", again.Rows, res.Rows)
	}
	if got := count(t, pg, "SELECT count(*) FROM users"); got != want["users"] {
		t.Errorf("after reset users = %d, want %d", got, want["users"])
	}
	if got := count(t, my, "SELECT count(*) FROM analytics_events"); got != want["analytics_events"] {
		t.Errorf("after reset analytics_events = %d, want %d", got, want["analytics_events"])
	}
	if n := rc.LLen(ctx, prefix+"cart:1").Val(); n != rc.LLen(ctx, prefix+"cart:1").Val() || n == 0 {
		t.Errorf("cart:1 after reset: %d items", n)
	}
	items = 0
	for _, k := range rc.Keys(ctx, prefix+"cart:*").Val() {
		items += rc.LLen(ctx, k).Val()
	}
	if items != want["carts"] {
		t.Errorf("after reset %d cart items, want %d (lists appended to instead of recreated?)", items, want["carts"])
	}
	if v := rc.Get(ctx, prefix+"session:not-a-user").Val(); v != "keep" {
		t.Errorf("reset deleted a key that is not the demo's")
	}
}

// TestExampleDataMapsDescribeTheEstate checks examples/lethe.yaml and
// examples/lethe-multi.yaml against the tables Seed writes: every
// collection is a demo table in the right engine, and every column of
// each table is classified (primary key, identity, reference, field or
// ignored), and nothing the map names is missing.
func TestExampleDataMapsDescribeTheEstate(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("LETHE_DATA_DIR", dir)
	for name, v := range map[string]string{
		"SHOP_DATABASE_URL": "postgres://lethe@127.0.0.1/shop", "ANALYTICS_DSN": "lethe@tcp(127.0.0.1:3306)/analytics",
		"SUPPORT_SQLITE_PATH": filepath.Join(dir, "support.db"), "SESSIONS_REDIS_URL": "redis://127.0.0.1:6379/0",
		"MAILER_WEBHOOK_SECRET": "0123456789abcdef0123456789abcdef",
	} {
		t.Setenv(name, v)
	}
	embedded := filepath.Join(dir, "demo", "shop.db")
	seed(t, demo.Options{Subjects: 20, SQLitePath: embedded})
	db := openSQLite(t, embedded)
	columns := map[string][]string{}
	for _, table := range allTables {
		rows, err := db.Query("SELECT name FROM pragma_table_info(?)", table)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var c string
			rows.Scan(&c)
			columns[table] = append(columns[table], c)
		}
		rows.Close()
	}

	check := func(file string, wantDriver map[string]string) {
		cfg, _, err := config.Load(filepath.Join("..", "..", "examples", file))
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		seen := map[string]bool{}
		for _, c := range cfg.Collections() {
			d, _ := cfg.Datastore(c.Datastore)
			if d.Driver == lethe.DriverWebhook {
				continue // the mailing service is not seeded
			}
			table := c.TableName()
			seen[table] = true
			if d.Driver != wantDriver[table] {
				t.Errorf("%s: %s is in a %s datastore, the demo writes it to %s", file, c.Path(), d.Driver, wantDriver[table])
			}
			if d.Driver == lethe.DriverRedis {
				want := map[string]string{demo.TableSessions: demo.RedisSessionKey, demo.TableCarts: demo.RedisCartKey}[c.Name]
				if c.Key != want {
					t.Errorf("%s: %s has key %q, the demo writes %q", file, c.Path(), c.Key, want)
				}
				continue
			}
			classified := map[string]bool{c.PrimaryKeyColumn(): true}
			named := []string{c.PrimaryKeyColumn()}
			for _, col := range c.Identities {
				classified[col] = true
				named = append(named, col)
			}
			for col := range c.References {
				classified[col] = true
				named = append(named, col)
			}
			for _, col := range append(c.FieldNames(), c.Ignore...) {
				classified[col] = true
				named = append(named, col)
			}
			if c.Hold != nil && c.Hold.Since != "" {
				named = append(named, c.Hold.Since)
			}
			for _, col := range columns[table] {
				if !classified[col] {
					t.Errorf("%s: column %s.%s is neither a field, an identity, a reference nor ignored", file, table, col)
				}
			}
			for _, col := range named {
				if !slices.Contains(columns[table], col) {
					t.Errorf("%s: %s names column %s, which the demo's %s table lacks", file, c.Path(), col, table)
				}
			}
		}
		for _, table := range allTables {
			if !seen[table] {
				t.Errorf("%s maps no collection to the demo table %s", file, table)
			}
		}
	}
	embeddedDrivers := map[string]string{}
	for _, table := range allTables {
		embeddedDrivers[table] = lethe.DriverSQLite
	}
	check("lethe.yaml", embeddedDrivers)
	cfg, _, _ := config.Load(filepath.Join("..", "..", "examples", "lethe.yaml"))
	if ds, ok := cfg.Datastore("shop"); !ok || ds.DSN != embedded {
		t.Errorf("lethe.yaml's shop datastore does not point at %s (LETHE_DATA_DIR/demo/shop.db)", embedded)
	}
	check("lethe-multi.yaml", map[string]string{
		demo.TableUsers: "postgres", demo.TableAddresses: "postgres", demo.TableOrders: "postgres", demo.TableOrderItems: "postgres",
		demo.TableNewsletterSubscriptions: "postgres", demo.TableAnalyticsEvents: "mysql", demo.TableSupportTickets: "sqlite",
		demo.TableSessions: "redis", demo.TableCarts: "redis",
	})
}
