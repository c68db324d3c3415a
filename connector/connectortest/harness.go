package connectortest

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lethe-privacy/lethe"
)

// Harness adapts the suite to one connector.
type Harness struct {
	// Capabilities says which parts of the contract the connector
	// implements; the cases that need the others are skipped.
	Capabilities Capabilities
	// Setup stores data in a fresh, empty datastore of its own (a schema,
	// a database, a file, a key prefix), opens the connector on it, and
	// arranges for both to be released when the test ends. Required.
	Setup func(t testing.TB, data Dataset) Fixture
}

// Capabilities are the parts of the lethe.Connector contract a connector
// may lack. A SQL connector has them all (SQL); a key-value or service
// connector sets those that apply.
type Capabilities struct {
	// References: orders are found and erased through user_id, a column
	// that refers to users.id, not only through identities.
	References bool
	// Columns: Find honours FindParams.Columns and Distinct.
	Columns bool
	// Anonymise: Erase rewrites masked columns, with constant and
	// computed masks, and leaves the others as they are.
	Anonymise bool
	// Cutoff: Erase honours EraseStep.Before.
	Cutoff bool
	// Transactions: Erase applies every step or none.
	Transactions bool
	// Schema: Describe reports columns (kind, nullability, uniqueness,
	// indexes) and Exists false for Fixture.Missing; Find and Erase on a
	// missing table or column are EINVALID.
	Schema bool
	// Types: Find returns typed values (id as int64, created_at as
	// time.Time), and values that cannot be of a column's type (the text
	// "abc" or the float 1.5 for an integer id) select nothing.
	Types bool
}

// SQL is what a SQL connector supports: everything.
var SQL = Capabilities{References: true, Columns: true, Anonymise: true, Cutoff: true, Transactions: true, Schema: true, Types: true}

// Fixture is a datastore holding a Dataset, as Harness.Setup returns it.
type Fixture struct {
	// Connector is open on the datastore.
	Connector lethe.Connector
	// Users and Orders are the data-map definitions of the two
	// collections. Their columns carry the names of the Dataset's fields:
	// users (id, email, name, created_at) with identities user_id -> id
	// and email -> email and personal fields email and name; orders (id,
	// user_id, total, note, created_at) with the reference
	// user_id -> users.id and the personal field note. Primary key: id.
	Users, Orders *lethe.Collection
	// Missing is a collection whose table does not exist (Schema only).
	Missing *lethe.Collection
	// Raw reads every record of "users" or "orders" as stored, without the
	// connector.
	Raw func(t testing.TB, collection string) []Record
}

// Dataset is what a fixture holds: users and their orders.
type Dataset struct {
	Users  []User
	Orders []Order
}

// User is one row of users. An empty Name is stored as NULL.
type User struct {
	ID        int64
	Email     string
	Name      string
	CreatedAt time.Time
}

// Order is one row of orders. An empty Note is stored as NULL.
type Order struct {
	ID        int64
	UserID    int64
	Total     int64
	Note      string
	CreatedAt time.Time
}

// Record is one stored record as Fixture.Raw reads it: each column's value,
// nil for NULL, else a string: text exactly as stored, integers in decimal,
// other values in any rendering that does not change between two reads of
// the same stored value.
type Record map[string]any

// ID returns the record's id column.
func (r Record) ID() string { return str(r["id"]) }

func str(v any) string {
	if v == nil {
		return ""
	}
	return fmt.Sprint(v)
}

// checksum hashes the records kept by keep, whatever order Raw returned
// them in: two equal checksums mean those records are unchanged, value
// for value.
func checksum(records []Record, keep func(Record) bool) string {
	var lines []string
	for _, r := range records {
		if keep != nil && !keep(r) {
			continue
		}
		cols := make([]string, 0, len(r))
		for c := range r {
			cols = append(cols, c)
		}
		slices.Sort(cols)
		var b strings.Builder
		for _, c := range cols {
			if r[c] == nil {
				fmt.Fprintf(&b, "%s=NULL;", c)
			} else {
				fmt.Fprintf(&b, "%s=%q;", c, str(r[c]))
			}
		}
		lines = append(lines, b.String())
	}
	slices.Sort(lines)
	h := sha256.New()
	for _, l := range lines {
		h.Write([]byte(l))
		h.Write([]byte{'\n'})
	}
	return hex.EncodeToString(h.Sum(nil))
}
