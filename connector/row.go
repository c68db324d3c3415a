package connector

import (
	"slices"

	"github.com/lethe-privacy/lethe"
)

// recordRow turns a record into a Row with its keys sorted (or limited to
// columns, in that order).
func recordRow(rec map[string]any, columns []string) lethe.Row {
	if len(columns) == 0 {
		columns = make([]string, 0, len(rec))
		for k := range rec {
			columns = append(columns, k)
		}
		slices.Sort(columns)
	}
	row := lethe.Row{Columns: columns, Values: make([]any, len(columns))}
	for i, c := range columns {
		row.Values[i] = rec[c]
	}
	return row
}
