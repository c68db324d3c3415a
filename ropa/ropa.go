package ropa

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/lethe-privacy/lethe"
	"github.com/lethe-privacy/lethe/config"
)

// Record is the controller's record of processing activities.
type Record struct {
	GeneratedAt time.Time `json:"generated_at"`
	// Controller is Art. 30(1)(a).
	Controller ControllerDetails `json:"controller"`
	// SecurityMeasures is the general description of Art. 30(1)(g) that
	// applies to every activity.
	SecurityMeasures []string `json:"security_measures"`
	// Activities are the processing activities, one per purpose, in the
	// order the config declares them.
	Activities []Activity `json:"activities"`
	// Findings are what the record lacks, errors first.
	Findings []Finding `json:"findings"`
	Errors   int       `json:"errors"`
	Warnings int       `json:"warnings"`
}

// OK reports whether the record has every required element: no finding is
// an error.
func (r *Record) OK() bool { return r.Errors == 0 }

// ControllerDetails is the controller with its DPO and EU representative.
type ControllerDetails struct {
	Name           string         `json:"name"`
	Contact        string         `json:"contact,omitempty"`
	Address        string         `json:"address,omitempty"`
	DPO            *lethe.Contact `json:"dpo,omitempty"`
	Representative *lethe.Contact `json:"representative,omitempty"`
}

// Activity is the record of one purpose.
type Activity struct {
	Purpose         string              `json:"purpose"`
	Name            string              `json:"name,omitempty"`
	Description     string              `json:"description,omitempty"`
	LawfulBasis     lethe.LawfulBasis   `json:"lawful_basis"`
	SpecialCategory bool                `json:"special_category,omitempty"`
	Art9Condition   lethe.Art9Condition `json:"art9_condition,omitempty"`
	// DataSubjects and DataCategories are (c). DataCategories joins the
	// purpose's categories and those of the fields of its collections.
	DataSubjects   []string `json:"data_subjects"`
	DataCategories []string `json:"data_categories"`
	// Recipients are (d); ThirdCountry marks those outside the EEA.
	Recipients []ActivityRecipient `json:"recipients"`
	// Transfers are (e): the recipients in third countries.
	Transfers []Transfer `json:"transfers"`
	// Retention is (f): the purpose's period, and the rules and holds of
	// its collections.
	Retention    string        `json:"retention,omitempty"`
	ErasureRules []ErasureRule `json:"erasure_rules"`
	// Collections are where the data lives (datastore.collection), from
	// the collections that list the purpose.
	Collections []string `json:"collections"`
}

// ActivityRecipient is a recipient of the purpose's data.
type ActivityRecipient struct {
	Name         string `json:"name"`
	Country      string `json:"country,omitempty"`
	ThirdCountry bool   `json:"third_country"`
}

// Transfer is a transfer to a third country with its safeguard.
type Transfer struct {
	Recipient string `json:"recipient"`
	Country   string `json:"country"`
	Safeguard string `json:"safeguard"`
}

// ErasureRule is a collection's time limit: its retention rule, and the
// hold that keeps rows past an erasure request.
type ErasureRule struct {
	Collection string `json:"collection"`
	// Column and MaxAge are the retention rule: rows whose Column is older
	// than MaxAge are deleted or anonymised (Action).
	Column string `json:"column,omitempty"`
	MaxAge string `json:"max_age,omitempty"`
	Action string `json:"action,omitempty"`
	// Hold is the Art. 17(3) hold, written for people.
	Hold string `json:"hold,omitempty"`
}

// Severity says whether a finding makes the record incomplete.
type Severity string

// Severities.
const (
	SeverityError   Severity = "error"   // a required element, Art. 30(1)(a)-(e), is missing
	SeverityWarning Severity = "warning" // (f) or (g) is missing, or the data map disagrees with the purpose
)

// Finding is one thing the record lacks.
type Finding struct {
	Severity Severity `json:"severity"`
	// Purpose is the purpose id, empty for the controller.
	Purpose string `json:"purpose,omitempty"`
	// Article is the element of Art. 30(1): (a) to (g).
	Article string `json:"article"`
	Message string `json:"message"`
}

func (f Finding) String() string {
	where := "controller"
	if f.Purpose != "" {
		where = "purpose " + f.Purpose
	}
	return fmt.Sprintf("%s: %s: Art. 30(1)%s: %s", f.Severity, where, f.Article, f.Message)
}

// Build derives the record from cfg as of now, and validates it. It reads
// cfg only, so it is safe for concurrent use with other readers.
func Build(cfg *lethe.Config, now time.Time) *Record {
	r := &Record{
		GeneratedAt: now.UTC(),
		Controller: ControllerDetails{
			Name: cfg.Controller.Name, Contact: cfg.Controller.Contact, Address: cfg.Controller.Address,
			DPO: cfg.Controller.DPO, Representative: cfg.Controller.Representative,
		},
		SecurityMeasures: nonNil(cfg.SecurityMeasures),
		Activities:       []Activity{},
		Findings:         []Finding{},
	}
	r.checkController()
	byPurpose := map[string][]*lethe.Collection{}
	for _, c := range cfg.Collections() {
		for _, id := range c.Purposes {
			byPurpose[id] = append(byPurpose[id], c)
		}
	}
	for i := range cfg.Purposes {
		r.addActivity(cfg, &cfg.Purposes[i], byPurpose[cfg.Purposes[i].ID])
	}
	slices.SortStableFunc(r.Findings, func(a, b Finding) int {
		if a.Severity == b.Severity {
			return 0
		}
		if a.Severity == SeverityError {
			return -1
		}
		return 1
	})
	return r
}

