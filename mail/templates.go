package mail

import (
	"bytes"
	"embed"
	"fmt"
	"io/fs"
	"regexp"
	"slices"
	"strings"
	"text/template"

	"github.com/lethe-privacy/lethe"
)

// Template names.
const (
	TemplateVerificationCode   = "verification_code"   // data: code, expires_in; controller optional
	TemplateRequestReceived    = "request_received"    // data: request_id, request_type, due_date; controller optional
	TemplateRequestCompleted   = "request_completed"   // data: request_id, request_type; details, controller optional
	TemplateRequestRejected    = "request_rejected"    // data: request_id, request_type, reason; supervisory_authority, controller optional
	TemplateRequestExtended    = "request_extended"    // data: request_id, request_type, due_date, reason; controller optional
	TemplateRestrictionLifting = "restriction_lifting" // data: request_id, lift_date; reason, controller optional
	TemplateRetentionWarning   = "retention_warning"   // data: date, action; controller optional
)

// required lists the data each template cannot do without.
var required = map[string][]string{
	TemplateVerificationCode:   {"code", "expires_in"},
	TemplateRequestReceived:    {"request_id", "request_type", "due_date"},
	TemplateRequestCompleted:   {"request_id", "request_type"},
	TemplateRequestRejected:    {"request_id", "request_type", "reason"},
	TemplateRequestExtended:    {"request_id", "request_type", "due_date", "reason"},
	TemplateRestrictionLifting: {"request_id", "lift_date"},
	TemplateRetentionWarning:   {"date", "action"},
}

//go:embed templates/*.txt
var embedded embed.FS

// Templates renders the plain-text e-mails. Each template is a file whose
// first line is "Subject: ..." and whose body follows a blank line, both
// text/template over the message's data. It is safe for concurrent use.
type Templates struct {
	subjects map[string]*template.Template
	bodies   map[string]*template.Template
}

// DefaultTemplates returns the templates built into Lethe.
func DefaultTemplates() *Templates {
	t, err := parseTemplates(embedded)
	if err != nil {
		panic(err) // the embedded templates are tested
	}
	return t
}

func parseTemplates(fsys fs.FS) (*Templates, error) {
	t := &Templates{subjects: map[string]*template.Template{}, bodies: map[string]*template.Template{}}
	for name := range required {
		src, err := fs.ReadFile(fsys, "templates/"+name+".txt")
		if err != nil {
			return nil, fmt.Errorf("read mail template %s: %w", name, err)
		}
		head, body, ok := strings.Cut(string(src), "\n\n")
		subject, found := strings.CutPrefix(head, "Subject: ")
		if !ok || !found || strings.Contains(subject, "\n") {
			return nil, fmt.Errorf("mail template %s: want a \"Subject: \" line, a blank line, then the body", name)
		}
		if t.subjects[name], err = template.New(name).Parse(subject); err != nil {
			return nil, fmt.Errorf("parse mail template %s subject: %w", name, err)
		}
		if t.bodies[name], err = template.New(name).Parse(body); err != nil {
			return nil, fmt.Errorf("parse mail template %s body: %w", name, err)
		}
	}
	return t, nil
}

// Names returns the template names, sorted.
func (t *Templates) Names() []string {
	names := make([]string, 0, len(t.bodies))
	for n := range t.bodies {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

var blankLines = regexp.MustCompile(`\n{3,}`)

// Render returns the subject line and body of the named template over
// data. It returns EINVALID for an unknown template or missing required
// data (naming the key, never a value).
func (t *Templates) Render(name string, data map[string]any) (subject, body string, err error) {
	st, ok := t.subjects[name]
	if !ok {
		return "", "", lethe.FieldErrorf("template", "no e-mail template %q (have %s)", name, strings.Join(t.Names(), ", "))
	}
	for _, key := range required[name] {
		if v, ok := data[key]; !ok || v == nil || v == "" {
			return "", "", lethe.FieldErrorf("data."+key, "the %s e-mail needs %s", name, key)
		}
	}
	var sb, bb bytes.Buffer
	if err := st.Execute(&sb, data); err != nil {
		return "", "", fmt.Errorf("render mail subject %s: %w", name, err)
	}
	if err := t.bodies[name].Execute(&bb, data); err != nil {
		return "", "", fmt.Errorf("render mail body %s: %w", name, err)
	}
	// Optional sections leave blank lines behind; keep one at most.
	body = strings.TrimSpace(blankLines.ReplaceAllString(bb.String(), "\n\n")) + "\n"
	// A subject is one header line, whatever the data held.
	return strings.Join(strings.Fields(sb.String()), " "), body, nil
}
