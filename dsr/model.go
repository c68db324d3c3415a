package dsr

import (
	"cmp"
	"slices"
	"strings"

	"github.com/lethe-privacy/lethe"
)

// node is one collection of the data map with the edges traversal and
// erasure ordering need.
type node struct {
	c    *lethe.Collection
	path string // datastore.collection
	// children are the references that point at this collection: rows of
	// child.c whose column holds a value found in parentColumn here
	// belong to the subject too.
	children []edge
	// keyColumns are the columns of this collection that some child refers
	// to: the only values traversal keeps in memory.
	keyColumns []string
	// feedsOthers is true when rows of another datastore are found
	// through this collection's rows, directly or through its children in
	// its own datastore: erasure removes it only once those are erased.
	feedsOthers bool
	// second is true for the collections erased behind the gate: those
	// that feed others, and those ordered after: one of them.
	second bool
}

// edge is one reference, seen from its parent.
type edge struct {
	child        *node
	childColumn  string
	parentColumn string
}

// model is the data map as a graph.
type model struct {
	nodes []*node // sorted by path
	byKey map[string]*node
	// datastores lists the datastore names, sorted.
	datastores []string
}

func newModel(cfg *lethe.Config) (*model, error) {
	m := &model{byKey: map[string]*node{}}
	for name, ds := range cfg.Datastores {
		m.datastores = append(m.datastores, name)
		for cname, c := range ds.Collections {
			if c.Name == "" {
				c.Name = cname
			}
			if c.Datastore == "" {
				c.Datastore = name
			}
			n := &node{c: c, path: name + "." + cname}
			m.nodes = append(m.nodes, n)
			m.byKey[n.path] = n
		}
	}
	slices.Sort(m.datastores)
	slices.SortFunc(m.nodes, func(a, b *node) int { return strings.Compare(a.path, b.path) })
	for _, n := range m.nodes {
		cols := make([]string, 0, len(n.c.References))
		for col := range n.c.References {
			cols = append(cols, col)
		}
		slices.Sort(cols)
		for _, col := range cols {
			ref, err := lethe.ParseReference(n.c.Datastore, n.c.References[col])
			if err != nil {
				return nil, lethe.Errorf(lethe.EINVALID, "datastores.%s.collections.%s.references.%s: %v", n.c.Datastore, n.c.Name, col, err)
			}
			parent := m.byKey[ref.Datastore+"."+ref.Collection]
			if parent == nil {
				return nil, lethe.Errorf(lethe.EINVALID, "datastores.%s.collections.%s.references.%s: %s is not declared", n.c.Datastore, n.c.Name, col, ref.Datastore+"."+ref.Collection)
			}
			parent.children = append(parent.children, edge{child: n, childColumn: col, parentColumn: ref.Column})
			if !slices.Contains(parent.keyColumns, ref.Column) {
				parent.keyColumns = append(parent.keyColumns, ref.Column)
			}
		}
	}
	for _, n := range m.nodes {
		m.markFeeds(n, map[*node]bool{})
		n.second = n.feedsOthers
	}
	for changed := true; changed; {
		changed = false
		for _, n := range m.nodes {
			for _, a := range n.c.After {
				if p := m.after(n, a); p != nil && p.second && !n.second && p.c.Datastore == n.c.Datastore {
					n.second, changed = true, true
				}
			}
		}
	}
	return m, nil
}

// markFeeds computes n.feedsOthers (visiting guards reference cycles).
func (m *model) markFeeds(n *node, visiting map[*node]bool) bool {
	if n.feedsOthers || visiting[n] {
		return n.feedsOthers
	}
	visiting[n] = true
	for _, e := range n.children {
		if e.child.c.Datastore != n.c.Datastore || m.markFeeds(e.child, visiting) {
			n.feedsOthers = true
			break
		}
	}
	return n.feedsOthers
}

// after resolves an `after:` entry of n to a node.
func (m *model) after(n *node, name string) *node {
	if strings.Contains(name, ".") {
		return m.byKey[name]
	}
	return m.byKey[n.c.Datastore+"."+name]
}

