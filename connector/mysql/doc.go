// Package mysql is the lethe.Connector for MySQL and MariaDB databases that
// hold personal data (driver: mysql in the data map). It speaks through
// github.com/go-sql-driver/mysql and the shared SQL engine
// (internal/sqlconn): matches become parameterised IN batches, rows
// stream, erasure runs in one transaction, and anonymisation writes each
// page of rows with one UPDATE joined to the rows' new values.
//
// Introspection reads information_schema. DATETIME and TIMESTAMP values
// are read and written in UTC.
package mysql
