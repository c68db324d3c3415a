package redis

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"testing"

	goredis "github.com/redis/go-redis/v9"

	"github.com/lethe-privacy/lethe"
)

// TestCluster runs on a Redis Cluster when LETHE_TEST_REDIS_CLUSTER_ADDRS
// lists its nodes (host:port,host:port,...): keys spread over every
// master are found and erased. A cluster of three masters on one machine:
//
//	for p in 7101 7102 7103; do mkdir -p $p && (cd $p && redis-server --port $p --cluster-enabled yes --daemonize yes); done
//	redis-cli --cluster create 127.0.0.1:7101 127.0.0.1:7102 127.0.0.1:7103 --cluster-replicas 0 --cluster-yes
func TestCluster(t *testing.T) {
	addrs := os.Getenv("LETHE_TEST_REDIS_CLUSTER_ADDRS")
	if addrs == "" {
		t.Skip("LETHE_TEST_REDIS_CLUSTER_ADDRS is not set: no Redis Cluster to test on")
	}
	ctx := context.Background()
	client := goredis.NewClusterClient(&goredis.ClusterOptions{Addrs: strings.Split(addrs, ",")})
	if err := client.Ping(ctx).Err(); err != nil {
		t.Fatalf("cluster: %v", err)
	}
	var b [6]byte
	rand.Read(b[:])
	prefix := "lethe_test_" + hex.EncodeToString(b[:]) + ":"
	t.Cleanup(func() {
		client.ForEachMaster(ctx, func(ctx context.Context, node *goredis.Client) error {
			keys, _ := node.Keys(ctx, escapeGlob(prefix)+"*").Result()
			for _, k := range keys {
				node.Del(ctx, k)
			}
			return nil
		})
		client.Close()
	})
	const n = 2500
	pipe := client.Pipeline()
	ids := make([]any, n)
	for i := range n {
		ids[i] = fmt.Sprintf("u%d", i)
		pipe.Set(ctx, fmt.Sprintf("%ss:u1:%05d", prefix, i), "v", 0)
		pipe.HSet(ctx, fmt.Sprintf("%sd:u%d", prefix, i), "email", fmt.Sprintf("u%d@example.com", i))
	}
	pipe.Set(ctx, prefix+"s:u2:00000", "other", 0)
	if _, err := pipe.Exec(ctx); err != nil {
		t.Fatal(err)
	}
	// The keys are spread over the masters.
	var holding atomic.Int32
	client.ForEachMaster(ctx, func(ctx context.Context, node *goredis.Client) error {
		if keys, _ := node.Keys(ctx, escapeGlob(prefix)+"s:*").Result(); len(keys) > 0 {
			holding.Add(1)
		}
		return nil
	})
	masters := holding.Load()
	if masters < 2 {
		t.Fatalf("the keys sit on %d master(s); the test needs a cluster that spreads them", masters)
	}

	c := New(client)
	scanned := &lethe.Collection{Name: "s", Key: prefix + "s:{user_id}:*"}
	direct := &lethe.Collection{Name: "d", Key: prefix + "d:{user_id}", Fields: map[string]*lethe.Field{"email": {}}}
	count := func(p lethe.FindParams) int {
		t.Helper()
		rows := 0
		if err := c.Find(ctx, p, func(lethe.Row) error { rows++; return nil }); err != nil {
			t.Fatal(err)
		}
		return rows
	}
	if got := count(lethe.FindParams{Collection: scanned, Matches: []lethe.Match{{Column: "user_id", Values: []any{"u1"}}}}); got != n {
		t.Errorf("scanned over %d masters: %d keys, want %d", masters, got, n)
	}
	if got := count(lethe.FindParams{Collection: direct, Matches: []lethe.Match{{Column: "user_id", Values: ids}}}); got != n {
		t.Errorf("direct: %d keys, want %d", got, n)
	}
	if got := count(lethe.FindParams{Collection: direct, Matches: []lethe.Match{{Column: "email", Values: []any{"u7@example.com", "u2499@example.com"}}}}); got != 2 {
		t.Errorf("by hash field: %d keys, want 2", got)
	}
	steps := []lethe.EraseStep{
		{Collection: scanned, Matches: []lethe.Match{{Column: "user_id", Values: []any{"u1"}}}, Action: lethe.EraseDelete},
		{Collection: direct, Matches: []lethe.Match{{Column: "user_id", Values: ids[:1500]}}, Action: lethe.EraseDelete},
	}
	res, err := c.Erase(ctx, steps)
	if err != nil || res[0].Rows != n || res[1].Rows != 1500 {
		t.Fatalf("erase: %v, %v", res, err)
	}
	if res, err = c.Erase(ctx, steps); err != nil || res[0].Rows != 0 || res[1].Rows != 0 {
		t.Errorf("erase again: %v, %v", res, err)
	}
	if got, err := client.Exists(ctx, prefix+"s:u2:00000").Result(); err != nil || got != 1 {
		t.Errorf("another subject's key: exists %d, %v", got, err)
	}
	if got := count(lethe.FindParams{Collection: direct, Matches: []lethe.Match{{Column: "user_id", Values: ids}}}); got != n-1500 {
		t.Errorf("after erasing 1500: %d keys, want %d", got, n-1500)
	}
}
