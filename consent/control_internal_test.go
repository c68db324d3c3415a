package consent

import (
	"testing"

	"github.com/lethe-privacy/lethe/mail"
)

func TestTemplateNameMatchesMail(t *testing.T) {
	if templateRestrictionLifting != mail.TemplateRestrictionLifting {
		t.Fatalf("consent queues template %q, package mail names it %q", templateRestrictionLifting, mail.TemplateRestrictionLifting)
	}
}
