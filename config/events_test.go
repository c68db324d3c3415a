package config

import (
	"strings"
	"testing"

	"github.com/lethe-privacy/lethe"
)

func TestEvents(t *testing.T) {
	t.Setenv("CRM_SECRET", "s3cret-0123456789abcdef")
	t.Setenv("MAILER_SECRET", "m41ler-0123456789abcdef")
	cfg, err := Parse([]byte(`controller: {name: Shop}
purposes:
  - id: newsletter
    lawful_basis: consent
    policy_version: v1
    categories: [contact.email]
    recipients: [{name: Mailer Inc, notify: {url: "https://mailer.example.com/art19", secret: "${MAILER_SECRET}"}}]
events:
  nats: {url: "nats://127.0.0.1:4222", stream: LETHE, subject_prefix: lethe}
  webhooks:
    - {name: crm, url: "https://crm.example.com/lethe", secret: "${CRM_SECRET}", events: [consent.changed, subject.erased], identities: true}
  max_attempts: 5
  identities_max_age: 3d
`), "lethe.yaml")
	if err != nil {
		t.Fatal(err)
	}
	ev := cfg.Events
	if ev == nil || ev.NATS == nil || ev.NATS.Stream != "LETHE" || len(ev.Webhooks) != 1 || ev.Webhooks[0].Secret != "s3cret-0123456789abcdef" ||
		!ev.Webhooks[0].Identities || len(ev.Webhooks[0].Events) != 2 || ev.MaxAttempts != 5 || ev.IdentitiesMaxAge.String() != "3d" {
		t.Fatalf("events decoded as %+v", ev)
	}
	if n := cfg.Purposes[0].Recipients[0].Notify; n == nil || n.Secret != "m41ler-0123456789abcdef" {
		t.Fatalf("notify decoded as %+v", n)
	}

	t.Setenv("SHORT", "s3cr")
	_, err = Parse([]byte(`controller: {name: Shop}
purposes:
  - id: newsletter
    lawful_basis: contract
    recipients: [{name: Mailer Inc, notify: {url: "ftp://user:pw@mailer", secret: "${SHORT}"}}]
events:
  nats: {url: "http://user:hunter2@nats"}
  webhooks:
    - {name: crm, url: "https://crm.example.com/lethe", secret: "short-s3cr", events: [consent.changd]}
    - {name: crm, url: "crm.example.com", secret: "0123456789abcdefgh"}
`), "lethe.yaml")
	paths := map[string]bool{}
	var msgs []string
	for _, f := range lethe.ErrorFields(err) {
		paths[f.Path] = true
		msgs = append(msgs, f.Message)
	}
	for _, want := range []string{"purposes[0].recipients[0].notify.url", "purposes[0].recipients[0].notify.secret", "events.nats.url",
		"events.webhooks[0].secret", "events.webhooks[0].events[0]", "events.webhooks[1].name", "events.webhooks[1].url"} {
		if !paths[want] {
			t.Errorf("no problem at %s in %v", want, err)
		}
	}
	all := strings.Join(msgs, " ") + lethe.ErrorMessage(err)
	for _, secret := range []string{"hunter2", "s3cr", "user:pw", "short-s3cr"} {
		if strings.Contains(all, secret) {
			t.Errorf("an error quotes %q: %s", secret, all)
		}
	}
}
