package postgres

import (
	"context"
	"database/sql"
	"errors"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/lethe-privacy/lethe"
	"github.com/lethe-privacy/lethe/internal/sqlconn"
)

// dialect is PostgreSQL's share of the SQL engine.
type dialect struct{}

var _ sqlconn.Dialect = dialect{}

func (dialect) Name() string { return "PostgreSQL" }

func (dialect) QuoteIdent(name string) string {
	return `"` + strings.ReplaceAll(name, `"`, `""`) + `"`
}

func (dialect) SplitTable(name string) (string, string, error) {
	schema, table, ok := strings.Cut(name, ".")
	if !ok {
		return "", name, nil
	}
	return schema, table, nil
}

func (dialect) Placeholder(n int) string { return "$" + strconv.Itoa(n) }

// MaxParams is the protocol's limit of 65535 parameters per statement.
func (dialect) MaxParams() int { return 65535 }

// describeColumns lists a table's columns with their type (as written
// and, for casts, without its length: "character varying", and bpchar
// for char(n), since a bare "character" is char(1)), the base type of a
// domain, and whether a single-column unique index without a predicate
// or any index starts with the column.
const describeColumns = `
SELECT a.attname,
       format_type(a.atttypid, a.atttypmod),
       CASE WHEN t.typname = 'bpchar' THEN 'bpchar' ELSE format_type(a.atttypid, NULL) END,
       bt.typname,
       bt.typcategory,
       NOT a.attnotnull,
       CASE WHEN bt.typname IN ('varchar', 'bpchar') AND a.atttypmod > 4 THEN a.atttypmod - 4 ELSE 0 END,
       EXISTS (SELECT 1 FROM pg_index i
               WHERE i.indrelid = a.attrelid AND i.indisunique AND i.indnkeyatts = 1
                 AND i.indkey[0] = a.attnum AND i.indpred IS NULL),
       EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = a.attrelid AND i.indkey[0] = a.attnum)
FROM pg_attribute a
JOIN pg_type t ON t.oid = a.atttypid
JOIN pg_type bt ON bt.oid = CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE t.oid END
WHERE a.attrelid = $1::oid AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attnum`

// Describe finds the table as an unquoted name would (through the
// search_path when unqualified): the exact spelling first, then folded to
// lower case.
func (d dialect) Describe(ctx context.Context, q sqlconn.Querier, schema, table string) (*sqlconn.Table, error) {
	var oid int64
	var name string
	found := false
	for _, fold := range []bool{false, true} {
		s, t := schema, table
		if fold {
			s, t = strings.ToLower(s), strings.ToLower(t)
			if s == schema && t == table {
				break
			}
		}
		ref := d.QuoteIdent(t)
		if s != "" {
			ref = d.QuoteIdent(s) + "." + ref
		}
		err := q.QueryRowContext(ctx, `
SELECT c.oid::bigint, c.relname FROM pg_class c
WHERE c.oid = to_regclass($1) AND c.relkind IN ('r', 'p', 'v', 'f', 'm')`, ref).Scan(&oid, &name)
		if errors.Is(err, sql.ErrNoRows) {
			continue
		}
		if err != nil {
			return nil, err
		}
		found = true
		break
	}
	if !found {
		return nil, nil
	}
	rows, err := q.QueryContext(ctx, describeColumns, oid)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	t := &sqlconn.Table{Name: name}
	for rows.Next() {
		var c sqlconn.Column
		var base, category string
		if err := rows.Scan(&c.Name, &c.Type, &c.Cast, &base, &category, &c.Nullable, &c.MaxLength, &c.Unique, &c.Indexed); err != nil {
			return nil, err
		}
		c.Kind = kind(base, category)
		t.Columns = append(t.Columns, c)
	}
	return t, rows.Err()
}

func kind(base, category string) lethe.ColumnKind {
	switch base {
	case "int2", "int4", "int8", "oid":
		return lethe.KindInteger
	case "float4", "float8", "numeric":
		return lethe.KindFloat
	case "bool":
		return lethe.KindBool
	case "text", "varchar", "bpchar", "name", "citext":
		return lethe.KindText
	case "timestamp", "timestamptz":
		return lethe.KindTime
	case "date":
		return lethe.KindDate
	case "bytea":
		return lethe.KindBytes
	case "json", "jsonb":
		return lethe.KindJSON
	case "uuid":
		return lethe.KindUUID
	case "inet", "cidr":
		return lethe.KindInet
	}
	if category == "S" {
		return lethe.KindText
	}
	return lethe.KindOther
}

// Fit keeps integers within the column's width (pgx refuses to encode one
// that overflows), text free of NUL bytes and valid UTF-8, and times in
// UTC, which is how a timestamp without time zone is read.
func (dialect) Fit(col *sqlconn.Column, v any) (any, bool) {
	switch x := v.(type) {
	case int64:
		switch col.Cast {
		case "smallint":
			return x, x >= math.MinInt16 && x <= math.MaxInt16
		case "integer":
			return x, x >= math.MinInt32 && x <= math.MaxInt32
		case "oid":
			return x, x >= 0 && x <= math.MaxUint32
		}
	case string:
		return x, utf8.ValidString(x) && !strings.ContainsRune(x, 0)
	case time.Time:
		return x.UTC(), true
	}
	return v, true
}

