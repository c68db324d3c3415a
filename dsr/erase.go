package dsr

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"math"
	"reflect"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/lethe-privacy/lethe"
)

// EraseParams is an erasure request (Art. 17).
type EraseParams struct {
	RequestID  string
	Identities []lethe.Identity
	// DryRun plans and counts without changing anything.
	DryRun bool
	// Resolved, when set, is called once the subject's identities are
	// resolved and before anything is changed, with the identities given
	// and every one found on the way (an account's user_id found by
	// e-mail). A caller that must resume an interrupted erasure keeps them:
	// once the datastore that led to them is erased, they cannot be found
	// again. An error stops the erasure before it changes anything.
	Resolved func(ctx context.Context, ids []lethe.Identity) error
	// BeforeShred, when set, is called with the certificate of a complete,
	// verified erasure just before the subject's keys are shredded (after
	// which whatever was sealed with them is unreadable): the caller's last
	// chance to record the outcome and queue what still needs the
	// identities. An error leaves the keys in place and fails the erasure.
	BeforeShred func(ctx context.Context, cert *Certificate) error
	// Done names the steps (datastore.collection) an earlier run of the
	// same request applied (see Certificate.Done): they are not applied
	// again (an anonymised row would be masked a second time, and keyed
	// fakes would no longer agree across datastores), only verified, and
	// report EarlierRun.
	Done []string
}

// Step statuses.
const (
	StepPlanned = "planned"
	StepDone    = "done"
	StepFailed  = "failed"
	StepHeld    = "held" // every matching row is kept by a hold
)

// StepResult is what erasure did (or, in a dry run, would do) to one
// collection.
type StepResult struct {
	Datastore  string            `json:"datastore"`
	Collection string            `json:"collection"`
	Action     lethe.EraseAction `json:"action"`
	// Matched is how many of the subject's rows the collection held.
	Matched int64 `json:"matched"`
	// Rows is how many rows were deleted or anonymised.
	Rows int64 `json:"rows"`
	// Held is how many rows a hold keeps, with the hold.
	Held int64     `json:"held,omitempty"`
	Hold *HoldInfo `json:"hold,omitempty"`
	// Status is planned, done, failed or held.
	Status string `json:"status"`
	Error  string `json:"error,omitempty"`
	// EarlierRun says an earlier run of the request applied this step
	// (EraseParams.Done); Rows then counts that run's rows.
	EarlierRun bool `json:"earlier_run,omitempty"`
}

// carryOver copies the rows an earlier run erased into the steps this
// run did not apply again, so the certificate tells the whole story.
func (c *Certificate) carryOver(prev *Certificate) {
	if prev == nil {
		return
	}
	for i, s := range c.Steps {
		for _, p := range prev.Steps {
			if p.Datastore != s.Datastore || p.Collection != s.Collection {
				continue
			}
			switch {
			case s.EarlierRun:
				c.Steps[i].Rows, c.Steps[i].Matched, c.Steps[i].Held, c.Steps[i].Hold = p.Rows, p.Matched, p.Held, p.Hold
			case p.Status == StepDone && s.Status == StepDone:
				// A delete applied again: what it deletes now comes on top
				// of what the earlier runs deleted.
				c.Steps[i].Rows += p.Rows
				c.Steps[i].Matched += p.Matched
			}
		}
	}
}

// Done returns the anonymising steps (datastore.collection) the
// certificate shows applied: done, not failed or held. A retry of the
// request passes them as EraseParams.Done. Deleting steps are left out:
// deleting again is harmless, and finds rows written since.
func (c *Certificate) Done() []string {
	var out []string
	for _, s := range c.Steps {
		if s.Status == StepDone && s.Action == lethe.EraseAnonymise {
			out = append(out, s.Datastore+"."+s.Collection)
		}
	}
	return out
}

// HoldInfo records the Art. 17(3) ground a hold keeps rows on.
type HoldInfo struct {
	Basis   lethe.HoldBasis `json:"basis"`
	Reason  string          `json:"reason"`
	KeepFor string          `json:"keep_for"`
	// Until is when the newest held row's hold ends (zero when counted
	// from the request: then it ends KeepFor after it).
	Until time.Time         `json:"until,omitzero"`
	Then  lethe.EraseAction `json:"then"`
}

