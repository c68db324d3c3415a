package dsr_test

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
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
	"github.com/lethe-privacy/lethe/connector"
	"github.com/lethe-privacy/lethe/dsr"
	"github.com/lethe-privacy/lethe/internal/testenv"
	"github.com/lethe-privacy/lethe/mask"
)

// estate is a small shop spread over the three SQL engines: users, orders
// (held ten years for tax, then anonymised) and order items in
// PostgreSQL; analytics events in MariaDB referring to shop users across
// datastores; support tickets in SQLite, reachable by e-mail alone.
type estate struct {
	cfg        *lethe.Config
	shop       *sql.DB
	analytics  *sql.DB
	support    *sql.DB
	supportDSN string
	redis      *redis.Client
	prefix     string
	now        time.Time
}

const estateYAML = `
controller: {name: Example Shop GmbH, contact: privacy@example.com}
purposes:
  - id: orders
    name: Fulfil orders
    lawful_basis: contract
    categories: [contact.email, name, contact.address]
  - id: analytics
    lawful_basis: legitimate_interests
    categories: [network.ip]
datastores:
  shop:
    driver: postgres
    dsn: ${SHOP_DSN}
    collections:
      users:
        identities: {user_id: id, email: email}
        case_insensitive: [email]
        erase: anonymise
        fields:
          email: {category: contact.email, erase: hmac}
          name: {category: name, erase: fake.name}
          last_ip: {category: network.ip, erase: "null"}
      orders:
        references: {user_id: users.id}
        hold: {basis: legal_obligation, reason: tax records, keep_for: 10y, since: created_at, then: anonymise}
        fields:
          shipping_name: {category: name, erase: fake.name}
          shipping_address: {category: contact.address, erase: redact}
      order_items:
        references: {order_id: orders.id}
  analytics:
    driver: mysql
    dsn: ${ANALYTICS_DSN}
    collections:
      events:
        references: {user_id: shop.users.id}
        fields:
          ip: {category: network.ip, erase: truncate.ip}
      subscribers:
        identities: {email: email}
        case_insensitive: [email]
        fields:
          email: {category: contact.email}
  support:
    driver: sqlite
    dsn: ${SUPPORT_DSN}
    timeout: 5s
    collections:
      tickets:
        identities: {email: email}
        case_insensitive: [email]
        references: {user_id: shop.users.id}
        fields:
          email: {category: contact.email}
          body: {category: free_text}
  sessions:
    driver: redis
    url: ${SESSIONS_URL}
    collections:
      sessions:
        key: "${SESSIONS_PREFIX}session:{user_id}"
        references: {user_id: shop.users.id}
        fields:
          value: {category: online.identifier}
`

// subjects of the estate: 1 and 2 have accounts, 3 only wrote a ticket.
var subjects = []struct {
	id    int64
	email string
	name  string
}{
	{1, "Jane.Roe@Example.com", "Jane O'Roe"},
	{2, "max@example.org", "Max Mustermann"},
	{3, "zoe+support@example.net", "Zoë"},
}

