package config_test

import (
	"fmt"

	"github.com/lethe-privacy/lethe"
	"github.com/lethe-privacy/lethe/config"
)

func ExampleParse() {
	cfg, err := config.Parse([]byte(`
controller:
  name: Example Shop GmbH
purposes:
  - id: marketing_email
    lawful_basis: consent
    policy_version: "2026-03"
    consent_max_age: 13mo
    recipients: [{name: Mailer Inc, country: us, safeguard: SCC}]
  - id: order_fulfilment
    lawful_basis: contract
    retention: 3y
`), "lethe.yaml")
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, p := range cfg.Purposes {
		var rs []string
		for _, r := range p.Recipients {
			rs = append(rs, r.Name+" "+r.Country+" "+r.Safeguard)
		}
		fmt.Printf("%s: %s, recipients %q\n", p.ID, p.LawfulBasis, rs)
	}
	mkt, _ := cfg.Purpose("marketing_email")
	fmt.Println("consent valid for", mkt.ConsentMaxAge, "- jurisdiction", cfg.Jurisdiction)

	// An invalid file: every problem, with its path and line.
	_, err = config.Parse([]byte(`
controller:
  name: Example Shop GmbH
purposes:
  - id: marketing_email
    lawful_basis: consnet
    retention: 2 years
`), "lethe.yaml")
	fmt.Println(lethe.ErrorCode(err))
	for _, f := range lethe.ErrorFields(err) {
		fmt.Println(f)
	}
	// Output:
	// marketing_email: consent, recipients ["Mailer Inc US scc"]
	// order_fulfilment: contract, recipients []
	// consent valid for 1y1mo - jurisdiction gdpr
	// invalid
	// purposes[0].lawful_basis: line 6: "consnet" is not one of consent, contract, legal_obligation, vital_interests, public_task, legitimate_interests
	// purposes[0].retention: line 7: "2 years": unknown unit " years"; use y, mo, w, d, h, m or s
}
