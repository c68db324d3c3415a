package ropa

import (
	"bytes"
	_ "embed"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"strings"

	"github.com/lethe-privacy/lethe"
)

// Format is how a record is written.
type Format string

// Formats.
const (
	FormatJSON Format = "json"
	FormatCSV  Format = "csv"
	FormatHTML Format = "html"
)

// Formats lists the formats Write knows.
var Formats = []Format{FormatJSON, FormatCSV, FormatHTML}

// ParseFormat reads a format name; an unknown one is an EINVALID error.
func ParseFormat(s string) (Format, error) {
	switch f := Format(strings.ToLower(strings.TrimSpace(s))); f {
	case FormatJSON, FormatCSV, FormatHTML:
		return f, nil
	case "":
		return FormatJSON, nil
	}
	return "", lethe.FieldErrorf("format", "%q is not a format: write json, csv or html", s)
}

// ContentType is the media type of the format.
func (f Format) ContentType() string {
	switch f {
	case FormatCSV:
		return "text/csv; charset=utf-8"
	case FormatHTML:
		return "text/html; charset=utf-8"
	}
	return "application/json"
}

// Write writes r to w in format f.
func (r *Record) Write(w io.Writer, f Format) error {
	switch f {
	case FormatCSV:
		return r.WriteCSV(w)
	case FormatHTML:
		return r.WriteHTML(w)
	}
	return r.WriteJSON(w)
}

// WriteJSON writes r as indented JSON.
func (r *Record) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(r); err != nil {
		return fmt.Errorf("write record of processing: %w", err)
	}
	return nil
}

// csvHeader names the columns of WriteCSV: the controller's columns
// repeat on every row so that each row stands on its own in a
// spreadsheet.
var csvHeader = []string{
	"controller", "controller_contact", "dpo", "representative",
	"purpose", "name", "description", "lawful_basis", "art9_condition",
	"data_subjects", "data_categories", "recipients", "third_country_transfers",
	"retention", "erasure_rules", "security_measures", "collections",
}

// WriteCSV writes one row per activity under a header row; lists are
// joined with "; ".
func (r *Record) WriteCSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	_ = cw.Write(csvHeader)
	c := r.Controller
	for _, a := range r.Activities {
		recipients := make([]string, len(a.Recipients))
		for i, rc := range a.Recipients {
			recipients[i] = rc.Name + countrySuffix(rc.Country)
		}
		transfers := make([]string, len(a.Transfers))
		for i, t := range a.Transfers {
			transfers[i] = t.Recipient + " (" + t.Country + ", " + orNone(t.Safeguard) + ")"
		}
		rules := make([]string, len(a.ErasureRules))
		for i, e := range a.ErasureRules {
			rules[i] = e.String()
		}
		row := []string{
			c.Name, joinNonEmpty(", ", c.Contact, c.Address), contactString(c.DPO), contactString(c.Representative),
			a.Purpose, a.Name, a.Description, string(a.LawfulBasis), string(a.Art9Condition),
			strings.Join(a.DataSubjects, "; "), strings.Join(a.DataCategories, "; "), strings.Join(recipients, "; "), strings.Join(transfers, "; "),
			a.Retention, strings.Join(rules, "; "), strings.Join(r.SecurityMeasures, "; "), strings.Join(a.Collections, "; "),
		}
		for i, v := range row {
			row[i] = defuse(v)
		}
		_ = cw.Write(row)
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("write record of processing: %w", err)
	}
	return nil
}

// defuse keeps a spreadsheet from reading a cell as a formula (CSV
// injection): text from the config that starts with = + - @ is prefixed
// with a quote, as OWASP recommends.
func defuse(v string) string {
	if v != "" && strings.ContainsRune("=+-@\t\r", rune(v[0])) {
		return "'" + v
	}
	return v
}

// String writes the rule for people: "shop.users: last_login_at older
// than 3y, delete; hold: ...".
func (e ErasureRule) String() string {
	var b strings.Builder
	b.WriteString(e.Collection + ":")
	if e.Column != "" {
		fmt.Fprintf(&b, " %s older than %s, %s", e.Column, orNone(e.MaxAge), e.Action)
		if e.Hold != "" {
			b.WriteString(";")
		}
	}
	if e.Hold != "" {
		b.WriteString(" " + e.Hold)
	}
	return b.String()
}

func countrySuffix(c string) string {
	if c == "" {
		return ""
	}
	return " (" + c + ")"
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

func joinNonEmpty(sep string, parts ...string) string {
	var out []string
	for _, p := range parts {
		if p != "" {
			out = append(out, p)
		}
	}
	return strings.Join(out, sep)
}

func contactString(c *lethe.Contact) string {
	if c == nil {
		return ""
	}
	return joinNonEmpty(", ", c.Name, c.Email, c.Phone, c.Address)
}

//go:embed record.html.tmpl
var htmlSource string

var htmlTemplate = template.Must(template.New("record").Funcs(template.FuncMap{
	"contact": contactString,
	"join":    strings.Join,
	"orNone":  orNone,
}).Parse(htmlSource))

// WriteHTML writes r as one self-contained HTML page (styles inline, no
// scripts, nothing loaded from elsewhere) that reads on screen and
// prints on A4.
func (r *Record) WriteHTML(w io.Writer) error {
	var buf bytes.Buffer
	if err := htmlTemplate.Execute(&buf, r); err != nil {
		return fmt.Errorf("render record of processing: %w", err)
	}
	if _, err := buf.WriteTo(w); err != nil {
		return fmt.Errorf("write record of processing: %w", err)
	}
	return nil
}