// Verification is the outcome of looking again after erasure.
type Verification struct {
	// Passed is true when no declared field of any row found still holds
	// one of the subject's original values (held rows excepted).
	Passed bool `json:"passed"`
	// Checked is how many rows were looked at.
	Checked int64 `json:"checked"`
	// Residual lists collections where personal values remain.
	Residual []Residual `json:"residual,omitempty"`
	// Skipped lists datastores that could not be verified.
	Skipped []string `json:"skipped,omitempty"`
	// Note says when verification could check less than usual.
	Note string `json:"note,omitempty"`
}

// Residual is a collection that still holds the subject's data.
type Residual struct {
	Datastore  string   `json:"datastore"`
	Collection string   `json:"collection"`
	Rows       int64    `json:"rows"`
	Fields     []string `json:"fields,omitempty"`
}

// Certificate is the proof of an erasure. It holds no personal data: the
// request id, counts, holds, the verification outcome and the audit
// checkpoint that commits to the request's audit entry.
type Certificate struct {
	RequestID string    `json:"request_id"`
	IssuedAt  time.Time `json:"issued_at"`
	DryRun    bool      `json:"dry_run,omitempty"`
	// Status is completed, partially_completed (a datastore failed) or
	// failed (nothing could be erased).
	Status       string        `json:"status"`
	Steps        []StepResult  `json:"steps"`
	Failed       []Failure     `json:"failed,omitempty"`
	Verification *Verification `json:"verification,omitempty"`
	KeysShredded int           `json:"keys_shredded"`
	// Warnings are things a person reading the certificate should check.
	Warnings []string    `json:"warnings,omitempty"`
	Audit    *AuditProof `json:"audit,omitempty"`
}

// AuditProof cites the audit log after the request's entry was appended.
type AuditProof struct {
	EntrySeq uint64 `json:"entry_seq"`
	TreeSize uint64 `json:"tree_size"`
	Root     string `json:"root"`
	// Checkpoint is the signed note; anyone with the public key verifies
	// it with `lethe audit verify`.
	Checkpoint string `json:"checkpoint"`
}

// Request statuses a certificate reports.
const (
	StatusCompleted          = "completed"
	StatusPartiallyCompleted = "partially_completed"
	StatusFailed             = "failed"
)

// planStep is one collection's part of the plan.
type planStep struct {
	// earlier: an earlier run of the request applied this step
	// (EraseParams.Done); it is counted and verified only.
	earlier bool
	n       *node
	matches []lethe.Match
	step    *lethe.EraseStep // nil when a hold keeps every row
	result  StepResult
	// masked are the anonymised columns, for the pre-pass and the check.
	masks map[string]lethe.Mask
	// cutoff: rows whose hold.Since is before it are past the hold.
	cutoff *lethe.Cutoff
	// keys are the primary keys of the rows anonymised, read before:
	// verification reads them again even when the columns the request
	// matched by were masked.
	keys *valueSet
	// outputs fingerprints, per masked column, the values the masks
	// wrote: a fake that happens to equal another original is not data
	// left behind.
	outputs map[string]*fingerprints
	// blocked says why the step was not run (it waits for another
	// datastore), or is empty.
	blocked string
	// skipped is set when the connector did not apply the step (its gate
	// stayed closed).
	skipped bool
}

// maxOriginals bounds the fingerprints of original values verification
// keeps (16 bytes each); past it, verification of anonymised collections
// checks the identities only and says so.
const maxOriginals = 4_000_000

// Erase erases the subject everywhere the data map says, then verifies,
// then shreds the subject's keys, and returns the certificate.
//
// Each datastore's steps run in one transaction through its connector,
// in dependency order; datastores run concurrently. A datastore that
// fails leaves its steps failed and the others complete (status
// partially_completed); keys are shredded only when every step is done
// and verification passed, so a retry can still finish the job. Erase is
// idempotent: running it again erases nothing more and verifies again.
func (e *Engine) Erase(ctx context.Context, p EraseParams) (*Certificate, error) {
	return e.erase(ctx, p, "")
}

