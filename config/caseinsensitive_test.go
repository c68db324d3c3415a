package config

import (
	"strings"
	"testing"

	"github.com/lethe-privacy/lethe"
)

func TestCaseInsensitiveNamesIdentityColumns(t *testing.T) {
	t.Setenv("DSN", "postgres://x")
	doc := `controller: {name: Shop}
purposes: [{id: orders, lawful_basis: contract}]
datastores:
  shop:
    driver: postgres
    dsn: ${DSN}
    collections:
      users:
        identities: {email: email}
        case_insensitive: [email, name]
        fields: {email: {category: contact.email}, name: {category: name}}
`
	_, err := Parse([]byte(doc), "lethe.yaml")
	fields := lethe.ErrorFields(err)
	if len(fields) != 1 || fields[0].Path != "datastores.shop.collections.users.case_insensitive[1]" || fields[0].Line != 10 ||
		!strings.Contains(fields[0].Message, "not an identity column") {
		t.Fatalf("got %v", err)
	}
	cfg, err := Parse([]byte(strings.Replace(doc, "[email, name]", "[email]", 1)), "lethe.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.Datastores["shop"].Collections["users"].CaseInsensitive; len(got) != 1 || got[0] != "email" {
		t.Errorf("case_insensitive decoded as %v", got)
	}
}
