package mail_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/lethe-privacy/lethe"
	"github.com/lethe-privacy/lethe/mail"
)

func asError(err error, target **lethe.Error) bool { return errors.As(err, target) }

func TestTemplatesRender(t *testing.T) {
	tmpl := mail.DefaultTemplates()
	cases := []struct {
		name     string
		data     map[string]any
		subject  string
		mustHave []string
		mustLack []string
	}{
		{mail.TemplateVerificationCode, map[string]any{"code": "482913", "expires_in": "15 minutes"},
			"Your verification code: 482913", []string{"482913", "15 minutes", "only once"}, []string{"<no value>"}},
		{mail.TemplateRequestReceived, map[string]any{"request_id": "req_1", "request_type": "erasure", "due_date": "2 January 2027", "controller": "Example GmbH"},
			"We received your request (req_1)", []string{"erasure request", "2 January 2027", "Example GmbH"}, []string{"<no value>"}},
		{mail.TemplateRequestCompleted, map[string]any{"request_id": "req_1", "request_type": "access"},
			"Your request req_1 is complete", []string{"access request (req_1) is complete"}, []string{"<no value>"}},
		{mail.TemplateRequestRejected, map[string]any{"request_id": "req_2", "request_type": "erasure", "reason": "we could not verify your identity", "supervisory_authority": "the CNIL"},
			"We cannot act on your request req_2", []string{"we could not verify your identity", "lodge a complaint", "supervisory authority (the CNIL)", "judicial remedy", "Art. 12(4)"}, []string{"<no value>"}},
		{mail.TemplateRequestExtended, map[string]any{"request_id": "req_4", "request_type": "access", "due_date": "2027-03-02", "reason": "the request covers twelve systems"},
			"We need more time for your request req_4", []string{"access request (req_4)", "twelve systems", "2027-03-02 at the latest"}, []string{"<no value>"}},
		{mail.TemplateRetentionWarning, map[string]any{"date": "16 December 2026", "action": "deleted"},
			"Your personal data will be deleted on 16 December 2026", []string{"Art. 5(1)(e)", "sign in before that date"}, []string{"<no value>"}},
		{mail.TemplateRestrictionLifting, map[string]any{"request_id": "req_3", "lift_date": "1 March 2027"},
			"The restriction on your personal data will be lifted (req_3)", []string{"lifted on 1 March 2027", "Art. 18(3)"}, []string{"<no value>", "The reason"}},
	}
	if got := len(tmpl.Names()); got != len(cases) {
		t.Errorf("%d templates, %d tested", got, len(cases))
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			subject, body, err := tmpl.Render(c.name, c.data)
			if err != nil {
				t.Fatal(err)
			}
			if subject != c.subject {
				t.Errorf("subject %q, want %q", subject, c.subject)
			}
			for _, s := range c.mustHave {
				if !strings.Contains(strings.Join(strings.Fields(body), " "), s) {
					t.Errorf("body lacks %q:\n%s", s, body)
				}
			}
			for _, s := range c.mustLack {
				if strings.Contains(body, s) {
					t.Errorf("body has %q:\n%s", s, body)
				}
			}
			if strings.Contains(body, "\n\n\n") {
				t.Errorf("body has runs of blank lines:\n%s", body)
			}
		})
	}
	if _, _, err := tmpl.Render(mail.TemplateRequestRejected, map[string]any{"request_id": "r", "request_type": "access"}); lethe.ErrorCode(err) != lethe.EINVALID || !strings.Contains(err.Error(), "reason") {
		t.Errorf("rejection without a reason: %v, want EINVALID naming reason", err)
	}
}

func TestSubjectIsOneLine(t *testing.T) {
	subject, _, err := mail.DefaultTemplates().Render(mail.TemplateVerificationCode, map[string]any{"code": "1\r\nBcc: x@example.com", "expires_in": "1 minute"})
	if err != nil {
		t.Fatal(err)
	}
	if strings.ContainsAny(subject, "\r\n") {
		t.Errorf("subject %q spans lines", subject)
	}
}
