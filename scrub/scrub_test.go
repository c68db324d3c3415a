package scrub_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	gomysql "github.com/go-sql-driver/mysql"
	"github.com/google/go-cmp/cmp"
	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/lethe-privacy/lethe"
	"github.com/lethe-privacy/lethe/config"
	"github.com/lethe-privacy/lethe/connector"
	"github.com/lethe-privacy/lethe/internal/testenv"
	"github.com/lethe-privacy/lethe/mask"
	"github.com/lethe-privacy/lethe/scrub"
)

var testKey = []byte("scrub test key, 32 bytes long!!!")

// engine is one database the suite runs on: a fresh copy per call.
type engine struct {
	name, driver string
	// copy creates an empty database and returns the DSN for lethe.yaml,
	// a raw handle for the test's own SQL, and a function reading the
	// files that hold the customers table ("" and nil when they cannot
	// be read, with the reason).
	copy func(t *testing.T) (dsn string, db *sql.DB, files func() ([][]byte, string))
}

func engines() []engine {
	return []engine{
		{name: "postgres", driver: "postgres", copy: postgresCopy},
		{name: "mariadb", driver: "mysql", copy: mysqlCopy},
		{name: "sqlite", driver: "sqlite", copy: sqliteCopy},
	}
}

// postgresDatabase creates a database of the test's own, so that
// compaction waits for no other test's snapshot (it waits for the
// sessions of its database only), and drops it at the end.
func postgresDatabase(t *testing.T) string {
	t.Helper()
	base := testenv.PostgresURL(t)
	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	name := fmt.Sprintf("lethe_scrub_test_%d", time.Now().UnixNano())
	if _, err := admin.Exec("CREATE DATABASE " + name); err != nil {
		t.Fatalf("create database: %v", err)
	}
	t.Cleanup(func() {
		admin, err := sql.Open("pgx", base)
		if err != nil {
			return
		}
		defer admin.Close()
		if _, err := admin.Exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)"); err != nil {
			t.Logf("drop database %s: %v", name, err)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	return u.String()
}

func postgresCopy(t *testing.T) (string, *sql.DB, func() ([][]byte, string)) {
	dsn := postgresDatabase(t)
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	db.SetMaxOpenConns(1) // the test's own statements: one session, one search_path
	files := func() ([][]byte, string) {
		ctx := context.Background()
		var dir string
		if err := db.QueryRowContext(ctx, "SHOW data_directory").Scan(&dir); err != nil {
			return nil, "data_directory is not readable by the test user"
		}
		if _, err := db.ExecContext(ctx, "CHECKPOINT"); err != nil {
			return nil, "CHECKPOINT needs a superuser"
		}
		var out [][]byte
		for _, rel := range []string{"customers", "customers_email_key", "orders"} {
			var path string
			if err := db.QueryRowContext(ctx, "SELECT pg_relation_filepath($1::regclass)", rel).Scan(&path); err != nil {
				t.Fatalf("pg_relation_filepath(%s): %v", rel, err)
			}
			b, err := os.ReadFile(filepath.Join(dir, path))
			if err != nil {
				return nil, "the relation files under " + dir + " are not readable by the test process"
			}
			out = append(out, b)
		}
		return out, ""
	}
	return dsn, db, files
}

func mysqlCopy(t *testing.T) (string, *sql.DB, func() ([][]byte, string)) {
	dsn := testenv.MySQLDatabase(t)
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	cfg, _ := gomysql.ParseDSN(dsn)
	files := func() ([][]byte, string) {
		ctx := context.Background()
		var dir string
		if err := db.QueryRowContext(ctx, "SELECT @@datadir").Scan(&dir); err != nil {
			return nil, "datadir is not readable"
		}
		// FOR EXPORT flushes the tables' dirty pages to their .ibd files.
		conn, err := db.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		if _, err := conn.ExecContext(ctx, "FLUSH TABLES customers, orders FOR EXPORT"); err != nil {
			return nil, "FLUSH TABLES ... FOR EXPORT was refused"
		}
		defer conn.ExecContext(ctx, "UNLOCK TABLES") //nolint:errcheck
		var out [][]byte
		for _, tbl := range []string{"customers", "orders"} {
			b, err := os.ReadFile(filepath.Join(dir, cfg.DBName, tbl+".ibd"))
			if err != nil {
				return nil, "the .ibd files under " + dir + " are not readable by the test process"
			}
			out = append(out, b)
		}
		return out, ""
	}
	return dsn, db, files
}

func sqliteCopy(t *testing.T) (string, *sql.DB, func() ([][]byte, string)) {
	path := filepath.Join(t.TempDir(), "copy.db")
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	db.SetMaxOpenConns(1)
	files := func() ([][]byte, string) {
		var out [][]byte
		for _, p := range []string{path, path + "-wal", path + "-journal"} {
			if b, err := os.ReadFile(p); err == nil {
				out = append(out, b)
			}
		}
		return out, ""
	}
	return path, db, files
}

const customers, orders = 60, 150

// seed creates the two tables (orders.customer_email a foreign key to
// the unique customers.email) and fills them with values that are easy
// to find again: every original holds "orig".
func seed(t *testing.T, db *sql.DB) {
	t.Helper()
	ctx := context.Background()
	stmts := []string{
		`CREATE TABLE customers (id integer PRIMARY KEY, email varchar(200) NOT NULL, name varchar(100), phone varchar(40), note varchar(200), handle varchar(100), CONSTRAINT customers_email_key UNIQUE (email))`,
		`CREATE TABLE orders (id integer PRIMARY KEY, customer_email varchar(200) NOT NULL, total integer NOT NULL, FOREIGN KEY (customer_email) REFERENCES customers (email))`,
	}
	for _, s := range stmts {
		if _, err := db.ExecContext(ctx, s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
	var b strings.Builder
	b.WriteString("INSERT INTO customers (id, email, name, phone, note, handle) VALUES ")
	for i := 1; i <= customers; i++ {
		if i > 1 {
			b.WriteByte(',')
		}
		phone := fmt.Sprintf("'+49 30 orig %04d'", i)
		if i%7 == 0 {
			phone = "NULL" // NULL stays NULL
		}
		fmt.Fprintf(&b, "(%d, 'cust%03d.orig@example.org', 'Origina Person%03d', %s, 'note orig %d', 'handle%d')", i, i, i, phone, i, i%5)
	}
	if _, err := db.ExecContext(ctx, b.String()); err != nil {
		t.Fatalf("insert customers: %v", err)
	}
	b.Reset()
	b.WriteString("INSERT INTO orders (id, customer_email, total) VALUES ")
	for i := 1; i <= orders; i++ {
		if i > 1 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "(%d, 'cust%03d.orig@example.org', %d)", i, 1+i%customers, i*10)
	}
	if _, err := db.ExecContext(ctx, b.String()); err != nil {
		t.Fatalf("insert orders: %v", err)
	}
}

// dataMap returns lethe.yaml for the copy; extra goes under customers.
func dataMap(driver, dsn string, allowed bool, customersExtra string) string {
	return fmt.Sprintf(`controller: {name: Shop}
purposes: [{id: orders, lawful_basis: contract}]
datastores:
  copy:
    driver: %s
    dsn: %q
    scrub_allowed: %t
    collections:
      customers:
        identities: {email: email}
        erase: anonymise
        fields:
          email: {category: contact.email, erase: hmac}
          name:  {category: name, erase: null, scrub: fake.name}
          phone: {category: contact.phone, erase: fake.phone}
%s
      orders:
        references: {customer_email: customers.email}
        ignore: [total]
`, driver, dsn, allowed, customersExtra)
}

const ignoreRest = "        ignore: [note, handle]"

func newEngine(t *testing.T, yaml string) (*scrub.Engine, *lethe.Config) {
	t.Helper()
	cfg, err := config.Parse([]byte(yaml), "lethe.yaml")
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	set := connector.NewSet(cfg.Datastores, connector.Options{})
	t.Cleanup(func() { set.Close() })
	e, err := scrub.New(scrub.Options{
		Config: cfg, Connectors: set,
		Strategy: func(name string) (scrub.Strategy, error) { return mask.Parse(name, testKey) },
	})
	if err != nil {
		t.Fatal(err)
	}
	return e, cfg
}

// dump reads every row of both tables, in key order, as text.
func dump(t *testing.T, db *sql.DB) []string {
	t.Helper()
	var out []string
	for _, q := range []string{
		"SELECT id, email, name, phone, note, handle FROM customers ORDER BY id",
		"SELECT id, customer_email, total FROM orders ORDER BY id",
	} {
		rows, err := db.Query(q)
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		cols, _ := rows.Columns()
		for rows.Next() {
			vals := make([]sql.NullString, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			var b strings.Builder
			for _, v := range vals {
				if v.Valid {
					b.WriteString(v.String)
				} else {
					b.WriteString("<null>")
				}
				b.WriteByte('|')
			}
			out = append(out, b.String())
		}
		if err := rows.Close(); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

func count(t *testing.T, db *sql.DB, q string) int {
	t.Helper()
	var n int
	if err := db.QueryRow(q).Scan(&n); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}

func TestScrub(t *testing.T) {
	ctx := context.Background()
	scrubbedEmails := map[string][]string{}
	for _, eng := range engines() {
		t.Run(eng.name, func(t *testing.T) {
			dsn, db, files := eng.copy(t)
			seed(t, db)
			before := dump(t, db)

			// Refusals first: nothing may change.
			e, _ := newEngine(t, dataMap(eng.driver, dsn, false, ignoreRest))
			_, err := e.Run(ctx, scrub.Params{Datastore: "copy", Confirm: "copy"})
			if lethe.ErrorCode(err) != lethe.EFORBIDDEN || !strings.Contains(err.Error(), "scrub_allowed: true") {
				t.Errorf("without scrub_allowed: got %v, want EFORBIDDEN naming scrub_allowed", err)
			}
			e, _ = newEngine(t, dataMap(eng.driver, dsn, true, ignoreRest))
			for _, confirm := range []string{"", "prod", "Copy"} {
				_, err = e.Run(ctx, scrub.Params{Datastore: "copy", Confirm: confirm})
				if lethe.ErrorCode(err) != lethe.EFORBIDDEN || !strings.Contains(err.Error(), "--confirm copy") {
					t.Errorf("confirm %q: got %v, want EFORBIDDEN asking for --confirm copy", confirm, err)
				}
			}
			strictE, _ := newEngine(t, dataMap(eng.driver, dsn, true, "        ignore: [handle]"))
			_, err = strictE.Run(ctx, scrub.Params{Datastore: "copy", Confirm: "copy", Strict: true})
			if lethe.ErrorCode(err) != lethe.EINVALID || !strings.Contains(err.Error(), "collection customers: columns note are in table customers but not in the data map") {
				t.Errorf("strict with an undeclared column: got %v", err)
			}
			uniqE, _ := newEngine(t, dataMap(eng.driver, dsn, true, "          handle: {category: online.identifier, erase: fake.first_name}\n        ignore: [note]"))
			if _, err := db.Exec("CREATE UNIQUE INDEX customers_handle ON customers (id, handle)"); err != nil {
				t.Fatal(err) // a composite index does not make handle unique: the check must not trip on it
			}
			if _, err := uniqE.Run(ctx, scrub.Params{Datastore: "copy", Confirm: "copy", DryRun: true}); err != nil {
				t.Errorf("fake.first_name on a column unique only with another: %v", err)
			}
			uniqEmail, _ := newEngine(t, strings.Replace(dataMap(eng.driver, dsn, true, ignoreRest), "erase: hmac", "erase: hmac, scrub: fake.city", 1))
			_, err = uniqEmail.Run(ctx, scrub.Params{Datastore: "copy", Confirm: "copy"})
			if lethe.ErrorCode(err) != lethe.EINVALID || !strings.Contains(err.Error(), "collection customers: column email: is unique, and fake.city can give two rows the same value") {
				t.Errorf("unique column with fake.city: got %v", err)
			}
			if diff := cmp.Diff(before, dump(t, db)); diff != "" {
				t.Fatalf("a refused scrub changed the copy (-before +after):\n%s", diff)
			}

			// A second copy with the same data, scrubbed with the same
			// key, must come out the same.
			dsn2, db2, _ := eng.copy(t)
			seed(t, db2)

			if blobs, why := files(); why == "" && !containsAny(blobs, "cust007.orig@example.org") {
				t.Fatalf("the original is not in the database files before the scrub: the file check below would prove nothing")
			}

			var progressed int64
			rep, err := e.Run(ctx, scrub.Params{Datastore: "copy", Confirm: "copy", Strict: true, Workers: 2, Batch: 7,
				Progress: func(p scrub.Progress) { progressed = p.Rows }})
			if err != nil {
				t.Fatalf("scrub: %v", err)
			}
			if rep.Rows != customers+orders || progressed != customers+orders || !rep.Compacted {
				t.Errorf("report: rows %d, progress %d, compacted %t; want %d rows, compacted", rep.Rows, progressed, rep.Compacted, customers+orders)
			}
			wantCols := map[string][]scrub.ColumnReport{
				"customers": {{Column: "email", Strategy: "hmac", Source: "field"}, {Column: "name", Strategy: "fake.name", Source: "field"}, {Column: "phone", Strategy: "fake.phone", Source: "field"}},
				"orders":    {{Column: "customer_email", Strategy: "hmac", Source: "reference"}},
			}
			for _, c := range rep.Collections {
				if diff := cmp.Diff(wantCols[c.Collection], c.Columns); diff != "" {
					t.Errorf("%s columns (-want +got):\n%s", c.Collection, diff)
				}
			}

			// No original left (raw SQL).
			if n := count(t, db, "SELECT COUNT(*) FROM customers WHERE email LIKE '%orig%' OR name LIKE '%Origina%' OR phone LIKE '%orig%'"); n != 0 {
				t.Errorf("%d customers still hold an original value", n)
			}
			if n := count(t, db, "SELECT COUNT(*) FROM orders WHERE customer_email LIKE '%orig%'"); n != 0 {
				t.Errorf("%d orders still hold an original e-mail", n)
			}
			if n := count(t, db, "SELECT COUNT(*) FROM customers WHERE phone IS NULL"); n != customers/7 {
				t.Errorf("%d NULL phones after the scrub, want the %d there were", n, customers/7)
			}
			// The foreign key still joins, every order to its own customer.
			if n := count(t, db, "SELECT COUNT(*) FROM orders o JOIN customers c ON o.customer_email = c.email"); n != orders {
				t.Errorf("%d of %d orders join their customer after the scrub", n, orders)
			}
			if n := count(t, db, fmt.Sprintf("SELECT COUNT(*) FROM orders o JOIN customers c ON o.customer_email = c.email WHERE c.id = 1 + o.id %% %d", customers)); n != orders {
				t.Errorf("%d of %d orders join the customer they had before", n, orders)
			}
			// Unique stays unique.
			if n := count(t, db, "SELECT COUNT(DISTINCT email) FROM customers"); n != customers {
				t.Errorf("%d distinct e-mails after the scrub, want %d", n, customers)
			}
			// Declared ignore: untouched.
			if n := count(t, db, "SELECT COUNT(*) FROM customers WHERE note LIKE 'note orig %'"); n != customers {
				t.Errorf("ignored column changed: %d of %d notes as they were", n, customers)
			}
			// Nothing of the original in the files.
			if blobs, why := files(); why != "" {
				t.Logf("file check skipped: %s", why)
			} else if containsAny(blobs, "cust007.orig@example.org", "Origina Person007") {
				t.Errorf("an original value is still in the database files after the scrub")
			}

			// Deterministic: the second copy scrubs to the same rows.
			e2, _ := newEngine(t, dataMap(eng.driver, dsn2, true, ignoreRest))
			if _, err := e2.Run(ctx, scrub.Params{Datastore: "copy", Confirm: "copy", Workers: 1, Batch: 1000, NoCompact: true}); err != nil {
				t.Fatalf("scrub the second copy: %v", err)
			}
			after := dump(t, db)
			if diff := cmp.Diff(after, dump(t, db2)); diff != "" {
				t.Errorf("two copies scrubbed with the same key differ (-first +second):\n%s", diff)
			}
			for _, row := range after[:customers] {
				scrubbedEmails[eng.name] = append(scrubbedEmails[eng.name], strings.Split(row, "|")[1])
			}
		})
	}
	// Consistent across datastores: the same e-mail masks alike in each.
	var first []string
	for _, name := range []string{"postgres", "mariadb", "sqlite"} {
		got, ok := scrubbedEmails[name]
		if !ok {
			continue
		}
		if first == nil {
			first = got
			continue
		}
		if diff := cmp.Diff(first, got); diff != "" {
			t.Errorf("%s masks e-mails differently from the first engine (-first +%s):\n%s", name, name, diff)
		}
	}
}

func containsAny(blobs [][]byte, values ...string) bool {
	for _, b := range blobs {
		for _, v := range values {
			if bytes.Contains(b, []byte(v)) {
				return true
			}
		}
	}
	return false
}

// TestScrubDefault masks undeclared text columns with --default blank,
// leaving the others (total) as they are.
func TestScrubDefault(t *testing.T) {
	dsn, db, _ := sqliteCopy(t)
	seed(t, db)
	e, _ := newEngine(t, dataMap("sqlite", dsn, true, ""))
	rep, err := e.Run(context.Background(), scrub.Params{Datastore: "copy", Confirm: "copy", Strict: true, Default: scrub.DefaultBlank, NoCompact: true})
	if err != nil {
		t.Fatal(err)
	}
	if n := count(t, db, "SELECT COUNT(*) FROM customers WHERE note = '' AND handle = ''"); n != customers {
		t.Errorf("%d of %d rows have note and handle blanked", n, customers)
	}
	if rep.Compacted {
		t.Error("compacted despite NoCompact")
	}
	var sources []string
	for _, c := range rep.Collections[0].Columns {
		sources = append(sources, c.Column+":"+c.Source)
	}
	if want := "email:field handle:default name:field note:default phone:field"; strings.Join(sources, " ") != want {
		t.Errorf("columns %q, want %q", strings.Join(sources, " "), want)
	}
}

// TestScrubReferenceConflict refuses a referencing column whose own
// strategy differs from its target's: the join would break.
func TestScrubReferenceConflict(t *testing.T) {
	dsn, db, _ := sqliteCopy(t)
	seed(t, db)
	yaml := strings.Replace(dataMap("sqlite", dsn, true, ignoreRest), "        ignore: [total]",
		"        ignore: [total]\n        fields: {customer_email: {category: contact.email, erase: fake.email}}", 1)
	e, _ := newEngine(t, yaml)
	_, err := e.Run(context.Background(), scrub.Params{Datastore: "copy", Confirm: "copy"})
	var le *lethe.Error
	if !errors.As(err, &le) || le.Code != lethe.EINVALID || !strings.Contains(err.Error(), "collection orders: column customer_email refers to copy.customers.email, which is scrubbed with hmac; its own strategy fake.email would break the join") {
		t.Errorf("got %v", err)
	}
}

// TestScrubKeysAndTypes scrubs a table keyed by text, split into three
// ranges at key values, with columns that are not text: PostgreSQL reads
// an inet as text and casts the masked value back; dates go through as
// dates.
func TestScrubKeysAndTypes(t *testing.T) {
	ddl := map[string]string{
		"postgres": `CREATE TABLE visits (token varchar(20) PRIMARY KEY, ip inet, born date, visitor text)`,
		"mysql":    `CREATE TABLE visits (token varchar(20) PRIMARY KEY, ip varchar(45), born date, visitor text)`,
		"sqlite":   `CREATE TABLE visits (token text PRIMARY KEY, ip text, born date, visitor text)`,
	}
	const rows = 45
	for _, eng := range engines() {
		t.Run(eng.name, func(t *testing.T) {
			dsn, db, _ := eng.copy(t)
			if _, err := db.Exec(ddl[eng.driver]); err != nil {
				t.Fatal(err)
			}
			var b strings.Builder
			b.WriteString("INSERT INTO visits VALUES ")
			for i := 1; i <= rows; i++ {
				if i > 1 {
					b.WriteByte(',')
				}
				fmt.Fprintf(&b, "('tok-%03d', '192.0.2.%d', '1980-05-%02d', 'Visitor %d')", i, i, 1+i%28, i)
			}
			if _, err := db.Exec(b.String()); err != nil {
				t.Fatal(err)
			}
			yaml := fmt.Sprintf(`controller: {name: Shop}
purposes: [{id: orders, lawful_basis: contract}]
datastores:
  copy:
    driver: %s
    dsn: %q
    scrub_allowed: true
    collections:
      visits:
        primary_key: token
        identities: {session_token: token}
        fields:
          ip:      {category: network.ip, erase: truncate.ip}
          born:    {category: birth_date, erase: truncate.date.year}
          visitor: {category: name, erase: hmac}
`, eng.driver, dsn)
			e, _ := newEngine(t, yaml)
			rep, err := e.Run(context.Background(), scrub.Params{Datastore: "copy", Confirm: "copy", Workers: 3, Batch: 4, Strict: true, NoCompact: true})
			if err != nil {
				t.Fatal(err)
			}
			wantRanges := 3
			if eng.driver == "sqlite" {
				wantRanges = 1
			}
			if rep.Rows != rows || rep.Collections[0].Ranges != wantRanges {
				t.Errorf("rows %d in %d ranges, want %d in %d", rep.Rows, rep.Collections[0].Ranges, rows, wantRanges)
			}
			ipText := "ip"
			if eng.driver == "postgres" {
				ipText = "host(ip)"
			}
			if n := count(t, db, "SELECT COUNT(*) FROM visits WHERE "+ipText+" = '192.0.2.0'"); n != rows {
				t.Errorf("%d of %d addresses truncated to 192.0.2.0", n, rows)
			}
			born := "born"
			if eng.driver == "sqlite" {
				born = "date(born)" // written back as a time, as erasure writes it
			}
			if n := count(t, db, "SELECT COUNT(*) FROM visits WHERE "+born+" = '1980-01-01'"); n != rows {
				t.Errorf("%d of %d dates truncated to 1980-01-01", n, rows)
			}
			if n := count(t, db, "SELECT COUNT(DISTINCT visitor) FROM visits WHERE visitor NOT LIKE 'Visitor%'"); n != rows {
				t.Errorf("%d of %d visitors masked to distinct values (each row once, none twice)", n, rows)
			}
		})
	}
}

// TestScrubPostgresWithoutReplicaRole: a role that may not set
// session_replication_role still scrubs a table no foreign key points
// at, and gets a message that says what to do when one does.
func TestScrubPostgresWithoutReplicaRole(t *testing.T) {
	dsn, db, _ := postgresCopy(t)
	seed(t, db)
	role := fmt.Sprintf("lethe_scrub_test_%d", time.Now().UnixNano()%1e9)
	var schema, database string
	if err := db.QueryRow("SELECT current_schema(), current_database()").Scan(&schema, &database); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		"CREATE ROLE " + role + " LOGIN",
		"GRANT USAGE ON SCHEMA " + schema + " TO " + role,
		"GRANT SELECT, UPDATE ON ALL TABLES IN SCHEMA " + schema + " TO " + role,
		"GRANT TEMPORARY ON DATABASE " + database + " TO " + role,
	} {
		if _, err := db.Exec(q); err != nil {
			t.Skipf("cannot set up a plain role (%v)", err)
		}
	}
	t.Cleanup(func() {
		db.Exec("DROP OWNED BY " + role) //nolint:errcheck
		db.Exec("DROP ROLE " + role)     //nolint:errcheck
	})
	roleDSN := strings.Replace(dsn, "postgres://postgres@", "postgres://"+role+"@", 1)
	if roleDSN == dsn {
		t.Skip("the test URL does not name the postgres user")
	}
	e, _ := newEngine(t, dataMap("postgres", roleDSN, true, ignoreRest))
	_, err := e.Run(context.Background(), scrub.Params{Datastore: "copy", Confirm: "copy", NoCompact: true})
	if lethe.ErrorCode(err) != lethe.ECONFLICT || !strings.Contains(err.Error(), "may not set session_replication_role") {
		t.Fatalf("got %v, want ECONFLICT explaining session_replication_role", err)
	}
	if _, err := db.Exec("ALTER TABLE orders DROP CONSTRAINT orders_customer_email_fkey"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Run(context.Background(), scrub.Params{Datastore: "copy", Confirm: "copy", NoCompact: true}); err != nil {
		t.Fatalf("without the foreign key: %v", err)
	}
	if n := count(t, db, "SELECT COUNT(*) FROM orders o JOIN customers c ON o.customer_email = c.email"); n != orders {
		t.Errorf("%d of %d orders join after the scrub", n, orders)
	}
}

// TestScrubRefusals: what is refused before anything is written, with a
// message that names where.
func TestScrubRefusals(t *testing.T) {
	dsn, db, _ := sqliteCopy(t)
	seed(t, db)
	before := dump(t, db)
	cases := []struct {
		name    string
		yaml    string
		params  scrub.Params
		code    lethe.Code
		message string
	}{
		{"unknown datastore", dataMap("sqlite", dsn, true, ignoreRest), scrub.Params{Datastore: "prod", Confirm: "prod"}, lethe.ENOTFOUND, "datastore prod is not declared"},
		{"bad default", dataMap("sqlite", dsn, true, ignoreRest), scrub.Params{Datastore: "copy", Confirm: "copy", Default: "zero"}, lethe.EINVALID, "null or blank"},
		{"primary key", strings.Replace(dataMap("sqlite", dsn, true, ignoreRest), "          phone:", "          id: {category: online.identifier, erase: hmac}\n          phone:", 1),
			scrub.Params{Datastore: "copy", Confirm: "copy"}, lethe.EINVALID, "collection customers: column id: is the primary key, which cannot be scrubbed in place"},
		{"NOT NULL", strings.Replace(dataMap("sqlite", dsn, true, ignoreRest), "erase: hmac}", "erase: hmac, scrub: null}", 1),
			scrub.Params{Datastore: "copy", Confirm: "copy"}, lethe.EINVALID, "collection customers: column email: null cannot be written to it"},
		{"too long for the column", strings.Replace(dataMap("sqlite", dsn, true, ignoreRest), "erase: fake.phone}", "erase: fake.phone, scrub: \"fixed:"+strings.Repeat("x", 41)+"\"}", 1),
			scrub.Params{Datastore: "copy", Confirm: "copy"}, lethe.EINVALID, "collection customers: column phone: fixed:"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e, _ := newEngine(t, tc.yaml)
			_, err := e.Run(context.Background(), tc.params)
			if lethe.ErrorCode(err) != tc.code || !strings.Contains(err.Error(), tc.message) {
				t.Errorf("got %v, want %s with %q", err, tc.code, tc.message)
			}
		})
	}
	if diff := cmp.Diff(before, dump(t, db)); diff != "" {
		t.Errorf("a refused scrub changed the copy:\n%s", diff)
	}
}

// TestScrubCompactOnly: a scrub left uncompacted still has originals in
// the file; --compact-only removes them without masking again.
func TestScrubCompactOnly(t *testing.T) {
	dsn, db, files := sqliteCopy(t)
	seed(t, db)
	e, _ := newEngine(t, dataMap("sqlite", dsn, true, ignoreRest))
	if _, err := e.Run(context.Background(), scrub.Params{Datastore: "copy", Confirm: "copy", NoCompact: true}); err != nil {
		t.Fatal(err)
	}
	scrubbed := dump(t, db)
	if blobs, _ := files(); !containsAny(blobs, "cust007.orig@example.org") {
		t.Fatal("no original in the uncompacted file: the check below would prove nothing")
	}
	rep, err := e.Run(context.Background(), scrub.Params{Datastore: "copy", Confirm: "copy", CompactOnly: true})
	if err != nil || !rep.Compacted || rep.Rows != 0 {
		t.Fatalf("compact only: %+v, %v", rep, err)
	}
	if blobs, _ := files(); containsAny(blobs, "cust007.orig@example.org") {
		t.Error("an original is still in the file after --compact-only")
	}
	if diff := cmp.Diff(scrubbed, dump(t, db)); diff != "" {
		t.Errorf("--compact-only changed the data:\n%s", diff)
	}
	if _, err := e.Run(context.Background(), scrub.Params{Datastore: "copy", CompactOnly: true}); lethe.ErrorCode(err) != lethe.EFORBIDDEN {
		t.Errorf("--compact-only without --confirm: %v", err)
	}
}
