package sqlconn

import (
	"database/sql"
	"time"
)

// Pool sizes a connection pool Open created: a request queries a few
// collections of one datastore at once, and database/sql keeps only two
// idle connections by default, so every request would otherwise dial
// (and authenticate) again.
func Pool(db *sql.DB) {
	db.SetMaxIdleConns(8)
	db.SetConnMaxIdleTime(5 * time.Minute)
}