// erase runs an erasure over every datastore, or, when only is set, over
// that datastore alone, as a rerun does after a restore: then the keys
// were shredded and the tombstones and the audit entry written by the
// original erasure, and none of that happens again.
func (e *Engine) erase(ctx context.Context, p EraseParams, only string) (*Certificate, error) {
	if err := checkIdentities(p.Identities); err != nil {
		return nil, err
	}
	now := e.clock.Now().UTC()
	cert := &Certificate{RequestID: p.RequestID, IssuedAt: now, DryRun: p.DryRun}
	stores := e.model.datastores
	if only != "" {
		stores = []string{only}
	}
	keys, err := e.resolveIn(ctx, p.RequestID, p.Identities, only)
	if err != nil {
		return nil, err
	}
	all := withFound(p.Identities, keys.found)
	if p.Resolved != nil && !p.DryRun {
		if err := p.Resolved(ctx, all); err != nil {
			return nil, err
		}
	}
	if len(all) > len(p.Identities) {
		// This run found identities the earlier ones did not (a datastore
		// that was down answered): rows reachable through them may sit in
		// collections an earlier run finished, so none is skipped.
		p.Done = nil
	}
	failed := map[string]error{}
	for ds, err := range keys.failed {
		failed[ds] = err
	}
	plans := map[string][]*planStep{}
	for _, ds := range stores {
		order, err := e.model.eraseOrder(ds)
		if err != nil {
			return nil, err
		}
		for _, n := range order {
			ps, err := e.planCollection(n, keys.matchesOf(n), now)
			if err != nil {
				return nil, err
			}
			if ps != nil {
				if slices.Contains(p.Done, ps.result.Datastore+"."+ps.result.Collection) {
					ps.earlier, ps.result.EarlierRun = true, true
				}
				plans[ds] = append(plans[ds], ps)
			}
		}
	}

	// Pre-pass: count, find held rows, and fingerprint the original
	// values of anonymised fields so verification can look for them.
	originals := newFingerprints()
	for _, id := range p.Identities {
		originals.add(id.Value)
		originals.add(strings.TrimSpace(id.Value))
		if n, err := id.Normalise(); err == nil {
			originals.add(n.Value)
		}
	}
	checks := &verification{skipped: map[string]bool{}}
	for ds, err := range e.run(ctx, p, plans, failed, originals, checks) {
		failed[ds] = err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}

	for _, ds := range stores {
		for _, ps := range plans[ds] {
			r := ps.result
			switch {
			case failed[ds] != nil:
				r.Status = StepFailed
				r.Error = lethe.ErrorMessage(failed[ds])
			case ps.blocked != "":
				r.Status = StepFailed
				r.Error = ps.blocked
			case p.DryRun:
				r.Status = StepPlanned
			case r.Held > 0 && r.Held == r.Matched:
				r.Status = StepHeld
			default:
				r.Status = StepDone
			}
			cert.Steps = append(cert.Steps, r)
		}
	}
	for _, ds := range stores {
		if err := failed[ds]; err != nil {
			cert.Failed = append(cert.Failed, failure(ds, err))
		}
	}
	blocked := slices.ContainsFunc(cert.Steps, func(s StepResult) bool { return s.Status == StepFailed })
	switch {
	case len(cert.Failed) == 0 && !blocked:
		cert.Status = StatusCompleted
	case len(cert.Failed) == len(stores):
		cert.Status = StatusFailed
	default:
		cert.Status = StatusPartiallyCompleted
	}
	if p.DryRun {
		return cert, nil
	}

	v := checks.result(failed)
	if originals.full {
		v.Note = fmt.Sprintf("the subject has more than %d distinct personal values; values past that were not fingerprinted, so anonymised fields were checked against the first ones only", maxOriginals)
	}
	cert.Verification = v
	if total := matchedRows(cert.Steps); total == 0 {
		cert.Warnings = append(cert.Warnings, "no row in any datastore matched the identities given; check them (values are matched exactly, e-mails also lower-cased) before telling the person their data is erased")
	}
	if !v.Passed && cert.Status == StatusCompleted {
		cert.Status = StatusPartiallyCompleted
	}
	if only != "" {
		return cert, nil
	}
	if e.opts.Audit != nil {
		var rows, held int64
		for _, s := range cert.Steps {
			rows += s.Rows
			held += s.Held
		}
		entries, err := e.opts.Audit.Append(context.WithoutCancel(ctx), lethe.AuditRecord{
			Actor: e.opts.Actor, Action: "request.erased", SubjectRef: e.subjectRef(p.Identities), Object: p.RequestID,
			Details: map[string]string{
				"status": cert.Status, "rows": fmt.Sprint(rows), "held": fmt.Sprint(held),
				"verified": fmt.Sprint(v.Passed), "failed_datastores": fmt.Sprint(len(cert.Failed)),
			},
		})
		if err != nil {
			return nil, fmt.Errorf("audit erasure: %w", err)
		}
		cp, err := e.opts.Audit.Checkpoint(context.WithoutCancel(ctx))
		if err != nil {
			return nil, fmt.Errorf("audit checkpoint: %w", err)
		}
		cert.Audit = &AuditProof{EntrySeq: entries[0].Seq, TreeSize: cp.Size, Root: hex.EncodeToString(cp.Root[:]), Checkpoint: string(cp.Note)}
	}
	if cert.Status != StatusFailed && e.opts.Tombstones != nil {
		// Before the keys go: a rerun after a restore must know the
		// subject even if shredding fails half-way.
		if err := e.tombstone(ctx, p.RequestID, withFound(p.Identities, keys.found), now); err != nil {
			return nil, err
		}
	}
	if cert.Status == StatusCompleted && p.BeforeShred != nil {
		if err := p.BeforeShred(context.WithoutCancel(ctx), cert); err != nil {
			return nil, err
		}
	}
	if cert.Status == StatusCompleted && e.opts.Shred != nil {
		// The accounts found on the way are the subject too: their keys
		// (the consent ledger's, by user_id) go as well.
		n, err := e.opts.Shred(context.WithoutCancel(ctx), withFound(p.Identities, keys.found))
		if err != nil {
			return nil, fmt.Errorf("shred subject keys: %w", err)
		}
		cert.KeysShredded = n
	}
	return cert, nil
}

