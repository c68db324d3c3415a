package lethe

import "context"

// Sampler is implemented by connectors that can read a bounded sample of
// a collection's rows. PII discovery (package scan, `lethe scan`) reads
// samples to find personal data the data map does not declare; a sample
// never leaves the process: only counts of what it matched are reported.
type Sampler interface {
	// Sample calls fn for at most p.Size rows of the collection, with
	// every column (Values as Find returns them), and reports how the
	// rows were chosen. The cost is bounded by the sample size, not by
	// the table's: a large table is sampled through its index or the
	// database's own block sampling, never read whole or sorted at
	// random. It stops at fn's first error and returns it; EINVALID for
	// a missing table.
	Sample(ctx context.Context, p SampleParams, fn func(Row) error) (SampleResult, error)
}

// TableLister is implemented by connectors that can list every table of
// their database, declared in the data map or not, so that discovery
// also reaches tables nobody declared.
type TableLister interface {
	// Tables lists the base tables (not views) of the database the
	// datastore connects to, as data-map table names: schema-qualified
	// where the database has schemas and the table is outside the
	// default one. Sorted.
	Tables(ctx context.Context) ([]string, error)
}

// SampleParams names the collection to sample and the sample's size.
type SampleParams struct {
	Collection *Collection
	// Size is the most rows read. Defaults to DefaultSampleSize.
	Size int
}

// DefaultSampleSize is the sample size when SampleParams.Size is zero.
const DefaultSampleSize = 1000

// SampleMethod says how a sample's rows were chosen.
type SampleMethod string

// Sample methods.
const (
	// SampleAll: the table holds no more rows than the sample size, and
	// every row was read.
	SampleAll SampleMethod = "all"
	// SampleSpread: windows of consecutive rows at evenly spaced points
	// of an integer key's range, each found through the key's index (and
	// read further where keys are sparse).
	SampleSpread SampleMethod = "spread"
	// SampleBlocks: random pages of the table (PostgreSQL TABLESAMPLE
	// SYSTEM).
	SampleBlocks SampleMethod = "blocks"
	// SampleFirst: the first rows the database returns, when the table
	// has no integer key to spread over; the sample may not represent
	// the whole table.
	SampleFirst SampleMethod = "first"
	// SampleKeys: the first keys a key-value store's SCAN returns, which
	// follow its hash order rather than insertion order.
	SampleKeys SampleMethod = "keys"
)

// SampleResult reports how a sample was taken.
type SampleResult struct {
	Method SampleMethod `json:"method"`
	// Rows is how many rows were passed to fn.
	Rows int `json:"rows"`
}
