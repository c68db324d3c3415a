package scrub

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/lethe-privacy/lethe"
)

// Strategy is a masking strategy as the scrub needs it: package mask's
// strategies implement it.
type Strategy interface {
	lethe.Mask
	// Name is the strategy's canonical name, for the report.
	Name() string
	// PreservesUniqueness reports whether distinct inputs give distinct
	// outputs.
	PreservesUniqueness() bool
	// Fits returns nil when every output can be written to the column.
	Fits(col lethe.ColumnSchema) error
}

// Connectors opens a datastore's connector (connector.Set does).
type Connectors interface {
	Connector(ctx context.Context, name string) (lethe.Connector, error)
}

// Options configure an Engine.
type Options struct {
	// Config holds the data map: the datastore to scrub, and the
	// datastores its references point into.
	Config *lethe.Config
	// Connectors opens the datastore.
	Connectors Connectors
	// Strategy parses a strategy name with the scrub key (mask.Parse
	// with a key derived from Lethe's secrets). The same key everywhere
	// gives the same output for the same value in every table, datastore
	// and run.
	Strategy func(name string) (Strategy, error)
}

// Engine scrubs datastores. It is safe for concurrent use, though two
// scrubs of one datastore at once would mask values twice.
type Engine struct {
	cfg   *lethe.Config
	conns Connectors
	strat func(string) (Strategy, error)
}

// New returns an engine; EINVALID when an option is missing.
func New(opts Options) (*Engine, error) {
	if opts.Config == nil || opts.Connectors == nil || opts.Strategy == nil {
		return nil, lethe.Errorf(lethe.EINVALID, "scrub: Config, Connectors and Strategy are required")
	}
	return &Engine{cfg: opts.Config, conns: opts.Connectors, strat: opts.Strategy}, nil
}

// Default is what --default writes to undeclared text columns.
type Default string

// Defaults for undeclared text columns.
const (
	DefaultNone  Default = ""
	DefaultNull  Default = "null"
	DefaultBlank Default = "blank"
)

// Params say which datastore to scrub and how.
type Params struct {
	// Datastore is the name of the datastore to scrub. It must be marked
	// scrub_allowed: true in lethe.yaml.
	Datastore string
	// Confirm must repeat Datastore: the command line names the copy
	// twice, so that a scrub never runs on the wrong database by a slip.
	Confirm string
	// Strict refuses to start when a table has columns the data map does
	// not declare (as a field, key, identity, reference or under ignore:),
	// so that new personal data cannot stay unmasked.
	Strict bool
	// Default, when set, masks undeclared text columns with null or
	// blank instead (Strict then refuses only undeclared columns of
	// other types).
	Default Default
	// NoCompact skips rewriting the storage at the end: faster, but the
	// originals stay in the database files until the database reuses
	// the space.
	NoCompact bool
	// DryRun plans and checks, counts the rows, and changes nothing.
	DryRun bool
	// CompactOnly skips the masking and only rewrites the storage: for a
	// scrub whose compaction failed (another session held an old
	// snapshot). Running the whole scrub again would mask masked values.
	CompactOnly bool
	// Workers is how many ranges are scrubbed at once, across tables and
	// across key ranges of one table. Defaults to GOMAXPROCS.
	Workers int
	// Batch is how many rows are read and written at once. Defaults to
	// lethe.ScrubBatch.
	Batch int
	// Progress, when set, is called after each batch (from one goroutine
	// at a time).
	Progress func(Progress)
}

// Progress is how far a scrub is.
type Progress struct {
	Rows    int64         `json:"rows"`
	Total   int64         `json:"total"`
	Elapsed time.Duration `json:"elapsed"`
}

// Report is what a scrub did. It holds names and counts, never a value.
type Report struct {
	Datastore   string             `json:"datastore"`
	DryRun      bool               `json:"dry_run,omitempty"`
	Collections []CollectionReport `json:"collections"`
	// Rows is how many rows were rewritten (counted, for a dry run).
	Rows int64 `json:"rows"`
	// Compacted is true when the storage was rewritten at the end.
	Compacted bool          `json:"compacted"`
	Elapsed   time.Duration `json:"elapsed_ns"`
	// Warnings are things left as they are that a person should know
	// about (an identity column no field declares).
	Warnings []string `json:"warnings,omitempty"`
}

