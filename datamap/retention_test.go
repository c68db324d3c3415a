package datamap_test

import (
	"testing"

	"github.com/lethe-privacy/lethe/datamap"
)

func TestCheckRetentionColumns(t *testing.T) {
	rep := check(t, []string{
		`CREATE TABLE sessions (id integer PRIMARY KEY, user_id integer, created_at text NOT NULL, kind text)`,
		`CREATE INDEX sessions_user ON sessions (user_id)`,
		`CREATE TABLE tokens (id integer PRIMARY KEY, user_id integer, payload blob)`,
		`CREATE INDEX tokens_user ON tokens (user_id)`,
	}, `
      users:
        identities: {user_id: id}
      sessions:
        references: {user_id: users.id}
        ignore: [kind]
        retention: {column: created_at, max_age: 30d, where: [{column: state, equals: closed}]}
      tokens:
        references: {user_id: users.id}
        ignore: [payload]
        retention: {column: payload, max_age: 1d}
`, false)
	cases := []struct {
		kind, collection, column string
		sev                      datamap.Severity
	}{
		{"missing_column", "sessions", "state", datamap.SeverityError},
		{"unindexed", "sessions", "created_at", datamap.SeverityWarning},
		{"retention", "tokens", "payload", datamap.SeverityError},
	}
	for _, c := range cases {
		f := find(rep, c.kind, c.collection, c.column)
		if f == nil || f.Severity != c.sev {
			t.Errorf("no %s %s finding on %s.%s in %v", c.sev, c.kind, c.collection, c.column, rep.Findings)
		}
	}
	if f := find(rep, "drift", "sessions", "created_at"); f != nil {
		t.Errorf("the retention column counts as undeclared: %v", f)
	}
}
