package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/lethe-privacy/lethe"
	"github.com/lethe-privacy/lethe/app"
	"github.com/lethe-privacy/lethe/connector/webhook"
	"github.com/lethe-privacy/lethe/dsr"
	"github.com/lethe-privacy/lethe/internal/testenv"
)

// crm is a webhook datastore the test serves: it holds one contact, and
// its first erasure call blocks until the caller goes away, so that the
// test can kill `lethe serve` in the middle of an erasure.
type crm struct {
	mu       sync.Mutex
	erased   bool
	blocking bool
	calls    int
	started  chan struct{} // closed when the blocking erasure call arrives
	once     sync.Once
}

func (c *crm) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var call struct {
		Action     string              `json:"action"`
		Identities map[string][]string `json:"identities"`
	}
	if err := json.NewDecoder(r.Body).Decode(&call); err != nil {
		http.Error(w, "bad call", http.StatusBadRequest)
		return
	}
	mine := false
	for _, v := range call.Identities["email"] {
		mine = mine || v == "max@example.org"
	}
	c.mu.Lock()
	erased, blocking := c.erased, c.blocking
	if call.Action == "erasure" {
		c.calls++
	}
	c.mu.Unlock()
	switch {
	case call.Action == "access":
		rows := []map[string]any{}
		if mine && !erased {
			rows = append(rows, map[string]any{"email": "max@example.org", "plan": "pro"})
		}
		json.NewEncoder(w).Encode(map[string]any{"rows": rows})
	case blocking:
		c.once.Do(func() { close(c.started) })
		<-r.Context().Done() // the caller was killed
	default:
		n := 0
		c.mu.Lock()
		if mine && !c.erased {
			c.erased, n = true, 1
		}
		c.mu.Unlock()
		json.NewEncoder(w).Encode(map[string]any{"erased": n})
	}
}

