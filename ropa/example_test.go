package ropa_test

import (
	"fmt"
	"os"
	"time"

	"github.com/lethe-privacy/lethe/config"
	"github.com/lethe-privacy/lethe/ropa"
)

func Example() {
	cfg, err := config.Parse([]byte(`
controller: {name: Example Shop GmbH, contact: privacy@example.com}
security_measures: [Encryption at rest, Role-based access]
purposes:
  - id: orders
    name: Processing orders
    lawful_basis: contract
    data_subjects: [customers]
    categories: [contact.name, contact.address]
    recipients: [{name: Carrier Inc., country: US, safeguard: scc}]
    retention: 3y
`), "lethe.yaml")
	if err != nil {
		fmt.Println(err)
		return
	}
	r := ropa.Build(cfg, time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC))
	for _, f := range r.Findings {
		fmt.Println(f)
	}
	_ = r.Write(os.Stdout, ropa.FormatCSV)
	// Output:
	// warning: controller: Art. 30(1)(a): no data protection officer with contact details: set controller.dpo when one is designated (Art. 37)
	// controller,controller_contact,dpo,representative,purpose,name,description,lawful_basis,art9_condition,data_subjects,data_categories,recipients,third_country_transfers,retention,erasure_rules,security_measures,collections
	// Example Shop GmbH,privacy@example.com,,,orders,Processing orders,,contract,,customers,contact.address; contact.name,Carrier Inc. (US),"Carrier Inc. (US, scc)",3y,,Encryption at rest; Role-based access,
}
