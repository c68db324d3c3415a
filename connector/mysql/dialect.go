package mysql

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/go-sql-driver/mysql"

	"github.com/lethe-privacy/lethe"
	"github.com/lethe-privacy/lethe/internal/sqlconn"
)

// dialect is MySQL's and MariaDB's share of the SQL engine.
type dialect struct{}

var _ sqlconn.Dialect = dialect{}

func (dialect) Name() string { return "MySQL" }

func (dialect) QuoteIdent(name string) string {
	return "`" + strings.ReplaceAll(name, "`", "``") + "`"
}

// SplitTable reads db.table: a MySQL schema is a database.
func (dialect) SplitTable(name string) (string, string, error) {
	schema, table, ok := strings.Cut(name, ".")
	if !ok {
		return "", name, nil
	}
	return schema, table, nil
}

func (dialect) Placeholder(int) string { return "?" }

// MaxParams is the protocol's limit of 65535 placeholders per statement.
func (dialect) MaxParams() int { return 65535 }

func (d dialect) Describe(ctx context.Context, q sqlconn.Querier, schema, table string) (*sqlconn.Table, error) {
	var db any
	if schema != "" {
		db = schema
	}
	var realSchema, name string
	err := q.QueryRowContext(ctx, `
SELECT TABLE_SCHEMA, TABLE_NAME FROM information_schema.TABLES
WHERE TABLE_SCHEMA = COALESCE(?, DATABASE()) AND TABLE_NAME = ?`, db, table).Scan(&realSchema, &name)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	rows, err := q.QueryContext(ctx, `
SELECT COLUMN_NAME, COLUMN_TYPE, DATA_TYPE, IS_NULLABLE, COALESCE(CHARACTER_MAXIMUM_LENGTH, 0)
FROM information_schema.COLUMNS
WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?
ORDER BY ORDINAL_POSITION`, realSchema, name)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	t := &sqlconn.Table{Name: name}
	byName := map[string]int{}
	for rows.Next() {
		var c sqlconn.Column
		var dataType, nullable string
		var maxLen int64
		if err := rows.Scan(&c.Name, &c.Type, &dataType, &nullable, &maxLen); err != nil {
			return nil, err
		}
		c.Kind = kind(strings.ToLower(dataType), strings.ToLower(c.Type))
		c.Nullable = nullable == "YES"
		if dataType == "varchar" || dataType == "char" {
			c.MaxLength = int(maxLen)
		}
		byName[strings.ToLower(c.Name)] = len(t.Columns)
		t.Columns = append(t.Columns, c)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	rows.Close()

	// An index makes its first column Indexed; a unique index of one
	// whole column (no prefix length) makes it Unique.
	rows, err = q.QueryContext(ctx, `
SELECT INDEX_NAME, NON_UNIQUE, SEQ_IN_INDEX, COLUMN_NAME, SUB_PART IS NOT NULL
FROM information_schema.STATISTICS
WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?
ORDER BY INDEX_NAME, SEQ_IN_INDEX`, realSchema, name)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	type index struct {
		unique, prefix bool
		columns        []string
	}
	var order []string
	indexes := map[string]*index{}
	for rows.Next() {
		var iname string
		var nonUnique, seq int64
		var col sql.NullString
		var prefix bool
		if err := rows.Scan(&iname, &nonUnique, &seq, &col, &prefix); err != nil {
			return nil, err
		}
		ix := indexes[iname]
		if ix == nil {
			ix = &index{unique: nonUnique == 0}
			indexes[iname] = ix
			order = append(order, iname)
		}
		ix.prefix = ix.prefix || prefix
		ix.columns = append(ix.columns, strings.ToLower(col.String)) // "" for an expression
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for _, iname := range order {
		ix := indexes[iname]
		i, ok := byName[ix.columns[0]]
		if !ok {
			continue
		}
		t.Columns[i].Indexed = true
		if ix.unique && !ix.prefix && len(ix.columns) == 1 {
			t.Columns[i].Unique = true
		}
	}
	return t, nil
}

func kind(dataType, columnType string) lethe.ColumnKind {
	switch dataType {
	case "tinyint":
		if strings.HasPrefix(columnType, "tinyint(1)") { // BOOLEAN
			return lethe.KindBool
		}
		return lethe.KindInteger
	case "smallint", "mediumint", "int", "integer", "bigint", "year":
		return lethe.KindInteger
	case "float", "double", "decimal", "real":
		return lethe.KindFloat
	case "char", "varchar", "tinytext", "text", "mediumtext", "longtext":
		return lethe.KindText
	case "binary", "varbinary", "tinyblob", "blob", "mediumblob", "longblob":
		return lethe.KindBytes
	case "datetime", "timestamp":
		return lethe.KindTime
	case "date":
		return lethe.KindDate
	case "json":
		return lethe.KindJSON
	case "uuid":
		return lethe.KindUUID
	case "inet4", "inet6":
		return lethe.KindInet
	}
	return lethe.KindOther
}

// Fit drops text that is not valid UTF-8 (it cannot equal a utf8mb4
// value) and sends times in UTC, as the connection's time zone is.
func (dialect) Fit(_ *sqlconn.Column, v any) (any, bool) {
	switch x := v.(type) {
	case string:
		return x, utf8.ValidString(x)
	case time.Time:
		return x.UTC(), true
	}
	return v, true
}

// Match compares text byte for byte. MySQL's usual collations ignore case,
// accents and trailing spaces (utf8mb4_general_ci holds
// "ålice@exämple.com" equal to "alice@example.com"), which would let one
// person's identity select another's rows; the collation's IN list still
// finds the rows through the index, and the binary one keeps the exact
// matches.
func (dialect) Match(col *sqlconn.Column, quoted string, vals []any, p *sqlconn.Params) string {
	switch col.Kind {
	case lethe.KindText, lethe.KindJSON, lethe.KindOther:
		return "(" + sqlconn.In(quoted, vals, p) + " AND " +
			sqlconn.In("CAST(CONVERT("+quoted+" USING utf8mb4) AS BINARY)", vals, p) + ")"
	}
	return sqlconn.In(quoted, vals, p)
}

// MatchFold compares the lower-cased column as bytes, so that the
// collation cannot also equate accented letters.
func (dialect) MatchFold(col *sqlconn.Column, quoted string, vals []any, p *sqlconn.Params) string {
	return sqlconn.In("CAST(CONVERT(LOWER("+quoted+") USING utf8mb4) AS BINARY)", vals, p)
}

// Changed is empty: MySQL reports the rows an UPDATE changed, not those it
// matched (the connection does not ask for found rows).
func (dialect) Changed(a, b string) string { return "" }

func (dialect) Before(col *sqlconn.Column, quoted string, t time.Time, p *sqlconn.Params) (string, error) {
	switch col.Kind {
	case lethe.KindTime, lethe.KindDate:
		return quoted + " < " + p.Add(t.UTC()), nil
	case lethe.KindInteger:
		return quoted + " < " + p.Add(t.Unix()), nil
	}
	return "", lethe.Errorf(lethe.EINVALID, "column %s (%s) holds no time; a hold counts from a DATETIME, TIMESTAMP, DATE or Unix-seconds column", col.Name, col.Type)
}

// BulkUpdate joins the table to a derived table of the rows' new values:
//
//	UPDATE t AS t JOIN (SELECT CAST(? AS SIGNED) AS k, ? AS v0 UNION ALL
//	SELECT CAST(? AS SIGNED), ? ...) AS v ON t.id = v.k SET t.c = v.v0
//
// (MySQL 8 and MariaDB spell VALUES table constructors differently; a
// UNION ALL of SELECTs reads the same on both.) Integer keys are cast so
// that the join compares integers and uses the primary key.
func (d dialect) BulkUpdate(u *sqlconn.BulkUpdate, p *sqlconn.Params) string {
	var b strings.Builder
	b.WriteString("UPDATE ")
	b.WriteString(u.Table)
	b.WriteString(" AS t JOIN (")
	for i, row := range u.Rows {
		if i > 0 {
			b.WriteString(" UNION ALL ")
		}
		b.WriteString("SELECT ")
		for j, v := range row {
			if j > 0 {
				b.WriteByte(',')
			}
			col := u.Key
			if j > 0 {
				col = u.Set[j-1]
			}
			b.WriteString(cast(col, p.Add(v)))
			if i == 0 {
				if j == 0 {
					b.WriteString(" AS k")
				} else {
					b.WriteString(" AS v" + strconv.Itoa(j-1))
				}
			}
		}
	}
	b.WriteString(") AS v ON t.")
	b.WriteString(u.QuotedKey)
	b.WriteString(" = v.k SET ")
	for j, q := range u.Quoted {
		if j > 0 {
			b.WriteByte(',')
		}
		b.WriteString("t." + q + " = v.v" + strconv.Itoa(j))
	}
	for k, q := range u.ConstQuoted {
		b.WriteString(",t." + q + " = " + sqlconn.ConstSet("t."+q, u.Const[k], p))
	}
	return b.String()
}

func cast(col *sqlconn.Column, marker string) string {
	if col.Kind == lethe.KindInteger && !strings.Contains(col.Type, "unsigned") {
		return "CAST(" + marker + " AS SIGNED)"
	}
	return marker
}

// Classify reads MySQL error numbers. The server's message is not kept:
// it may quote a value ("Duplicate entry '...' for key").
func (dialect) Classify(err error) (sqlconn.DriverError, bool) {
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		d := sqlconn.DriverError{Code: "MySQL " + strconv.Itoa(int(me.Number))}
		switch me.Number {
		case 1146:
			d.Kind = sqlconn.ErrMissingTable
		case 1054:
			d.Kind, d.Name = sqlconn.ErrMissingColumn, quotedName(me.Message)
		case 1048:
			d.Kind, d.Name = sqlconn.ErrNotNull, quotedName(me.Message)
		case 1406, 1264, 1366, 1292, 1265:
			d.Kind, d.Name = sqlconn.ErrBadValue, columnName(me.Message)
		case 1062, 1451, 1452, 3819, 4025:
			d.Kind = sqlconn.ErrConstraint
		case 1205, 1213:
			d.Kind = sqlconn.ErrBusy
		case 1040, 1045, 1049, 1152, 1158, 1159, 1160, 1161, 1927, 2002, 2003, 2006, 2013:
			d.Kind = sqlconn.ErrUnavailable
		}
		return d, true
	}
	if errors.Is(err, mysql.ErrInvalidConn) || errors.Is(err, driver.ErrBadConn) {
		return sqlconn.DriverError{Kind: sqlconn.ErrUnavailable, Code: "connection"}, true
	}
	return sqlconn.DriverError{}, false
}

// quotedName returns the first single-quoted name in a server message
// (Unknown column 'x' in 'field list'), when it is an identifier.
func quotedName(msg string) string {
	_, rest, ok := strings.Cut(msg, "'")
	if !ok {
		return ""
	}
	name, _, ok := strings.Cut(rest, "'")
	if !ok || !lethe.IsTableName(name) {
		return ""
	}
	return name
}

// columnName returns the name after "column '" in a server message (Data
// too long for column 'x' at row 1); the other quoted parts may be values.
func columnName(msg string) string {
	_, rest, ok := strings.Cut(msg, "column '")
	if !ok {
		return ""
	}
	name, _, ok := strings.Cut(rest, "'")
	if !ok || !lethe.IsIdentifier(name) {
		return ""
	}
	return name
}
