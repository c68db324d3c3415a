package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// DefaultPostgresURL is used when LETHE_TEST_POSTGRES_URL is not set.
const DefaultPostgresURL = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

// Unavailable skips the test, or fails it when services are required.
func Unavailable(t testing.TB, service string, err error) {
	t.Helper()
	if os.Getenv("LETHE_TEST_REQUIRE_SERVICES") == "1" {
		t.Fatalf("%s is required (LETHE_TEST_REQUIRE_SERVICES=1) but unreachable: %v", service, err)
	}
	t.Skipf("%s unreachable, skipping (set LETHE_TEST_REQUIRE_SERVICES=1 to fail instead): %v", service, err)
}

// PostgresURL returns the base URL of the test PostgreSQL server after
// checking that it answers.
func PostgresURL(t testing.TB) string {
	t.Helper()
	u := os.Getenv("LETHE_TEST_POSTGRES_URL")
	if u == "" {
		u = DefaultPostgresURL
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, u)
	if err != nil {
		Unavailable(t, "PostgreSQL", err)
	}
	conn.Close(ctx)
	return u
}

// PostgresSchema creates a fresh schema for the test, returns a URL whose
// connections use it (search_path), and drops it when the test ends.
func PostgresSchema(t testing.TB) string {
	t.Helper()
	base := PostgresURL(t)
	var b [6]byte
	_, _ = rand.Read(b[:])
	schema := "lethe_test_" + hex.EncodeToString(b[:])
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		Unavailable(t, "PostgreSQL", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, base)
		if err != nil {
			t.Logf("drop schema %s: %v", schema, err)
			return
		}
		defer c.Close(ctx)
		if _, err := c.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Logf("drop schema %s: %v", schema, err)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("parse postgres url: %v", err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}
