package scan_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "github.com/go-sql-driver/mysql"
	_ "github.com/jackc/pgx/v5/stdlib"
	goredis "github.com/redis/go-redis/v9"
	"go.yaml.in/yaml/v3"
	_ "modernc.org/sqlite"

	"github.com/lethe-privacy/lethe"
	"github.com/lethe-privacy/lethe/connector"
	"github.com/lethe-privacy/lethe/internal/testenv"
	"github.com/lethe-privacy/lethe/mask"
	"github.com/lethe-privacy/lethe/scan"
)

// customerColumns are the labelled columns the customers table holds.
var customerColumns = []string{"email", "mobile", "last_ip", "payout_account", "birthday", "notes", "first_name", "order_no", "sku", "created_at", "app_version", "comment", "tax_ref"}

const customerRows = 300

// sqlDB is one SQL database under test.
type sqlDB struct {
	driver string // lethe driver
	dsn    string
	open   func() (*sql.DB, error)
	// marker returns the n-th parameter marker.
	marker func(n int) string
}

func postgresDB(t *testing.T) sqlDB {
	u := testenv.PostgresSchema(t)
	return sqlDB{driver: lethe.DriverPostgres, dsn: u, open: func() (*sql.DB, error) { return sql.Open("pgx", u) }, marker: func(n int) string { return fmt.Sprintf("$%d", n) }}
}

func mysqlDB(t *testing.T) sqlDB {
	dsn := testenv.MySQLDatabase(t)
	return sqlDB{driver: lethe.DriverMySQL, dsn: dsn, open: func() (*sql.DB, error) { return sql.Open("mysql", dsn) }, marker: func(int) string { return "?" }}
}

func sqliteDB(t *testing.T) sqlDB {
	path := filepath.Join(t.TempDir(), "shop.db")
	return sqlDB{driver: lethe.DriverSQLite, dsn: path, open: func() (*sql.DB, error) { return sql.Open("sqlite", path) }, marker: func(int) string { return "?" }}
}

// load creates customers (labelled columns, declared in part) and
// newsletter (an e-mail column, not in the data map), and returns every
// personal value written, which no output may contain.
func (d sqlDB) load(t *testing.T) []string {
	t.Helper()
	db, err := d.open()
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, labels := scan.LabelledRows(customerRows)
	idx := map[string]int{}
	for j, c := range scan.LabelledColumns {
		idx[c.Name] = j
	}
	ddl := []string{"id bigint primary key"}
	for _, name := range customerColumns {
		ddl = append(ddl, name+" "+scan.LabelledColumns[idx[name]].SQL)
	}
	ctx := context.Background()
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := db.ExecContext(ctx, q, args...); err != nil {
			t.Fatalf("%s: %v", q[:min(len(q), 60)], err)
		}
	}
	exec("CREATE TABLE customers (" + strings.Join(ddl, ", ") + ")")
	exec("CREATE TABLE newsletter (id bigint primary key, address varchar(200), signed_up_at timestamp, prefs json)")
	var secrets []string
	marks := make([]string, len(customerColumns)+1)
	for i := range marks {
		marks[i] = d.marker(i + 1)
	}
	insert := "INSERT INTO customers (id, " + strings.Join(customerColumns, ", ") + ") VALUES (" + strings.Join(marks, ", ") + ")"
	for i := range customerRows {
		args := []any{int64(i + 1)}
		for _, name := range customerColumns {
			v := rows[i][idx[name]]
			if tm, ok := v.(time.Time); ok && d.driver == lethe.DriverSQLite {
				v = tm.Format("2006-01-02 15:04:05")
				if tm.Hour() == 0 && tm.Minute() == 0 {
					v = tm.Format("2006-01-02")
				}
			}
			if s, ok := v.(string); ok && labels[i][idx[name]] != "" {
				secrets = append(secrets, s)
			}
			args = append(args, v)
		}
		exec(insert, args...)
		addr := fmt.Sprintf("reader%d@mail%d.example.org", i, i%7)
		secrets = append(secrets, addr)
		phone := rows[i][idx["mobile"]].(string)
		prefs := fmt.Sprintf(`{"lang": "en", "sms": %q, "weekly": true}`, phone)
		exec("INSERT INTO newsletter (id, address, signed_up_at, prefs) VALUES ("+d.marker(1)+", "+d.marker(2)+", "+d.marker(3)+", "+d.marker(4)+")", int64(i+1), addr, "2024-03-01 10:00:00", prefs)
	}
	return secrets
}

