package datamap

import (
	"context"
	"fmt"
	"slices"
	"sync"

	"github.com/lethe-privacy/lethe"
)

// Severity of a finding.
type Severity string

// Severities.
const (
	SeverityError   Severity = "error"
	SeverityWarning Severity = "warning"
)

// Finding is one problem found, about a datastore, collection or column.
// It names schema objects only, never values.
type Finding struct {
	Severity   Severity `json:"severity"`
	Datastore  string   `json:"datastore"`
	Collection string   `json:"collection,omitempty"`
	Column     string   `json:"column,omitempty"`
	// Kind classifies the finding: unreachable, missing_table,
	// missing_column, strategy, drift, unindexed, not_unique.
	Kind    string `json:"kind"`
	Message string `json:"message"`
}

func (f Finding) String() string {
	at := f.Datastore
	if f.Collection != "" {
		at += "." + f.Collection
	}
	if f.Column != "" {
		at += "." + f.Column
	}
	return fmt.Sprintf("%s: %s: %s", f.Severity, at, f.Message)
}

// Strategy is what the check needs to know about an erase strategy
// (package mask's strategies implement it).
type Strategy interface {
	Fits(col lethe.ColumnSchema) error
	PreservesUniqueness() bool
}

// Options configure Check.
type Options struct {
	// Strategy parses an erase strategy named in the data map.
	Strategy func(name string) (Strategy, error)
	// Strict turns drift into errors.
	Strict bool
	// Datastores limits the check to these names; empty means all.
	Datastores []string
}

// Report is the outcome of a check, findings sorted by datastore,
// collection and column.
type Report struct {
	Findings []Finding `json:"findings"`
	Errors   int       `json:"errors"`
	Warnings int       `json:"warnings"`
	// Checked lists the datastores reached.
	Checked []string `json:"checked"`
}

// OK reports whether the check found no errors.
func (r *Report) OK() bool { return r.Errors == 0 }

// Connectors gives the check a datastore's connector (connector.Set).
type Connectors interface {
	Connector(ctx context.Context, datastore string) (lethe.Connector, error)
}

