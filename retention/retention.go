package retention

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"time"

	"github.com/lethe-privacy/lethe"
)

// DefaultBatchSize is how many rows one batch deletes or anonymises.
const DefaultBatchSize = 5000

// Connectors opens the connector of a datastore by name (connector.Set).
type Connectors interface {
	Connector(ctx context.Context, name string) (lethe.Connector, error)
}

// Auditor is the part of the audit log a run writes to.
type Auditor interface {
	Append(ctx context.Context, records ...lethe.AuditRecord) ([]lethe.AuditEntry, error)
}

// Options configure an Engine.
type Options struct {
	// Config holds the data map with its retention rules. Required.
	Config *lethe.Config
	// Connectors opens the datastores. Required.
	Connectors Connectors
	// Masks builds the masks of the fields an anonymising rule rewrites
	// (package mask, as erasure uses). Required for anonymise rules.
	Masks func(strategy string) (lethe.Mask, error)
	// Audit receives one entry per run that is not a dry run. Optional.
	Audit Auditor
	// Actor is recorded in the audit entry. Defaults to system.
	Actor string
	// BatchSize bounds the rows of one batch. Defaults to
	// DefaultBatchSize.
	BatchSize int
	// Clock defaults to the system clock.
	Clock lethe.Clock
	// Logger defaults to slog.Default(). Nothing personal is logged.
	Logger *slog.Logger
	// Notifier sends the notices of rules with warn:. Without it those
	// rules run without notices.
	Notifier Notifier
}

// Engine plans and runs retention. It is safe for concurrent use, but two
// runs at once would only race each other for the same rows: Scheduler
// keeps one run at a time across nodes.
type Engine struct {
	opts Options
	log  *slog.Logger
}

type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }

// New returns an engine.
func New(opts Options) (*Engine, error) {
	if opts.Config == nil || opts.Connectors == nil {
		return nil, lethe.Errorf(lethe.EINVALID, "retention: Config and Connectors are required")
	}
	opts.Actor = cmp.Or(opts.Actor, "system")
	if opts.BatchSize <= 0 {
		opts.BatchSize = DefaultBatchSize
	}
	if opts.Clock == nil {
		opts.Clock = systemClock{}
	}
	return &Engine{opts: opts, log: cmp.Or(opts.Logger, slog.Default())}, nil
}

// CollectionPlan is what a rule covers in one collection now.
type CollectionPlan struct {
	// Collection is datastore.collection.
	Collection string            `json:"collection"`
	Action     lethe.EraseAction `json:"action"`
	Column     string            `json:"column"`
	MaxAge     string            `json:"max_age"`
	// Cutoff: rows whose column is older are covered.
	Cutoff time.Time `json:"cutoff"`
	// HoldCutoff, with a hold, is how far back its column must reach for
	// a row to be past the hold.
	HoldCutoff *time.Time `json:"hold_cutoff,omitempty"`
	// Rows is how many rows the rule covers now; Oldest the oldest age
	// among them.
	Rows   int64      `json:"rows"`
	Oldest *time.Time `json:"oldest,omitempty"`
	// Error says why the rule cannot be applied (the collection is
	// skipped); empty when it can.
	Error string `json:"error,omitempty"`
}

// Plan is what a run would do now.
type Plan struct {
	At          time.Time        `json:"at"`
	Collections []CollectionPlan `json:"collections"`
	Rows        int64            `json:"rows"`
	Failed      int              `json:"failed"`
}

// rule is a collection's retention rule resolved at one instant.
type rule struct {
	now    time.Time
	c      *lethe.Collection
	plan   CollectionPlan
	sel    lethe.RetentionSelection
	before lethe.Cutoff // the rule column's cutoff, rechecked by Erase
	masks  map[string]lethe.Mask
	src    lethe.RetentionSource
	conn   lethe.Connector
}