func matchedRows(steps []StepResult) int64 {
	var n int64
	for _, s := range steps {
		n += s.Matched
	}
	return n
}

// planCollection decides what erasure does to one collection, or nil
// when the subject has no rows there to reach.
func (e *Engine) planCollection(n *node, matches []lethe.Match, now time.Time) (*planStep, error) {
	if len(matches) == 0 {
		return nil, nil
	}
	c := n.c
	ps := &planStep{n: n, matches: matches}
	action := c.EraseActionOrDefault()
	ps.result.Datastore, ps.result.Collection = c.Datastore, c.Name
	if h := c.Hold; h != nil {
		then := h.Then
		if then == "" {
			then = lethe.EraseDelete
		}
		ps.result.Hold = &HoldInfo{Basis: h.Basis, Reason: h.Reason, KeepFor: h.KeepFor.String(), Then: then}
		action = then
		if h.Since == "" {
			ps.result.Action = action
			ps.result.Hold.Until = h.KeepFor.AddTo(now)
			return ps, nil // every row is kept: no step
		}
		ps.cutoff = &lethe.Cutoff{Column: h.Since, Time: h.KeepFor.SubFrom(now)}
	}
	ps.result.Datastore, ps.result.Collection, ps.result.Action = c.Datastore, c.Name, action
	step := &lethe.EraseStep{Collection: c, Matches: matches, Action: action, Before: ps.cutoff}
	if action == lethe.EraseAnonymise {
		if e.opts.Masks == nil {
			return nil, lethe.Errorf(lethe.EINVALID, "%s is anonymised but the engine has no masks", n.path)
		}
		ps.masks = map[string]lethe.Mask{}
		for _, f := range c.FieldNames() {
			m, err := e.opts.Masks(c.Fields[f].EraseStrategy())
			if err != nil {
				return nil, fmt.Errorf("%s.%s: %w", n.path, f, err)
			}
			ps.masks[f] = m
		}
		step.Masks = ps.masks
	}
	ps.step = step
	return ps, nil
}

// needsCount reports whether the step must read its rows before erasing:
// to fingerprint the values anonymisation replaces, or to tell held rows
// from the others. A plain delete learns its count from the delete.
func (ps *planStep) needsCount() bool {
	return ps.step == nil || len(ps.masks) > 0 || ps.cutoff != nil
}

