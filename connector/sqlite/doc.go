// Package sqlite is the lethe.Connector for SQLite database files that
// hold personal data (driver: sqlite in the data map), through the pure-Go
// modernc.org/sqlite driver and the shared SQL engine (internal/sqlconn).
//
// The file is the application's: the connector opens it read-write
// without creating it, leaves its journal mode and foreign_keys setting
// as they are, waits for other processes' locks (busy_timeout), and takes
// the write lock at the start of each Erase transaction.
package sqlite