// rules resolves every collection's rule at now, in data-map order. A
// rule that cannot apply carries its error in plan.Error.
func (e *Engine) rules(ctx context.Context, now time.Time, only []string) []*rule {
	var out []*rule
	for _, c := range e.opts.Config.Collections() {
		if c.Retention == nil || (len(only) > 0 && !slices.Contains(only, c.Datastore)) {
			continue
		}
		r := &rule{c: c, now: now}
		r.plan = CollectionPlan{Collection: c.Path(), Column: c.Retention.Column}
		if err := e.resolve(ctx, r, now); err != nil {
			r.plan.Error = lethe.ErrorMessage(err)
		}
		out = append(out, r)
	}
	return out
}

func (e *Engine) resolve(ctx context.Context, r *rule, now time.Time) error {
	c, rr := r.c, r.c.Retention
	maxAge := e.opts.Config.RetentionMaxAge(c)
	if maxAge.IsZero() {
		return lethe.Errorf(lethe.EINVALID, "the rule has no max_age and none of the collection's purposes has a retention")
	}
	r.plan.MaxAge = maxAge.String()
	r.plan.Cutoff = maxAge.SubFrom(now).UTC()
	action := cmp.Or(rr.Action, c.EraseActionOrDefault())
	r.before = lethe.Cutoff{Column: rr.Column, Time: r.plan.Cutoff}
	r.sel = lethe.RetentionSelection{Collection: c, Where: rr.Where}
	if h := c.Hold; h != nil {
		// A hold counts from its since column, or else from the row's
		// age: there is no erasure request to count from. Once it ends,
		// its then applies.
		col := cmp.Or(h.Since, rr.Column)
		hc := h.KeepFor.SubFrom(now).UTC()
		r.plan.HoldCutoff = &hc
		if col == rr.Column {
			if hc.Before(r.before.Time) {
				r.before.Time = hc
			}
		} else {
			r.sel.Before = append(r.sel.Before, lethe.Cutoff{Column: col, Time: hc})
		}
		if h.Then != "" {
			action = h.Then
		}
	}
	r.sel.Before = append([]lethe.Cutoff{r.before}, r.sel.Before...)
	r.plan.Action = action
	if action == lethe.EraseAnonymise {
		if e.opts.Masks == nil {
			return lethe.Errorf(lethe.EINVALID, "the rule anonymises but the engine has no masks")
		}
		r.masks = map[string]lethe.Mask{}
		for _, f := range c.FieldNames() {
			m, err := e.opts.Masks(c.Fields[f].EraseStrategy())
			if err != nil {
				return fmt.Errorf("field %s: %w", f, err)
			}
			r.masks[f] = m
			if v, ok := m.Constant(); ok {
				r.sel.Pending = append(r.sel.Pending, lethe.PendingColumn{Column: f, Value: v})
			}
		}
		if len(r.sel.Pending) == 0 {
			return lethe.Errorf(lethe.EINVALID, "anonymising by retention needs at least one field with a constant strategy (null, blank or fixed:<value>), so that rows already anonymised are told apart from the others")
		}
	}
	conn, err := e.opts.Connectors.Connector(ctx, c.Datastore)
	if err != nil {
		return err
	}
	src, ok := conn.(lethe.RetentionSource)
	if !ok {
		return lethe.Errorf(lethe.EINVALID, "datastore %s cannot enforce retention rules (its connector does not select rows by age); give its data a time to live instead", c.Datastore)
	}
	r.conn, r.src = conn, src
	return nil
}

// Plan counts, per collection, the rows a run would delete or anonymise
// now, with the oldest. only limits it to the named datastores (all when
// empty). A collection that cannot be planned carries its error; Plan
// itself fails only when ctx ends.
func (e *Engine) Plan(ctx context.Context, only []string) (*Plan, error) {
	now := e.opts.Clock.Now().UTC()
	p := &Plan{At: now, Collections: []CollectionPlan{}}
	for _, r := range e.rules(ctx, now, only) {
		if r.plan.Error == "" {
			n, err := r.src.RetentionCount(ctx, r.sel)
			if err != nil {
				if ctx.Err() != nil {
					return nil, ctx.Err()
				}
				r.plan.Error = lethe.ErrorMessage(err)
			} else {
				r.plan.Rows = n.Rows
				if !n.Oldest.IsZero() {
					o := n.Oldest
					r.plan.Oldest = &o
				}
			}
		}
		if r.plan.Error != "" {
			p.Failed++
		}
		p.Rows += r.plan.Rows
		p.Collections = append(p.Collections, r.plan)
	}
	return p, nil
}