// Match compares JSON and other types as text: values arrive as text,
// and a text that is not valid JSON (or not an enum label) must select
// nothing rather than fail the statement. A citext column, which compares
// without case, is compared as text too, exactly, after its index has
// narrowed the rows.
func (dialect) Match(col *sqlconn.Column, quoted string, vals []any, p *sqlconn.Params) string {
	switch {
	case col.Kind == lethe.KindJSON, col.Kind == lethe.KindOther:
		return sqlconn.In(quoted+"::text", vals, p)
	case col.Cast == "citext":
		return "(" + sqlconn.In(quoted, vals, p) + " AND " + sqlconn.In(quoted+"::text", vals, p) + ")"
	}
	return sqlconn.In(quoted, vals, p)
}

// MatchFold compares lower(column) as text (citext too); an index on
// lower(column) serves it.
func (dialect) MatchFold(col *sqlconn.Column, quoted string, vals []any, p *sqlconn.Params) string {
	return sqlconn.In("lower("+quoted+"::text)", vals, p)
}

func (dialect) Changed(a, b string) string { return a + " IS DISTINCT FROM " + b }

func (dialect) Before(col *sqlconn.Column, quoted string, t time.Time, p *sqlconn.Params) (string, error) {
	switch col.Kind {
	case lethe.KindTime, lethe.KindDate:
		return quoted + " < " + p.Add(t.UTC()), nil
	case lethe.KindInteger:
		return quoted + " < " + p.Add(t.Unix()), nil
	}
	return "", lethe.Errorf(lethe.EINVALID, "column %s (%s) holds no time; a hold counts from a timestamp, date or Unix-seconds column", col.Name, col.Type)
}

// BulkUpdate joins the table to a VALUES list whose parameters are cast to
// the columns' types:
//
//	UPDATE t SET c = v.v1 FROM (VALUES ($1::bigint, $2::text), ...) AS v(k, v1)
//	WHERE t.id = v.k AND (t.c IS DISTINCT FROM v.v1)
func (d dialect) BulkUpdate(u *sqlconn.BulkUpdate, p *sqlconn.Params) string {
	var b strings.Builder
	b.WriteString("UPDATE ")
	b.WriteString(u.Table)
	b.WriteString(" AS t SET ")
	for j, q := range u.Quoted {
		if j > 0 {
			b.WriteByte(',')
		}
		b.WriteString(q)
		b.WriteString(" = v.v")
		b.WriteString(strconv.Itoa(j))
	}
	for k, q := range u.ConstQuoted {
		b.WriteByte(',')
		b.WriteString(q)
		b.WriteString(" = ")
		b.WriteString(sqlconn.ConstSet("t."+q, u.Const[k], p))
	}
	b.WriteString(" FROM (VALUES ")
	for i, row := range u.Rows {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteByte('(')
		for j, v := range row {
			if j > 0 {
				b.WriteByte(',')
			}
			col := u.Key
			if j > 0 {
				col = u.Set[j-1]
			}
			b.WriteString(p.Add(v))
			b.WriteString("::")
			b.WriteString(col.Cast)
		}
		b.WriteByte(')')
	}
	b.WriteString(") AS v(k")
	for j := range u.Set {
		b.WriteString(",v")
		b.WriteString(strconv.Itoa(j))
	}
	b.WriteString(") WHERE t.")
	b.WriteString(u.QuotedKey)
	b.WriteString(" = v.k AND (")
	for j, q := range u.Quoted {
		if j > 0 {
			b.WriteString(" OR ")
		}
		b.WriteString("t." + q + " IS DISTINCT FROM v.v" + strconv.Itoa(j))
	}
	for k, q := range u.ConstQuoted {
		b.WriteString(" OR " + sqlconn.ConstChanged("t."+q, u.Const[k], p))
	}
	b.WriteByte(')')
	return b.String()
}

// Classify reads SQLSTATE codes; the server's message is not kept, since
// it may quote a value ("invalid input syntax for type integer: ...").
func (dialect) Classify(err error) (sqlconn.DriverError, bool) {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		d := sqlconn.DriverError{Code: "SQLSTATE " + pe.Code}
		switch {
		case pe.Code == "42P01":
			d.Kind, d.Name = sqlconn.ErrMissingTable, pe.TableName
		case pe.Code == "42703":
			d.Kind, d.Name = sqlconn.ErrMissingColumn, quotedName(pe.Message)
		case pe.Code == "23502":
			d.Kind, d.Name = sqlconn.ErrNotNull, pe.ColumnName
		case strings.HasPrefix(pe.Code, "22"):
			d.Kind, d.Name = sqlconn.ErrBadValue, pe.ColumnName
		case strings.HasPrefix(pe.Code, "23"):
			d.Kind, d.Name = sqlconn.ErrConstraint, pe.ConstraintName
		case pe.Code == "40001", pe.Code == "40P01", pe.Code == "55P03", pe.Code == "57014":
			d.Kind = sqlconn.ErrBusy
		case strings.HasPrefix(pe.Code, "08"), strings.HasPrefix(pe.Code, "28"), strings.HasPrefix(pe.Code, "57P"),
			pe.Code == "53300", pe.Code == "3D000":
			d.Kind = sqlconn.ErrUnavailable
		}
		return d, true
	}
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) {
		return sqlconn.DriverError{Kind: sqlconn.ErrUnavailable, Code: "connect"}, true
	}
	return sqlconn.DriverError{}, false
}

// quotedName returns the first double-quoted name in a server message
// (column "x" does not exist): an identifier, not a value.
func quotedName(msg string) string {
	_, rest, ok := strings.Cut(msg, `"`)
	if !ok {
		return ""
	}
	name, _, ok := strings.Cut(rest, `"`)
	if !ok || !lethe.IsTableName(name) {
		return ""
	}
	return name
}
