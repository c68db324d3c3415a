package connectortest

import (
	"fmt"
	"slices"
	"testing"

	"github.com/lethe-privacy/lethe"
)

// testScanValues: a connector that implements lethe.ValueScanner passes
// every non-null value of a column, in batches no larger than asked, and
// nothing else.
func testScanValues(t *testing.T, h Harness) {
	data := withBulk(baseData())
	fx := h.Setup(t, data)
	sc, ok := fx.Connector.(lethe.ValueScanner)
	if !ok {
		t.Skip("the connector does not implement lethe.ValueScanner")
	}
	scan := func(c *lethe.Collection, column string, batch int) []string {
		t.Helper()
		set := map[string]bool{}
		err := sc.ScanValues(ctxFor(t), lethe.ScanParams{Collection: c, Column: column, Batch: batch}, func(vals []any) error {
			if len(vals) == 0 || len(vals) > batch {
				t.Errorf("a batch of %d values, want 1 to %d", len(vals), batch)
			}
			for _, v := range vals {
				if v == nil {
					t.Errorf("a NULL was passed")
				}
				set[str(v)] = true
			}
			return nil
		})
		if err != nil {
			t.Fatalf("scan %s.%s: %v", c.Name, column, err)
		}
		out := make([]string, 0, len(set))
		for v := range set {
			out = append(out, v)
		}
		slices.Sort(out)
		return out
	}
	var emails, names, userIDs []string
	for _, u := range data.Users {
		emails = append(emails, u.Email)
		if u.Name != "" {
			names = append(names, u.Name)
		}
	}
	for i := int64(1); i <= numUsers; i++ {
		userIDs = append(userIDs, fmt.Sprint(i))
	}
	slices.Sort(emails)
	slices.Sort(names)
	slices.Sort(userIDs)
	if got := scan(fx.Users, "email", 7); !slices.Equal(got, emails) {
		t.Errorf("users.email: %d values %v, want the %d e-mails", len(got), got, len(emails))
	}
	if got := scan(fx.Users, "name", 1000); !slices.Equal(got, names) {
		t.Errorf("users.name: %v, want every name but the NULL one", got)
	}
	if h.Capabilities.References {
		// 1320 orders, 1200 of one user: duplicates come at most once per batch.
		if got := scan(fx.Orders, "user_id", 50); !slices.Equal(got, userIDs) {
			t.Errorf("orders.user_id: %v, want the %d user ids", got, numUsers)
		}
	}
	if h.Capabilities.Schema {
		err := sc.ScanValues(ctxFor(t), lethe.ScanParams{Collection: fx.Users, Column: "no_such_column"}, func([]any) error { return nil })
		if lethe.ErrorCode(err) != lethe.EINVALID {
			t.Errorf("a missing column: %v, want EINVALID", err)
		}
	}
}
