package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"github.com/lethe-privacy/lethe/internal/testenv"
)

const exampleConfig = "../../examples/lethe.yaml"

// cli runs the CLI in-process on a data directory.
type cli struct {
	t           *testing.T
	dataDir     string
	databaseURL string // PostgreSQL store when set
}

func (c cli) globals() []string {
	g := []string{"--data-dir", c.dataDir, "--config", exampleConfig}
	if c.databaseURL != "" {
		g = append(g, "--database-url", c.databaseURL)
	}
	return g
}

func newCLI(t *testing.T) cli {
	t.Cleanup(func() { os.Unsetenv("LETHE_DATA_DIR") })
	t.Setenv("LETHE_CONFIG", "")
	t.Setenv("LETHE_DATA_DIR", "")
	t.Setenv("LETHE_DATABASE_URL", "")
	return cli{t: t, dataDir: t.TempDir()}
}

func (c cli) run(args ...string) (code int, stdout, stderr string) {
	c.t.Helper()
	var out, errb bytes.Buffer
	full := append(c.globals(), args...)
	code = run(context.Background(), full, &out, &errb)
	return code, out.String(), errb.String()
}

func (c cli) ok(args ...string) string {
	c.t.Helper()
	code, out, errs := c.run(args...)
	if code != 0 {
		c.t.Fatalf("lethe %s: exit %d\n%s%s", strings.Join(args, " "), code, out, errs)
	}
	return out
}

func TestExitCodes(t *testing.T) {
	c := newCLI(t)
	c.ok("consent", "record", "--subject-id", "u-1", "--policy-version", "2026-03", "--mechanism", "cli", "--grant", "marketing_email")
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(bad, []byte("controller: {name: X}\npurposes:\n  - id: a\n    lawful_basis: consnet\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name    string
		args    []string
		code    int
		message string
	}{
		{"allowed", []string{"consent", "check", "u-1", "marketing_email"}, 0, "granted"},
		{"not allowed", []string{"consent", "check", "u-2", "marketing_email"}, 1, "never_given"},
		{"unknown purpose", []string{"consent", "check", "u-1", "nope"}, 3, "declared purposes: marketing_email"},
		{"missing argument", []string{"consent", "check", "u-1"}, 2, "takes SUBJECT_ID and PURPOSE"},
		{"unknown flag", []string{"consent", "check", "--bogus"}, 2, "unknown flag"},
		{"unknown command", []string{"nonsense"}, 2, "unknown command"},
		{"bad output", []string{"-o", "xml", "version"}, 2, "--output"},
		{"bad durability", []string{"--sqlite-synchronous", "off", "migrate"}, 2, "--sqlite-synchronous must be full or normal"},
		{"durability normal", []string{"--sqlite-synchronous", "NORMAL", "consent", "check", "u-1", "marketing_email"}, 0, "granted"},
		{"invalid config", []string{"config", "validate", bad}, 3, `purposes[0].lawful_basis: line 4: "consnet" is not one of consent`},
		{"missing policy version", []string{"consent", "record", "--subject-id", "u-1", "--mechanism", "cli", "--grant", "analytics"}, 3, "policy_version"},
		{"unknown scope", []string{"apikey", "create", "--name", "x", "--scopes", "root"}, 3, "unknown scope"},
		{"unreachable database", []string{"--database-url", "postgres://nobody@127.0.0.1:1/none?connect_timeout=2", "migrate"}, 4, ""},
		{"bad receipt id", []string{"consent", "receipt", "not-a-uuid"}, 3, "not a UUID"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errs := c.run(tc.args...)
			if code != tc.code {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", code, tc.code, out, errs)
			}
			if !strings.Contains(out+errs, tc.message) {
				t.Fatalf("output lacks %q\nstdout: %s\nstderr: %s", tc.message, out, errs)
			}
			if tc.code >= 2 && strings.Count(strings.TrimSpace(errs), "\n") > 1 {
				t.Fatalf("error is not a short message: %q", errs)
			}
		})
	}
}

