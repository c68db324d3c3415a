package demo

import (
	"fmt"
	"strings"
)

// Table names of the estate. Tests and the data maps in examples/ use
// them.
const (
	TableUsers                   = "users"
	TableAddresses               = "addresses"
	TableOrders                  = "orders"
	TableOrderItems              = "order_items"
	TableNewsletterSubscriptions = "newsletter_subscriptions"
	TableAnalyticsEvents         = "analytics_events"
	TableSupportTickets          = "support_tickets"
	TableSessions                = "sessions"
	TableCarts                   = "carts"
)

// kind is a column's type, written per SQL dialect by columnType.
type kind int

const (
	kID       kind = iota // integer primary key
	kTokenID              // text primary key (a session token)
	kInt                  // integer
	kText                 // short text (indexable in MySQL)
	kLongText             // free text
	kDate                 // calendar date
	kTime                 // timestamp, UTC
)

type column struct {
	name    string
	kind    kind
	notNull bool
}

// reference is a foreign key: column -> table.id.
type reference struct {
	column, table string
	// setNull makes deleting the parent set the column to NULL instead of
	// refusing. Orders use it: a held order outlives the account.
	setNull bool
}

// group is where a table lives: the tables of one group always share a
// store (their foreign keys need it), and an option moves a whole group.
type group int

const (
	groupShop      group = iota // users, addresses, orders, order_items, newsletter_subscriptions
	groupAnalytics              // analytics_events
	groupSupport                // support_tickets
	groupSessions               // sessions, carts
)

type table struct {
	name    string
	group   group
	columns []column
	unique  []string // single-column unique constraints
	indexed []string // columns with a plain index: every identity, reference and retention column
	refs    []reference
}

func (t *table) columnNames() []string {
	names := make([]string, len(t.columns))
	for i, c := range t.columns {
		names[i] = c.name
	}
	return names
}

// tables is the estate, parents before children: rows are written in this
// order and dropped in reverse.
var tables = []*table{
	{
		name: TableUsers, group: groupShop,
		columns: []column{
			{"id", kID, true}, {"email", kText, true}, {"name", kText, false}, {"phone", kText, false},
			{"date_of_birth", kDate, false}, {"last_ip", kText, false}, {"created_at", kTime, true}, {"last_login_at", kTime, false},
		},
		unique:  []string{"email"},
		indexed: []string{"phone"},
	},
	{
		name: TableAddresses, group: groupShop,
		columns: []column{
			{"id", kID, true}, {"user_id", kInt, true}, {"street", kText, false}, {"city", kText, false},
			{"postcode", kText, false}, {"country", kText, false},
		},
		indexed: []string{"user_id"},
		refs:    []reference{{column: "user_id", table: TableUsers}},
	},
	{
		name: TableOrders, group: groupShop,
		columns: []column{
			{"id", kID, true}, {"user_id", kInt, false}, {"shipping_name", kText, false}, {"shipping_address", kText, false},
			{"total_cents", kInt, true}, {"created_at", kTime, true},
		},
		indexed: []string{"user_id"},
		refs:    []reference{{column: "user_id", table: TableUsers, setNull: true}},
	},
	{
		name: TableOrderItems, group: groupShop,
		columns: []column{
			{"id", kID, true}, {"order_id", kInt, true}, {"sku", kText, true}, {"quantity", kInt, true}, {"price_cents", kInt, true},
		},
		indexed: []string{"order_id"},
		refs:    []reference{{column: "order_id", table: TableOrders}},
	},
	{
		name: TableNewsletterSubscriptions, group: groupShop,
		columns: []column{
			{"id", kID, true}, {"email", kText, true}, {"subscribed_at", kTime, true}, {"source_ip", kText, false},
		},
		unique: []string{"email"},
	},
	{
		name: TableAnalyticsEvents, group: groupAnalytics,
		columns: []column{
			{"id", kID, true}, {"user_id", kInt, false}, {"event", kText, true}, {"ip", kText, false},
			{"user_agent", kText, false}, {"occurred_at", kTime, true},
		},
		indexed: []string{"user_id", "occurred_at"},
	},
	{
		name: TableSupportTickets, group: groupSupport,
		columns: []column{
			{"id", kID, true}, {"user_id", kInt, false}, {"email", kText, true}, {"subject", kText, true},
			{"body", kLongText, true}, {"created_at", kTime, true},
		},
		indexed: []string{"user_id", "email", "created_at"},
	},
	{
		name: TableSessions, group: groupSessions,
		columns: []column{
			{"id", kTokenID, true}, {"user_id", kInt, true}, {"ip", kText, false}, {"user_agent", kText, false},
			{"created_at", kTime, true}, {"expires_at", kTime, true},
		},
		indexed: []string{"user_id", "expires_at"},
	},
	{
		name: TableCarts, group: groupSessions,
		columns: []column{
			{"id", kID, true}, {"user_id", kInt, true}, {"sku", kText, true}, {"quantity", kInt, true}, {"added_at", kTime, true},
		},
		indexed: []string{"user_id", "added_at"},
	},
}

