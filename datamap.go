package lethe

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// Datastore is one database or service that holds personal data, as
// declared under `datastores:` in lethe.yaml. Its name is the key it is
// declared under.
//
// The connection string (DSN or URL) usually comes from the environment
// (${VAR}); it may hold a password, so it is never logged, echoed in an
// error, or written to the audit log: Datastore redacts it in logs.
type Datastore struct {
	// Name is the key the datastore is declared under (filled by package
	// config, not read from YAML).
	Name string `yaml:"-" json:"name"`
	// Driver is postgres, mysql (also MariaDB), sqlite, redis, webhook, or
	// custom: a Go connector the application registered under the
	// datastore's name.
	Driver string `yaml:"driver" json:"driver"`
	// DSN is the connection string: a postgres:// URL, a MySQL DSN
	// (user:pass@tcp(host:3306)/db), or an SQLite file path.
	DSN string `yaml:"dsn,omitempty" json:"-"`
	// URL is the address of a redis (redis://host:6379/0) or webhook
	// (https://...) datastore.
	URL string `yaml:"url,omitempty" json:"-"`
	// Secret signs webhook calls (HMAC-SHA256). Required for webhooks.
	Secret string `yaml:"secret,omitempty" json:"-"`
	// Timeout bounds one call to the datastore. Defaults to 30s.
	Timeout Duration `yaml:"timeout,omitempty" json:"timeout,omitempty"`
	// Keys is the redis shorthand: key patterns with identity templates
	// ("session:{user_id}"). Package config turns each into a collection
	// named after the pattern's fixed prefix.
	Keys []string `yaml:"keys,omitempty" json:"keys,omitempty"`
	// ScrubAllowed marks a copy of a database that `lethe scrub` may
	// rewrite in place. Never set it on production. Defaults to false.
	ScrubAllowed bool `yaml:"scrub_allowed,omitempty" json:"scrub_allowed,omitempty"`
	// Collections are the tables (key patterns, endpoints) that hold
	// personal data, by name.
	Collections map[string]*Collection `yaml:"collections,omitempty" json:"collections,omitempty"`
}

// LogValue keeps the connection string and secret out of logs.
func (d *Datastore) LogValue() string { return "datastore " + d.Name + " (" + d.Driver + ")" }