func dataMap(driver, dsn string) *lethe.Config {
	ds := &lethe.Datastore{Name: "shop", Driver: driver, DSN: dsn, Collections: map[string]*lethe.Collection{
		"customers": {
			Name: "customers", Datastore: "shop", PrimaryKey: "id",
			Identities: map[lethe.IdentityType]string{"email": "email"},
			Erase:      lethe.EraseAnonymise,
			Fields: map[string]*lethe.Field{
				"first_name": {Category: "contact.name", Erase: "fake.first_name"},
				"birthday":   {Category: "identity.date_of_birth", Erase: "truncate.date.year"},
				"notes":      {Category: "contact.email", Erase: "null"}, // free text, declared as something else
			},
			Ignore: []string{"last_ip", "sku"},
		},
	}}
	return &lethe.Config{Datastores: map[string]*lethe.Datastore{"shop": ds}}
}

func run(t *testing.T, cfg *lethe.Config, sample int) (*scan.Report, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	set := connector.NewSet(cfg.Datastores, connector.Options{})
	defer set.Close()
	key := []byte("scan-test-mask-key-0123456789abc")
	rep, err := scan.Run(ctx, cfg, set, scan.Options{
		Sample: sample,
		Now:    scan.LabelledNow,
		Strategy: func(name string) (scan.Strategy, error) {
			return mask.Parse(name, key)
		},
	})
	if err != nil {
		t.Fatalf("scan: %v", err)
	}
	if err := rep.Err(); err != nil {
		t.Fatalf("scan: %v", err)
	}
	var b strings.Builder
	js, _ := json.Marshal(rep)
	b.Write(js)
	if err := rep.Propose(&b); err != nil {
		t.Fatal(err)
	}
	return rep, b.String()
}

func finding(rep *scan.Report, collection, column string) (scan.Finding, bool) {
	for _, f := range rep.Findings {
		if f.Collection == collection && f.Column == column {
			return f, true
		}
	}
	return scan.Finding{}, false
}

