package testenv

import (
	"context"
	"database/sql"
	"testing"

	"github.com/redis/go-redis/v9"
)

func TestMySQLDatabase(t *testing.T) {
	dsn := MySQLDatabase(t)
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec("CREATE TABLE t (id int primary key)"); err != nil {
		t.Fatalf("the fresh database takes a table: %v", err)
	}
}

func TestRedisPrefix(t *testing.T) {
	url, prefix := RedisPrefix(t)
	opts, _ := redis.ParseURL(url)
	c := redis.NewClient(opts)
	defer c.Close()
	if err := c.Set(context.Background(), prefix+"k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
}
