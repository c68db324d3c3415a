package connector

import (
	"context"
	"fmt"

	"github.com/lethe-privacy/lethe"
)

// SubjectQuery is what a Funcs connector is asked about: the request, the
// collection, and the values the subject is known by in it, keyed by
// identity type (or by column, for values reached through a reference).
type SubjectQuery struct {
	RequestID  string
	Collection string
	Identities map[string][]any
	// Anonymise is set on erasure when the data map asks to anonymise
	// rather than delete; Masks then say how, per field.
	Anonymise bool
	Masks     map[string]lethe.Mask
}

// Funcs is a connector made of two functions, the way applications often
// already expose a user's data: ExportUserData streams the subject's records,
// EraseUser removes them and says how many. It implements lethe.Connector.
type Funcs struct {
	// ExportUserData calls emit for every record of the subject. Required.
	ExportUserData func(ctx context.Context, q SubjectQuery, emit func(map[string]any) error) error
	// EraseUser deletes (or anonymises) the subject's records and returns how
	// many it changed. It must be idempotent. Required.
	EraseUser func(ctx context.Context, q SubjectQuery) (int64, error)
}

var _ lethe.Connector = Funcs{}

func query(requestID string, c *lethe.Collection, matches []lethe.Match) SubjectQuery {
	q := SubjectQuery{RequestID: requestID, Collection: c.Name, Identities: map[string][]any{}}
	for _, m := range matches {
		key := string(m.Identity)
		if key == "" {
			key = m.Column
		}
		q.Identities[key] = append(q.Identities[key], m.Values...)
	}
	return q
}

// Describe reports every collection as present: the functions are the
// schema.
func (f Funcs) Describe(_ context.Context, collections []*lethe.Collection) ([]lethe.TableSchema, error) {
	out := make([]lethe.TableSchema, len(collections))
	for i, c := range collections {
		out[i] = lethe.TableSchema{Collection: c, Exists: true}
	}
	return out, nil
}

// Find calls ExportUserData and hands each record on as a row, its keys sorted.
// Columns, when given, limit the row to those keys.
func (f Funcs) Find(ctx context.Context, p lethe.FindParams, fn func(lethe.Row) error) error {
	if f.ExportUserData == nil {
		return lethe.Errorf(lethe.EINVALID, "collection %s: the connector has no ExportUserData function", p.Collection.Name)
	}
	return f.ExportUserData(ctx, query(p.RequestID, p.Collection, p.Matches), func(rec map[string]any) error {
		return fn(recordRow(rec, p.Columns))
	})
}

// Erase calls EraseUser once per step.
func (f Funcs) Erase(ctx context.Context, steps []lethe.EraseStep) ([]lethe.EraseStepResult, error) {
	if f.EraseUser == nil {
		return nil, lethe.Errorf(lethe.EINVALID, "the connector has no EraseUser function")
	}
	for _, s := range steps { // refuse before erasing anything
		if s.Before != nil {
			return nil, lethe.Errorf(lethe.EINVALID, "collection %s: a hold with since: needs a database connector; a custom connector keeps or erases whole records", s.Collection.Name)
		}
	}
	out := make([]lethe.EraseStepResult, len(steps))
	for i, s := range steps {
		if s.Await != nil && s.Await(ctx) != nil {
			for j := i; j < len(steps); j++ {
				out[j].Skipped = true
			}
			break
		}
		q := query(s.RequestID, s.Collection, s.Matches)
		q.Anonymise = s.Action == lethe.EraseAnonymise
		q.Masks = s.Masks
		n, err := f.EraseUser(ctx, q)
		if err != nil {
			return nil, fmt.Errorf("erase %s: %w", s.Collection.Name, err)
		}
		out[i].Rows = n
	}
	return out, nil
}

// Close does nothing: the application owns what the functions use.
func (Funcs) Close() error { return nil }
