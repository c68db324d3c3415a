package config

import (
	"strings"
	"time"

	"github.com/lethe-privacy/lethe"
	"github.com/lethe-privacy/lethe/deadline"
)

// transferSafeguards are the safeguard values that make a transfer outside
// the EEA lawful (Chapter V); "none" is only meaningful inside it.
var transferSafeguards = "adequacy, scc, bcr, code_of_conduct, certification or derogation"

// check applies the rules that span fields, which the schema could only
// express as conditionals whose errors nobody could read. Values that
// already failed validation were pruned and their paths are covered, so
// nothing here reports a consequence of a problem already reported.
// checkCalendar refuses a time zone the system does not know and dates
// that do not exist.
func (p *parser) checkCalendar(c *lethe.Calendar) {
	if c == nil {
		return
	}
	if c.TimeZone != "" && !p.covered("calendar.time_zone") {
		if _, err := time.LoadLocation(c.TimeZone); err != nil {
			p.add("calendar.time_zone", p.lineOf("calendar.time_zone"), "%q is not a time zone; write an IANA name such as Europe/Berlin", c.TimeZone)
		}
	}
	for i, h := range c.Holidays {
		at := itemPath("calendar.holidays", i)
		if h == "" || p.covered(at) {
			continue
		}
		if _, err := deadline.ParseDate(h); err != nil {
			p.add(at, p.lineOf(at), "%q is not a date that exists", h)
		}
	}
}

// checkRequests applies the ranges of the requests: block that the
// schema does not express (durations without months, within bounds).
func (p *parser) checkRequests(c *lethe.RequestsConfig) {
	if c == nil || p.covered("requests") {
		return
	}
	_, err := c.Settings()
	for _, f := range lethe.ErrorFields(err) {
		if !p.covered(f.Path) {
			p.add(f.Path, p.lineOf(f.Path), "%s", f.Message)
		}
	}
}

func (p *parser) check(cfg *lethe.Config) {
	p.checkCalendar(cfg.Calendar)
	p.checkRequests(cfg.Requests)
	firstID := map[string]string{}
	for i := range cfg.Purposes {
		pp := &cfg.Purposes[i]
		at := itemPath("purposes", i)
		if p.covered(at) {
			continue
		}
		if pp.ID != "" && !p.covered(at+".id") {
			if first, dup := firstID[pp.ID]; dup {
				p.add(at+".id", p.lineOf(at+".id"), "duplicate purpose id %q (first declared at line %d)", pp.ID, p.lineOf(first))
			} else {
				firstID[pp.ID] = at + ".id"
			}
		}
		p.checkSpecialCategory(pp, at)
		if pp.LawfulBasis != "" { // an invalid or missing basis is reported already
			p.checkConsentKeys(pp, at)
		}
		for j, r := range pp.Recipients {
			p.checkTransfer(r, itemPath(at+".recipients", j))
		}
	}
	p.checkEvents(cfg)
	p.checkDataMap(cfg)
}

func (p *parser) checkSpecialCategory(pp *lethe.Purpose, at string) {
	if p.covered(at+".special_category") || p.covered(at+".art9_condition") {
		return
	}
	switch {
	case pp.SpecialCategory && pp.Art9Condition == "":
		p.add(at+".art9_condition", p.lineOf(at+".special_category"),
			"is required when special_category is true: the Art. 9(2) condition, one of %s", join(lethe.Art9Conditions))
	case !pp.SpecialCategory && pp.Art9Condition != "":
		p.add(at+".art9_condition", p.lineOf(at+".art9_condition"),
			"only applies to special-category data: add special_category: true, or remove art9_condition")
	}
}

func (p *parser) checkConsentKeys(pp *lethe.Purpose, at string) {
	basis := pp.LawfulBasis
	if basis == lethe.BasisConsent {
		if pp.PolicyVersion == "" && !p.covered(at+".policy_version") {
			p.add(at+".policy_version", p.lineOf(at+".policy_version"),
				"is required for a consent purpose: the version of the notice people consent to, e.g. \"2026-03\"")
		}
		return
	}
	if len(pp.AlsoAccept) > 0 {
		p.add(at+".also_accept", p.lineOf(at+".also_accept"),
			"only applies to consent purposes; this purpose's lawful_basis is %s", basis)
	}
	if !pp.ConsentMaxAge.IsZero() {
		p.add(at+".consent_max_age", p.lineOf(at+".consent_max_age"),
			"only applies to consent purposes; this purpose's lawful_basis is %s", basis)
	}
	if pp.GPC && basis != lethe.BasisLegitimateInterests {
		p.add(at+".gpc", p.lineOf(at+".gpc"),
			"only applies to consent and legitimate_interests purposes (a Global Privacy Control signal opts out of them); this purpose's lawful_basis is %s", basis)
	}
}

// checkTransfer requires a safeguard for a recipient outside the EEA.
func (p *parser) checkTransfer(r lethe.Recipient, at string) {
	if r.Country == "" || p.covered(at) || p.covered(at+".country") || p.covered(at+".safeguard") || inEEA(r.Country) {
		return
	}
	switch r.Safeguard {
	case "":
		p.add(at+".safeguard", p.lineOf(at+".safeguard"),
			"is required: %s is outside the EEA, so the transfer needs a safeguard: %s", r.Country, transferSafeguards)
	case "none":
		p.add(at+".safeguard", p.lineOf(at+".safeguard"),
			"\"none\" is not allowed: %s is outside the EEA, so the transfer needs a safeguard: %s", r.Country, transferSafeguards)
	}
}

func join[T ~string](values []T) string {
	s := make([]string, len(values))
	for i, v := range values {
		s[i] = string(v)
	}
	return strings.Join(s, ", ")
}