func (r *Record) add(sev Severity, purpose, article, format string, args ...any) {
	r.Findings = append(r.Findings, Finding{Severity: sev, Purpose: purpose, Article: article, Message: fmt.Sprintf(format, args...)})
	if sev == SeverityError {
		r.Errors++
	} else {
		r.Warnings++
	}
}

func (r *Record) checkController() {
	c := r.Controller
	if strings.TrimSpace(c.Name) == "" {
		r.add(SeverityError, "", "(a)", "the controller has no name: set controller.name")
	}
	if strings.TrimSpace(c.Contact) == "" && strings.TrimSpace(c.Address) == "" {
		r.add(SeverityError, "", "(a)", "the controller has no contact details: set controller.contact or controller.address")
	}
	if c.DPO == nil || (c.DPO.Email == "" && c.DPO.Phone == "" && c.DPO.Address == "") {
		// Art. 37 does not oblige every controller to designate one, so
		// its absence is flagged rather than refused.
		r.add(SeverityWarning, "", "(a)", "no data protection officer with contact details: set controller.dpo when one is designated (Art. 37)")
	}
}

func (r *Record) addActivity(cfg *lethe.Config, p *lethe.Purpose, cols []*lethe.Collection) {
	a := Activity{
		Purpose: p.ID, Name: p.Name, Description: p.Description, LawfulBasis: p.LawfulBasis,
		SpecialCategory: p.SpecialCategory, Art9Condition: p.Art9Condition,
		DataSubjects: nonNil(p.DataSubjects), Recipients: []ActivityRecipient{}, Transfers: []Transfer{},
		ErasureRules: []ErasureRule{}, Collections: []string{},
	}
	if !p.Retention.IsZero() {
		a.Retention = p.Retention.String()
	}
	if a.Name == "" && a.Description == "" {
		r.add(SeverityError, p.ID, "(b)", "the purpose is not described: give it a name or a description")
	}
	if len(a.DataSubjects) == 0 {
		r.add(SeverityError, p.ID, "(c)", "no categories of data subjects: list them under data_subjects (e.g. [customers])")
	}

	categories := slices.Clone(p.Categories)
	undeclared := map[string][]string{} // category -> collections storing it
	for _, c := range cols {
		a.Collections = append(a.Collections, c.Path())
		for _, f := range c.FieldNames() {
			cat := c.Fields[f].Category
			if cat == "" {
				continue
			}
			if !slices.Contains(p.Categories, cat) && !slices.Contains(undeclared[cat], c.Path()) {
				undeclared[cat] = append(undeclared[cat], c.Path())
			}
			categories = append(categories, cat)
		}
		if rule := erasureRule(cfg, c); rule != nil {
			a.ErasureRules = append(a.ErasureRules, *rule)
		}
	}
	slices.Sort(categories)
	a.DataCategories = nonNil(slices.Compact(categories))
	if len(a.DataCategories) == 0 {
		r.add(SeverityError, p.ID, "(c)", "no categories of personal data: list them under categories, or list the purpose under the purposes of its collections")
	}
	for _, cat := range sortedKeys(undeclared) {
		r.add(SeverityWarning, p.ID, "(c)", "the data map stores %s for this purpose (%s), but its categories do not list it", cat, strings.Join(undeclared[cat], ", "))
	}

	for _, rc := range p.Recipients {
		third := rc.Country != "" && !config.InEEA(rc.Country)
		a.Recipients = append(a.Recipients, ActivityRecipient{Name: rc.Name, Country: rc.Country, ThirdCountry: third})
		switch {
		case rc.Country == "":
			r.add(SeverityError, p.ID, "(e)", "recipient %q has no country, so whether its data leaves the EEA cannot be told: set its country", rc.Name)
		case third && (rc.Safeguard == "" || rc.Safeguard == "none"):
			r.add(SeverityError, p.ID, "(e)", "recipient %q is in %s, outside the EEA, without a transfer safeguard: set its safeguard", rc.Name, rc.Country)
			a.Transfers = append(a.Transfers, Transfer{Recipient: rc.Name, Country: rc.Country})
		case third:
			a.Transfers = append(a.Transfers, Transfer{Recipient: rc.Name, Country: rc.Country, Safeguard: rc.Safeguard})
		}
	}

	if a.Retention == "" && len(a.ErasureRules) == 0 {
		r.add(SeverityWarning, p.ID, "(f)", "no time limit for erasure: set the purpose's retention, or a retention rule on its collections")
	}
	if len(r.SecurityMeasures) == 0 {
		r.add(SeverityWarning, p.ID, "(g)", "no security measures are described: list them under security_measures")
	}
	r.Activities = append(r.Activities, a)
}

// erasureRule describes c's retention rule and hold, or returns nil when
// it has neither.
func erasureRule(cfg *lethe.Config, c *lethe.Collection) *ErasureRule {
	if c.Retention == nil && c.Hold == nil {
		return nil
	}
	e := &ErasureRule{Collection: c.Path()}
	if rr := c.Retention; rr != nil {
		e.Column = rr.Column
		if d := cfg.RetentionMaxAge(c); !d.IsZero() {
			e.MaxAge = d.String()
		}
		e.Action = string(rr.Action)
		if e.Action == "" {
			e.Action = string(c.EraseActionOrDefault())
		}
	}
	if h := c.Hold; h != nil {
		then := h.Then
		if then == "" {
			then = lethe.EraseDelete
		}
		from := "the erasure request"
		if h.Since != "" {
			from = h.Since
		}
		e.Hold = fmt.Sprintf("kept %s from %s (Art. 17(3), %s: %s), then %s", h.KeepFor, from, h.Basis, h.Reason, then)
	}
	return e
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return slices.Clone(s)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