func TestScanSQL(t *testing.T) {
	t.Parallel()
	for name, mk := range map[string]func(*testing.T) sqlDB{"postgres": postgresDB, "mariadb": mysqlDB, "sqlite": sqliteDB} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			d := mk(t)
			secrets := d.load(t)
			rep, out := run(t, dataMap(d.driver, d.dsn), 100)

			want := map[string]struct {
				kind   scan.Kind
				status scan.Status
			}{
				"customers.email":          {scan.KindEmail, scan.StatusDeclared},
				"customers.first_name":     {scan.KindPersonName, scan.StatusDeclared},
				"customers.birthday":       {scan.KindBirthDate, scan.StatusDeclared},
				"customers.notes":          {scan.KindFreeText, scan.StatusMismatch},
				"customers.mobile":         {scan.KindPhone, scan.StatusUndeclared},
				"customers.payout_account": {scan.KindIBAN, scan.StatusUndeclared},
				"customers.tax_ref":        {scan.KindNationalID, scan.StatusUndeclared},
				"newsletter.address":       {scan.KindEmail, scan.StatusUndeclared},
				"newsletter.prefs.sms":     {scan.KindPhone, scan.StatusUndeclared}, // a key of a json column
			}
			for _, f := range rep.Findings {
				at := f.Collection + "." + f.Column
				w, ok := want[at]
				if !ok {
					t.Errorf("unexpected finding %s", f)
					continue
				}
				if f.Kind != w.kind || f.Status != w.status {
					t.Errorf("%s: %s %s, want %s %s", at, f.Status, f.Kind, w.status, w.kind)
				}
				least := 50
				if f.Kind == scan.KindFreeText {
					least = 10 // three notes in ten hold personal data
				}
				if f.Evidence.Sampled != 100 || f.Evidence.Matched < least {
					t.Errorf("%s: evidence %d of %d, want at least %d of 100", at, f.Evidence.Matched, f.Evidence.Sampled, least)
				}
				delete(want, at)
			}
			for at := range want {
				t.Errorf("no finding for %s", at)
			}
			if f, ok := finding(rep, "newsletter", "address"); ok && (!f.NewCollection || f.Erase != "fake.email") {
				t.Errorf("newsletter.address: new collection %v, erase %s; want a new collection and fake.email", f.NewCollection, f.Erase)
			}
			if rep.Ignored != 1 { // last_ip: sku holds no personal data
				t.Errorf("ignored %d, want 1 (last_ip)", rep.Ignored)
			}
			if rep.Undeclared != 5 || rep.Mismatched != 1 {
				t.Errorf("undeclared %d, mismatched %d; want 5 and 1", rep.Undeclared, rep.Mismatched)
			}
			if f, _ := finding(rep, "newsletter", "prefs.sms"); f.Field != "prefs" || f.JSONColumn != "prefs" {
				t.Errorf("newsletter.prefs.sms: field %q in json column %q, want the whole column prefs declared", f.Field, f.JSONColumn)
			}
			for _, tr := range rep.Datastores[0].Tables {
				if tr.Error != "" || tr.Rows != 100 {
					t.Errorf("table %s: %d rows sampled (%s), error %q; want 100", tr.Table, tr.Rows, tr.Method, tr.Error)
				}
				if tr.Method != lethe.SampleSpread {
					t.Errorf("table %s sampled by %s, want spread over its integer key", tr.Table, tr.Method)
				}
			}
			for _, s := range secrets {
				if strings.Contains(out, s) {
					t.Fatalf("the report or the proposal holds a sampled value")
				}
			}

			// The proposal is YAML that reads back as data-map fields.
			var b strings.Builder
			if err := rep.Propose(&b); err != nil {
				t.Fatal(err)
			}
			var doc struct {
				Datastores map[string]struct {
					Collections map[string]struct {
						Table  string                  `yaml:"table"`
						Fields map[string]*lethe.Field `yaml:"fields"`
					} `yaml:"collections"`
				} `yaml:"datastores"`
			}
			if err := yaml.Unmarshal([]byte(b.String()), &doc); err != nil {
				t.Fatalf("proposal is not YAML: %v\n%s", err, b.String())
			}
			colls := doc.Datastores["shop"].Collections
			if f := colls["customers"].Fields["mobile"]; f == nil || f.Category != "contact.phone" || f.Erase != "fake.phone" {
				t.Errorf("proposal for customers.mobile: %+v\n%s", f, b.String())
			}
			if f := colls["newsletter"].Fields["prefs"]; f == nil || f.Category != "contact.phone" {
				t.Errorf("proposal for newsletter.prefs: %+v\n%s", f, b.String())
			}
			if f := colls["newsletter"].Fields["address"]; f == nil || f.Category != "contact.email" {
				t.Errorf("proposal for newsletter.address: %+v\n%s", f, b.String())
			}
			if _, ok := colls["customers"].Fields["notes"]; ok {
				t.Errorf("proposal declares notes again, which the data map declares")
			}

			// A whole small table is read when the sample exceeds it.
			rep, _ = run(t, dataMap(d.driver, d.dsn), 1000)
			for _, tr := range rep.Datastores[0].Tables {
				if tr.Rows != customerRows || tr.Method != lethe.SampleAll {
					t.Errorf("table %s: %d rows by %s, want all %d", tr.Table, tr.Rows, tr.Method, customerRows)
				}
			}
		})
	}
}

func TestScanRedis(t *testing.T) {
	t.Parallel()
	url, prefix := testenv.RedisPrefix(t)
	opts, err := goredis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	c := goredis.NewClient(opts)
	defer c.Close()
	ctx := context.Background()
	rows, _ := scan.LabelledRows(50)
	col := map[string]int{}
	for j, lc := range scan.LabelledColumns {
		col[lc.Name] = j
	}
	var secrets []string
	for i := range 50 {
		email, phone := rows[i][col["email"]].(string), rows[i][col["mobile"]].(string)
		secrets = append(secrets, email, phone)
		if err := c.HSet(ctx, fmt.Sprintf("%sprofile:%d", prefix, i), "email", email, "phone", phone, "plan", "basic").Err(); err != nil {
			t.Fatal(err)
		}
	}
	cfg := &lethe.Config{Datastores: map[string]*lethe.Datastore{"cache": {Name: "cache", Driver: lethe.DriverRedis, URL: url, Collections: map[string]*lethe.Collection{
		"profile": {Name: "profile", Datastore: "cache", Key: prefix + "profile:{user_id}", Fields: map[string]*lethe.Field{"email": {Category: "contact.email"}}},
	}}}}
	rep, out := run(t, cfg, 20)
	if tr := rep.Datastores[0].Tables; len(tr) != 1 || tr[0].Rows != 20 || tr[0].Method != lethe.SampleKeys {
		t.Fatalf("tables %+v, want 20 keys of profile", tr)
	}
	email, ok1 := finding(rep, "profile", "email")
	phone, ok2 := finding(rep, "profile", "value.phone")
	if !ok1 || email.Status != scan.StatusDeclared || email.Kind != scan.KindEmail {
		t.Errorf("profile.email: %+v, want a declared e-mail", email)
	}
	if !ok2 || phone.Status != scan.StatusUndeclared || phone.Kind != scan.KindPhone || phone.Field != "phone" {
		t.Errorf("profile.value.phone: %+v, want the undeclared phone hash field", phone)
	}
	if len(rep.Findings) != 2 {
		t.Errorf("findings %v, want email and phone", rep.Findings)
	}
	for _, s := range secrets {
		if strings.Contains(out, s) {
			t.Fatal("the report or the proposal holds a sampled value")
		}
	}
}