func newEstate(t testing.TB) *estate {
	t.Helper()
	ctx := context.Background()
	e := &estate{now: time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)}
	shopURL := testenv.PostgresSchema(t)
	analyticsDSN := testenv.MySQLDatabase(t)
	e.supportDSN = filepath.Join(t.TempDir(), "support.db")
	var err error
	open := func(driver, dsn string) *sql.DB {
		db, err := sql.Open(driver, dsn)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	}
	e.shop = open("pgx", shopURL)
	e.analytics = open("mysql", analyticsDSN)
	e.support = open("sqlite", e.supportDSN)
	// The test's own handle must not sit on the file between its queries
	// (the connector under test writes to it).
	e.support.SetMaxIdleConns(0)
	exec := func(db *sql.DB, stmts ...string) {
		t.Helper()
		for _, s := range stmts {
			if _, err := db.ExecContext(ctx, s); err != nil {
				t.Fatalf("%s: %v", s, err)
			}
		}
	}
	exec(e.shop,
		`CREATE TABLE users (id bigint PRIMARY KEY, email text UNIQUE NOT NULL, name text, last_ip text)`,
		`CREATE TABLE orders (id bigint PRIMARY KEY, user_id bigint REFERENCES users(id), shipping_name text, shipping_address text, created_at timestamptz NOT NULL)`,
		`CREATE INDEX ON orders (user_id)`,
		`CREATE TABLE order_items (id bigint PRIMARY KEY, order_id bigint REFERENCES orders(id), sku text)`,
		`CREATE INDEX ON order_items (order_id)`,
	)
	exec(e.analytics,
		`CREATE TABLE events (id bigint PRIMARY KEY, user_id bigint, event varchar(64), ip varchar(64), KEY (user_id))`,
		// Case differs for subject 1; the accented address is someone else.
		`CREATE TABLE subscribers (id bigint PRIMARY KEY, email varchar(255), KEY (email))`,
		`INSERT INTO subscribers VALUES (1, 'JANE.ROE@example.COM'), (2, 'jàne.roe@example.com'), (3, 'max@example.org')`)
	exec(e.support,
		`CREATE TABLE tickets (id integer PRIMARY KEY, user_id integer, email text, body text)`,
		`CREATE INDEX tickets_email ON tickets (email)`, `CREATE INDEX tickets_user ON tickets (user_id)`)

	for _, s := range subjects[:2] {
		exec(e.shop, fmt.Sprintf(`INSERT INTO users VALUES (%d, '%s', '%s', '203.0.113.%d')`, s.id, s.email, strings.ReplaceAll(s.name, "'", "''"), s.id))
		for k := int64(0); k < 3; k++ {
			oid := s.id*10 + k
			// order 0 is eleven years old (past the hold), the others recent.
			created := e.now.AddDate(-1, 0, 0)
			if k == 0 {
				created = e.now.AddDate(-11, 0, 0)
			}
			if _, err := e.shop.ExecContext(ctx, `INSERT INTO orders VALUES ($1, $2, $3, $4, $5)`, oid, s.id, s.name, fmt.Sprintf("%d Long Street, Springfield", oid), created); err != nil {
				t.Fatal(err)
			}
			exec(e.shop, fmt.Sprintf(`INSERT INTO order_items VALUES (%d, %d, 'SKU-%d'), (%d, %d, 'SKU-X')`, oid*10, oid, oid, oid*10+1, oid))
		}
		for k := int64(0); k < 4; k++ {
			exec(e.analytics, fmt.Sprintf(`INSERT INTO events VALUES (%d, %d, 'page_view', '198.51.%d.%d')`, s.id*100+k, s.id, s.id, 10+k))
		}
	}
	for i, s := range subjects {
		uid := "NULL"
		if s.id < 3 {
			uid = fmt.Sprint(s.id)
		}
		if _, err = e.support.ExecContext(ctx, `INSERT INTO tickets VALUES (?, `+uid+`, ?, ?)`, i+1, s.email, "Hello, this is "+s.name); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("SHOP_DSN", shopURL)
	t.Setenv("ANALYTICS_DSN", analyticsDSN)
	t.Setenv("SUPPORT_DSN", e.supportDSN)
	redisURL, prefix := testenv.RedisPrefix(t)
	ropts, _ := redis.ParseURL(redisURL)
	e.redis = redis.NewClient(ropts)
	t.Cleanup(func() { e.redis.Close() })
	e.prefix = prefix
	for _, s := range subjects[:2] {
		if err := e.redis.HSet(ctx, fmt.Sprintf("%ssession:%d", prefix, s.id), "ip", fmt.Sprintf("203.0.113.%d", s.id), "user_agent", "Mozilla/5.0").Err(); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("SESSIONS_URL", redisURL)
	t.Setenv("SESSIONS_PREFIX", prefix)
	cfg, err := config.Parse([]byte(estateYAML), "estate.yaml")
	if err != nil {
		t.Fatalf("parse estate config: %v", err)
	}
	e.cfg = cfg
	return e
}

func (e *estate) engine(t testing.TB, opts dsr.Options) *dsr.Engine {
	t.Helper()
	set := connector.NewSet(e.cfg.Datastores, connector.Options{})
	t.Cleanup(func() { set.Close() })
	key := bytes.Repeat([]byte{7}, 32)
	opts.Config = e.cfg
	opts.Connectors = set
	opts.Masks = func(s string) (lethe.Mask, error) { return mask.Parse(s, key) }
	opts.Clock = lethe.ClockFunc(func() time.Time { return e.now })
	opts.TempDir = t.TempDir()
	eng, err := dsr.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return eng
}

// rows reads a query's rows as text, for comparing and checksumming.
func rows(t testing.TB, db *sql.DB, query string, args ...any) [][]string {
	t.Helper()
	rs, err := db.Query(query, args...)
	if err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	defer rs.Close()
	cols, _ := rs.Columns()
	var out [][]string
	for rs.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rs.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		rec := make([]string, len(cols))
		for i, v := range vals {
			switch x := v.(type) {
			case nil:
				rec[i] = "NULL"
			case []byte:
				rec[i] = string(x)
			case time.Time:
				rec[i] = x.UTC().Format(time.RFC3339)
			default:
				rec[i] = fmt.Sprint(x)
			}
		}
		out = append(out, rec)
	}
	if err := rs.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func checksum(r [][]string) string {
	h := sha256.New()
	for _, rec := range r {
		h.Write([]byte(strings.Join(rec, "\x1f") + "\x1e"))
	}
	return hex.EncodeToString(h.Sum(nil))
}

// others is the raw state of every row that does not belong to subject 1.
func (e *estate) others(t *testing.T) map[string]string {
	return map[string]string{
		"users":       checksum(rows(t, e.shop, `SELECT * FROM users WHERE id <> 1 ORDER BY id`)),
		"orders":      checksum(rows(t, e.shop, `SELECT * FROM orders WHERE user_id <> 1 ORDER BY id`)),
		"order_items": checksum(rows(t, e.shop, `SELECT i.* FROM order_items i JOIN orders o ON o.id = i.order_id WHERE o.user_id <> 1 ORDER BY i.id`)),
		"events":      checksum(rows(t, e.analytics, `SELECT * FROM events WHERE user_id <> 1 ORDER BY id`)),
		"subscribers": checksum(rows(t, e.analytics, `SELECT * FROM subscribers WHERE id <> 1 ORDER BY id`)),
		"tickets":     checksum(rows(t, e.support, `SELECT * FROM tickets WHERE COALESCE(user_id, 0) <> 1 ORDER BY id`)),
	}
}

func readZip(t *testing.T, b []byte) map[string][]byte {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatalf("export is not a ZIP: %v", err)
	}
	out := map[string][]byte{}
	for _, f := range zr.File {
		r, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		out[f.Name], _ = io.ReadAll(r)
		r.Close()
	}
	return out
}