// CollectionReport is one collection's part of a Report.
type CollectionReport struct {
	Collection string         `json:"collection"`
	Table      string         `json:"table"`
	Rows       int64          `json:"rows"`
	Ranges     int            `json:"ranges"`
	Columns    []ColumnReport `json:"columns"`
}

// ColumnReport says how one column was scrubbed and why.
type ColumnReport struct {
	Column   string `json:"column"`
	Strategy string `json:"strategy"`
	// Source is field (its scrub: or erase: strategy), reference (the
	// strategy of the column it refers to, so the join still holds) or
	// default (--default, for an undeclared text column).
	Source string `json:"source"`
}

// Column sources.
const (
	SourceField     = "field"
	SourceReference = "reference"
	SourceDefault   = "default"
)

// plan is one collection's share of the work.
type plan struct {
	c      *lethe.Collection
	report CollectionReport
	masks  map[string]lethe.Mask
	rows   int64
	ranges []lethe.KeyRange
}

// Run scrubs the datastore: every declared personal field of every
// collection rewritten in place with its scrub strategy (a field's
// scrub:, else its erase:), every column that references a scrubbed
// column with that column's strategy, then the storage rewritten
// (unless NoCompact).
//
// Before writing anything it refuses, with EFORBIDDEN, a datastore not
// marked scrub_allowed or a Confirm that does not repeat its name; and,
// with EINVALID naming the collection and column, a strategy that does not
// fit its column, a unique column whose strategy can give two rows the
// same value, a referencing column that declares a strategy other than
// its target's, and (Strict) undeclared columns.
//
// Ranges of tables are scrubbed in parallel (Workers); each range is one
// transaction. If one fails, the others are cancelled and the error is
// returned; ranges already committed stay scrubbed, so restore the copy
// again before a new run (a second run would mask masked values).
func (e *Engine) Run(ctx context.Context, p Params) (*Report, error) {
	start := time.Now()
	ds, err := e.allowed(p)
	if err != nil {
		return nil, err
	}
	if p.Default != DefaultNone && p.Default != DefaultNull && p.Default != DefaultBlank {
		return nil, lethe.Errorf(lethe.EINVALID, "the default for undeclared text columns is null or blank, not %q", string(p.Default))
	}
	conn, err := e.conns.Connector(ctx, ds.Name)
	if err != nil {
		return nil, err
	}
	sc, ok := conn.(lethe.Scrubber)
	if !ok {
		return nil, lethe.Errorf(lethe.EINVALID, "datastore %s: its connector (%s) cannot scrub; lethe scrub rewrites postgres, mysql and sqlite databases", ds.Name, ds.Driver)
	}
	if p.CompactOnly {
		colls := make([]*lethe.Collection, 0, len(ds.Collections))
		for _, name := range ds.CollectionNames() {
			colls = append(colls, ds.Collections[name])
		}
		if err := sc.Compact(ctx, colls); err != nil {
			return nil, fmt.Errorf("compact %s: %w", ds.Name, err)
		}
		return &Report{Datastore: ds.Name, Compacted: true, Elapsed: time.Since(start)}, nil
	}
	plans, warnings, err := e.plan(ctx, ds, conn, p)
	if err != nil {
		return nil, err
	}
	workers := cmp.Or(p.Workers, runtime.GOMAXPROCS(0))
	rep := &Report{Datastore: ds.Name, DryRun: p.DryRun, Warnings: warnings}
	var total int64
	for _, pl := range plans {
		if pl.rows, pl.ranges, err = sc.ScrubSplit(ctx, pl.c, workers); err != nil {
			return nil, err
		}
		pl.report.Rows, pl.report.Ranges = pl.rows, len(pl.ranges)
		total += pl.rows
	}
	if !p.DryRun {
		if err := e.scrub(ctx, sc, plans, p, workers, total, start); err != nil {
			return nil, err
		}
		if !p.NoCompact && len(plans) > 0 {
			colls := make([]*lethe.Collection, len(plans))
			for i, pl := range plans {
				colls[i] = pl.c
			}
			if err := sc.Compact(ctx, colls); err != nil {
				return nil, fmt.Errorf("scrub %s: the fields are masked, but compacting the storage failed (originals may remain in the files; fix the cause and run again with --compact-only): %w", ds.Name, err)
			}
			rep.Compacted = true
		}
	}
	for _, pl := range plans {
		rep.Collections = append(rep.Collections, pl.report)
	}
	rep.Rows = total
	rep.Elapsed = time.Since(start)
	return rep, nil
}

