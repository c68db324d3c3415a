package config

import (
	"cmp"
	"fmt"
	"net/url"

	"github.com/lethe-privacy/lethe"
)

// checkEvents checks what the schema cannot about events: webhook and
// notify endpoints are http(s) URLs with a host, secrets are long enough,
// webhook names are unique, the NATS URL is one NATS reads. URLs and
// secrets may hold passwords: no message quotes them.
func (p *parser) checkEvents(cfg *lethe.Config) {
	if ev := cfg.Events; ev != nil && !p.covered("events") {
		if n := ev.NATS; n != nil && n.URL != "" && !p.covered("events.nats.url") {
			u, err := url.Parse(n.URL)
			if err != nil || (u.Scheme != "nats" && u.Scheme != "tls" && u.Scheme != "ws" && u.Scheme != "wss") || u.Host == "" {
				p.add("events.nats.url", p.lineOf("events.nats.url"), "must be a nats:// (or tls://, ws://, wss://) URL with a host, e.g. nats://127.0.0.1:4222%s", p.hiddenSource("events.nats.url"))
			}
		}
		first := map[string]string{}
		for i, w := range ev.Webhooks {
			at := itemPath("events.webhooks", i)
			if p.covered(at) {
				continue
			}
			if w.Name != "" && !p.covered(at+".name") {
				if f, dup := first[w.Name]; dup {
					p.add(at+".name", p.lineOf(at+".name"), "duplicate webhook name %q (first declared at line %d)", w.Name, p.lineOf(f))
				} else {
					first[w.Name] = at + ".name"
				}
			}
			p.checkEndpoint(at, w.URL, w.Secret)
		}
	}
	for i, pp := range cfg.Purposes {
		for j, r := range pp.Recipients {
			if r.Notify != nil {
				at := itemPath(itemPath("purposes", i)+".recipients", j) + ".notify"
				if !p.covered(at) {
					p.checkEndpoint(at, r.Notify.URL, r.Notify.Secret)
				}
			}
		}
	}
}

// checkEndpoint checks the url and secret of a signed webhook at path at.
func (p *parser) checkEndpoint(at, rawURL, secret string) {
	if rawURL != "" && !p.covered(at+".url") {
		u, err := url.Parse(rawURL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			p.add(at+".url", p.lineOf(at+".url"), "must be an https:// (or http://) URL with a host, e.g. https://processor.example.com/lethe%s", p.hiddenSource(at+".url"))
		}
	}
	if secret != "" && !p.covered(at+".secret") && len(secret) < minSecretLen {
		p.add(at+".secret", p.lineOf(at+".secret"), "is too short: a signing secret has at least %d bytes (e.g. the output of openssl rand -hex 32)%s", minSecretLen, p.envOf(at+".secret"))
	}
}

// hiddenSource names where a value that is never quoted came from.
func (p *parser) hiddenSource(path string) string {
	return cmp.Or(p.envOf(path), " (the value is not shown: it may hold a password)")
}

func (p *parser) envOf(path string) string {
	if l, ok := p.paths[path]; ok {
		if raw, env := p.fromEnv[l.node]; env {
			return fmt.Sprintf(" (check %s; its value is not shown)", raw)
		}
	}
	return ""
}
