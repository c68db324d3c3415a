// Package connectortest is the suite every lethe.Connector runs: one set
// of cases (finding by identity and by reference, ORed matches, batches
// over lethe.MaxBatch, hostile identity values, delete, anonymise with
// computed and constant masks, holds, idempotence, one transaction,
// cancellation, Describe) on a real datastore.
//
// An adapter's test supplies a Harness: Setup stores an abstract Dataset
// (users and their orders) in a fresh datastore and returns the
// collections' data-map definitions with a raw reader that sees what is
// stored without the connector; Capabilities skips the cases a key-value
// or service connector cannot honour. SQLStore and SQLCollections do the
// loading and raw reading for SQL adapters; BenchFind and BenchErase
// measure a SQL connector against hand-written SQL in the same run.
package connectortest