// RunParams say how to run.
type RunParams struct {
	// DryRun counts what would be done (as Plan) without changing
	// anything or writing an audit entry.
	DryRun bool
	// Datastores limits the run to these (all when empty).
	Datastores []string
	// Progress, when set, is called after each batch.
	Progress func(Progress)
}

// Progress reports a run under way.
type Progress struct {
	Collection string `json:"collection"`
	// Done rows of Total in this collection (Total is the count taken
	// when the collection started).
	Done  int64 `json:"done"`
	Total int64 `json:"total"`
	// Rate is rows per second in this collection so far; Remaining the
	// time left at that rate.
	Rate      float64       `json:"rate"`
	Remaining time.Duration `json:"remaining"`
}

// CollectionResult is what a run did to one collection.
type CollectionResult struct {
	CollectionPlan
	// Done is how many rows were deleted or anonymised.
	Done    int64 `json:"done"`
	Batches int   `json:"batches"`
	// MaxLock is the longest batch: the longest any transaction of the
	// run held its locks.
	MaxLock  time.Duration `json:"max_lock"`
	Duration time.Duration `json:"duration"`
	// Warned is how many notices of rows about to go were queued
	// (warn:); WarnFailed how many rows had no usable address.
	Warned     int64 `json:"warned,omitempty"`
	WarnFailed int64 `json:"warn_failed,omitempty"`
}

// RetentionRun is the result of a run.
type RetentionRun struct {
	StartedAt   time.Time          `json:"started_at"`
	FinishedAt  time.Time          `json:"finished_at"`
	DryRun      bool               `json:"dry_run"`
	Collections []CollectionResult `json:"collections"`
	Done        int64              `json:"done"`
	Failed      int                `json:"failed"`
	// Interrupted is true when the context ended before every collection
	// was done; what was done stays done.
	Interrupted bool `json:"interrupted,omitempty"`
}

// Run deletes or anonymises every row past its rule, collection by
// collection, in batches. A collection that fails is reported and the
// others still run; Run returns an error only when ctx ends (with the
// result so far, audited) or the audit entry cannot be written.
func (e *Engine) Run(ctx context.Context, p RunParams) (*RetentionRun, error) {
	now := e.opts.Clock.Now().UTC()
	run := &RetentionRun{StartedAt: now, DryRun: p.DryRun, Collections: []CollectionResult{}}
	var runErr error
	for _, r := range e.rules(ctx, now, p.Datastores) {
		res := CollectionResult{CollectionPlan: r.plan}
		if res.Error == "" {
			if err := e.runRule(ctx, r, p, &res); err != nil {
				if ctx.Err() != nil {
					run.Interrupted = true
					runErr = fmt.Errorf("retention run: %w", ctx.Err())
				} else {
					res.Error = lethe.ErrorMessage(err)
				}
			}
		}
		if res.Error != "" {
			run.Failed++
			e.log.Warn("retention: collection failed", "collection", res.Collection, "err", res.Error)
		}
		run.Done += res.Done
		run.Collections = append(run.Collections, res)
		if run.Interrupted {
			break
		}
	}
	run.FinishedAt = e.opts.Clock.Now().UTC()
	if !p.DryRun && e.opts.Audit != nil {
		if _, err := e.opts.Audit.Append(context.WithoutCancel(ctx), auditRecord(e.opts.Actor, run)); err != nil {
			return run, errors.Join(runErr, fmt.Errorf("audit retention run: %w", err))
		}
	}
	return run, runErr
}