// Indexes of tables, so that a chunk's rows can be addressed by table.
const (
	tUsers = iota
	tAddresses
	tOrders
	tOrderItems
	tNewsletter
	tEvents
	tTickets
	tSessions
	tCarts
	numTables
)

// dialect is an SQL engine's spelling of the estate.
type dialect int

const (
	dialectSQLite dialect = iota
	dialectPostgres
	dialectMySQL
)

func (d dialect) String() string {
	return [...]string{"sqlite", "postgres", "mysql"}[d]
}

func (d dialect) columnType(k kind) string {
	switch d {
	case dialectPostgres:
		return [...]string{"BIGINT PRIMARY KEY", "TEXT PRIMARY KEY", "BIGINT", "TEXT", "TEXT", "DATE", "TIMESTAMPTZ"}[k]
	case dialectMySQL:
		return [...]string{"BIGINT PRIMARY KEY", "VARCHAR(64) PRIMARY KEY", "BIGINT", "VARCHAR(255)", "TEXT", "DATE", "DATETIME"}[k]
	}
	// SQLite: INTEGER PRIMARY KEY is the rowid; DATE and TIMESTAMP make
	// the driver read the stored text back as time.Time.
	return [...]string{"INTEGER PRIMARY KEY", "TEXT PRIMARY KEY", "INTEGER", "TEXT", "TEXT", "DATE", "TIMESTAMP"}[k]
}

// quote quotes an identifier (all the estate's names are plain ones; the
// PostgreSQL schema may not be).
func (d dialect) quote(name string) string {
	if d == dialectMySQL {
		return "`" + strings.ReplaceAll(name, "`", "``") + "`"
	}
	return `"` + strings.ReplaceAll(name, `"`, `""`) + `"`
}

// createTable returns the CREATE TABLE statement of t; qualified is the
// table's name as written in statements (schema-qualified on PostgreSQL).
// MySQL gets its indexes inline, as it has no CREATE INDEX IF NOT EXISTS;
// the others get them from createIndexes, after the rows are in.
func (d dialect) createTable(t *table, qualify func(string) string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "CREATE TABLE IF NOT EXISTS %s (", qualify(t.name))
	for i, c := range t.columns {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s %s", c.name, d.columnType(c.kind))
		if c.notNull && c.kind != kID && c.kind != kTokenID {
			b.WriteString(" NOT NULL")
		}
	}
	for _, u := range t.unique {
		fmt.Fprintf(&b, ", CONSTRAINT %s_%s_key UNIQUE (%s)", t.name, u, u)
	}
	for _, r := range t.refs {
		fmt.Fprintf(&b, ", CONSTRAINT %s_%s_fkey FOREIGN KEY (%s) REFERENCES %s (id)", t.name, r.column, r.column, qualify(r.table))
		if r.setNull {
			b.WriteString(" ON DELETE SET NULL")
		}
	}
	if d == dialectMySQL {
		for _, c := range t.indexed {
			fmt.Fprintf(&b, ", INDEX %s_%s_idx (%s)", t.name, c, c)
		}
	}
	b.WriteString(")")
	if d == dialectMySQL {
		b.WriteString(" ENGINE=InnoDB DEFAULT CHARSET=utf8mb4")
	}
	return b.String()
}

// createIndexes returns the statements that index t's identity and
// reference columns (none on MySQL: createTable has them).
func (d dialect) createIndexes(t *table, qualify func(string) string) []string {
	if d == dialectMySQL {
		return nil
	}
	var stmts []string
	for _, c := range t.indexed {
		stmts = append(stmts, fmt.Sprintf("CREATE INDEX IF NOT EXISTS %s_%s_idx ON %s (%s)", t.name, c, qualify(t.name), c))
	}
	return stmts
}
