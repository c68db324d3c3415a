package config

import (
	"strings"
	"testing"

	"github.com/lethe-privacy/lethe"
)

func TestSMTP(t *testing.T) {
	t.Setenv("SMTP_PASSWORD", "s3cret-pa55")
	cfg, err := Parse([]byte(`controller: {name: Shop}
purposes: [{id: orders, lawful_basis: contract}]
smtp: {host: mail.example.com, port: 465, username: lethe, password: "${SMTP_PASSWORD}", from: "Privacy <privacy@example.com>", tls: tls, timeout: 10s}
`), "lethe.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if s := cfg.SMTP; s == nil || s.Port != 465 || s.Password != "s3cret-pa55" || s.TLS != "tls" || s.Timeout.String() != "10s" {
		t.Fatalf("smtp decoded as %+v", cfg.SMTP)
	}
	_, err = Parse([]byte(`controller: {name: Shop}
purposes: [{id: orders, lawful_basis: contract}]
smtp: {host: mail.example.com, port: 70000, password: [s3cret-pa55], tls: ssl}
`), "lethe.yaml")
	fields := lethe.ErrorFields(err)
	paths := map[string]bool{}
	for _, f := range fields {
		paths[f.Path] = true
	}
	for _, want := range []string{"smtp.port", "smtp.password", "smtp.tls", "smtp.from"} {
		if !paths[want] {
			t.Errorf("no problem at %s in %v", want, err)
		}
	}
	if strings.Contains(lethe.ErrorMessage(err)+strings.Join(func() []string {
		var m []string
		for _, f := range fields {
			m = append(m, f.Message)
		}
		return m
	}(), " "), "s3cret") {
		t.Errorf("an error quotes the password: %v", fields)
	}
}
