package dsr

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/lethe-privacy/lethe"
)

// valueSet is a set of column values, deduplicated by their canonical
// text so that the integer 42 found in PostgreSQL and the 42 found in
// MariaDB are one key.
type valueSet struct {
	order []any
	seen  map[string]struct{}
}

func newValueSet() *valueSet { return &valueSet{seen: map[string]struct{}{}} }

// add reports whether v was new. Nil never is: NULL references nothing.
func (s *valueSet) add(v any) bool {
	k, ok := canonical(v)
	if !ok {
		return false
	}
	if _, dup := s.seen[k]; dup {
		return false
	}
	s.seen[k] = struct{}{}
	s.order = append(s.order, v)
	return true
}

func (s *valueSet) values() []any { return s.order }

// canonical is the text a value is deduplicated by.
func canonical(v any) (string, bool) {
	switch x := v.(type) {
	case nil:
		return "", false
	case string:
		return "s" + x, true
	case []byte:
		return "s" + string(x), true
	case int64:
		return "n" + strconv.FormatInt(x, 10), true
	case int:
		return "n" + strconv.Itoa(x), true
	case int32:
		return "n" + strconv.FormatInt(int64(x), 10), true
	case uint64:
		return "n" + strconv.FormatUint(x, 10), true
	case float64:
		if x == math.Trunc(x) && math.Abs(x) < 1<<53 {
			return "n" + strconv.FormatInt(int64(x), 10), true
		}
		return "f" + strconv.FormatFloat(x, 'g', -1, 64), true
	case bool:
		return "b" + strconv.FormatBool(x), true
	case time.Time:
		return "t" + x.UTC().Format(time.RFC3339Nano), true
	default:
		return fmt.Sprintf("x%v", x), true
	}
}

// resolution is the outcome of key resolution: for every collection, the
// matches that select the subject's rows.
type resolution struct {
	matches map[*node][]lethe.Match
	// failed holds the datastores that could not be queried, with the
	// error: their collections (and the collections only they lead to)
	// are incomplete.
	failed map[string]error
	// found holds identities read from identity columns on the way (the
	// user id of the account an e-mail led to), so that the consent
	// ledger's subject, keyed by user_id, is found from any identity.
	found []lethe.Identity
}

// matchesOf returns the collection's matches with empty ones dropped.
func (r *resolution) matchesOf(n *node) []lethe.Match { return r.matches[n] }

// identityValues turns the request's identities into match values per
// type: each value as given and in its normalised form (e-mails are
// stored as people typed them; the database decides how it compares).
func identityValues(ids []lethe.Identity) map[lethe.IdentityType][]any {
	out := map[lethe.IdentityType]*valueSet{}
	for _, id := range ids {
		s := out[id.Type]
		if s == nil {
			s = newValueSet()
			out[id.Type] = s
		}
		s.add(id.Value)
		s.add(strings.TrimSpace(id.Value))
		if n, err := id.Normalise(); err == nil {
			s.add(n.Value)
		}
	}
	res := make(map[lethe.IdentityType][]any, len(out))
	for t, s := range out {
		res[t] = s.values()
	}
	return res
}

// resolve finds, from the identities, the key values of every collection
// that other collections refer to, breadth-first: each round queries, per
// datastore concurrently, every collection whose matches grew, with the
// new values only, and returns the distinct key columns of the rows
// found. Collections nobody refers to are not queried here at all; their
// rows are read once, by the export or the erasure.
func (e *Engine) resolve(ctx context.Context, requestID string, ids []lethe.Identity) (*resolution, error) {
	return e.resolveIn(ctx, requestID, ids, "")
}

