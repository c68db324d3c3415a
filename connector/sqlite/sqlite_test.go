package sqlite

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lethe-privacy/lethe"
	"github.com/lethe-privacy/lethe/connector/connectortest"
)

var schemaSQL = []string{`
CREATE TABLE users (
	id INTEGER PRIMARY KEY,
	email VARCHAR(255) NOT NULL UNIQUE,
	name TEXT,
	created_at TIMESTAMP NOT NULL
)`, `
CREATE TABLE orders (
	id INTEGER PRIMARY KEY,
	user_id INTEGER NOT NULL,
	total INTEGER NOT NULL,
	note TEXT,
	created_at DATETIME NOT NULL
)`, `CREATE INDEX orders_user_id ON orders (user_id)`}

func store(db *sql.DB) connectortest.SQLStore {
	return connectortest.SQLStore{
		DB:          db,
		Placeholder: func(int) string { return "?" },
		Quote:       dialect{}.QuoteIdent,
		// As applications commonly store them: ISO 8601 text in UTC.
		Time: func(t time.Time) any { return t.UTC().Format("2006-01-02 15:04:05") },
	}
}

// fresh creates a database file in rollback-journal mode with the
// fixture's tables, returns a datastore on it and a raw handle, and checks
// when the test ends that the file is still in that mode.
func fresh(t testing.TB) (*lethe.Datastore, *sql.DB) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "app.db")
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	var mode string
	if err := db.QueryRow("PRAGMA journal_mode=DELETE").Scan(&mode); err != nil || mode != "delete" {
		t.Fatalf("set rollback journal: %q, %v", mode, err)
	}
	for _, q := range schemaSQL {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("create tables: %v", err)
		}
	}
	// Runs last, after the connector and the raw handle are closed: a
	// connection that was open when another switched the file to WAL
	// still reports its old mode, so the check reads the file's header
	// and asks a new connection.
	t.Cleanup(func() {
		head := make([]byte, 20)
		f, err := os.Open(path)
		if err == nil {
			_, err = f.ReadAt(head, 0)
			f.Close()
		}
		if err != nil || head[18] != 1 || head[19] != 1 {
			t.Errorf("the file's header says format %d/%d (%v), want 1/1, a rollback journal: the connector changed the journal mode", head[18], head[19], err)
		}
		check, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
		if err != nil {
			t.Fatal(err)
		}
		defer check.Close()
		var mode string
		if err := check.QueryRow("PRAGMA journal_mode").Scan(&mode); err != nil || mode != "delete" {
			t.Errorf("the file's journal mode is %q (%v) after the test, want delete: the connector changed it", mode, err)
		}
		if _, err := os.Stat(path + "-wal"); err == nil {
			t.Error("a -wal file appeared next to the database")
		}
	})
	t.Cleanup(func() { db.Close() })
	return &lethe.Datastore{Name: "shop", Driver: lethe.DriverSQLite, DSN: path}, db
}

// setup stores data on a fresh datastore and opens the connector on it.
func setup(t testing.TB, data connectortest.Dataset) (connectortest.Fixture, connectortest.SQLStore) {
	ds, db := fresh(t)
	s := store(db)
	s.Load(t, data)
	c, err := Open(context.Background(), ds)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	users, orders, missing := connectortest.SQLCollections(ds.Name)
	return connectortest.Fixture{Connector: c, Users: users, Orders: orders, Missing: missing, Raw: s.Raw}, s
}

func harness() connectortest.Harness {
	return connectortest.Harness{
		Capabilities: connectortest.SQL,
		Setup: func(t testing.TB, data connectortest.Dataset) connectortest.Fixture {
			fx, _ := setup(t, data)
			return fx
		},
	}
}

func TestConnector(t *testing.T) {
	connectortest.Run(t, harness())
}

func BenchmarkFind(b *testing.B)  { connectortest.BenchFind(b, setup) }
func BenchmarkErase(b *testing.B) { connectortest.BenchErase(b, setup) }

func TestOpenNeverCreates(t *testing.T) {
	dir := t.TempDir()
	secretPath := filepath.Join(dir, "customer-records-s3cr3t.db")
	ds := &lethe.Datastore{Name: "shop", Driver: lethe.DriverSQLite, DSN: secretPath}
	_, err := Open(context.Background(), ds)
	if lethe.ErrorCode(err) != lethe.EUNAVAILABLE {
		t.Fatalf("open a missing file: %v, want EUNAVAILABLE", err)
	}
	if strings.Contains(err.Error(), "s3cr3t") || !strings.Contains(err.Error(), "shop") {
		t.Errorf("the error should name the datastore, not the path: %v", err)
	}
	// What the operator reads (API, logs, reports) says why.
	if msg := lethe.ErrorMessage(err); !strings.Contains(msg, "the database file does not exist") || strings.Contains(msg, "s3cr3t") {
		t.Errorf("the message should say the file is missing, without the path: %q", msg)
	}
	if _, err := os.Stat(secretPath); !os.IsNotExist(err) {
		t.Fatalf("Open created the missing file (%v)", err)
	}
	// A file that is not a database.
	if err := os.WriteFile(secretPath, []byte("not a database, just text that is long enough to have a header"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(context.Background(), ds); lethe.ErrorCode(err) != lethe.EUNAVAILABLE || strings.Contains(err.Error(), "s3cr3t") {
		t.Errorf("open a file that is not a database: %v, want EUNAVAILABLE without the path", err)
	}
	ds.DSN = "file:" + secretPath + "?mode=rwc"
	if _, err := Open(context.Background(), ds); lethe.ErrorCode(err) != lethe.EINVALID {
		t.Errorf("open with DSN parameters: %v, want EINVALID", err)
	}
	ds.DSN = dir
	if _, err := Open(context.Background(), ds); lethe.ErrorCode(err) != lethe.EINVALID {
		t.Errorf("open a directory: %v, want EINVALID", err)
	}
}

func TestSchemaQualifiedRefused(t *testing.T) {
	ds, _ := fresh(t)
	c, err := Open(context.Background(), ds)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, err = c.Describe(context.Background(), []*lethe.Collection{{Name: "users", Table: "main.users"}})
	if lethe.ErrorCode(err) != lethe.EINVALID {
		t.Errorf("describe main.users: %v, want EINVALID", err)
	}
}
