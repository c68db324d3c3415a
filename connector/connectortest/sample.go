package connectortest

import (
	"errors"
	"testing"

	"github.com/lethe-privacy/lethe"
)

// testSample: a connector that implements lethe.Sampler passes at most
// the sample size of distinct rows, every row when the collection is
// smaller, each with the collection's columns; it stops at the
// callback's error; a TableLister lists the fixture's tables.
func testSample(t *testing.T, h Harness) {
	data := withBulk(baseData())
	fx := h.Setup(t, data)
	s, ok := fx.Connector.(lethe.Sampler)
	if !ok {
		t.Skip("the connector does not implement lethe.Sampler")
	}
	ctx := ctxFor(t)
	if _, err := fx.Connector.Describe(ctx, []*lethe.Collection{fx.Users, fx.Orders}); err != nil {
		t.Fatal(err)
	}
	sample := func(c *lethe.Collection, size int) (lethe.SampleResult, map[string]bool) {
		t.Helper()
		ids := map[string]bool{}
		res, err := s.Sample(ctx, lethe.SampleParams{Collection: c, Size: size}, func(r lethe.Row) error {
			if len(r.Columns) != len(r.Values) {
				t.Fatalf("a row of %d columns and %d values", len(r.Columns), len(r.Values))
			}
			id, ok := r.Get("id")
			if !ok {
				// Key-value rows name their key, not an id column.
				id, ok = r.Get("key")
			}
			if !ok {
				t.Fatalf("a sampled row has neither id nor key: %v", r.Columns)
			}
			if ids[str(id)] {
				t.Errorf("row %s sampled twice", str(id))
			}
			ids[str(id)] = true
			if email, ok := r.Get("email"); c == fx.Users && ok && email == nil {
				t.Errorf("user %s sampled without its e-mail", str(id))
			}
			return nil
		})
		if err != nil {
			t.Fatalf("sample %s: %v", c.Name, err)
		}
		if res.Rows != len(ids) {
			t.Errorf("sample of %s reports %d rows, passed %d", c.Name, res.Rows, len(ids))
		}
		return res, ids
	}
	if _, ids := sample(fx.Users, 10); len(ids) != 10 {
		t.Errorf("a sample of 10 users holds %d", len(ids))
	}
	if res, ids := sample(fx.Users, 1000); len(ids) != len(data.Users) || res.Method != lethe.SampleAll && res.Method != lethe.SampleKeys {
		t.Errorf("a sample larger than users holds %d of %d (%s), want every one", len(ids), len(data.Users), res.Method)
	}
	if _, ids := sample(fx.Orders, 100); len(ids) != 100 {
		t.Errorf("a sample of 100 of %d orders holds %d", len(data.Orders), len(ids))
	}

	stop := errors.New("enough")
	n := 0
	_, err := s.Sample(ctx, lethe.SampleParams{Collection: fx.Orders, Size: 50}, func(lethe.Row) error {
		n++
		return stop
	})
	if !errors.Is(err, stop) || n != 1 {
		t.Errorf("the callback's error: %v after %d rows, want it returned after 1", err, n)
	}

	if fx.Missing != nil {
		_, err := s.Sample(ctx, lethe.SampleParams{Collection: fx.Missing, Size: 5}, func(lethe.Row) error { return nil })
		if lethe.ErrorCode(err) != lethe.EINVALID {
			t.Errorf("sampling a missing table: %v, want EINVALID", err)
		}
	}
	if tl, ok := fx.Connector.(lethe.TableLister); ok {
		tables, err := tl.Tables(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range []*lethe.Collection{fx.Users, fx.Orders} {
			found := false
			for _, name := range tables {
				found = found || name == c.TableName()
			}
			if !found {
				t.Errorf("Tables %v lacks %s", tables, c.TableName())
			}
		}
	}
}