// CollectionNames returns the datastore's collection names, sorted.
func (d *Datastore) CollectionNames() []string {
	names := make([]string, 0, len(d.Collections))
	for n := range d.Collections {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// Collection is a table, a redis key pattern or a webhook endpoint, with
// the columns that hold personal data and how to erase them. Its name is
// the key it is declared under.
type Collection struct {
	// Name is the key the collection is declared under (filled by package
	// config).
	Name string `yaml:"-" json:"name"`
	// Datastore is the name of the datastore it belongs to (filled by
	// package config).
	Datastore string `yaml:"-" json:"datastore"`
	// Table is the table's name in the database, optionally
	// schema-qualified (public.users). Defaults to the collection name.
	Table string `yaml:"table,omitempty" json:"table,omitempty"`
	// Key is the redis key pattern with identity templates
	// ("session:{user_id}"). Only for redis datastores.
	Key string `yaml:"key,omitempty" json:"key,omitempty"`
	// PrimaryKey is the column that identifies a row. Defaults to id.
	PrimaryKey string `yaml:"primary_key,omitempty" json:"primary_key,omitempty"`
	// Identities maps an identity type (user_id, email, phone, custom) to
	// the column that holds it: traversal starts at these columns.
	Identities map[IdentityType]string `yaml:"identities,omitempty" json:"identities,omitempty"`
	// References maps a column to the column it refers to, written
	// collection.column in the same datastore or
	// datastore.collection.column across datastores. Traversal follows a
	// reference from the rows found in the target to the rows here.
	References map[string]string `yaml:"references,omitempty" json:"references,omitempty"`
	// Fields are the columns that hold personal data.
	Fields map[string]*Field `yaml:"fields,omitempty" json:"fields,omitempty"`
	// Erase says what erasure does to a row: delete it, or anonymise its
	// personal fields and keep it. Defaults to delete.
	Erase EraseAction `yaml:"erase,omitempty" json:"erase,omitempty"`
	// Hold is an Art. 17(3) exception that keeps rows past an erasure
	// request.
	Hold *Hold `yaml:"hold,omitempty" json:"hold,omitempty"`
	// After lists collections ([datastore.]collection) to erase before
	// this one, beyond what references already order.
	After []string `yaml:"after,omitempty" json:"after,omitempty"`
	// CaseInsensitive lists identity columns whose values are compared
	// ignoring case (e-mail addresses stored as people typed them):
	// Jane@Example.com is then found by jane@example.com. Give such a
	// column an index on lower(column), or each request scans the table.
	CaseInsensitive []string `yaml:"case_insensitive,omitempty" json:"case_insensitive,omitempty"`
	// Ignore lists columns known to hold no personal data (order totals,
	// SKUs), so that `lethe datamap check --strict` can refuse columns
	// nobody has classified yet.
	Ignore []string `yaml:"ignore,omitempty" json:"ignore,omitempty"`
	// Purposes lists the ids of the purposes the collection's data is
	// processed for: the records of processing name the collection under
	// each, and a retention rule without max_age keeps rows as long as
	// the longest of their retention periods. Defaults to none.
	Purposes []string `yaml:"purposes,omitempty" json:"purposes,omitempty"`
	// Retention deletes or anonymises rows once they are older than a
	// limit (Art. 5(1)(e)); `lethe retention run` and the schedule of
	// `lethe serve` apply it. Defaults to none: rows are kept.
	Retention *RetentionRule `yaml:"retention,omitempty" json:"retention,omitempty"`
}

// TableName returns Table, or the collection name when Table is empty.
func (c *Collection) TableName() string {
	if c.Table != "" {
		return c.Table
	}
	return c.Name
}

// PrimaryKeyColumn returns PrimaryKey, or "id" when it is empty.
func (c *Collection) PrimaryKeyColumn() string {
	if c.PrimaryKey != "" {
		return c.PrimaryKey
	}
	return "id"
}

// EraseActionOrDefault returns Erase, or delete when it is empty.
func (c *Collection) EraseActionOrDefault() EraseAction {
	if c.Erase != "" {
		return c.Erase
	}
	return EraseDelete
}

// FieldNames returns the names of the personal fields, sorted.
func (c *Collection) FieldNames() []string {
	names := make([]string, 0, len(c.Fields))
	for n := range c.Fields {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// Path returns datastore.collection.
func (c *Collection) Path() string { return c.Datastore + "." + c.Name }

// Field is a column holding personal data.
type Field struct {
	// Category is the data category (contact.email, name, network.ip...).
	Category string `yaml:"category" json:"category"`
	// Erase is the masking strategy used when the collection is
	// anonymised (see package mask: null, blank, fixed:<v>, hmac,
	// fake.<kind>, truncate.ip, truncate.date.month|year, redact).
	// Defaults to null.
	Erase string `yaml:"erase,omitempty" json:"erase,omitempty"`
	// Scrub is the masking strategy `lethe scrub` writes to a copy of the
	// database, when it should differ from Erase (fake.email on a copy
	// for testers, hmac when a subject is erased). Defaults to Erase.
	Scrub string `yaml:"scrub,omitempty" json:"scrub,omitempty"`
}

// EraseStrategy returns Erase, or "null" when it is empty.
func (f *Field) EraseStrategy() string {
	if f.Erase != "" {
		return f.Erase
	}
	return "null"
}

// ScrubStrategy returns Scrub, or EraseStrategy when it is empty.
func (f *Field) ScrubStrategy() string {
	if f.Scrub != "" {
		return f.Scrub
	}
	return f.EraseStrategy()
}

// EraseAction is what erasure does to a row.
type EraseAction string

// Erase actions.
const (
	EraseDelete    EraseAction = "delete"
	EraseAnonymise EraseAction = "anonymise"
)

// Hold is an Art. 17(3) exception: rows of the collection are kept after
// an erasure request while the basis applies (e.g. invoices for ten years
// under tax law), then Then applies.
type Hold struct {
	// Basis is the Art. 17(3) ground.
	Basis HoldBasis `yaml:"basis" json:"basis"`
	// Reason explains the hold to a person reading the certificate.
	Reason string `yaml:"reason" json:"reason"`
	// KeepFor is how long rows are kept, counted from the Since column.
	KeepFor Duration `yaml:"keep_for" json:"keep_for"`
	// Since is the column the hold counts from (e.g. created_at). Rows
	// older than KeepFor are past the hold and Then applies to them at
	// once. Defaults to counting from the erasure request, which keeps
	// every matching row.
	Since string `yaml:"since,omitempty" json:"since,omitempty"`
	// Then is applied when the hold ends. Defaults to delete.
	Then EraseAction `yaml:"then,omitempty" json:"then,omitempty"`
}

// RetentionRule is a collection's storage limit: rows whose Column is
// older than MaxAge are deleted or anonymised, except rows an Art. 17(3)
// hold still keeps.
type RetentionRule struct {
	// Column holds each row's age: a timestamp or date column such as
	// created_at or last_login_at. Rows where it is NULL are kept.
	Column string `yaml:"column" json:"column"`
	// MaxAge is how old a row may grow. Defaults to the longest retention
	// of the collection's purposes (a row is kept while any purpose still
	// needs it); one of the two is required.
	MaxAge Duration `yaml:"max_age,omitempty" json:"max_age,omitempty"`
	// Action deletes the rows, or anonymises them with the fields' erase
	// strategies and keeps them. Defaults to the collection's erase.
	Action EraseAction `yaml:"action,omitempty" json:"action,omitempty"`
	// Where narrows the rule to the rows that match it all (e.g. only
	// closed accounts). Defaults to every row.
	Where []RetentionFilter `yaml:"where,omitempty" json:"where,omitempty"`
	// Warn e-mails each person whose row is about to go, Before ahead,
	// once per row and inactivity. Defaults to no warning.
	Warn *RetentionWarning `yaml:"warn,omitempty" json:"warn,omitempty"`
}

// RetentionWarning is the notice a retention rule sends before it deletes
// or anonymises a row (e.g. accounts inactive three years are told 14
// days before).
type RetentionWarning struct {
	// Before is how long before the row's limit the notice goes out.
	Before Duration `yaml:"before" json:"before"`
	// Email is the column that holds the person's e-mail address.
	Email string `yaml:"email" json:"email"`
}

// RetentionFilter is one condition of a retention rule: Column equals
// Equals, or (with IsNull) Column is NULL or, with IsNull false, is not.
// It is structured rather than SQL text so that nothing in the config
// can inject SQL: the column is a plain identifier and the value a bound
// parameter.
type RetentionFilter struct {
	Column string `yaml:"column" json:"column"`
	// Equals compares the column's text with this value. Exactly one of
	// Equals, In and IsNull is given.
	Equals *string `yaml:"equals,omitempty" json:"equals,omitempty"`
	// In matches any of these values.
	In []string `yaml:"in,omitempty" json:"in,omitempty"`
	// IsNull true matches NULL, false matches every other value.
	IsNull *bool `yaml:"is_null,omitempty" json:"is_null,omitempty"`
}

// HoldBasis is an Art. 17(3) exception to the right to erasure.
type HoldBasis string

// HoldBases lists the Art. 17(3) grounds, (a) to (e).
var HoldBases = []HoldBasis{
	"freedom_of_expression", // (a)
	"legal_obligation",      // (b) also a task in the public interest
	"public_health",         // (c)
	"archiving_research",    // (d)
	"legal_claims",          // (e)
}

// Datastore drivers built into Lethe.
const (
	DriverPostgres = "postgres"
	DriverMySQL    = "mysql"
	DriverSQLite   = "sqlite"
	DriverRedis    = "redis"
	DriverWebhook  = "webhook"
	DriverCustom   = "custom"
)

// ColumnRef names a column in the data map: datastore, collection, column.
type ColumnRef struct {
	Datastore  string `json:"datastore"`
	Collection string `json:"collection"`
	Column     string `json:"column"`
}

func (r ColumnRef) String() string { return r.Datastore + "." + r.Collection + "." + r.Column }

// ParseReference reads a reference target as written in the data map:
// collection.column (in datastore from) or datastore.collection.column.
func ParseReference(from, target string) (ColumnRef, error) {
	parts := strings.Split(target, ".")
	for _, p := range parts {
		if !IsIdentifier(p) {
			return ColumnRef{}, fmt.Errorf("%q is not collection.column or datastore.collection.column with plain identifiers", target)
		}
	}
	switch len(parts) {
	case 2:
		return ColumnRef{Datastore: from, Collection: parts[0], Column: parts[1]}, nil
	case 3:
		return ColumnRef{Datastore: parts[0], Collection: parts[1], Column: parts[2]}, nil
	}
	return ColumnRef{}, fmt.Errorf("%q is not collection.column or datastore.collection.column", target)
}

var identifierRe = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,62}$`)

// IsIdentifier reports whether s is a plain SQL identifier (letters,
// digits, underscores, not starting with a digit, at most 63 bytes).
// The data map accepts only these for tables and columns, so nothing in a
// config can inject SQL; connectors still quote them.
func IsIdentifier(s string) bool { return identifierRe.MatchString(s) }

// IsTableName reports whether s is an identifier or schema.identifier.
func IsTableName(s string) bool {
	schema, table, ok := strings.Cut(s, ".")
	if !ok {
		return IsIdentifier(s)
	}
	return IsIdentifier(schema) && IsIdentifier(table)
}

// RetentionMaxAge returns how old rows of c may grow under its retention
// rule: the rule's MaxAge, or else the longest retention of the purposes
// the collection lists (a row is kept while any of them needs it). It is
// zero when c has no rule or no limit can be found.
func (c *Config) RetentionMaxAge(col *Collection) Duration {
	if col == nil || col.Retention == nil {
		return Duration{}
	}
	if !col.Retention.MaxAge.IsZero() {
		return col.Retention.MaxAge
	}
	var longest Duration
	for _, id := range col.Purposes {
		if p, ok := c.Purpose(id); ok && p.Retention.Longer(longest) {
			longest = p.Retention
		}
	}
	return longest
}