// eraseOrder returns the datastore's collections in the order erasure
// applies them: a collection after those its `after:` names (a hard rule),
// and a child before the parent it references unless that contradicts
// the hard rules (the config validator refuses reference cycles that no
// `after:` orders). Ties keep name order so plans are stable. `after:`
// naming another datastore does not order anything here: datastores are
// erased concurrently, and collections that other datastores are found
// through wait for them anyway (see Erase).
func (m *model) eraseOrder(datastore string) ([]*node, error) {
	var nodes []*node
	for _, n := range m.nodes {
		if n.c.Datastore == datastore {
			nodes = append(nodes, n)
		}
	}
	next := map[*node][]*node{}         // next[a]: nodes that come after a
	precedes := func(a, b *node) bool { // is a already before b?
		seen := map[*node]bool{}
		stack := []*node{a}
		for len(stack) > 0 {
			x := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			if x == b {
				return true
			}
			if seen[x] {
				continue
			}
			seen[x] = true
			stack = append(stack, next[x]...)
		}
		return false
	}
	for _, n := range nodes {
		for _, a := range n.c.After {
			p := m.after(n, a)
			if p == nil || p == n || p.c.Datastore != datastore {
				continue
			}
			if precedes(n, p) {
				return nil, lethe.Errorf(lethe.EINVALID, "erasure order of datastore %s: %s and %s are each after the other", datastore, n.path, p.path)
			}
			next[p] = append(next[p], n)
		}
	}
	for _, n := range nodes {
		for _, e := range n.children {
			c := e.child
			if c == n || c.c.Datastore != datastore || precedes(n, c) {
				continue // self-reference, other datastore, or ordered otherwise by after:
			}
			if !precedes(c, n) {
				next[c] = append(next[c], n)
			}
		}
	}
	indeg := map[*node]int{}
	for _, n := range nodes {
		for _, x := range next[n] {
			indeg[x]++
		}
	}
	order := make([]*node, 0, len(nodes))
	done := map[*node]bool{}
	for len(order) < len(nodes) {
		progressed := false
		for _, n := range nodes { // name order among the ready ones
			if done[n] || indeg[n] > 0 {
				continue
			}
			done[n] = true
			order = append(order, n)
			for _, x := range next[n] {
				indeg[x]--
			}
			progressed = true
			break
		}
		if !progressed {
			return nil, lethe.Errorf(lethe.EINVALID, "erasure order of datastore %s: a cycle", datastore)
		}
	}
	return order, nil
}

// identityRef is a column whose values are a subject's identities: an
// identity column, or a reference to one (events.user_id -> users.id).
type identityRef struct {
	column   string
	identity lethe.IdentityType
	// reference is true for a reference to another collection's identity
	// column.
	reference bool
	// fold is true when values are compared ignoring case.
	fold bool
}

// identityRefs lists n's identity columns and its references to identity
// columns, sorted by column then type.
func (m *model) identityRefs(n *node) []identityRef {
	var out []identityRef
	for t, col := range n.c.Identities {
		out = append(out, identityRef{column: col, identity: t, fold: slices.Contains(n.c.CaseInsensitive, col)})
	}
	for _, p := range m.nodes {
		for _, e := range p.children {
			if e.child != n {
				continue
			}
			for t, col := range p.c.Identities {
				if col == e.parentColumn && n.c.Identities[t] != e.childColumn {
					out = append(out, identityRef{column: e.childColumn, identity: t, reference: true, fold: slices.Contains(p.c.CaseInsensitive, col)})
				}
			}
		}
	}
	slices.SortFunc(out, func(a, b identityRef) int {
		return cmp.Or(strings.Compare(a.column, b.column), strings.Compare(string(a.identity), string(b.identity)), cmp.Compare(boolInt(a.reference), boolInt(b.reference)))
	})
	return slices.CompactFunc(out, func(a, b identityRef) bool { return a.column == b.column && a.identity == b.identity })
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
