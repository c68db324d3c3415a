// Package postgres is the lethe.Connector for PostgreSQL databases that
// hold personal data (driver: postgres in the data map). It speaks through
// pgx's database/sql driver and the shared SQL engine (internal/sqlconn):
// matches become parameterised IN batches, rows stream, erasure runs in
// one transaction, and anonymisation writes each page of rows with one
// UPDATE ... FROM (VALUES ...) whose parameters are cast to the columns'
// types.
//
// Introspection reads pg_catalog. Timestamps without time zone are taken
// to hold UTC.
package postgres