// count reads the plan's rows once: how many match, how many a hold
// keeps, and the fingerprints of the values anonymisation replaces.
func (e *Engine) count(ctx context.Context, conn lethe.Connector, requestID string, ps *planStep, originals *fingerprints) error {
	c := ps.n.c
	ps.result.Datastore, ps.result.Collection = c.Datastore, c.Name
	cols := []string{c.PrimaryKeyColumn()}
	if c.Key != "" { // key-value collections have no primary key column
		cols = nil
	}
	for f := range ps.masks {
		cols = append(cols, f)
	}
	if h := c.Hold; h != nil && h.Since != "" {
		cols = append(cols, h.Since)
	}
	if len(cols) > 0 {
		slices.Sort(cols)
		cols = slices.Compact(cols)
	}
	allHeld := c.Hold != nil && c.Hold.Since == ""
	var newest time.Time
	pk := c.PrimaryKeyColumn()
	if len(ps.masks) > 0 {
		ps.outputs = map[string]*fingerprints{}
		for f := range ps.masks {
			ps.outputs[f] = newFingerprints()
		}
		if c.Key == "" {
			ps.keys = newValueSet()
		}
	}
	return conn.Find(ctx, lethe.FindParams{Collection: c, Matches: ps.matches, Columns: cols, RequestID: requestID}, func(row lethe.Row) error {
		ps.result.Matched++
		held := allHeld
		if ps.cutoff != nil {
			v, _ := row.Get(ps.cutoff.Column)
			if t, ok := asTime(v); !ok || !t.Before(ps.cutoff.Time) {
				held = true
				if ok && t.After(newest) {
					newest = t
					ps.result.Hold.Until = c.Hold.KeepFor.AddTo(t)
				}
			}
		}
		if held {
			ps.result.Held++
			return nil
		}
		if ps.keys != nil {
			if v, ok := row.Get(pk); ok && len(ps.keys.order) < maxOriginals {
				ps.keys.add(v)
			}
		}
		for f, m := range ps.masks {
			v, _ := row.Get(f)
			out, err := m.Apply(v)
			if err != nil {
				return fmt.Errorf("%s.%s: %w", ps.n.path, f, err)
			}
			ps.outputs[f].add(out)
			if !reflect.DeepEqual(out, v) { // a value the mask keeps is not the subject's secret
				originals.add(v)
			}
		}
		return nil
	})
}

// asTime reads a hold's since column the way the SQLite connector
// compares it: times, Unix seconds (integer or real), and text in ISO 8601
// layouts with or without seconds or a zone, else its first 19 characters
// (Go's time.String). A value that is none of these is not known to be
// old, and the row is kept.
func asTime(v any) (time.Time, bool) {
	switch x := v.(type) {
	case time.Time:
		return x, true
	case string:
		for _, layout := range timeLayouts {
			if t, err := time.Parse(layout, x); err == nil {
				return t, true
			}
		}
		if len(x) > 19 {
			if t, err := time.Parse("2006-01-02 15:04:05", x[:19]); err == nil {
				return t, true
			}
		}
	case []byte:
		return asTime(string(x))
	case int64:
		return time.Unix(x, 0), true
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return time.Time{}, false
		}
		sec, frac := math.Modf(x)
		return time.Unix(int64(sec), int64(frac*1e9)), true
	}
	return time.Time{}, false
}

var timeLayouts = []string{
	time.RFC3339Nano, "2006-01-02 15:04:05.999999999Z07:00", "2006-01-02 15:04:05.999999999-07", "2006-01-02 15:04:05.999999999",
	"2006-01-02T15:04:05.999999999", "2006-01-02 15:04", "2006-01-02T15:04", "2006-01-02",
}

