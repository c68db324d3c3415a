package mysql

import (
	"context"
	"database/sql"
	"strings"
	"testing"
	"time"

	"github.com/lethe-privacy/lethe"
	"github.com/lethe-privacy/lethe/connector/connectortest"
	"github.com/lethe-privacy/lethe/internal/testenv"
)

var schemaSQL = []string{`
CREATE TABLE users (
	id bigint PRIMARY KEY,
	email varchar(255) NOT NULL UNIQUE,
	name text,
	created_at datetime NOT NULL
) CHARACTER SET utf8mb4`, `
CREATE TABLE orders (
	id bigint PRIMARY KEY,
	user_id bigint NOT NULL,
	total int NOT NULL,
	note text,
	created_at datetime NOT NULL,
	INDEX orders_user_id (user_id)
) CHARACTER SET utf8mb4`}

func store(db *sql.DB) connectortest.SQLStore {
	return connectortest.SQLStore{
		DB:          db,
		Placeholder: func(int) string { return "?" },
		Quote:       dialect{}.QuoteIdent,
	}
}

// fresh returns a datastore on a fresh database with the fixture's tables,
// and a raw handle on it.
func fresh(t testing.TB) (*lethe.Datastore, *sql.DB) {
	t.Helper()
	dsn := testenv.MySQLDatabase(t)
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	for _, q := range schemaSQL {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("create tables: %v", err)
		}
	}
	return &lethe.Datastore{Name: "shop", Driver: lethe.DriverMySQL, DSN: dsn}, db
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

func TestOpenUnavailable(t *testing.T) {
	ds := &lethe.Datastore{Name: "shop", Driver: lethe.DriverMySQL, DSN: "lethe_user:s3cr3t-pa55@tcp(127.0.0.1:1)/shopdb"}
	_, err := Open(context.Background(), ds)
	if lethe.ErrorCode(err) != lethe.EUNAVAILABLE {
		t.Fatalf("open on a closed port: %v, want EUNAVAILABLE", err)
	}
	for _, secret := range []string{"s3cr3t-pa55", "lethe_user", "shopdb", ds.DSN} {
		if strings.Contains(err.Error(), secret) {
			t.Errorf("the error holds part of the DSN (%s): %v", secret, err)
		}
	}
	if !strings.Contains(err.Error(), "shop") || !strings.Contains(err.Error(), "refused") {
		t.Errorf("the error should name the datastore and the cause: %v", err)
	}
	// The right server, a wrong password.
	ds.DSN = "root:s3cr3t-pa55@tcp(127.0.0.1:3306)/test"
	if _, err := Open(context.Background(), ds); err != nil && strings.Contains(err.Error(), "s3cr3t") {
		t.Errorf("a refused login quotes the password: %v", err)
	}
	ds.DSN = "u:s3cr3t-pa55@tcp(127.0.0.1:3306/db?x"
	if _, err := Open(context.Background(), ds); lethe.ErrorCode(err) != lethe.EINVALID || strings.Contains(err.Error(), "s3cr3t") {
		t.Errorf("open with a malformed DSN: %v, want EINVALID without the DSN", err)
	}
}

// TestStatementTimeout checks that a statement blocked by another
// transaction's lock gives up after the datastore's timeout with
// EUNAVAILABLE, and changes nothing.
func TestStatementTimeout(t *testing.T) {
	ds, db := fresh(t)
	s := store(db)
	s.Load(t, connectortest.Dataset{Users: []connectortest.User{{ID: 1, Email: "a@example.com", CreatedAt: time.Now()}}})
	ds.Timeout = lethe.Duration{Clock: 300 * time.Millisecond}
	c, err := Open(context.Background(), ds)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	tx, err := db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if _, err := tx.Exec("UPDATE users SET name = 'locked' WHERE id = 1"); err != nil {
		t.Fatal(err)
	}
	users, _, _ := connectortest.SQLCollections(ds.Name)
	start := time.Now()
	_, err = c.Erase(context.Background(), []lethe.EraseStep{{Collection: users, Matches: []lethe.Match{{Column: "id", Values: []any{"1"}}}, Action: lethe.EraseDelete}})
	if lethe.ErrorCode(err) != lethe.EUNAVAILABLE {
		t.Errorf("erase of a locked row: %v, want EUNAVAILABLE", err)
	}
	if waited := time.Since(start); waited > 5*time.Second {
		t.Errorf("erase gave up after %v, long past the 300ms timeout", waited)
	}
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	if n := len(s.Raw(t, "users")); n != 1 {
		t.Errorf("%d users after the timed-out erase, want 1", n)
	}
}
