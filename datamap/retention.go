package datamap

import "github.com/lethe-privacy/lethe"

// checkRetention checks a retention rule against the table: its age
// column and the columns of its conditions exist, the age column can hold
// a time, and an index lets each run find the old rows without reading
// the whole table.
func checkRetention(ts lethe.TableSchema, c *lethe.Collection, need func(col, role string), add func(Severity, string, string, string, string, ...any)) {
	r := c.Retention
	if r == nil {
		return
	}
	need(r.Column, "retention")
	if r.Warn != nil {
		need(r.Warn.Email, "retention warning e-mail")
	}
	for _, f := range r.Where {
		need(f.Column, "retention condition")
	}
	cs, ok := ts.Column(r.Column)
	if !ok {
		return
	}
	switch cs.Kind {
	case lethe.KindTime, lethe.KindDate, lethe.KindText, lethe.KindInteger:
		// text and integer: SQLite's times, as text or Unix seconds.
	default:
		add(SeverityError, c.Name, r.Column, "retention", "retention column is of type %s, which holds no time: name a timestamp or date column", cs.Type)
		return
	}
	if !cs.Indexed && !cs.Unique {
		add(SeverityWarning, c.Name, r.Column, "unindexed", "retention column has no index: every retention run scans the whole table %s; add an index on %s", c.TableName(), r.Column)
	}
}