// TestErasureResumesAfterSIGKILL starts `lethe serve` as a real process,
// kills it with SIGKILL while an erasure across SQLite, PostgreSQL and a
// webhook service is half-way, starts it again, and checks that the
// request completes with its verification passed, and that what must
// happen once (key shreds, the completion notice) happened once.
func TestErasureResumesAfterSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("starts lethe serve twice")
	}
	ctx := context.Background()
	dir := t.TempDir()
	webDB := filepath.Join(dir, "web.db")
	web, err := sql.Open("sqlite", webDB)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{
		`CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT NOT NULL, name TEXT)`,
		`CREATE INDEX users_email ON users (email)`,
		`INSERT INTO users VALUES (1, 'jane@example.com', 'Jane'), (2, 'max@example.org', 'Max')`,
	} {
		if _, err := web.Exec(s); err != nil {
			t.Fatal(err)
		}
	}
	web.Close()
	shopURL := testenv.PostgresSchema(t)
	shop, err := sql.Open("pgx", shopURL)
	if err != nil {
		t.Fatal(err)
	}
	defer shop.Close()
	for _, s := range []string{
		`CREATE TABLE orders (id bigint PRIMARY KEY, user_id bigint NOT NULL, address text)`,
		`CREATE INDEX ON orders (user_id)`,
		`INSERT INTO orders VALUES (10, 1, '1 Main Street'), (20, 2, '2 High Street'), (21, 2, '2 High Street')`,
	} {
		if _, err := shop.Exec(s); err != nil {
			t.Fatal(err)
		}
	}
	service := &crm{blocking: true, started: make(chan struct{})}
	secret := "crash-test-webhook-secret-0123456789"
	hook := httptest.NewServer(webhook.VerifyRequest([]byte(secret), service))
	defer hook.Close()

	cfg := filepath.Join(dir, "lethe.yaml")
	if err := os.WriteFile(cfg, []byte(`
controller: {name: Example Shop, contact: privacy@example.com}
purposes: [{id: service, lawful_basis: contract}]
requests:
  run: {lease: 3s}
datastores:
  web:
    driver: sqlite
    dsn: `+webDB+`
    collections:
      users:
        identities: {email: email, user_id: id}
        fields:
          email: {category: contact.email}
          name: {category: contact.name}
  shop:
    driver: postgres
    dsn: `+shopURL+`
    collections:
      orders:
        references: {user_id: web.users.id}
        fields:
          address: {category: contact.address}
  crm:
    driver: webhook
    url: `+hook.URL+`
    secret: `+secret+`
    timeout: 5m
    collections:
      contacts:
        identities: {email: email}
        fields:
          email: {category: contact.email}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	dataDir := filepath.Join(dir, "data")
	globals := []string{"--config", cfg, "--data-dir", dataDir}
	var out, errb strings.Builder
	if code := run(ctx, append(globals, "apikey", "create", "--name", "crash", "--scopes", "admin"), &out, &errb); code != 0 {
		t.Fatalf("apikey create: %d %s", code, errb.String())
	}
	key := strings.TrimSpace(lastLine(out.String()))

	serve := func() (*exec.Cmd, string, *strings.Builder) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		cmd := exec.Command(os.Args[0], "-test.run=^TestHelperLethe$")
		cmd.Env = append(os.Environ(), "LETHE_HELPER_ARGS="+strings.Join(append(globals, "serve", "--addr", addr), "\x1f"))
		logs := &strings.Builder{}
		cmd.Stdout, cmd.Stderr = io.Discard, &syncWriter{w: logs}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			if resp, err := http.Get("http://" + addr + "/readyz"); err == nil {
				resp.Body.Close()
				if resp.StatusCode == 200 {
					break
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("lethe serve did not become ready:\n%s", logs.String())
			}
		}
		return cmd, "http://" + addr, logs
	}
	get := func(base, id string) dsrStatus {
		req, _ := http.NewRequest("GET", base+"/v1/requests/"+id, nil)
		req.Header.Set("Authorization", "Bearer "+key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var s dsrStatus
		json.NewDecoder(resp.Body).Decode(&s)
		return s
	}

	first, base, logs1 := serve()
	req, _ := http.NewRequest("POST", base+"/v1/requests", strings.NewReader(`{"type": "erasure", "identities": {"email": "max@example.org"}}`))
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var created dsrStatus
	json.NewDecoder(resp.Body).Decode(&created)
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted || created.ID == "" {
		t.Fatalf("create: %d %+v", resp.StatusCode, created)
	}
	select {
	case <-service.started:
	case <-time.After(60 * time.Second):
		t.Fatalf("the erasure never reached the webhook service:\n%s", logs1.String())
	}
	if s := get(base, created.ID); s.Status != "running" {
		t.Fatalf("before the kill: %+v", s)
	}
	if err := first.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	first.Wait()
	service.mu.Lock()
	service.blocking = false
	service.mu.Unlock()

	// The second process resumes the request once the dead one's lease
	// (3s) runs out.
	second, base, logs2 := serve()
	var final dsrStatus
	for deadline := time.Now().Add(90 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		if final = get(base, created.ID); final.Status != "running" && final.Status != "verified" {
			break
		}
	}
	second.Process.Signal(syscall.SIGTERM)
	second.Wait()
	if final.Status != "completed" {
		t.Fatalf("after the restart: %+v\nfirst process:\n%s\nsecond process:\n%s", final, logs1.String(), logs2.String())
	}
	var cert dsr.Certificate
	if err := json.Unmarshal(final.Result, &cert); err != nil || cert.Verification == nil || !cert.Verification.Passed {
		t.Fatalf("certificate: %s (%v)", final.Result, err)
	}

	// Raw SQL: Max is gone from both databases, Jane is untouched.
	web, _ = sql.Open("sqlite", webDB)
	defer web.Close()
	var n int
	web.QueryRow(`SELECT count(*) FROM users WHERE email = 'max@example.org' OR id = 2`).Scan(&n)
	if n != 0 {
		t.Errorf("%d rows of the subject left in SQLite", n)
	}
	shop.QueryRow(`SELECT count(*) FROM orders WHERE user_id = 2`).Scan(&n)
	if n != 0 {
		t.Errorf("%d orders of the subject left in PostgreSQL", n)
	}
	var janeOrders, jane int
	shop.QueryRow(`SELECT count(*) FROM orders WHERE user_id = 1 AND address = '1 Main Street'`).Scan(&janeOrders)
	web.QueryRow(`SELECT count(*) FROM users WHERE id = 1 AND email = 'jane@example.com'`).Scan(&jane)
	if janeOrders != 1 || jane != 1 {
		t.Errorf("someone else's rows were touched: %d orders, %d users", janeOrders, jane)
	}
	if !service.erased {
		t.Errorf("the webhook service never erased the contact")
	}

	// Once only: each key shred, the completion notice; the resumption is
	// in the audit log.
	a, err := app.Open(ctx, app.Options{ConfigPath: cfg, DataDir: dataDir})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	head, err := a.Store.AuditHead(ctx)
	if err != nil {
		t.Fatal(err)
	}
	shreds := map[lethe.SubjectRef]int{}
	actions := map[string]int{}
	err = a.Store.AuditEntries(ctx, 0, head.Size, func(e lethe.AuditEntry) error {
		if e.Action == "subject.key_shredded" {
			shreds[e.SubjectRef]++
		}
		if e.Object == created.ID {
			actions[e.Action]++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(shreds) < 2 {
		t.Errorf("shredded %d subject references; want the e-mail's and the account's", len(shreds))
	}
	for ref, k := range shreds {
		if k != 1 {
			t.Errorf("subject %s shredded %d times", ref, k)
		}
	}
	if actions["request.resumed"] != 1 || actions["request.started"] != 1 || actions["request.completed"] != 1 {
		t.Errorf("request audit trail: %v", actions)
	}
	msgs, err := a.Store.OutboxList(ctx, false, 100)
	if err != nil {
		t.Fatal(err)
	}
	completed := 0
	for _, m := range msgs {
		if m.ID == dsr.NoticeID(created.ID, "completed") {
			completed++
		}
	}
	if completed != 1 {
		t.Errorf("%d completion notices queued, want 1", completed)
	}
	for _, l := range []string{logs1.String(), logs2.String()} {
		if strings.Contains(l, "max@example.org") {
			t.Errorf("a server log holds the subject's e-mail address")
		}
	}
	t.Logf("resumed after SIGKILL: %d erasure calls to the webhook, %d audit entries for the request", service.calls, len(actions))
}

type dsrStatus struct {
	ID     string          `json:"id"`
	Status string          `json:"status"`
	Error  string          `json:"error"`
	Result json.RawMessage `json:"result"`
}