func TestScanUnsupportedDriver(t *testing.T) {
	t.Parallel()
	cfg := &lethe.Config{Datastores: map[string]*lethe.Datastore{"crm": {Name: "crm", Driver: lethe.DriverCustom, Collections: map[string]*lethe.Collection{
		"contacts": {Name: "contacts", Datastore: "crm"},
	}}}}
	set := connector.NewSet(cfg.Datastores, connector.Options{Custom: map[string]lethe.Connector{"crm": connector.Funcs{
		ExportUserData: func(context.Context, connector.SubjectQuery, func(map[string]any) error) error { return nil },
		EraseUser:      func(context.Context, connector.SubjectQuery) (int64, error) { return 0, nil },
	}}})
	rep, err := scan.Run(context.Background(), cfg, set, scan.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if d := rep.Datastores[0]; !strings.Contains(d.Unsupported, "not supported for driver custom") || len(rep.Findings) != 0 {
		t.Errorf("datastore report %+v, want unsupported", d)
	}
	if _, err := scan.Run(context.Background(), cfg, set, scan.Options{Datastores: []string{"nope"}}); lethe.ErrorCode(err) != lethe.ENOTFOUND {
		t.Errorf("unknown datastore: %v, want ENOTFOUND", err)
	}
	if _, err := scan.Run(context.Background(), cfg, set, scan.Options{Regions: []string{"GB", "XQ"}}); lethe.ErrorCode(err) != lethe.EINVALID || !strings.Contains(err.Error(), `"XQ"`) {
		t.Errorf("unknown phone region: %v, want EINVALID naming it", err)
	}
	if _, err := scan.Run(context.Background(), cfg, set, scan.Options{Sample: scan.MaxSample + 1}); lethe.ErrorCode(err) != lethe.EINVALID {
		t.Errorf("sample too large: %v, want EINVALID", err)
	}
}

// TestScanSeveralDatastores: datastores are scanned concurrently, each
// reported under its own name, and one that cannot be reached does not
// stop the others.
func TestScanSeveralDatastores(t *testing.T) {
	t.Parallel()
	a, b := sqliteDB(t), sqliteDB(t)
	a.load(t)
	b.load(t)
	cfg := dataMap(lethe.DriverSQLite, a.dsn)
	other := dataMap(lethe.DriverSQLite, b.dsn).Datastores["shop"]
	other.Name = "copy"
	for _, c := range other.Collections {
		c.Datastore = "copy"
	}
	cfg.Datastores["copy"] = other
	cfg.Datastores["gone"] = &lethe.Datastore{Name: "gone", Driver: lethe.DriverSQLite, DSN: filepath.Join(t.TempDir(), "missing.db")}
	set := connector.NewSet(cfg.Datastores, connector.Options{})
	defer set.Close()
	rep, err := scan.Run(context.Background(), cfg, set, scan.Options{Sample: 50, Now: scan.LabelledNow})
	if err != nil {
		t.Fatal(err)
	}
	per := map[string]int{}
	for _, f := range rep.Findings {
		per[f.Datastore]++
	}
	if per["shop"] != per["copy"] || per["shop"] < 8 {
		t.Errorf("findings per datastore %v, want the same 8 or more in shop and copy", per)
	}
	if len(rep.Datastores) != 3 || rep.Datastores[1].Name != "gone" || rep.Datastores[1].Error == "" || rep.Err() == nil {
		t.Errorf("datastores %+v, want copy, gone (with an error), shop", rep.Datastores)
	}
}
