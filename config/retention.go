package config

import (
	"strings"

	"github.com/lethe-privacy/lethe"
)

// checkPurposesAndRetention checks what links a collection to the
// purposes and its retention rule: every purpose id is declared, the rule
// has a max_age of its own or from a purpose, anonymise has fields to
// mask, each where condition says one thing, and the datastore can
// enforce a rule at all.
func (m *dataMap) checkPurposesAndRetention(d *lethe.Datastore, c *lethe.Collection, at string) {
	p := m.p
	var longest lethe.Duration
	for i, id := range c.Purposes {
		pat := itemPath(at+".purposes", i)
		if id == "" || p.covered(pat) {
			continue
		}
		pp, ok := m.cfg.Purpose(id)
		if !ok {
			p.add(pat, p.lineOf(pat), "%q is not a declared purpose id; declared: %s", id, joinStrings(m.cfg.PurposeIDs()))
			continue
		}
		if pp.Retention.Longer(longest) {
			longest = pp.Retention
		}
	}
	r := c.Retention
	rat := at + ".retention"
	if r == nil || p.covered(rat) {
		return
	}
	switch d.Driver {
	case lethe.DriverRedis:
		p.add(rat, p.lineOf(rat), "retention rules apply to SQL tables; in redis, give the keys a time to live (EXPIRE) where the application writes them")
		return
	case lethe.DriverWebhook:
		p.add(rat, p.lineOf(rat), "retention rules apply to SQL tables; a webhook datastore enforces its own retention")
		return
	}
	m.identifier(rat+".column", r.Column)
	if r.Warn != nil {
		m.identifier(rat+".warn.email", r.Warn.Email)
	}
	if r.MaxAge.IsZero() && !p.covered(rat+".max_age") && longest.IsZero() {
		p.add(rat+".max_age", p.lineOf(rat), "is required: give max_age, or list purposes with a retention under the collection's purposes:")
	}
	if r.Action == lethe.EraseAnonymise && len(c.Fields) == 0 && !p.problemsUnder(at+".fields") {
		p.add(rat+".action", p.lineOf(rat+".action"), "anonymise masks the collection's fields, and it declares none: list the personal columns under fields:, or action: delete")
	}
	action := r.Action
	if action == "" {
		action = c.EraseActionOrDefault()
	}
	if c.Hold != nil && c.Hold.Then != "" {
		action = c.Hold.Then
	}
	if action == lethe.EraseAnonymise && len(c.Fields) > 0 && !hasConstantStrategy(c) {
		p.add(rat, p.lineOf(rat), "anonymising by retention needs at least one field with a constant strategy (null, blank or fixed:<value>), so that rows already anonymised are told apart from the others")
	}
	for i, f := range r.Where {
		wat := itemPath(rat+".where", i)
		if p.covered(wat) {
			continue
		}
		m.identifier(wat+".column", f.Column)
		n := 0
		if f.Equals != nil {
			n++
		}
		if f.In != nil {
			n++
		}
		if f.IsNull != nil {
			n++
		}
		if n != 1 {
			p.add(wat, p.lineOf(wat), "a condition names its column and exactly one of equals, in or is_null, e.g. {column: status, equals: closed}")
		}
	}
}

func joinStrings(s []string) string { return join(s) }

// hasConstantStrategy reports whether a field of c is masked to one value
// whatever it held: a retention run selects the rows still to anonymise by
// those fields.
func hasConstantStrategy(c *lethe.Collection) bool {
	for _, f := range c.Fields {
		s := f.EraseStrategy()
		if s == "null" || s == "blank" || strings.HasPrefix(s, "fixed:") {
			return true
		}
	}
	return false
}
