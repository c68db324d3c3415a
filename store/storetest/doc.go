// Package storetest is the one test suite every lethe.Store implementation
// passes (store/sqlite, store/postgres). An adapter's tests call Run with a
// Harness that opens fresh stores on a real database; the suite then proves
// the contract documented on lethe.Store: projections, ordering, atomicity,
// the audit log's sequence, chain and Merkle tree, checkpoints, subject key
// generations and shredding, API keys, error codes, that the database
// itself refuses to rewrite append-only history, that concurrent writers
// lose nothing, and that the change feed sees a second store's writes.
package storetest
