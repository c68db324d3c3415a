package dsr

import (
	"fmt"
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
	return m, nil
}

// after resolves an `after:` entry of n to a node.
func (m *model) after(n *node, name string) *node {
	if strings.Contains(name, ".") {
		return m.byKey[name]
	}
	return m.byKey[n.c.Datastore+"."+name]
}

// eraseOrder returns the datastore's collections in the order erasure
// applies them: a child before the parent it references, and a collection
// after those its `after:` names. `after:` is a hard rule; a reference
// edge that would close a cycle with it is dropped (the config validator
// refuses cycles that no `after:` orders). Ties keep name order so plans
// are stable.
func (m *model) eraseOrder(datastore string) ([]*node, error) {
	var nodes []*node
	for _, n := range m.nodes {
		if n.c.Datastore == datastore {
			nodes = append(nodes, n)
		}
	}
	// before[x] lists the nodes that must come before x.
	hard := map[*node][]*node{}
	soft := map[*node][]*node{}
	for _, n := range nodes {
		for _, a := range n.c.After {
			if p := m.after(n, a); p != nil && p.c.Datastore == datastore {
				hard[n] = append(hard[n], p)
			}
		}
		for _, e := range n.children {
			if e.child.c.Datastore == datastore && e.child != n {
				soft[n] = append(soft[n], e.child) // the child goes first
			}
		}
	}
	order := make([]*node, 0, len(nodes))
	state := map[*node]int{} // 0 new, 1 visiting, 2 done
	var visit func(n *node, useSoft bool) error
	visit = func(n *node, useSoft bool) error {
		switch state[n] {
		case 2:
			return nil
		case 1:
			return errCycle
		}
		state[n] = 1
		for _, p := range hard[n] {
			if err := visit(p, useSoft); err != nil {
				return fmt.Errorf("%s after %s: %w", n.path, p.path, err)
			}
		}
		if useSoft {
			for _, c := range soft[n] {
				if state[c] == 1 {
					continue // a reference cycle that `after:` ordered: drop this edge
				}
				if err := visit(c, useSoft); err != nil {
					return err
				}
			}
		}
		state[n] = 2
		order = append(order, n)
		return nil
	}
	for _, n := range nodes {
		if err := visit(n, true); err != nil {
			return nil, lethe.Errorf(lethe.EINVALID, "erasure order of datastore %s: %v", datastore, err)
		}
	}
	return order, nil
}

var errCycle = fmt.Errorf("cycle")
