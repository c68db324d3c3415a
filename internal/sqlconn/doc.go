// Package sqlconn is the engine behind the SQL connectors
// (connector/postgres, connector/mysql, connector/sqlite): one
// implementation of lethe.Connector over database/sql, parameterised by a
// Dialect that each adapter writes next to its driver (identifier quoting,
// parameter markers, introspection, the bulk UPDATE syntax, driver error
// codes).
//
// What it promises, on every database:
//
//   - Identifiers are checked against the table's introspected columns and
//     quoted; every value travels as a parameter.
//   - Match values are coerced to the column's type first (Coerce): a
//     value that cannot be of that type selects nothing and is not sent,
//     so an identity "1; DROP TABLE users" for an integer column finds no
//     row and is not an error.
//   - Work is set-based: at most lethe.MaxBatch values per statement,
//     rows streamed to the caller, anonymisation written with one bulk
//     UPDATE per page of rows rather than one statement per row.
//   - Erase runs in one transaction.
//   - Errors are translated at the edge and never quote a DSN or a value.
//
// Introspection (Describe) is cached per table and refreshed by Describe
// itself, or when a statement finds a table or column missing.
package sqlconn