type exportData struct {
	Datastores map[string]map[string]struct {
		Categories map[string]string `json:"categories"`
		Rows       []map[string]any  `json:"rows"`
	} `json:"datastores"`
	Incomplete []dsr.Failure `json:"incomplete"`
}

func ids(rs []map[string]any, col string) []string {
	var out []string
	for _, r := range rs {
		out = append(out, fmt.Sprint(r[col]))
	}
	slices.Sort(out)
	return out
}

func column(r [][]string, i int) []string {
	var out []string
	for _, rec := range r {
		out = append(out, rec[i])
	}
	slices.Sort(out)
	return out
}

func TestAccessExportsExactlyTheSubjectsRows(t *testing.T) {
	e := newEstate(t)
	eng := e.engine(t, dsr.Options{})
	var buf bytes.Buffer
	// The e-mail as the person types it, blanks included; the databases
	// hold it in other cases, and the data map says e-mails ignore case.
	res, err := eng.Access(context.Background(), dsr.AccessParams{RequestID: "req_1", Identities: []lethe.Identity{{Type: lethe.IdentityEmail, Value: "  jane.roe@EXAMPLE.com "}}}, &buf)
	if err != nil {
		t.Fatal(err)
	}
	files := readZip(t, buf.Bytes())
	for _, name := range []string{"data.json", "report.html", "information.json", "csv/shop.users.csv", "csv/shop.orders.csv", "csv/shop.order_items.csv", "csv/analytics.events.csv", "csv/support.tickets.csv", "csv/sessions.sessions.csv"} {
		if _, ok := files[name]; !ok {
			t.Errorf("package lacks %s (has %v)", name, keys(files))
		}
	}
	var data exportData
	if err := json.Unmarshal(files["data.json"], &data); err != nil {
		t.Fatalf("data.json: %v", err)
	}
	want := map[string][]string{
		"shop.users":            column(rows(t, e.shop, `SELECT id FROM users WHERE id = 1`), 0),
		"shop.orders":           column(rows(t, e.shop, `SELECT id FROM orders WHERE user_id = 1`), 0),
		"shop.order_items":      column(rows(t, e.shop, `SELECT i.id FROM order_items i JOIN orders o ON o.id = i.order_id WHERE o.user_id = 1`), 0),
		"analytics.events":      column(rows(t, e.analytics, `SELECT id FROM events WHERE user_id = 1`), 0),
		"support.tickets":       column(rows(t, e.support, `SELECT id FROM tickets WHERE user_id = 1 OR email = 'Jane.Roe@Example.com'`), 0),
		"analytics.subscribers": {"1"},
	}
	for path, wantIDs := range want {
		ds, coll, _ := strings.Cut(path, ".")
		got := ids(data.Datastores[ds][coll].Rows, "id")
		if !slices.Equal(got, wantIDs) {
			t.Errorf("%s: export has ids %v, raw SQL finds %v", path, got, wantIDs)
		}
	}
	if got := data.Datastores["shop"]["users"].Categories["email"]; got != "contact.email" {
		t.Errorf("users.email labelled %q, want contact.email", got)
	}
	if res.Rows != int64(1+3+6+4+1+1+1) {
		t.Errorf("result counts %d rows, want 17", res.Rows)
	}
	if s := data.Datastores["sessions"]["sessions"].Rows; len(s) != 1 || s[0]["key"] != e.prefix+"session:1" {
		t.Errorf("sessions in the export: %v, want the subject's session key", s)
	}
	if !bytes.Contains(files["report.html"], []byte("Jane O&#39;Roe")) {
		t.Errorf("report.html does not show the subject's name, escaped")
	}
	if !bytes.Contains(files["report.html"], []byte("supervisory authority")) {
		t.Errorf("report.html lacks the right to complain")
	}
	var info dsr.Information
	if err := json.Unmarshal(files["information.json"], &info); err != nil || len(info.Purposes) != 2 || len(info.Rights) == 0 {
		t.Errorf("information.json: %v %+v", err, info)
	}
}