// allowed checks the two locks: scrub_allowed in lethe.yaml, and the name
// given twice.
func (e *Engine) allowed(p Params) (*lethe.Datastore, error) {
	if p.Datastore == "" {
		return nil, lethe.Errorf(lethe.EINVALID, "name the datastore to scrub")
	}
	ds := e.cfg.Datastores[p.Datastore]
	if ds == nil {
		return nil, lethe.Errorf(lethe.ENOTFOUND, "datastore %s is not declared in the data map", p.Datastore)
	}
	if !ds.ScrubAllowed {
		return nil, lethe.Errorf(lethe.EFORBIDDEN, "datastore %s is not marked scrub_allowed: true in lethe.yaml; scrubbing rewrites every personal field in place, so it only runs on a copy marked so", ds.Name)
	}
	if p.Confirm != ds.Name {
		return nil, lethe.Errorf(lethe.EFORBIDDEN, "confirm the scrub by naming the datastore again (--confirm %s): it rewrites every personal field of %s in place", ds.Name, ds.Name)
	}
	return ds, nil
}

// plan resolves each collection's columns and strategies and checks them
// against the tables, before anything is written.
func (e *Engine) plan(ctx context.Context, ds *lethe.Datastore, conn lethe.Connector, p Params) ([]*plan, []string, error) {
	colls := make([]*lethe.Collection, 0, len(ds.Collections))
	for _, name := range ds.CollectionNames() {
		colls = append(colls, ds.Collections[name])
	}
	schemas, err := conn.Describe(ctx, colls)
	if err != nil {
		return nil, nil, err
	}
	var (
		plans    []*plan
		warnings []string
		problems []string
	)
	strategies := map[string]Strategy{}
	parse := func(name string) (Strategy, error) {
		if s, ok := strategies[name]; ok {
			return s, nil
		}
		s, err := e.strat(name)
		if err != nil {
			return nil, err
		}
		strategies[name] = s
		return s, nil
	}
	for _, ts := range schemas {
		c := ts.Collection
		if !ts.Exists {
			problems = append(problems, fmt.Sprintf("collection %s: table %s does not exist", c.Name, c.TableName()))
			continue
		}
		type choice struct{ strategy, source string }
		chosen := map[string]choice{}
		for _, name := range c.FieldNames() {
			chosen[name] = choice{c.Fields[name].ScrubStrategy(), SourceField}
		}
		for _, col := range sortedKeys(c.References) {
			target, err := lethe.ParseReference(ds.Name, c.References[col])
			if err != nil {
				continue // package config refused it already
			}
			tf := e.field(target)
			if tf == nil {
				continue // a key or identity column: not scrubbed, nothing to follow
			}
			want := tf.ScrubStrategy()
			if own, ok := chosen[col]; ok && own.strategy != want {
				problems = append(problems, fmt.Sprintf("collection %s: column %s refers to %s, which is scrubbed with %s; its own strategy %s would break the join: give it the same strategy or leave it out of fields:", c.Name, col, target, want, own.strategy))
				continue
			}
			chosen[col] = choice{want, SourceReference}
		}
		declared := map[string]bool{c.PrimaryKeyColumn(): true}
		for _, col := range c.Identities {
			declared[col] = true
		}
		for col := range c.References {
			declared[col] = true
		}
		for _, col := range c.Ignore {
			declared[col] = true
		}
		if c.Hold != nil && c.Hold.Since != "" {
			declared[c.Hold.Since] = true
		}
		var undeclared []string
		for _, cs := range ts.Columns {
			if _, ok := chosen[cs.Name]; ok || declared[cs.Name] {
				continue
			}
			if p.Default != DefaultNone && cs.Kind == lethe.KindText {
				chosen[cs.Name] = choice{string(p.Default), SourceDefault}
				continue
			}
			undeclared = append(undeclared, cs.Name)
		}
		if p.Strict && len(undeclared) > 0 {
			what := "declare them under fields: if they hold personal data, or list them under ignore:"
			if p.Default == DefaultNone {
				what += " (or give --default null|blank for text columns)"
			}
			problems = append(problems, fmt.Sprintf("collection %s: columns %s are in table %s but not in the data map: %s", c.Name, strings.Join(undeclared, ", "), c.TableName(), what))
		}
		for _, t := range sortedKeys(c.Identities) {
			col := c.Identities[t]
			if _, ok := chosen[col]; !ok && col != c.PrimaryKeyColumn() {
				warnings = append(warnings, fmt.Sprintf("collection %s: identity column %s (%s) is not declared under fields:, so it is left as it is", c.Name, col, t))
			}
		}
		pl := &plan{c: c, masks: map[string]lethe.Mask{}, report: CollectionReport{Collection: c.Name, Table: c.TableName()}}
		for _, col := range sortedKeys(chosen) {
			ch := chosen[col]
			where := fmt.Sprintf("collection %s: column %s", c.Name, col)
			cs, ok := ts.Column(col)
			if !ok {
				problems = append(problems, where+": no such column in table "+c.TableName())
				continue
			}
			if col == c.PrimaryKeyColumn() {
				problems = append(problems, where+": is the primary key, which cannot be scrubbed in place (rows are read by it); make another column the primary key or leave it out of fields:")
				continue
			}
			st, err := parse(ch.strategy)
			if err != nil {
				problems = append(problems, where+": "+lethe.ErrorMessage(err))
				continue
			}
			if err := st.Fits(cs); err != nil {
				problems = append(problems, fmt.Sprintf("%s: %s cannot be written to it (%s): %s", where, ch.strategy, cs.Type, lethe.ErrorMessage(err)))
				continue
			}
			if cs.Unique && !st.PreservesUniqueness() {
				problems = append(problems, fmt.Sprintf("%s: is unique, and %s can give two rows the same value; choose a strategy that keeps distinct values distinct (hmac, fake.email, fake.username, fake.iban, or null where the column admits NULL) with scrub:", where, ch.strategy))
				continue
			}
			pl.masks[col] = st
			pl.report.Columns = append(pl.report.Columns, ColumnReport{Column: col, Strategy: st.Name(), Source: ch.source})
		}
		if len(pl.masks) > 0 {
			plans = append(plans, pl)
		}
	}
	if len(problems) > 0 {
		return nil, nil, lethe.Errorf(lethe.EINVALID, "scrub %s: nothing was changed: %s", ds.Name, strings.Join(problems, "; "))
	}
	return plans, warnings, nil
}

