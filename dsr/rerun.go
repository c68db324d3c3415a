package dsr

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/lethe-privacy/lethe"
)

// tombstone records the erasure of every identity (and, for types that
// keep case, of its lower-case spelling too, which a case-insensitive
// column may hold), with one audit entry.
func (e *Engine) tombstone(ctx context.Context, requestID string, ids []lethe.Identity, at time.Time) error {
	var ts []lethe.Tombstone
	seen := map[lethe.SubjectRef]bool{}
	add := func(id lethe.Identity) {
		ref, err := e.opts.SubjectRef(id)
		if err != nil || seen[ref] {
			return
		}
		seen[ref] = true
		ts = append(ts, lethe.Tombstone{SubjectRef: ref, IdentityType: id.Type, RequestID: requestID, ErasedAt: at})
	}
	for _, id := range ids {
		add(id)
		add(lethe.Identity{Type: id.Type, Value: strings.ToLower(id.Value)})
	}
	if len(ts) == 0 {
		return nil
	}
	_, err := e.opts.Tombstones.TombstoneAdd(context.WithoutCancel(ctx), ts, lethe.AuditRecord{
		Actor: e.opts.Actor, Action: "request.tombstoned", SubjectRef: e.subjectRef(ids), Object: requestID,
		Details: map[string]string{"tombstones": fmt.Sprint(len(ts))},
	})
	if err != nil {
		return fmt.Errorf("write tombstones: %w", err)
	}
	return nil
}

// RerunParams selects what Rerun re-applies.
type RerunParams struct {
	// Datastore is the datastore restored from a backup. Required.
	Datastore string
	// Since limits the rerun to erasures at or after it: the time the
	// backup was taken. Zero means every erasure ever tombstoned.
	Since time.Time
	// DryRun finds and counts without changing anything.
	DryRun bool
}

// RerunReport is what a rerun found and did. It holds no personal data.
type RerunReport struct {
	Datastore string    `json:"datastore"`
	Since     time.Time `json:"since,omitzero"`
	DryRun    bool      `json:"dry_run,omitempty"`
	// Tombstones is how many tombstones were matched against.
	Tombstones int `json:"tombstones"`
	// Scanned is how many identity values were read (a value may count
	// more than once).
	Scanned int64 `json:"scanned"`
	// Subjects is how many erased subjects (erasure requests) the
	// datastore held again, and Identities how many of their identity
	// values it holds.
	Subjects   int `json:"subjects"`
	Identities int `json:"identities"`
	// Status is completed, partially_completed (verification found data,
	// or part of the work failed) or failed.
	Status       string        `json:"status"`
	Steps        []StepResult  `json:"steps"`
	Failed       []Failure     `json:"failed,omitempty"`
	Verification *Verification `json:"verification,omitempty"`
}

// rerunChunk bounds the identities one erasure pass of a rerun takes.
const rerunChunk = 500

