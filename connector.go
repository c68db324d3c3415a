package lethe

import (
	"context"
	"time"
)

// Connector reaches the personal data in one datastore. The adapters in
// connector/<driver> implement it for PostgreSQL, MySQL/MariaDB, SQLite,
// Redis and webhooks; an application may implement it for its own
// services (see connector.Funcs for the export/erase function pattern).
//
// Work is set-based: a Match names a column and a set of values, and the
// connector turns it into parameterised IN (...) batches of at most
// MaxBatch values. Rows stream to a callback, never collected, so memory
// stays bounded whatever a subject's size.
//
// Values are compared with the column's own type: a value that cannot be
// of that type (the text "x'; DROP TABLE" for an integer column) matches
// nothing, and is not an error. Identifiers come from a validated data map
// and are quoted as well.
//
// Errors: EUNAVAILABLE when the datastore cannot be reached (the engine
// fails that datastore's steps only), EINVALID when the data map does not
// fit the database (a missing table or column). Messages never hold a DSN
// or a personal value. Implementations are safe for concurrent use.
type Connector interface {
	// Describe introspects the collections' tables: columns, types,
	// nullability, uniqueness and indexes. A collection whose table is
	// missing is returned with Exists false. Key-value and service
	// connectors return what they can (Exists true, no columns).
	Describe(ctx context.Context, collections []*Collection) ([]TableSchema, error)
	// Find calls fn for every row of the collection that any of the
	// matches selects, each row once, with the requested columns (every
	// column when Columns is empty). It stops at fn's first error and
	// returns it.
	Find(ctx context.Context, p FindParams, fn func(Row) error) error
	// Erase applies the steps in order in one transaction where the
	// datastore has transactions: either every step is applied or none.
	// Erase is idempotent in effect: erasing rows already erased succeeds
	// (deleted rows are gone and count zero; anonymised rows are matched
	// again only through values that did not change, such as the primary
	// key, and masking them again writes masked values again: the same
	// ones for unkeyed masks, new ones for keyed masks such as hmac and
	// fake.*, since a masked value cannot be told from an original).
	Erase(ctx context.Context, steps []EraseStep) ([]EraseStepResult, error)
	// Close releases the connections.
	Close() error
}

// MaxBatch is the largest IN (...) list a connector sends in one
// statement.
const MaxBatch = 1000

// Match selects rows whose Column holds one of Values. Values are strings,
// integers or other scalars as found in another row; a connector converts
// them to the column's type.
type Match struct {
	Column string `json:"column"`
	Values []any  `json:"-"`
	// Identity is the identity type the values are, when the match starts
	// from the request's identities (empty for a reference). Service
	// connectors (webhook) use it to name what they were given.
	Identity IdentityType `json:"identity,omitempty"`
	// FoldCase compares text ignoring case: the column is listed under
	// the collection's case_insensitive, and Values are lower-case. SQL
	// connectors compare lower(column); an index on lower(column) keeps
	// that fast. Key-value connectors ignore it (keys are literal).
	FoldCase bool `json:"fold_case,omitempty"`
}

// FindParams selects rows of one collection.
type FindParams struct {
	Collection *Collection
	// Matches are ORed: a row matching any is returned, once.
	Matches []Match
	// Columns to return; empty means every column of the table.
	Columns []string
	// Distinct returns each distinct combination of Columns once instead
	// of each row (used to collect the keys that references follow).
	Distinct bool
	// RequestID identifies the request for service connectors' logs.
	RequestID string
}

// Row is one row as found: column names and values in the same order.
// Values are nil, int64, float64, bool, string, []byte or time.Time.
// A Row is valid only during the callback it is passed to.
type Row struct {
	Columns []string
	Values  []any
}

// Get returns the value of the named column.
func (r Row) Get(column string) (any, bool) {
	for i, c := range r.Columns {
		if c == column {
			return r.Values[i], true
		}
	}
	return nil, false
}