// run counts, erases and verifies, per datastore concurrently, and
// returns the datastores that failed. Each datastore goes on as soon as
// it can: it counts, then erases in one transaction. The collections that
// other datastores' rows are found through (users, whose ids lead to
// analytics events elsewhere) come last in that transaction, behind a
// gate: they are erased only once every datastore has applied its other
// steps without failing, since a retry after a failure must still find
// those rows through them; otherwise they are kept and the transaction
// commits the rest. Verification follows once every datastore has
// counted (the originals it looks for come from all of them).
func (e *Engine) run(ctx context.Context, p EraseParams, plans map[string][]*planStep, failed map[string]error, originals *fingerprints, checks *verification) map[string]error {
	var datastores []string
	for ds, steps := range plans {
		if failed[ds] == nil && len(steps) > 0 {
			datastores = append(datastores, ds)
		}
	}
	slices.Sort(datastores)
	var (
		mu           sync.Mutex
		errs         = map[string]error{}
		counted      sync.WaitGroup
		firstDone    sync.WaitGroup
		all          sync.WaitGroup
		firstFailed  = len(failed) > 0
		failedStores = slices.Sorted(maps.Keys(failed))
	)
	fail := func(ds string, err error) {
		mu.Lock()
		defer mu.Unlock()
		errs[ds] = err
		firstFailed = true
		failedStores = append(failedStores, ds)
	}
	counted.Add(len(datastores))
	firstDone.Add(len(datastores))
	all.Add(len(datastores))
	for _, ds := range datastores {
		steps := plans[ds]
		go func() {
			defer all.Done()
			countedOnce, firstOnce := sync.OnceFunc(counted.Done), sync.OnceFunc(firstDone.Done)
			defer countedOnce()
			defer firstOnce()
			// What is left of a step an earlier run applied is already
			// masked: it must not be taken for original values that
			// verification looks for.
			masked := newFingerprints()
			conn, err := e.connectors.Connector(ctx, ds)
			if err == nil {
				err = eachConcurrently(steps, func(ps *planStep) error {
					if ps.earlier {
						return e.count(ctx, conn, p.RequestID, ps, masked)
					}
					if !p.DryRun && !ps.needsCount() {
						return nil // a plain delete counts what it deletes
					}
					return e.count(ctx, conn, p.RequestID, ps, originals)
				})
			}
			countedOnce()
			if err != nil {
				fail(ds, err)
				return
			}
			if p.DryRun {
				return
			}
			var waiting string
			gate := func(context.Context) error {
				firstOnce() // this datastore's other steps are applied
				firstDone.Wait()
				mu.Lock()
				defer mu.Unlock()
				if firstFailed {
					waiting = strings.Join(slices.Compact(slices.Sorted(slices.Values(failedStores))), ", ")
					return errGateClosed
				}
				return nil
			}
			if err := e.apply(ctx, conn, steps, gate); err != nil {
				fail(ds, err)
				return
			}
			for _, ps := range steps {
				if ps.skipped {
					ps.blocked = "kept until " + waiting + " can be erased, so that a retry still finds the rows there through these"
				}
			}
			firstOnce()
			counted.Wait()
			e.verifyDatastore(ctx, conn, p.RequestID, steps, originals, checks)
		}()
	}
	all.Wait()
	return errs
}

var errGateClosed = lethe.Errorf(lethe.ECONFLICT, "another datastore failed")

// apply erases one datastore's steps in one transaction, the collections
// that feed other datastores last, behind the gate.
func (e *Engine) apply(ctx context.Context, conn lethe.Connector, steps []*planStep, gate func(context.Context) error) error {
	var first, second []int
	for i, ps := range steps {
		if ps.step == nil || ps.earlier || ps.needsCount() && ps.result.Matched-ps.result.Held == 0 {
			continue // held, applied by an earlier run, or counted and nothing to erase
		}
		if ps.n.second {
			second = append(second, i)
		} else {
			first = append(first, i)
		}
	}
	idx := append(first, second...)
	if len(idx) == 0 {
		return nil
	}
	todo := make([]lethe.EraseStep, len(idx))
	for j, i := range idx {
		todo[j] = *steps[i].step
	}
	if len(second) > 0 {
		todo[len(first)].Await = gate
	}
	results, err := conn.Erase(ctx, todo)
	if err != nil {
		return err
	}
	for j, r := range results {
		ps := steps[idx[j]]
		if r.Skipped {
			ps.skipped = true
			continue
		}
		ps.result.Rows = r.Rows
		if !ps.needsCount() {
			ps.result.Matched = r.Rows
		}
	}
	return nil
}

// verification gathers what verifyDatastore found, across datastores.
type verification struct {
	mu       sync.Mutex
	checked  int64
	residual []Residual
	skipped  map[string]bool
}

