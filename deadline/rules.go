package deadline

import "github.com/lethe-privacy/lethe"

// Rule is one jurisdiction's timetable for answering a data subject
// request. Every period is counted from the day of receipt, which itself is
// not counted: a period of 15 days from 10 March ends on 25 March.
type Rule struct {
	// Basis cites the provisions the rule implements.
	Basis string
	// Respond is the period within which the request must be answered.
	Respond Period
	// Extended is the whole period, again from receipt, when the response
	// is extended; zero when the law allows no extension. An extension must
	// be recorded (and the person told) before Respond ends.
	Extended Period
	// ConfirmBusinessDays is the number of business days within which
	// receipt must be confirmed; zero when the law asks no confirmation.
	ConfirmBusinessDays int
	// NextWorkingDay moves a period that ends on a Saturday, Sunday or
	// holiday to the end of the next working day (Regulation 1182/71
	// Art. 3(4)). Without it the periods are plain calendar days.
	NextWorkingDay bool
}

// Period is a legal period in calendar months plus days. Months are added
// as Regulation 1182/71 Art. 3(2)(c) adds them (Date.AddMonths), then days.
type Period struct {
	Months int
	Days   int
}

// IsZero reports whether p is the empty period.
func (p Period) IsZero() bool { return p == Period{} }

// EndFrom returns the last day of the period that runs from the day of
// receipt r, before any move to a working day.
func (p Period) EndFrom(r Date) Date {
	return r.AddMonths(p.Months).AddDays(p.Days)
}

// rules is the table of timetables. Change a jurisdiction's rule here and
// nowhere else; the tests pin each row's calendar cases.
var rules = map[lethe.Jurisdiction]Rule{
	// Art. 12(3) GDPR: "without undue delay and in any event within one
	// month of receipt of the request. That period may be extended by two
	// further months where necessary ... The controller shall inform the
	// data subject of any such extension within one month of receipt of the
	// request, together with the reasons for the delay." Periods counted
	// under Regulation (EEC, Euratom) No 1182/71, Art. 3.
	lethe.GDPR: {
		Basis:          "GDPR Art. 12(3); Regulation (EEC, Euratom) No 1182/71 Art. 3",
		Respond:        Period{Months: 1},
		Extended:       Period{Months: 3},
		NextWorkingDay: true,
	},
	// Cal. Civ. Code § 1798.130(a)(2) and CCPA Regulations § 7021: respond
	// no later than 45 calendar days after receipt, extendable once by an
	// additional 45 calendar days with notice and the reason within the
	// first 45 (§ 7021(b)); confirm receipt within 10 business days
	// (§ 7021(a)). The regulations count calendar days with no move off a
	// weekend.
	lethe.CCPA: {
		Basis:               "Cal. Civ. Code § 1798.130(a)(2); CCPA Regulations § 7021",
		Respond:             Period{Days: 45},
		Extended:            Period{Days: 90},
		ConfirmBusinessDays: 10,
	},
	// LGPD Art. 19(II): a complete answer "no prazo de até 15 (quinze)
	// dias, contado da data do requerimento do titular". Counted here as 15
	// calendar days with no extension and no move off a weekend or holiday;
	// a controller that follows Código Civil Art. 132 §1 (a term ending on
	// a holiday runs to the next business day) sets NextWorkingDay.
	lethe.LGPD: {
		Basis:   "LGPD Art. 19(II)",
		Respond: Period{Days: 15},
	},
}

// RuleFor returns the timetable of jurisdiction j, or an EINVALID
// *lethe.Error when j is not one Lethe knows.
func RuleFor(j lethe.Jurisdiction) (Rule, error) {
	r, ok := rules[j]
	if !ok {
		return Rule{}, lethe.Errorf(lethe.EINVALID, "unknown jurisdiction %q; use one of %v", j, lethe.Jurisdictions)
	}
	return r, nil
}