// Rerun re-applies past erasures to a datastore restored from a backup:
// it reads every identity column of the datastore's collections (and the
// references to identity columns elsewhere), computes each value's
// subject reference as the keyring does, matches it against the
// tombstones written since p.Since, and erases the matched subjects'
// rows on that datastore only, with the same strategies, holds, ordering
// and verification as Erase. Keys are not shredded again (the original
// erasure did it). Masks are deterministic, so the restored originals
// are anonymised to the very values the original erasure wrote, and
// joins with the other datastores still hold.
//
// It needs the engine's Tombstones and SubjectRef, and a connector that
// implements lethe.ValueScanner (EINVALID otherwise, or for a datastore
// not in the data map). Running it again on the same data erases nothing
// more, except that keyed masks (hmac, fake.*) rewrite rows that are
// anonymised already and still match by an unmasked identity: run it once
// per restore.
func (e *Engine) Rerun(ctx context.Context, p RerunParams) (*RerunReport, error) {
	if e.opts.Tombstones == nil || e.opts.SubjectRef == nil {
		return nil, lethe.Errorf(lethe.EINVALID, "dsr: Rerun needs Tombstones and SubjectRef")
	}
	if !slices.Contains(e.model.datastores, p.Datastore) {
		return nil, lethe.FieldErrorf("datastore", "no datastore %q in the data map", p.Datastore)
	}
	rep := &RerunReport{Datastore: p.Datastore, Since: p.Since, DryRun: p.DryRun, Status: StatusCompleted}
	tombs := map[lethe.SubjectRef][]string{}
	err := e.opts.Tombstones.TombstoneList(ctx, p.Since, func(t lethe.Tombstone) error {
		rep.Tombstones++
		tombs[t.SubjectRef] = append(tombs[t.SubjectRef], t.RequestID)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list tombstones: %w", err)
	}
	conn, err := e.connectors.Connector(ctx, p.Datastore)
	if err != nil {
		return nil, err
	}
	scanner, ok := conn.(lethe.ValueScanner)
	if !ok {
		return nil, lethe.FieldErrorf("datastore", "the connector of datastore %s cannot list its identity values, so erasures cannot be re-applied to it", p.Datastore)
	}

	var matched []lethe.Identity
	seen := map[lethe.Identity]bool{}
	requests := map[string]bool{}
	if len(tombs) > 0 {
		for _, n := range e.model.nodes {
			if n.c.Datastore != p.Datastore {
				continue
			}
			for _, r := range e.model.identityRefs(n) {
				err := scanner.ScanValues(ctx, lethe.ScanParams{Collection: n.c, Column: r.column}, func(vals []any) error {
					for _, v := range vals {
						rep.Scanned++
						text, ok := identityText(v)
						if !ok {
							continue
						}
						id := lethe.Identity{Type: r.identity, Value: text}
						if seen[id] {
							continue
						}
						reqs := e.tombstoned(tombs, id, r.fold)
						if reqs == nil {
							continue
						}
						seen[id] = true
						matched = append(matched, id)
						for _, q := range reqs {
							requests[q] = true
						}
					}
					return nil
				})
				if err != nil {
					return nil, fmt.Errorf("read %s.%s: %w", n.path, r.column, err)
				}
			}
		}
	}
	rep.Subjects, rep.Identities = len(requests), len(matched)

	steps := map[string]*StepResult{}
	var order []string
	failed := map[string]Failure{}
	v := &Verification{Passed: true}
	for start := 0; start < len(matched); start += rerunChunk {
		chunk := matched[start:min(len(matched), start+rerunChunk)]
		cert, err := e.erase(ctx, EraseParams{RequestID: "rerun:" + p.Datastore, Identities: chunk, DryRun: p.DryRun}, p.Datastore)
		if err != nil {
			return nil, err
		}
		for _, s := range cert.Steps {
			k := s.Datastore + "." + s.Collection
			acc := steps[k]
			if acc == nil {
				acc = &StepResult{Datastore: s.Datastore, Collection: s.Collection, Action: s.Action, Hold: s.Hold, Status: s.Status}
				steps[k] = acc
				order = append(order, k)
			}
			acc.Matched += s.Matched
			acc.Rows += s.Rows
			acc.Held += s.Held
			if s.Status == StepFailed {
				acc.Status, acc.Error = StepFailed, s.Error
			} else if acc.Status == StepHeld && s.Status != StepHeld {
				acc.Status = s.Status
			}
		}
		for _, f := range cert.Failed {
			failed[f.Datastore] = f
		}
		if cv := cert.Verification; cv != nil {
			v.Checked += cv.Checked
			v.Residual = append(v.Residual, cv.Residual...)
			v.Skipped = append(v.Skipped, cv.Skipped...)
			v.Passed = v.Passed && cv.Passed
			if cv.Note != "" {
				v.Note = cv.Note
			}
		}
	}
	slices.Sort(order)
	for _, k := range order {
		rep.Steps = append(rep.Steps, *steps[k])
	}
	for _, f := range failed {
		rep.Failed = append(rep.Failed, f)
	}
	v.Skipped = slices.Compact(slices.Sorted(slices.Values(v.Skipped)))
	switch {
	case len(rep.Failed) > 0:
		rep.Status = StatusFailed
	case slices.ContainsFunc(rep.Steps, func(s StepResult) bool { return s.Status == StepFailed }):
		rep.Status = StatusPartiallyCompleted
	}
	if !p.DryRun {
		rep.Verification = v
		if !v.Passed && rep.Status == StatusCompleted {
			rep.Status = StatusPartiallyCompleted
		}
	}
	if e.opts.Audit != nil {
		var rows, held int64
		for _, s := range rep.Steps {
			rows += s.Rows
			held += s.Held
		}
		since := "all"
		if !p.Since.IsZero() {
			since = p.Since.UTC().Format(time.RFC3339)
		}
		_, err := e.opts.Audit.Append(context.WithoutCancel(ctx), lethe.AuditRecord{
			Actor: e.opts.Actor, Action: "datastore.rerun", Object: p.Datastore,
			Details: map[string]string{
				"since": since, "dry_run": fmt.Sprint(p.DryRun), "status": rep.Status,
				"tombstones": fmt.Sprint(rep.Tombstones), "subjects": fmt.Sprint(rep.Subjects), "identities": fmt.Sprint(rep.Identities),
				"rows": fmt.Sprint(rows), "held": fmt.Sprint(held), "verified": fmt.Sprint(rep.Verification != nil && rep.Verification.Passed),
			},
		})
		if err != nil {
			return nil, fmt.Errorf("audit rerun: %w", err)
		}
	}
	return rep, nil
}

// tombstoned returns the requests that erased the identity, or nil: its
// subject reference as the keyring computes it (normalisation included),
// and on a case-insensitive column that of its lower-case spelling too.
func (e *Engine) tombstoned(tombs map[lethe.SubjectRef][]string, id lethe.Identity, fold bool) []string {
	var out []string
	if ref, err := e.opts.SubjectRef(id); err == nil {
		out = append(out, tombs[ref]...)
	}
	if fold {
		if ref, err := e.opts.SubjectRef(lethe.Identity{Type: id.Type, Value: strings.ToLower(id.Value)}); err == nil {
			out = append(out, tombs[ref]...)
		}
	}
	return out
}