func TestPortabilityHoldsOnlyConsentAndContractData(t *testing.T) {
	e := newEstate(t)
	eng := e.engine(t, dsr.Options{})
	var buf bytes.Buffer
	if _, err := eng.Access(context.Background(), dsr.AccessParams{RequestID: "req_p", Portability: true, Identities: []lethe.Identity{{Type: lethe.IdentityUserID, Value: "1"}}}, &buf); err != nil {
		t.Fatal(err)
	}
	var data exportData
	if err := json.Unmarshal(readZip(t, buf.Bytes())["data.json"], &data); err != nil {
		t.Fatal(err)
	}
	if _, ok := data.Datastores["analytics"]; ok {
		t.Errorf("portability export holds analytics data (legitimate interests, not consent or contract)")
	}
	u := data.Datastores["shop"]["users"].Rows
	if len(u) != 1 || u[0]["email"] != "Jane.Roe@Example.com" || u[0]["last_ip"] != nil {
		t.Errorf("portability users rows = %v, want the e-mail and name only", u)
	}
}

func TestEraseRemovesTheSubjectAndNothingElse(t *testing.T) {
	e := newEstate(t)
	var shredded []lethe.Identity
	eng := e.engine(t, dsr.Options{Shred: func(_ context.Context, ids []lethe.Identity) (int, error) {
		shredded = append(shredded, ids...)
		return len(ids), nil
	}})
	before := e.others(t)
	ctx := context.Background()
	idsOf := []lethe.Identity{{Type: lethe.IdentityUserID, Value: "1"}, {Type: lethe.IdentityEmail, Value: "jane.roe@example.com"}}

	dry, err := eng.Erase(ctx, dsr.EraseParams{RequestID: "req_dry", Identities: idsOf, DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(rows(t, e.analytics, `SELECT id FROM events WHERE user_id = 1`)); n != 4 || !dry.DryRun {
		t.Fatalf("dry run changed data: %d events left", n)
	}
	if s := step(dry, "analytics", "events"); s.Matched != 4 || s.Status != dsr.StepPlanned {
		t.Errorf("dry run plan for events = %+v, want 4 matched, planned", s)
	}

	cert, err := eng.Erase(ctx, dsr.EraseParams{RequestID: "req_erase", Identities: idsOf})
	if err != nil {
		t.Fatal(err)
	}
	if cert.Status != dsr.StatusCompleted || cert.Verification == nil || !cert.Verification.Passed {
		b, _ := json.MarshalIndent(cert, "", "  ")
		t.Fatalf("certificate:\n%s", b)
	}
	if len(shredded) != 2 || cert.KeysShredded != 2 {
		t.Errorf("shredded %d identities, certificate says %d; want 2", len(shredded), cert.KeysShredded)
	}

	// Raw SQL: none of the subject's personal values is left in any
	// declared field, except in the orders the tax hold keeps.
	personal := []string{"Jane.Roe@Example.com", "Jane O'Roe", "203.0.113.1", "198.51.1.10", "198.51.1.13", "Hello, this is Jane O'Roe"}
	dumps := map[string][][]string{
		"users":   rows(t, e.shop, `SELECT email, name, COALESCE(last_ip, '') FROM users WHERE id = 1`),
		"orders":  rows(t, e.shop, `SELECT shipping_name, shipping_address FROM orders WHERE user_id = 1 AND created_at < $1`, e.now.AddDate(-10, 0, 0)),
		"events":  rows(t, e.analytics, `SELECT ip FROM events`),
		"tickets": rows(t, e.support, `SELECT email, body FROM tickets`),
	}
	for table, d := range dumps {
		for _, rec := range d {
			for _, v := range rec {
				if slices.Contains(personal, v) {
					t.Errorf("%s still holds the subject's value %q", table, v)
				}
			}
		}
	}
	if n := len(rows(t, e.shop, `SELECT 1 FROM users WHERE id = 1`)); n != 1 {
		t.Errorf("users row 1: %d rows, want it kept anonymised", n)
	}
	if n := len(rows(t, e.analytics, `SELECT 1 FROM events WHERE user_id = 1`)); n != 0 {
		t.Errorf("%d events of the subject remain", n)
	}
	if n := len(rows(t, e.support, `SELECT 1 FROM tickets WHERE user_id = 1 OR email = 'Jane.Roe@Example.com'`)); n != 0 {
		t.Errorf("%d tickets of the subject remain", n)
	}
	if got := column(rows(t, e.analytics, `SELECT id FROM subscribers`), 0); !slices.Equal(got, []string{"2", "3"}) {
		t.Errorf("subscribers left %v, want the accented look-alike and max (2, 3)", got)
	}
	if n, _ := e.redis.Exists(context.Background(), e.prefix+"session:1", e.prefix+"session:2").Result(); n != 1 {
		t.Errorf("%d of the two session keys exist after erasing subject 1, want only the other subject's", n)
	}
	// The hold: recent orders are kept as they were, the old one is anonymised.
	kept := rows(t, e.shop, `SELECT shipping_name FROM orders WHERE user_id = 1 AND created_at >= $1`, e.now.AddDate(-10, 0, 0))
	if len(kept) != 2 || kept[0][0] != "Jane O'Roe" {
		t.Errorf("held orders = %v, want 2 kept unchanged", kept)
	}
	old := rows(t, e.shop, `SELECT shipping_name, shipping_address FROM orders WHERE id = 10`)
	if len(old) != 1 || old[0][0] == "Jane O'Roe" || !strings.Contains(old[0][1], "***") {
		t.Errorf("order past the hold = %v, want it anonymised", old)
	}
	s := step(cert, "shop", "orders")
	if s.Held != 2 || s.Rows != 1 || s.Hold == nil || s.Hold.Basis != "legal_obligation" {
		t.Errorf("orders step = %+v, want 2 held (legal_obligation), 1 anonymised", s)
	}
	if got := e.others(t); !mapsEqual(got, before) {
		t.Errorf("other subjects' rows changed:\nbefore %v\nafter  %v", before, got)
	}

	// Idempotent: a second run erases nothing more and verifies again.
	again, err := eng.Erase(ctx, dsr.EraseParams{RequestID: "req_again", Identities: idsOf})
	if err != nil {
		t.Fatal(err)
	}
	if again.Status != dsr.StatusCompleted || !again.Verification.Passed {
		t.Errorf("second erasure: %s, verification %+v", again.Status, again.Verification)
	}
	if s := step(again, "analytics", "events"); s.Rows != 0 {
		t.Errorf("second erasure deleted %d events", s.Rows)
	}
	if got := e.others(t); !mapsEqual(got, before) {
		t.Errorf("other subjects' rows changed by the second run")
	}
}

func TestEraseWithAnUnreachableDatastoreFailsItsStepsOnly(t *testing.T) {
	e := newEstate(t)
	e.cfg.Datastores["analytics"].DSN = "root@tcp(127.0.0.1:1)/nowhere?timeout=1s"
	shredCalled := false
	eng := e.engine(t, dsr.Options{Shred: func(context.Context, []lethe.Identity) (int, error) { shredCalled = true; return 1, nil }})
	cert, err := eng.Erase(context.Background(), dsr.EraseParams{RequestID: "req_x", Identities: []lethe.Identity{{Type: lethe.IdentityUserID, Value: "2"}}})
	if err != nil {
		t.Fatal(err)
	}
	if cert.Status != dsr.StatusPartiallyCompleted {
		t.Errorf("status %s, want partially_completed", cert.Status)
	}
	if s := step(cert, "analytics", "events"); s.Status != dsr.StepFailed {
		t.Errorf("events step %+v, want failed", s)
	}
	if s := step(cert, "support", "tickets"); s.Status != dsr.StepDone || s.Rows != 1 {
		t.Errorf("tickets step %+v, want done with 1 row", s)
	}
	if n := len(rows(t, e.support, `SELECT 1 FROM tickets WHERE user_id = 2`)); n != 0 {
		t.Errorf("support tickets of subject 2 remain: %d", n)
	}
	if shredCalled {
		t.Errorf("keys were shredded although a datastore still holds the subject's data")
	}
	b, _ := json.Marshal(cert)
	if bytes.Contains(b, []byte("127.0.0.1:1")) || bytes.Contains(b, []byte("nowhere")) {
		t.Errorf("certificate leaks the DSN: %s", b)
	}
}

func TestHostileIdentitiesAreInert(t *testing.T) {
	e := newEstate(t)
	eng := e.engine(t, dsr.Options{})
	before := checksum(rows(t, e.shop, `SELECT * FROM users ORDER BY id`))
	hostile := []lethe.Identity{
		{Type: lethe.IdentityEmail, Value: "x'OR'1'='1@example.com"},
		{Type: lethe.IdentityUserID, Value: "1; DROP TABLE users; --"},
		{Type: lethe.IdentityUserID, Value: "1 OR 1=1"},
		{Type: lethe.IdentityEmail, Value: `";DELETE/**/FROM/**/tickets;--@x.y`},
	}
	cert, err := eng.Erase(context.Background(), dsr.EraseParams{RequestID: "req_h", Identities: hostile})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range cert.Steps {
		if s.Matched != 0 || s.Rows != 0 {
			t.Errorf("hostile identities matched %s.%s: %+v", s.Datastore, s.Collection, s)
		}
	}
	if after := checksum(rows(t, e.shop, `SELECT * FROM users ORDER BY id`)); after != before {
		t.Errorf("users changed")
	}
	if n := len(rows(t, e.support, `SELECT 1 FROM tickets`)); n != 3 {
		t.Errorf("tickets: %d rows, want 3", n)
	}
}

func step(c *dsr.Certificate, ds, coll string) dsr.StepResult {
	for _, s := range c.Steps {
		if s.Datastore == ds && s.Collection == coll {
			return s
		}
	}
	return dsr.StepResult{Status: "absent"}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// A request that names only an e-mail still reaches the account it leads
// to: the consent ledger's subject (keyed by user_id) is shredded too.
func TestEraseByEmailShredsTheAccountFound(t *testing.T) {
	e := newEstate(t)
	var shredded []lethe.Identity
	eng := e.engine(t, dsr.Options{Shred: func(_ context.Context, ids []lethe.Identity) (int, error) {
		shredded = append(shredded, ids...)
		return len(ids), nil
	}})
	cert, err := eng.Erase(context.Background(), dsr.EraseParams{RequestID: "req_e", Identities: []lethe.Identity{{Type: lethe.IdentityEmail, Value: "max@example.org"}}})
	if err != nil {
		t.Fatal(err)
	}
	if cert.Status != dsr.StatusCompleted {
		t.Fatalf("status %s", cert.Status)
	}
	want := lethe.Identity{Type: lethe.IdentityUserID, Value: "2"}
	if !slices.Contains(shredded, want) {
		t.Errorf("shredded %v; want the account's user_id 2 among them", shredded)
	}
	if n := len(rows(t, e.analytics, `SELECT 1 FROM events WHERE user_id = 2`)); n != 0 {
		t.Errorf("the account's events remain: %d", n)
	}
}

func TestRectifyCorrectsEveryCopyAndChecksIt(t *testing.T) {
	e := newEstate(t)
	before := e.others(t)
	eng := e.engine(t, dsr.Options{})
	res, err := eng.Rectify(context.Background(), dsr.RectifyParams{
		RequestID:  "req_r",
		Identities: []lethe.Identity{{Type: lethe.IdentityUserID, Value: "1"}},
		Values:     map[string]string{"name": "Jane O'Doe", "shop.orders.shipping_address": "2 New Road, Springfield"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != dsr.StatusCompleted || !res.Verification.Passed {
		t.Fatalf("rectify: %+v", res)
	}
	if got := rows(t, e.shop, `SELECT name FROM users WHERE id = 1`); got[0][0] != "Jane O'Doe" {
		t.Errorf("users.name = %v", got)
	}
	// The category "name" reaches orders.shipping_name too (every copy).
	for _, r := range rows(t, e.shop, `SELECT shipping_name, shipping_address FROM orders WHERE user_id = 1`) {
		if r[0] != "Jane O'Doe" || r[1] != "2 New Road, Springfield" {
			t.Errorf("order not rectified: %v", r)
		}
	}
	if got := e.others(t); !mapsEqual(got, before) {
		t.Errorf("other subjects' rows changed")
	}
	_, err = eng.Rectify(context.Background(), dsr.RectifyParams{RequestID: "req_bad", Identities: []lethe.Identity{{Type: lethe.IdentityUserID, Value: "1"}}, Values: map[string]string{"shop.users.nope": "x"}})
	if f := lethe.ErrorFields(err); len(f) != 1 || f[0].Path != "values.shop.users.nope" {
		t.Errorf("undeclared field: %v", err)
	}
}
