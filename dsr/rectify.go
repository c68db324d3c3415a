package dsr

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/lethe-privacy/lethe"
)

// RectifyParams is a rectification request (Art. 16): corrected values
// for the subject's personal data, applied wherever the data map holds it.
type RectifyParams struct {
	RequestID  string
	Identities []lethe.Identity
	// Values maps what to correct to its new value. A key is a field,
	// written datastore.collection.column, or a data category such as
	// contact.address, which means every declared field of that category.
	Values map[string]string
}

// RectifyResult reports what a rectification changed.
type RectifyResult struct {
	RequestID string       `json:"request_id"`
	Status    string       `json:"status"`
	Steps     []StepResult `json:"steps"`
	Failed    []Failure    `json:"failed,omitempty"`
	// Verification re-reads the rows: every rectified field must hold its
	// new value.
	Verification *Verification `json:"verification,omitempty"`
}

// constant is the mask a rectification writes: the corrected value.
type constant struct{ v string }

func (c constant) Apply(v any) (any, error) {
	if v == nil {
		return nil, nil
	}
	return c.v, nil
}
func (c constant) Constant() (any, bool) { return c.v, true }

// Rectify writes the corrected values into every matching row of the
// subject, one transaction per datastore, datastores concurrently, and
// reads the rows again to check them. A field that is NULL stays NULL:
// rectification corrects what is held; completing missing data is a
// change the application makes. Key-value collections (redis) are not
// rectified: their steps fail with the reason. EINVALID, naming the key,
// for a field or category the data map does not declare.
func (e *Engine) Rectify(ctx context.Context, p RectifyParams) (*RectifyResult, error) {
	if err := checkIdentities(p.Identities); err != nil {
		return nil, err
	}
	targets, err := e.rectifyTargets(p.Values)
	if err != nil {
		return nil, err
	}
	keys, err := e.resolve(ctx, p.RequestID, p.Identities)
	if err != nil {
		return nil, err
	}
	res := &RectifyResult{RequestID: p.RequestID, Verification: &Verification{Passed: true}}
	byStore := map[string][]*planStep{}
	var unsupported []StepResult
	for _, n := range e.model.nodes {
		cols := targets[n]
		matches := keys.matchesOf(n)
		if len(cols) == 0 || len(matches) == 0 {
			continue
		}
		r := StepResult{Datastore: n.c.Datastore, Collection: n.c.Name, Action: "rectify"}
		if n.c.Key != "" {
			r.Status, r.Error = StepFailed, "redis keys hold whole values: rectify them in the application"
			unsupported = append(unsupported, r)
			continue
		}
		masks := map[string]lethe.Mask{}
		for col, v := range cols {
			masks[col] = constant{v}
		}
		ps := &planStep{n: n, matches: matches, result: r, masks: masks,
			step: &lethe.EraseStep{Collection: n.c, Matches: matches, Action: lethe.EraseAnonymise, Masks: masks, RequestID: p.RequestID}}
		byStore[n.c.Datastore] = append(byStore[n.c.Datastore], ps)
	}
	failed := map[string]error{}
	for ds, err := range keys.failed {
		failed[ds] = err
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for ds, steps := range byStore {
		if failed[ds] != nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := e.rectifyDatastore(ctx, ds, steps, targets, res.Verification, &mu)
			if err != nil {
				mu.Lock()
				failed[ds] = err
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	for _, ds := range e.model.datastores {
		for _, ps := range byStore[ds] {
			r := ps.result
			if err := failed[ds]; err != nil {
				r.Status, r.Error = StepFailed, lethe.ErrorMessage(err)
			} else {
				r.Status = StepDone
			}
			res.Steps = append(res.Steps, r)
		}
		if err := failed[ds]; err != nil {
			res.Failed = append(res.Failed, failure(ds, err))
			res.Verification.Skipped = append(res.Verification.Skipped, ds)
		}
	}
	res.Steps = append(res.Steps, unsupported...)
	v := res.Verification
	slices.SortFunc(v.Residual, func(a, b Residual) int { return cmpString(a.Datastore+"."+a.Collection, b.Datastore+"."+b.Collection) })
	v.Passed = len(v.Residual) == 0 && len(v.Skipped) == 0
	switch {
	case len(res.Failed) == 0 && len(unsupported) == 0 && v.Passed:
		res.Status = StatusCompleted
	case len(res.Steps) == len(unsupported)+countFailed(res.Steps):
		res.Status = StatusFailed
	default:
		res.Status = StatusPartiallyCompleted
	}
	if e.opts.Audit != nil {
		var rows int64
		for _, s := range res.Steps {
			rows += s.Rows
		}
		fields := make([]string, 0, len(p.Values))
		for k := range p.Values {
			fields = append(fields, k)
		}
		sort.Strings(fields)
		if _, err := e.opts.Audit.Append(context.WithoutCancel(ctx), lethe.AuditRecord{
			Actor: e.opts.Actor, Action: "request.rectified", SubjectRef: e.subjectRef(p.Identities), Object: p.RequestID,
			Details: map[string]string{"status": res.Status, "rows": fmt.Sprint(rows), "fields": strings.Join(fields, ",")},
		}); err != nil {
			return nil, fmt.Errorf("audit rectification: %w", err)
		}
	}
	return res, nil
}

func countFailed(steps []StepResult) int {
	n := 0
	for _, s := range steps {
		if s.Status == StepFailed {
			n++
		}
	}
	return n
}

// rectifyDatastore applies one datastore's corrections in one transaction
// and reads the rows again.
func (e *Engine) rectifyDatastore(ctx context.Context, ds string, steps []*planStep, targets map[*node]map[string]string, v *Verification, mu *sync.Mutex) error {
	conn, err := e.connectors.Connector(ctx, ds)
	if err != nil {
		return err
	}
	// The rows' keys, read first: a corrected column may be the one the
	// request matched by (a new e-mail), and the check must find the rows
	// again.
	for _, ps := range steps {
		pk := ps.n.c.PrimaryKeyColumn()
		ps.keys = newValueSet()
		if err := conn.Find(ctx, lethe.FindParams{Collection: ps.n.c, Matches: ps.matches, Columns: []string{pk}, RequestID: ps.step.RequestID}, func(row lethe.Row) error {
			v, _ := row.Get(pk)
			ps.keys.add(v)
			return nil
		}); err != nil {
			return err
		}
	}
	todo := make([]lethe.EraseStep, len(steps))
	for i, ps := range steps {
		todo[i] = *ps.step
	}
	results, err := conn.Erase(ctx, todo)
	if err != nil {
		return err
	}
	for i, r := range results {
		steps[i].result.Rows = r.Rows
	}
	for _, ps := range steps {
		want := targets[ps.n]
		res := Residual{Datastore: ds, Collection: ps.n.c.Name}
		bad := map[string]bool{}
		if len(ps.keys.values()) == 0 {
			continue
		}
		byKey := []lethe.Match{{Column: ps.n.c.PrimaryKeyColumn(), Values: ps.keys.values()}}
		err := conn.Find(ctx, lethe.FindParams{Collection: ps.n.c, Matches: byKey}, func(row lethe.Row) error {
			mu.Lock()
			v.Checked++
			mu.Unlock()
			ps.result.Matched++
			wrong := false
			for col, val := range want {
				got, _ := row.Get(col)
				if got != nil && csvValue(got) != val {
					bad[col], wrong = true, true
				}
			}
			if wrong {
				res.Rows++
			}
			return nil
		})
		if err != nil {
			return err
		}
		if res.Rows > 0 {
			for col := range bad {
				res.Fields = append(res.Fields, col)
			}
			slices.Sort(res.Fields)
			mu.Lock()
			v.Residual = append(v.Residual, res)
			mu.Unlock()
		}
	}
	return nil
}

// rectifyTargets resolves the request's keys to columns per collection.
func (e *Engine) rectifyTargets(values map[string]string) (map[*node]map[string]string, error) {
	if len(values) == 0 {
		return nil, &lethe.Error{Code: lethe.EINVALID, Message: "a rectification needs at least one corrected value",
			Fields: []lethe.FieldError{{Path: "values", Message: "give the corrected values, e.g. {\"contact.address\": \"1 New Street\"}"}}}
	}
	out := map[*node]map[string]string{}
	set := func(n *node, col, v string) {
		if out[n] == nil {
			out[n] = map[string]string{}
		}
		out[n][col] = v
	}
	keys := make([]string, 0, len(values))
	for k := range values {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var problems []lethe.FieldError
	for _, k := range keys {
		found := false
		if parts := strings.Split(k, "."); len(parts) == 3 {
			if n := e.model.byKey[parts[0]+"."+parts[1]]; n != nil && n.c.Fields[parts[2]] != nil {
				set(n, parts[2], values[k])
				found = true
			}
		}
		if !found {
			for _, n := range e.model.nodes {
				for col, f := range n.c.Fields {
					if f.Category == k {
						set(n, col, values[k])
						found = true
					}
				}
			}
		}
		if !found {
			problems = append(problems, lethe.FieldError{Path: "values." + k, Message: "is neither a declared field (datastore.collection.column) nor a data category of the data map"})
		}
	}
	if len(problems) > 0 {
		return nil, &lethe.Error{Code: lethe.EINVALID, Message: "the rectification names data the data map does not declare", Fields: problems}
	}
	return out, nil
}
