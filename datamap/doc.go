// Package datamap checks the data map of lethe.yaml against the databases
// it describes, the way `lethe datamap check` reports it: tables and
// columns that are missing (errors), erase strategies that cannot be
// written to their column (errors), columns the database has and the map
// does not declare (drift: warnings, errors with Strict, so CI can refuse
// new personal data that slipped in undeclared), identity and reference
// columns without an index (warnings: every request scans the table), and
// strategies that do not keep a unique column unique.
//
// Package config already refused everything that can be decided without
// a connection (undeclared references, unreachable fields, cycles,
// identifiers); this package only reports what needs the database.
package datamap