// field returns the field a reference points to, nil when the target is
// not a declared field (a primary key or identity column is not scrubbed).
func (e *Engine) field(r lethe.ColumnRef) *lethe.Field {
	ds := e.cfg.Datastores[r.Datastore]
	if ds == nil {
		return nil
	}
	c := ds.Collections[r.Collection]
	if c == nil {
		return nil
	}
	return c.Fields[r.Column]
}

// task is one range of one collection.
type task struct {
	pl *plan
	r  lethe.KeyRange
}

// scrub runs the ranges on the workers, the largest tables first so that
// a big table's ranges do not start last.
func (e *Engine) scrub(ctx context.Context, sc lethe.Scrubber, plans []*plan, p Params, workers int, total int64, start time.Time) error {
	order := slices.Clone(plans)
	slices.SortStableFunc(order, func(a, b *plan) int { return cmp.Compare(b.rows, a.rows) })
	var tasks []task
	for _, pl := range order {
		for _, r := range pl.ranges {
			tasks = append(tasks, task{pl, r})
		}
	}
	var (
		done atomic.Int64
		mu   sync.Mutex
	)
	progress := func(n int64) {
		d := done.Add(n)
		if p.Progress != nil {
			mu.Lock()
			p.Progress(Progress{Rows: d, Total: total, Elapsed: time.Since(start)})
			mu.Unlock()
		}
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(workers)
	for _, t := range tasks {
		g.Go(func() error {
			_, err := sc.ScrubRange(gctx, lethe.ScrubParams{
				Collection: t.pl.c, Range: t.r, Masks: t.pl.masks, Batch: p.Batch, Progress: progress,
			})
			return err
		})
	}
	return g.Wait()
}

func sortedKeys[K ~string, V any](m map[K]V) []K { return slices.Sorted(maps.Keys(m)) }