// EraseStep is what erasure does to one collection's matching rows.
type EraseStep struct {
	Collection *Collection
	// Matches select the rows, as for Find (ORed).
	Matches []Match
	// Action is delete or anonymise.
	Action EraseAction
	// Masks maps each column to rewrite (anonymise only) to its mask.
	Masks map[string]Mask
	// Before, when set, limits the step to rows whose Before.Column is
	// older than Before.Time: a hold keeps the newer ones.
	Before *Cutoff
	// RequestID identifies the request for service connectors.
	RequestID string
	// Await, when set, is called right before the step is applied (in
	// the transaction, after the steps before it). When it returns an
	// error, this step and the ones after it are not applied: the
	// connector keeps (commits) the steps before, marks the others
	// Skipped, and Erase returns no error. The engine uses it to erase a
	// parent only once the other datastores erased the rows found through
	// it, without a second transaction.
	Await func(ctx context.Context) error
}

// Cutoff selects rows whose Column holds a time before Time.
type Cutoff struct {
	Column string
	Time   time.Time
}

// EraseStepResult reports what one step did.
type EraseStepResult struct {
	// Rows is how many rows were deleted or anonymised.
	Rows int64 `json:"rows"`
	// Skipped is true when the step's Await (or an earlier step's)
	// refused it: nothing was done.
	Skipped bool `json:"skipped,omitempty"`
}

// Mask rewrites one value of a field when a row is anonymised. Package
// mask implements the strategies named in the data map.
type Mask interface {
	// Apply returns the value to write in place of v. It is
	// deterministic: the same v (and key) always gives the same output.
	// Apply(nil) returns nil: there is nothing to hide.
	Apply(v any) (any, error)
	// Constant reports whether every input maps to one value (null, blank,
	// fixed:...), which a connector then writes with a single UPDATE
	// instead of reading the rows first.
	Constant() (value any, ok bool)
}

// TableSchema is what Describe found for one collection.
type TableSchema struct {
	Collection *Collection `json:"-"`
	// Exists is false when the table (or endpoint) is missing.
	Exists  bool           `json:"exists"`
	Columns []ColumnSchema `json:"columns,omitempty"`
}

// Column returns the named column.
func (t TableSchema) Column(name string) (ColumnSchema, bool) {
	for _, c := range t.Columns {
		if c.Name == name {
			return c, true
		}
	}
	return ColumnSchema{}, false
}

// ColumnSchema describes one column of a table.
type ColumnSchema struct {
	Name string `json:"name"`
	// Type is the database's own type name (text, integer, varchar(255)).
	Type string `json:"type"`
	// Kind is the type's family, which decides which masks fit.
	Kind     ColumnKind `json:"kind"`
	Nullable bool       `json:"nullable"`
	// Unique is true when a unique index or constraint covers the column
	// alone (a primary key counts).
	Unique bool `json:"unique"`
	// Indexed is true when an index starts with the column, so that a
	// lookup by it does not scan the table.
	Indexed bool `json:"indexed"`
	// MaxLength is the character limit of a varchar(n) column, else 0.
	MaxLength int `json:"max_length,omitempty"`
}

// ColumnKind is the family of a column's type.
type ColumnKind string

// Column kinds.
const (
	KindText    ColumnKind = "text"
	KindInteger ColumnKind = "integer"
	KindFloat   ColumnKind = "float"
	KindBool    ColumnKind = "bool"
	KindTime    ColumnKind = "time" // timestamp, datetime
	KindDate    ColumnKind = "date"
	KindBytes   ColumnKind = "bytes"
	KindJSON    ColumnKind = "json"
	KindUUID    ColumnKind = "uuid"
	KindInet    ColumnKind = "inet" // PostgreSQL inet/cidr
	KindOther   ColumnKind = "other"
)

// ValueScanner is implemented by connectors that can list the values a
// column holds across a whole collection. `lethe rerun` uses it to read
// the identity columns of a datastore restored from a backup and find,
// by their subject references, the rows of subjects erased since.
type ValueScanner interface {
	// ScanValues calls fn with the distinct non-null values of the
	// column, in batches of at most p.Batch values (lethe.MaxBatch when
	// zero), never holding more than one batch. Values are as Find
	// returns them. A value may come more than once where the datastore
	// cannot tell (key-value stores). It stops at fn's first error and
	// returns it; EINVALID for a missing table or column.
	ScanValues(ctx context.Context, p ScanParams, fn func(values []any) error) error
}

// ScanParams names the column ScanValues reads.
type ScanParams struct {
	Collection *Collection
	Column     string
	// Batch bounds the values passed to fn at once. Defaults to MaxBatch.
	Batch int
}