func TestAPIKeyCreatePrintsKeyAloneOnLastLine(t *testing.T) {
	c := newCLI(t)
	out := c.ok("apikey", "create", "--name", "ops", "--scopes", "consent:read,audit:read")
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	key := lines[len(lines)-1]
	if !strings.HasPrefix(key, "lethe_") || strings.ContainsAny(key, " \t") {
		t.Fatalf("last line is not a key: %q", key)
	}
	list := c.ok("apikey", "list", "-o", "json")
	if strings.Contains(list, key) || strings.Contains(list, strings.Split(key, "_")[2]) {
		t.Fatal("apikey list shows the secret")
	}
	var got struct{ Keys []struct{ ID, Name string } }
	if err := json.Unmarshal([]byte(list), &got); err != nil || len(got.Keys) != 1 || got.Keys[0].Name != "ops" {
		t.Fatalf("list: %s (%v)", list, err)
	}
	c.ok("apikey", "revoke", got.Keys[0].ID)
	if code, _, _ := c.run("apikey", "revoke", "knope"); code != 3 {
		t.Fatalf("revoking an unknown key: exit %d, want 3", code)
	}
}

func TestAuditVerifyNamesTamperedEntry(t *testing.T) {
	c := newCLI(t)
	for i := range 5 {
		c.ok("consent", "record", "--subject-id", fmt.Sprintf("u-%d", i), "--policy-version", "2026-03", "--mechanism", "cli", "--grant", "analytics")
	}
	c.ok("audit", "checkpoint")
	out := c.ok("audit", "verify", "-q")
	if !strings.Contains(out, "ok: 5 entries") {
		t.Fatalf("verify: %s", out)
	}
	proof := c.ok("audit", "proof", "--seq", "2")
	if !strings.Contains(proof, `"tree_size": 5`) {
		t.Fatalf("proof: %s", proof)
	}

	db, err := sql.Open("sqlite", filepath.Join(c.dataDir, "lethe.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(`SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'audit_entries'`)
	if err != nil {
		t.Fatal(err)
	}
	var triggers []string
	for rows.Next() {
		var n string
		rows.Scan(&n)
		triggers = append(triggers, n)
	}
	rows.Close()
	if len(triggers) == 0 {
		t.Fatal("audit_entries has no append-only trigger")
	}
	if _, err := db.Exec(`UPDATE audit_entries SET action = 'consent.withdrawn' WHERE seq = 3`); err == nil {
		t.Fatal("the append-only trigger let an UPDATE through")
	}
	for _, tr := range triggers {
		if _, err := db.Exec(`DROP TRIGGER ` + tr); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.Exec(`UPDATE audit_entries SET action = 'consent.withdrawn' WHERE seq = 3`); err != nil {
		t.Fatal(err)
	}
	code, out, errs := c.run("audit", "verify", "-q", "-o", "json")
	if code != 1 {
		t.Fatalf("verify of a tampered log: exit %d\n%s%s", code, out, errs)
	}
	var res struct {
		OK          bool    `json:"ok"`
		FirstBadSeq *uint64 `json:"first_bad_seq"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil || res.OK || res.FirstBadSeq == nil || *res.FirstBadSeq != 3 {
		t.Fatalf("verify result %s (%v): want first bad seq 3", out, err)
	}
}

func TestShredErasesEvidence(t *testing.T) {
	c := newCLI(t)
	c.ok("consent", "record", "--subject-id", "u-1", "--policy-version", "2026-03", "--mechanism", "cli", "--grant", "marketing_email", "--ip", "198.51.100.23")
	if out := c.ok("consent", "history", "u-1"); !strings.Contains(out, "198.51.100.23") {
		t.Fatalf("history before shred: %s", out)
	}
	c.ok("subject", "shred", "u-1")
	out := c.ok("consent", "history", "u-1")
	if strings.Contains(out, "198.51.100.23") || !strings.Contains(out, "[erased]") || !strings.Contains(out, "marketing_email") {
		t.Fatalf("history after shred: %s", out)
	}
	journal, err := os.ReadFile(filepath.Join(c.dataDir, "shreds.log"))
	if err != nil || len(bytes.TrimSpace(journal)) == 0 {
		t.Fatalf("shred journal: %q, %v", journal, err)
	}
	if out := c.ok("subject", "reshred", filepath.Join(c.dataDir, "shreds.log")); !strings.Contains(out, "1 shred record(s) applied") {
		t.Fatalf("reshred: %s", out)
	}
	if out := c.ok("audit", "verify", "-q"); !strings.HasPrefix(out, "ok:") {
		t.Fatalf("verify after shred: %s", out)
	}
}

func TestOpenAPIAndSchema(t *testing.T) {
	c := newCLI(t)
	var doc struct {
		OpenAPI string         `json:"openapi"`
		Paths   map[string]any `json:"paths"`
	}
	if err := json.Unmarshal([]byte(c.ok("openapi")), &doc); err != nil || !strings.HasPrefix(doc.OpenAPI, "3.1") {
		t.Fatalf("openapi: %v %q", err, doc.OpenAPI)
	}
	if _, ok := doc.Paths["/v1/consents"]; !ok {
		t.Fatalf("openapi lacks /v1/consents: %v", doc.Paths)
	}
	var schema map[string]any
	if err := json.Unmarshal([]byte(c.ok("config", "schema")), &schema); err != nil || schema["$schema"] == nil {
		t.Fatalf("config schema: %v", err)
	}
}

// TestServe runs `lethe serve` in-process on a free port, uses it the way
// the README's tour does, and stops it as SIGTERM would.
func TestServe(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) { testServe(t, newCLI(t)) })
	t.Run("postgres", func(t *testing.T) {
		c := newCLI(t)
		c.databaseURL = testenv.PostgresSchema(t)
		testServe(t, c)
	})
}

func testServe(t *testing.T, c cli) {
	key := strings.TrimSpace(lastLine(c.ok("apikey", "create", "--name", "tour", "--scopes", "admin")))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	ctx, cancel := context.WithCancel(context.Background())
	exited := make(chan int, 1)
	var logs bytes.Buffer
	go func() {
		exited <- run(ctx, append(c.globals(), "serve", "--addr", addr, "--checkpoint-interval", "50ms"), io.Discard, &syncWriter{w: &logs})
	}()
	base := "http://" + addr
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get(base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("server not ready: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	do := func(method, path, body string, hdr ...string) (int, string) {
		req, _ := http.NewRequest(method, base+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+key)
		req.Header.Set("Content-Type", "application/json")
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	status, body := do("POST", "/v1/consents", `{"subject_id": "u-1", "policy_version": "2026-03", "mechanism": "signup_form_v3", "evidence": {"ip": "203.0.113.7", "user_agent": "Mozilla/5.0"}, "purposes": [{"purpose": "marketing_email", "granted": true}]}`)
	if status != 201 || !strings.Contains(body, `"granted":true`) {
		t.Fatalf("record: %d %s", status, body)
	}
	status, body = do("GET", "/v1/subjects/u-1/consents/marketing_email", "")
	if status != 200 || !strings.Contains(body, `"allowed":true`) || !strings.Contains(body, `"reason":"granted"`) {
		t.Fatalf("check: %d %s", status, body)
	}
	// The CLI, next to the running server, withdraws: the server's cache
	// must not keep answering "granted".
	c.ok("consent", "record", "--subject-id", "u-1", "--mechanism", "cli", "--withdraw", "marketing_email")
	for {
		status, body = do("GET", "/v1/subjects/u-1/consents/marketing_email", "")
		if status == 200 && strings.Contains(body, `"reason":"withdrawn"`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("server still answers %d %s after the CLI withdrew", status, body)
		}
		time.Sleep(20 * time.Millisecond)
	}
	status, body = do("POST", "/v1/consents", `{"subject_id": "u-2", "mechanism": "web", "purposes": []}`, "Sec-GPC", "1")
	if status != 201 || !strings.Contains(body, `"mechanism":"gpc"`) {
		t.Fatalf("gpc: %d %s", status, body)
	}
	status, body = do("POST", "/v1/consents", `{"subject_id": "u-1", "mechanism": "x", "purposes": [{"purpose": "order_fulfilment", "granted": true}], "extra": 1}`)
	if status != 422 || !strings.Contains(body, "extra") {
		t.Fatalf("unknown field: %d %s", status, body)
	}
	// The background signer checkpoints what was appended.
	for {
		status, body = do("GET", "/v1/audit/checkpoints/latest", "")
		if status == 200 && !strings.Contains(body, `"size":1,`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no checkpoint signed by the server: %d %s", status, body)
		}
		time.Sleep(50 * time.Millisecond)
	}
	status, body = do("GET", "/v1/audit/verify", "")
	if status != 200 || !strings.Contains(body, `"ok":true`) {
		t.Fatalf("verify: %d %s", status, body)
	}
	cancel()
	select {
	case code := <-exited:
		if code != 0 {
			t.Fatalf("serve exited %d after shutdown; logs:\n%s", code, logs.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("serve did not shut down")
	}
	for _, pii := range []string{"u-1", "203.0.113.7", "Mozilla"} {
		if strings.Contains(logs.String(), pii) {
			t.Fatalf("server logs hold %q:\n%s", pii, logs.String())
		}
	}
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return lines[len(lines)-1]
}

// syncWriter lets the server's goroutines log into one buffer.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}