// Check connects to every datastore of cfg (concurrently) and reports
// what does not fit. A datastore that cannot be reached is an error
// finding, not a failure of the check.
func Check(ctx context.Context, cfg *lethe.Config, conns Connectors, opts Options) (*Report, error) {
	rep := &Report{}
	names := make([]string, 0, len(cfg.Datastores))
	for name := range cfg.Datastores {
		if len(opts.Datastores) == 0 || slices.Contains(opts.Datastores, name) {
			names = append(names, name)
		}
	}
	for _, want := range opts.Datastores {
		if _, ok := cfg.Datastores[want]; !ok {
			return nil, lethe.Errorf(lethe.ENOTFOUND, "datastore %s is not declared in the data map", want)
		}
	}
	slices.Sort(names)
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, name := range names {
		wg.Add(1)
		go func() {
			defer wg.Done()
			found, reached := checkDatastore(ctx, cfg.Datastores[name], conns, opts)
			mu.Lock()
			defer mu.Unlock()
			rep.Findings = append(rep.Findings, found...)
			if reached {
				rep.Checked = append(rep.Checked, name)
			}
		}()
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	slices.Sort(rep.Checked)
	slices.SortStableFunc(rep.Findings, func(a, b Finding) int {
		for _, c := range [][2]string{{a.Datastore, b.Datastore}, {a.Collection, b.Collection}, {a.Column, b.Column}} {
			if c[0] != c[1] {
				if c[0] < c[1] {
					return -1
				}
				return 1
			}
		}
		return 0
	})
	for _, f := range rep.Findings {
		if f.Severity == SeverityError {
			rep.Errors++
		} else {
			rep.Warnings++
		}
	}
	return rep, nil
}

func checkDatastore(ctx context.Context, ds *lethe.Datastore, conns Connectors, opts Options) ([]Finding, bool) {
	var out []Finding
	add := func(sev Severity, coll, col, kind, format string, args ...any) {
		out = append(out, Finding{Severity: sev, Datastore: ds.Name, Collection: coll, Column: col, Kind: kind, Message: fmt.Sprintf(format, args...)})
	}
	conn, err := conns.Connector(ctx, ds.Name)
	if err != nil {
		add(SeverityError, "", "", "unreachable", "cannot connect: %s", lethe.ErrorMessage(err))
		return out, false
	}
	colls := make([]*lethe.Collection, 0, len(ds.Collections))
	for _, name := range ds.CollectionNames() {
		colls = append(colls, ds.Collections[name])
	}
	schemas, err := conn.Describe(ctx, colls)
	if err != nil {
		add(SeverityError, "", "", "unreachable", "cannot read the schema: %s", lethe.ErrorMessage(err))
		return out, false
	}
	drift := SeverityWarning
	if opts.Strict {
		drift = SeverityError
	}
	for _, ts := range schemas {
		c := ts.Collection
		if !ts.Exists {
			add(SeverityError, c.Name, "", "missing_table", "table %s does not exist", c.TableName())
			continue
		}
		if len(ts.Columns) == 0 {
			continue // a key-value store or a service: nothing to compare
		}
		declared := map[string]string{} // column -> why it is declared
		need := func(col, role string) {
			if col == "" {
				return
			}
			if _, ok := ts.Column(col); !ok {
				add(SeverityError, c.Name, col, "missing_column", "%s column %s does not exist in table %s", role, col, c.TableName())
			}
			declared[col] = role
		}
		need(c.PrimaryKeyColumn(), "primary key")
		for _, t := range sortedKeys(c.Identities) {
			col := c.Identities[t]
			need(col, "identity ("+string(t)+")")
			indexed(ts, c, col, "identity", add)
		}
		for _, col := range sortedKeys(c.References) {
			need(col, "reference")
			indexed(ts, c, col, "reference", add)
		}
		if c.Hold != nil {
			need(c.Hold.Since, "hold since")
		}
		checkRetention(ts, c, need, add)
		for _, col := range c.Ignore {
			need(col, "ignored")
		}
		anonymised := c.EraseActionOrDefault() == lethe.EraseAnonymise || c.Hold != nil && c.Hold.Then == lethe.EraseAnonymise ||
			c.Retention != nil && c.Retention.Action == lethe.EraseAnonymise
		for _, name := range c.FieldNames() {
			f := c.Fields[name]
			need(name, "personal field")
			cs, ok := ts.Column(name)
			if ok && ds.ScrubAllowed && opts.Strategy != nil {
				checkScrub(c, name, f, cs, opts, add)
			}
			if !ok || !anonymised || opts.Strategy == nil {
				continue
			}
			st, err := opts.Strategy(f.EraseStrategy())
			if err != nil {
				add(SeverityError, c.Name, name, "strategy", "%s", lethe.ErrorMessage(err))
				continue
			}
			if err := st.Fits(cs); err != nil {
				add(SeverityError, c.Name, name, "strategy", "erase: %s cannot be written to this column (%s): %s", f.EraseStrategy(), cs.Type, lethe.ErrorMessage(err))
				continue
			}
			if cs.Unique && !st.PreservesUniqueness() {
				add(SeverityWarning, c.Name, name, "not_unique", "the column is unique but erase: %s can give two rows the same value, so anonymising a second subject may fail; use hmac, null or a unique-preserving fake", f.EraseStrategy())
			}
		}
		var undeclared []string
		for _, cs := range ts.Columns {
			if _, ok := declared[cs.Name]; !ok {
				undeclared = append(undeclared, cs.Name)
			}
		}
		for _, col := range undeclared {
			add(drift, c.Name, col, "drift", "column is in the database but not in the data map: declare it under fields: if it holds personal data, or list it under ignore:")
		}
	}
	return out, true
}

// checkScrub checks the strategy lethe scrub writes to a field of a
// datastore marked scrub_allowed, as the scrub itself will before writing:
// a scrub refuses a unique column whose strategy can repeat values.
func checkScrub(c *lethe.Collection, name string, f *lethe.Field, cs lethe.ColumnSchema, opts Options, add func(Severity, string, string, string, string, ...any)) {
	st, err := opts.Strategy(f.ScrubStrategy())
	if err != nil {
		add(SeverityError, c.Name, name, "scrub_strategy", "%s", lethe.ErrorMessage(err))
		return
	}
	if err := st.Fits(cs); err != nil {
		add(SeverityError, c.Name, name, "scrub_strategy", "lethe scrub's %s cannot be written to this column (%s): %s", f.ScrubStrategy(), cs.Type, lethe.ErrorMessage(err))
		return
	}
	if cs.Unique && !st.PreservesUniqueness() {
		add(SeverityError, c.Name, name, "scrub_not_unique", "the column is unique but lethe scrub's %s can give two rows the same value, so the scrub refuses it; give the field scrub: hmac, null or a unique-preserving fake", f.ScrubStrategy())
	}
}

func indexed(ts lethe.TableSchema, c *lethe.Collection, col, role string, add func(Severity, string, string, string, string, ...any)) {
	cs, ok := ts.Column(col)
	if !ok || cs.Indexed || cs.Unique {
		return
	}
	add(SeverityWarning, c.Name, col, "unindexed", "%s column has no index: every request scans the whole table %s; add an index on %s", role, c.TableName(), col)
}

func sortedKeys[K ~string, V any](m map[K]V) []K {
	keys := make([]K, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
