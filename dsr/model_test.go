package dsr

import (
	"slices"
	"testing"

	"github.com/lethe-privacy/lethe/config"
)

func TestEraseOrderPutsChildrenBeforeParents(t *testing.T) {
	t.Setenv("DSN", "postgres://x")
	cfg, err := config.Parse([]byte(`
controller: {name: Shop}
purposes: [{id: orders, lawful_basis: contract}]
datastores:
  shop:
    driver: postgres
    dsn: ${DSN}
    collections:
      users:
        identities: {user_id: id}
        fields: {email: {category: contact.email}}
      orders:
        references: {user_id: users.id}
        fields: {note: {category: free_text}}
      order_items:
        references: {order_id: orders.id}
      invoices:
        references: {order_id: orders.id}
        after: [order_items]
      profiles:
        references: {user_id: users.id, invoice_id: invoices.id}
`), "t.yaml")
	if err != nil {
		t.Fatal(err)
	}
	m, err := newModel(cfg)
	if err != nil {
		t.Fatal(err)
	}
	order, err := m.eraseOrder("shop")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, n := range order {
		names = append(names, n.c.Name)
	}
	pos := func(s string) int { return slices.Index(names, s) }
	for _, rule := range [][2]string{
		{"order_items", "orders"}, {"invoices", "orders"}, {"orders", "users"},
		{"order_items", "invoices"}, {"profiles", "users"}, {"profiles", "invoices"},
	} {
		if pos(rule[0]) > pos(rule[1]) {
			t.Errorf("order %v: %s must come before %s", names, rule[0], rule[1])
		}
	}
	users := m.byKey["shop.users"]
	if !slices.Equal(users.keyColumns, []string{"id"}) || len(users.children) != 2 {
		t.Errorf("users: key columns %v, %d children; want [id] and 2", users.keyColumns, len(users.children))
	}
}

// `after:` against a reference wins whatever the collections are called.
func TestEraseOrderAfterOverridesAReference(t *testing.T) {
	for _, parent := range []string{"users", "accounts"} {
		t.Setenv("DSN", "postgres://x")
		cfg, err := config.Parse([]byte(`
controller: {name: Shop}
purposes: [{id: orders, lawful_basis: contract}]
datastores:
  shop:
    driver: postgres
    dsn: ${DSN}
    collections:
      `+parent+`:
        identities: {user_id: id}
        fields: {email: {category: contact.email}}
      orders:
        references: {user_id: `+parent+`.id}
        after: [`+parent+`]
        fields: {note: {category: free_text}}
`), "t.yaml")
		if err != nil {
			t.Fatal(err)
		}
		m, err := newModel(cfg)
		if err != nil {
			t.Fatal(err)
		}
		order, err := m.eraseOrder("shop")
		if err != nil {
			t.Fatalf("parent %s: %v", parent, err)
		}
		if order[0].c.Name != parent {
			t.Errorf("parent %s: order %s, %s; after: puts the parent first", parent, order[0].c.Name, order[1].c.Name)
		}
	}
}