func (e *Engine) runRule(ctx context.Context, r *rule, p RunParams, res *CollectionResult) error {
	start := time.Now()
	defer func() { res.Duration = time.Since(start) }()
	n, err := r.src.RetentionCount(ctx, r.sel)
	if err != nil {
		return err
	}
	res.Rows = n.Rows
	if !n.Oldest.IsZero() {
		o := n.Oldest
		res.Oldest = &o
	}
	if !p.DryRun && r.c.Retention.Warn != nil && e.opts.Notifier != nil {
		if err := e.warn(ctx, r, res); err != nil {
			return fmt.Errorf("warn of rows about to go: %w", err)
		}
	}
	if p.DryRun || n.Rows == 0 {
		return nil
	}
	pk := r.c.PrimaryKeyColumn()
	var after any
	for {
		// Between batches is where a cancelled run stops: every batch is
		// either applied whole or not at all.
		if err := ctx.Err(); err != nil {
			return err
		}
		keys, err := r.src.RetentionKeys(ctx, r.sel, after, e.opts.BatchSize)
		if err != nil {
			return err
		}
		if len(keys) == 0 {
			return nil
		}
		from := after
		after = keys[len(keys)-1]
		if res.Action == lethe.EraseDelete {
			// A delete needs no values from the rows: one statement per
			// key range, judged again as the rows are now.
			t0 := time.Now()
			n, err := r.src.RetentionDelete(ctx, r.sel, from, after)
			lock := time.Since(t0)
			if err != nil {
				return err
			}
			res.Batches++
			res.MaxLock = max(res.MaxLock, lock)
			res.Done += n
			e.progress(p, res, start)
			if len(keys) < e.opts.BatchSize {
				return nil
			}
			continue
		}
		step := lethe.EraseStep{
			Collection: r.c, Action: res.Action, Masks: r.masks,
			Matches: []lethe.Match{{Column: pk, Values: keys}},
			// The age is checked again in the transaction: a row touched
			// since it was selected may no longer be past the limit.
			Before: &r.before,
		}
		t0 := time.Now()
		out, err := r.conn.Erase(ctx, []lethe.EraseStep{step})
		lock := time.Since(t0)
		if err != nil {
			return err
		}
		res.Batches++
		res.MaxLock = max(res.MaxLock, lock)
		if len(out) > 0 {
			res.Done += out[0].Rows
		}
		e.progress(p, res, start)
		if len(keys) < e.opts.BatchSize {
			return nil
		}
	}
}

// progress reports a collection's progress after a batch.
func (e *Engine) progress(p RunParams, res *CollectionResult, start time.Time) {
	if p.Progress == nil {
		return
	}
	elapsed := time.Since(start).Seconds()
	pr := Progress{Collection: res.Collection, Done: res.Done, Total: res.Rows}
	if elapsed > 0 {
		pr.Rate = float64(res.Done) / elapsed
	}
	if pr.Rate > 0 && res.Rows > res.Done {
		pr.Remaining = time.Duration(float64(res.Rows-res.Done) / pr.Rate * float64(time.Second))
	}
	p.Progress(pr)
}

// auditRecord is the run's audit entry: counts per collection, never a
// row or a value.
func auditRecord(actor string, run *RetentionRun) lethe.AuditRecord {
	d := map[string]string{
		"rows":        strconv.FormatInt(run.Done, 10),
		"collections": strconv.Itoa(len(run.Collections)),
		"failed":      strconv.Itoa(run.Failed),
		"started_at":  run.StartedAt.Format(time.RFC3339),
	}
	if run.Interrupted {
		d["interrupted"] = "true"
	}
	for _, c := range run.Collections {
		v := string(c.Action) + " " + strconv.FormatInt(c.Done, 10)
		if c.Error != "" {
			v += " (failed)"
		}
		d[c.Collection] = v
		if c.Warned > 0 || c.WarnFailed > 0 {
			d[c.Collection+".warned"] = strconv.FormatInt(c.Warned, 10)
		}
	}
	return lethe.AuditRecord{Actor: actor, Action: "retention.run", Object: run.StartedAt.Format(time.RFC3339), Details: d}
}
