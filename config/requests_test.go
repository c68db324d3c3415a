package config

import (
	"net/netip"
	"testing"
	"time"

	"github.com/lethe-privacy/lethe"
)

func TestRequestsBlock(t *testing.T) {
	cfg, err := Parse([]byte(`controller: {name: Shop}
purposes: [{id: orders, lawful_basis: contract}]
requests:
  verification: {code_ttl: 15m, max_attempts: 3, resend_after: 2m}
  rate_limits: {per_identity: 3/1d, per_client: 50/30m}
  trusted_proxies: [10.0.0.0/8, 192.0.2.10, "fd00::/8"]
  public_intake: false
  run: {concurrency: 2, lease: 10s, max_attempts: 3}
  keep_records: 3y
  export_max_age: 7d
  supervisory_authority: CNIL
`), "lethe.yaml")
	if err != nil {
		t.Fatal(err)
	}
	s, err := cfg.Requests.Settings()
	if err != nil {
		t.Fatal(err)
	}
	want := lethe.IntakeSettings{CodeTTL: 15 * time.Minute, MaxAttempts: 3, ResendAfter: 2 * time.Minute,
		PerIdentity: lethe.Rate{Limit: 3, Window: 24 * time.Hour}, PerClient: lethe.Rate{Limit: 50, Window: 30 * time.Minute}}
	if s.CodeTTL != want.CodeTTL || s.MaxAttempts != want.MaxAttempts || s.ResendAfter != want.ResendAfter || s.PerIdentity != want.PerIdentity || s.PerClient != want.PerClient {
		t.Errorf("settings %+v, want %+v", s, want)
	}
	if s.PublicIntake || s.Concurrency != 2 || s.Lease != 10*time.Second || s.RunAttempts != 3 || s.KeepRecords.String() != "3y" ||
		s.ExportMaxAge != 7*24*time.Hour || s.SupervisoryAuthority != "CNIL" {
		t.Errorf("intake and run settings %+v", s)
	}
	wantProxies := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.0.2.10/32"), netip.MustParsePrefix("fd00::/8")}
	if len(s.TrustedProxies) != 3 {
		t.Fatalf("proxies %v, want %v", s.TrustedProxies, wantProxies)
	}
	for i := range wantProxies {
		if s.TrustedProxies[i] != wantProxies[i] {
			t.Errorf("proxy %d: %v, want %v", i, s.TrustedProxies[i], wantProxies[i])
		}
	}

	// Absent: the defaults.
	cfg, err = Parse([]byte("controller: {name: Shop}\npurposes: [{id: orders, lawful_basis: contract}]\n"), "lethe.yaml")
	if err != nil {
		t.Fatal(err)
	}
	s, err = cfg.Requests.Settings()
	if err != nil || s.CodeTTL != 30*time.Minute || s.MaxAttempts != 5 || s.ResendAfter != time.Minute ||
		s.PerIdentity.String() != "5/1h" || s.PerClient.String() != "20/1h" || len(s.TrustedProxies) != 0 || !s.PublicIntake {
		t.Errorf("defaults %+v, %v", s, err)
	}
}

func TestRequestsBlockErrors(t *testing.T) {
	_, err := Parse([]byte(`controller: {name: Shop}
purposes: [{id: orders, lawful_basis: contract}]
requests:
  verification:
    code_ttl: 2mo
    max_attempts: 0
    resend_after: 2h
  rate_limits:
    per_identity: five an hour
    per_client: 0/1h
  trusted_proxies: [10.0.0.0/33, proxy.example.com]
  open_to_all: true
  run: {lease: 1s, concurrency: 100}
  keep_records: 12mo
`), "lethe.yaml")
	got := map[string]int{}
	for _, f := range lethe.ErrorFields(err) {
		got[f.Path] = f.Line
	}
	for path, line := range map[string]int{
		"requests.verification.code_ttl":     5,
		"requests.verification.max_attempts": 6,
		"requests.verification.resend_after": 7,
		"requests.rate_limits.per_identity":  9,
		"requests.rate_limits.per_client":    10,
		"requests.trusted_proxies[0]":        11,
		"requests.trusted_proxies[1]":        11,
		"requests.run.lease":                 13,
		"requests.run.concurrency":           13,
		"requests.keep_records":              14,
	} {
		if l, ok := got[path]; !ok || l != line {
			t.Errorf("%s: reported %v at line %d, want line %d; all: %v", path, ok, l, line, lethe.ErrorFields(err))
		}
	}
	if len(got) < 8 {
		t.Errorf("want the unknown key open_to_all reported too: %v", lethe.ErrorFields(err))
	}
}

func TestParseRate(t *testing.T) {
	for in, want := range map[string]string{"5/1h": "5/1h", "20/60m": "20/1h", "3/1d12h": "3/1d12h", " 7/90s ": "7/1m30s"} {
		r, err := lethe.ParseRate(in)
		if err != nil || r.String() != want {
			t.Errorf("ParseRate(%q) = %v, %v; want %s", in, r, err, want)
		}
	}
	for _, in := range []string{"", "5", "5/", "/1h", "0/1h", "-1/1h", "5/1mo", "5/0s", "5/40d", "5/1x", "1.5/1h"} {
		if r, err := lethe.ParseRate(in); err == nil {
			t.Errorf("ParseRate(%q) = %v, want an error", in, r)
		}
	}
}
