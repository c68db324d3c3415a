package connector

import (
	"context"

	"github.com/lethe-privacy/lethe"
	"github.com/lethe-privacy/lethe/connector/mysql"
	"github.com/lethe-privacy/lethe/connector/postgres"
	"github.com/lethe-privacy/lethe/connector/redis"
	"github.com/lethe-privacy/lethe/connector/sqlite"
	"github.com/lethe-privacy/lethe/connector/webhook"
)

// Builtin returns the drivers Lethe ships with. A new driver is a new
// package under connector/ and one line here.
func Builtin() map[string]Opener {
	return map[string]Opener{
		lethe.DriverPostgres: opener(postgres.Open),
		lethe.DriverMySQL:    opener(mysql.Open),
		lethe.DriverSQLite:   opener(sqlite.Open),
		lethe.DriverRedis:    opener(redis.Open),
		lethe.DriverWebhook:  opener(webhook.Open),
	}
}

// opener adapts an adapter's Open, which returns its concrete type, to
// an Opener; a failed open must not become a non-nil interface holding a
// nil pointer.
func opener[C lethe.Connector](open func(context.Context, *lethe.Datastore) (C, error)) Opener {
	return func(ctx context.Context, ds *lethe.Datastore) (lethe.Connector, error) {
		c, err := open(ctx, ds)
		if err != nil {
			return nil, err
		}
		return c, nil
	}
}