// verifyDatastore reads the subject's rows of one datastore again, with
// the keys resolved before erasure, and checks that nothing of the
// subject is left outside holds. A datastore that cannot be read again is
// recorded as not verified.
func (e *Engine) verifyDatastore(ctx context.Context, conn lethe.Connector, requestID string, steps []*planStep, originals *fingerprints, v *verification) {
	err := eachConcurrently(steps, func(ps *planStep) error {
		res, checked, err := e.verifyCollection(ctx, conn, requestID, ps, originals)
		if err != nil {
			return err
		}
		v.mu.Lock()
		defer v.mu.Unlock()
		v.checked += checked
		if res != nil {
			v.residual = append(v.residual, *res)
		}
		return nil
	})
	if err != nil && len(steps) > 0 {
		v.mu.Lock()
		v.skipped[steps[0].n.c.Datastore] = true
		v.mu.Unlock()
	}
}

// result is the verification outcome; datastores whose erasure failed
// were not verified.
func (v *verification) result(failed map[string]error) *Verification {
	out := &Verification{Checked: v.checked, Residual: v.residual}
	for ds := range failed {
		v.skipped[ds] = true
	}
	for ds := range v.skipped {
		out.Skipped = append(out.Skipped, ds)
	}
	slices.Sort(out.Skipped)
	slices.SortFunc(out.Residual, func(a, b Residual) int { return cmpString(a.Datastore+"."+a.Collection, b.Datastore+"."+b.Collection) })
	out.Passed = len(out.Residual) == 0 && len(out.Skipped) == 0
	return out
}

func (e *Engine) verifyCollection(ctx context.Context, conn lethe.Connector, requestID string, ps *planStep, originals *fingerprints) (*Residual, int64, error) {
	c := ps.n.c
	allHeld := c.Hold != nil && c.Hold.Since == ""
	if allHeld || ps.blocked != "" {
		return nil, 0, nil
	}
	matches := ps.matches
	if ps.keys != nil && len(ps.keys.order) > 0 {
		// The rows anonymised, by key: masking the column a request matched
		// by must not hide a row from verification.
		matches = append(slices.Clone(matches), lethe.Match{Column: c.PrimaryKeyColumn(), Values: ps.keys.values()})
	}
	// Identity columns hold the subject's values too, declared as fields
	// or not.
	checked := map[string]bool{}
	for f := range c.Fields {
		checked[f] = true
	}
	for _, col := range c.Identities {
		checked[col] = true
	}
	res := Residual{Datastore: c.Datastore, Collection: c.Name}
	bad := map[string]bool{}
	var rows int64
	err := conn.Find(ctx, lethe.FindParams{Collection: c, Matches: matches, RequestID: requestID}, func(row lethe.Row) error {
		rows++
		if ps.cutoff != nil {
			v, _ := row.Get(ps.cutoff.Column)
			if t, ok := asTime(v); !ok || !t.Before(ps.cutoff.Time) {
				return nil // held
			}
		}
		if ps.result.Action == lethe.EraseDelete {
			res.Rows++
			return nil
		}
		found := false
		for i, col := range row.Columns {
			if !checked[col] {
				continue
			}
			v := row.Values[i]
			if !originals.has(v) {
				continue
			}
			if out := ps.outputs[col]; out != nil && out.has(v) {
				continue // what the mask wrote, equal to another original by chance
			}
			bad[col] = true
			found = true
		}
		if found {
			res.Rows++
		}
		return nil
	})
	if err != nil {
		return nil, rows, err
	}
	if res.Rows == 0 {
		return nil, rows, nil
	}
	for f := range bad {
		res.Fields = append(res.Fields, f)
	}
	slices.Sort(res.Fields)
	return &res, rows, nil
}

// fingerprints is a set of truncated SHA-256 digests of values: enough to
// recognise a value again without keeping it.
type fingerprints struct {
	mu   sync.Mutex
	set  map[[16]byte]struct{}
	full bool
}

func newFingerprints() *fingerprints { return &fingerprints{set: map[[16]byte]struct{}{}} }

func fingerprint(v any) ([16]byte, bool) {
	k, ok := canonical(v)
	if !ok || len(k) <= 1 { // nil and the empty string identify nobody
		return [16]byte{}, false
	}
	sum := sha256.Sum256([]byte(k))
	return [16]byte(sum[:16]), true
}

func (f *fingerprints) add(v any) {
	fp, ok := fingerprint(v)
	if !ok {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.set) >= maxOriginals {
		f.full = true
		return
	}
	f.set[fp] = struct{}{}
}

func (f *fingerprints) has(v any) bool {
	fp, ok := fingerprint(v)
	if !ok {
		return false
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	_, hit := f.set[fp]
	return hit
}