// resolveIn resolves within one datastore when only is set: collections
// elsewhere are neither queried nor given matches, and a reference to an
// identity column elsewhere (events.user_id -> shop.users.id) takes the
// identity's values directly, since the parent rows are not read.
func (e *Engine) resolveIn(ctx context.Context, requestID string, ids []lethe.Identity, only string) (*resolution, error) {
	idVals := identityValues(ids)
	res := &resolution{matches: map[*node][]lethe.Match{}, failed: map[string]error{}}
	pending := map[*node][]lethe.Match{}    // new match values to query
	all := map[*node]map[string]*valueSet{} // every match value per column
	identityOf := map[*node]map[string]lethe.IdentityType{}

	var folded []foldedMatch
	foldedOf := map[*node][]lethe.Match{}
	addMatch := func(n *node, col string, id lethe.IdentityType, vals []any) {
		cols := all[n]
		if cols == nil {
			cols = map[string]*valueSet{}
			all[n] = cols
		}
		s := cols[col]
		if s == nil {
			s = newValueSet()
			cols[col] = s
		}
		var fresh []any
		for _, v := range vals {
			if s.add(v) {
				fresh = append(fresh, v)
			}
		}
		if id != "" {
			if identityOf[n] == nil {
				identityOf[n] = map[string]lethe.IdentityType{}
			}
			identityOf[n][col] = id
		}
		if len(fresh) > 0 {
			pending[n] = append(pending[n], lethe.Match{Column: col, Values: fresh, Identity: id})
		}
	}
	for _, n := range e.model.nodes {
		if only != "" && n.c.Datastore != only {
			continue
		}
		for _, r := range e.model.identityRefs(n) {
			if only != "" && r.reference && len(idVals[r.identity]) > 0 {
				addMatch(n, r.column, r.identity, idVals[r.identity])
			}
		}
		types := make([]lethe.IdentityType, 0, len(n.c.Identities))
		for t := range n.c.Identities {
			types = append(types, t)
		}
		slices.Sort(types)
		for _, t := range types {
			vals := idVals[t]
			if len(vals) == 0 {
				continue
			}
			col := n.c.Identities[t]
			if slices.Contains(n.c.CaseInsensitive, col) {
				folded = append(folded, foldedMatch{n, col, t, lowered(vals)})
				continue
			}
			addMatch(n, col, t, vals)
		}
	}

	// Case-insensitive identity columns get a match of their own (lower-
	// cased values, FoldCase): the connector compares lower(column).
	for _, f := range folded {
		m := lethe.Match{Column: f.col, Values: f.vals, Identity: f.t, FoldCase: true}
		pending[f.n] = append(pending[f.n], m)
		foldedOf[f.n] = append(foldedOf[f.n], m)
	}
	for len(pending) > 0 {
		round := pending
		pending = map[*node][]lethe.Match{}
		// Group the collections that have children by datastore; leaves
		// need no query to resolve keys.
		byStore := map[string][]*node{}
		for n := range round {
			if len(n.keyColumns) > 0 {
				if _, bad := res.failed[n.c.Datastore]; !bad {
					byStore[n.c.Datastore] = append(byStore[n.c.Datastore], n)
				}
			}
		}
		type outcome struct {
			n    *node
			keys map[string][]any
		}
		var (
			mu       sync.Mutex
			outcomes []outcome
			wg       sync.WaitGroup
		)
		for ds, nodes := range byStore {
			slices.SortFunc(nodes, func(a, b *node) int { return cmpString(a.path, b.path) })
			wg.Add(1)
			go func() {
				defer wg.Done()
				conn, err := e.connectors.Connector(ctx, ds)
				for _, n := range nodes {
					if err != nil {
						break
					}
					keys := map[string]*valueSet{}
					for _, c := range n.keyColumns {
						keys[c] = newValueSet()
					}
					err = conn.Find(ctx, lethe.FindParams{
						Collection: n.c, Matches: round[n], Columns: n.keyColumns, Distinct: true, RequestID: requestID,
					}, func(row lethe.Row) error {
						for i, c := range row.Columns {
							if s := keys[c]; s != nil {
								s.add(row.Values[i])
							}
						}
						return nil
					})
					if err == nil {
						o := outcome{n: n, keys: map[string][]any{}}
						for c, s := range keys {
							o.keys[c] = s.values()
						}
						mu.Lock()
						outcomes = append(outcomes, o)
						mu.Unlock()
					}
				}
				if err != nil {
					mu.Lock()
					res.failed[ds] = err
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		slices.SortFunc(outcomes, func(a, b outcome) int { return cmpString(a.n.path, b.n.path) })
		for _, o := range outcomes {
			for t, col := range o.n.c.Identities {
				for _, v := range o.keys[col] {
					if text, ok := identityText(v); ok {
						res.found = append(res.found, lethe.Identity{Type: t, Value: text})
					}
				}
			}
			for _, ch := range o.n.children {
				if only != "" && ch.child.c.Datastore != only {
					continue
				}
				addMatch(ch.child, ch.childColumn, identityOfColumn(ch.child.c, ch.childColumn), o.keys[ch.parentColumn])
			}
		}
	}

	for n, ms := range foldedOf {
		res.matches[n] = append(res.matches[n], ms...)
	}
	for n, cols := range all {
		names := make([]string, 0, len(cols))
		for c := range cols {
			names = append(names, c)
		}
		slices.Sort(names)
		for _, c := range names {
			res.matches[n] = append(res.matches[n], lethe.Match{Column: c, Values: cols[c].values(), Identity: identityOf[n][c]})
		}
	}
	return res, nil
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// foldedMatch is an identity match on a case-insensitive column.
type foldedMatch struct {
	n    *node
	col  string
	t    lethe.IdentityType
	vals []any
}

// lowered returns the text values lower-cased, once each.
func lowered(vals []any) []any {
	s := newValueSet()
	for _, v := range vals {
		if text, ok := v.(string); ok {
			s.add(strings.ToLower(text))
		}
	}
	return s.values()
}

// identityOfColumn is the identity type a collection declares for a
// column, or "": service connectors name values by it.
func identityOfColumn(c *lethe.Collection, col string) lethe.IdentityType {
	types := make([]lethe.IdentityType, 0, len(c.Identities))
	for t, ic := range c.Identities {
		if ic == col {
			types = append(types, t)
		}
	}
	if len(types) == 0 {
		return ""
	}
	slices.Sort(types)
	return types[0]
}

// identityText is a key value as an identity value: text and integers.
func identityText(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, x != ""
	case []byte:
		return string(x), len(x) > 0
	case int64:
		return strconv.FormatInt(x, 10), true
	}
	return "", false
}

// withFound returns ids plus the identities resolution read, without
// duplicates (by normalised value).
func withFound(ids []lethe.Identity, found []lethe.Identity) []lethe.Identity {
	out := slices.Clone(ids)
	seen := map[lethe.Identity]bool{}
	for _, id := range ids {
		if n, err := id.Normalise(); err == nil {
			seen[n] = true
		}
	}
	for _, id := range found {
		n, err := id.Normalise()
		if err != nil || seen[n] {
			continue
		}
		seen[n] = true
		out = append(out, id)
	}
	return out
}
