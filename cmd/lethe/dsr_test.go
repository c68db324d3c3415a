package main

import (
	"archive/zip"
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lethe-privacy/lethe"
	"github.com/lethe-privacy/lethe/app"
	"github.com/lethe-privacy/lethe/dsr"
	"github.com/lethe-privacy/lethe/internal/demo"
	"github.com/lethe-privacy/lethe/mail"
)

// TestDemoAccessAndErase is the README's walk through the embedded sample
// estate: seed, export a subject, plan and run the erasure.
func TestDemoAccessAndErase(t *testing.T) {
	c := newCLI(t)
	c.ok("demo", "seed", "--subjects", "40")
	shop := filepath.Join(c.dataDir, "demo", "shop.db")
	db, err := sql.Open("sqlite", shop)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.SetMaxIdleConns(0)
	var email string
	var orders int
	if err := db.QueryRow(`SELECT email, (SELECT count(*) FROM orders WHERE user_id = users.id) FROM users WHERE id = 1`).Scan(&email, &orders); err != nil {
		t.Fatal(err)
	}

	zipPath := filepath.Join(t.TempDir(), "export.zip")
	out := c.ok("access", "--email", email, "-O", zipPath)
	if !strings.Contains(out, "wrote "+zipPath) {
		t.Errorf("access output: %s", out)
	}
	zr, err := zip.OpenReader(zipPath)
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, f := range zr.File {
		names[f.Name] = true
	}
	zr.Close()
	for _, want := range []string{"data.json", "report.html", "information.json", "csv/shop.users.csv"} {
		if !names[want] {
			t.Errorf("export lacks %s", want)
		}
	}
	if orders > 0 && !names["csv/shop.orders.csv"] {
		t.Errorf("export lacks the subject's %d orders", orders)
	}

	plan := c.ok("-o", "json", "erase", "--email", email, "--dry-run")
	var dry dsr.Certificate
	if err := json.Unmarshal([]byte(plan), &dry); err != nil {
		t.Fatalf("dry run output: %v\n%s", err, plan)
	}
	if !dry.DryRun || len(dry.Steps) == 0 {
		t.Fatalf("dry run: %+v", dry)
	}
	var n int
	db.QueryRow(`SELECT count(*) FROM users WHERE email = ?`, email).Scan(&n)
	if n != 1 {
		t.Fatalf("the dry run changed users: %d rows", n)
	}

	// A correction reaches the address and reads back.
	if out := c.ok("rectify", "--user-id", "1", "--set", "shop.addresses.city=Hamburg"); !strings.Contains(out, "read back: true") {
		t.Errorf("rectify output:\n%s", out)
	}
	db.QueryRow(`SELECT count(*) FROM addresses WHERE user_id = 1 AND city <> 'Hamburg'`).Scan(&n)
	if n != 0 {
		t.Errorf("%d addresses of user 1 not rectified", n)
	}
	if code, _, errs := c.run("rectify", "--user-id", "1", "--set", "shop.users.nope=x"); code != 3 || !strings.Contains(errs, "values.shop.users.nope") {
		t.Errorf("rectify of an undeclared field: exit %d %s", code, errs)
	}

	code, stdout, stderr := c.run("erase", "--email", email, "--user-id", "1")
	if code != 0 {
		t.Fatalf("erase: exit %d\n%s%s", code, stdout, stderr)
	}
	if !strings.Contains(stdout, "verification: passed") || !strings.Contains(stdout, "completed") {
		t.Errorf("erase output:\n%s", stdout)
	}
	db.QueryRow(`SELECT count(*) FROM users WHERE email = ? OR id = 1`, email).Scan(&n)
	if n != 0 {
		t.Errorf("user 1 is still there")
	}
	if strings.Contains(stdout+stderr, email) {
		t.Errorf("the CLI printed the subject's e-mail")
	}
	// A certificate's warnings are printed with it.
	if out := c.ok("erase", "--email", "nobody@example.org"); !strings.Contains(out, "warning: no row in any datastore matched") {
		t.Errorf("erase of an unknown subject does not warn:\n%s", out)
	}
	c.ok("audit", "verify")
}

// TestAccessLargeSubjectBoundedMemory exports a subject with a million
// rows in a child process and reads the child's peak resident set size
// from the kernel: the export streams, so it stays far below the rows'
// size.
func TestAccessLargeSubjectBoundedMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("seeds a million rows")
	}
	const rows = 1_000_000
	dir := t.TempDir()
	dbPath := filepath.Join(dir, "big.db")
	db, err := sql.Open("sqlite", dbPath)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, s := range []string{
		`PRAGMA journal_mode=OFF`, `PRAGMA synchronous=OFF`,
		`CREATE TABLE events (id INTEGER PRIMARY KEY, user_id INTEGER NOT NULL, event TEXT, ip TEXT, user_agent TEXT)`,
		`WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ` + fmt.Sprint(rows) + `)
		 INSERT INTO events SELECT i, 7, 'page_view', '198.51.100.' || (i % 250), 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36 #' || i FROM n`,
		`CREATE INDEX events_user ON events (user_id)`,
	} {
		if _, err := db.ExecContext(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()
	cfg := filepath.Join(dir, "lethe.yaml")
	if err := os.WriteFile(cfg, []byte(`
controller: {name: Example}
purposes: [{id: analytics, lawful_basis: legitimate_interests}]
datastores:
  web:
    driver: sqlite
    dsn: `+dbPath+`
    collections:
      events:
        identities: {user_id: user_id}
        fields:
          ip: {category: network.ip}
          user_agent: {category: device.user_agent}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "export.zip")
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperLethe$")
	cmd.Env = append(os.Environ(), "LETHE_HELPER_ARGS="+strings.Join([]string{"--config", cfg, "--data-dir", filepath.Join(dir, "data"), "access", "--user-id", "7", "-O", out}, "\x1f"))
	b, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("lethe access: %v\n%s", err, b)
	}
	st, err := os.Stat(out)
	if err != nil {
		t.Fatal(err)
	}
	peak := cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss / 1024 // KiB on Linux
	t.Logf("exported %d rows: %d MB package, peak RSS %d MB", rows, st.Size()>>20, peak)
	if !strings.Contains(string(b), fmt.Sprintf("%d rows", rows)) {
		t.Errorf("the export does not report %d rows:\n%s", rows, b)
	}
	if peak >= 200 {
		t.Errorf("peak RSS %d MB exporting %d rows; the export must stream (bound: 200 MB)", peak, rows)
	}
}

// TestHelperLethe runs the CLI with the arguments in LETHE_HELPER_ARGS,
// as a child process of a test that measures it.
func TestHelperLethe(t *testing.T) {
	args := os.Getenv("LETHE_HELPER_ARGS")
	if args == "" {
		t.Skip("runs only as a child of another test")
	}
	os.Exit(run(context.Background(), strings.Split(args, "\x1f"), os.Stdout, os.Stderr))
}

func TestRequestListShowsDeadlines(t *testing.T) {
	c := newCLI(t)
	c.ok("demo", "seed", "--subjects", "5")
	t.Setenv("LETHE_DATA_DIR", c.dataDir)
	a, err := app.Open(context.Background(), app.Options{ConfigPath: exampleConfig, DataDir: c.dataDir})
	if err != nil {
		t.Fatal(err)
	}
	r, err := a.Requests.Create(context.Background(), dsr.CreateParams{Type: lethe.RequestAccess, Identities: []lethe.Identity{{Type: lethe.IdentityUserID, Value: "2"}}, Wait: true, Verified: true})
	a.Close()
	if err != nil {
		t.Fatal(err)
	}
	out := c.ok("request", "list")
	if !strings.Contains(out, r.ID) || !strings.Contains(out, r.DueAt.Format("2006-01-02")) {
		t.Errorf("list:\n%s", out)
	}
	if out := c.ok("request", "list", "--overdue"); strings.Contains(out, r.ID) {
		t.Errorf("a request due in a month is listed as overdue:\n%s", out)
	}
	if out := c.ok("request", "list", "--due-within", "60d"); strings.Contains(out, r.ID) {
		t.Errorf("a completed request is listed as due:\n%s", out)
	}
	if out := c.ok("request", "show", r.ID); !strings.Contains(out, `"status": "completed"`) {
		t.Errorf("show:\n%s", out)
	}
	if code, _, _ := c.run("request", "show", "req_nope"); code != 3 {
		t.Errorf("show unknown: exit %d, want 3", code)
	}
}

func TestOutboxListShowsNoRecipient(t *testing.T) {
	c := newCLI(t)
	a, err := app.Open(context.Background(), app.Options{ConfigPath: exampleConfig, DataDir: c.dataDir})
	if err != nil {
		t.Fatal(err)
	}
	ob, err := mail.New(mail.Options{Store: a.Store, Sealer: a.Keyring})
	if err != nil {
		t.Fatal(err)
	}
	ref, _ := a.Keyring.SubjectRef(lethe.Identity{Type: lethe.IdentityEmail, Value: "jane@example.com"})
	id, err := ob.Enqueue(context.Background(), ref, "jane@example.com", "verification_code", map[string]any{"code": "483920", "expires_in": "15 minutes"})
	a.Close()
	if err != nil {
		t.Fatal(err)
	}
	out := c.ok("outbox", "list", "--pending")
	if !strings.Contains(out, id) || !strings.Contains(out, "verification_code") || !strings.Contains(out, "pending") {
		t.Errorf("outbox list:\n%s", out)
	}
	if strings.Contains(out, "jane@example.com") || strings.Contains(out, "483920") {
		t.Errorf("outbox list shows the recipient or the code:\n%s", out)
	}
}

func TestRequestLifecycleCommands(t *testing.T) {
	c := newCLI(t)
	c.ok("demo", "seed", "--subjects", "5")
	email := demo.SampleSubject(0, 1).Email
	var r struct {
		ID, Status, Reason, Export string
		Attempts                   int
		ExtendedAt                 *time.Time `json:"extended_at"`
	}
	parse := func(out string) {
		t.Helper()
		r.Reason, r.ExtendedAt = "", nil
		if err := json.Unmarshal([]byte(out), &r); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
	}
	parse(c.ok("request", "create", "--type", "access", "--email", email, "--unverified"))
	if r.Status != "unverified" {
		t.Fatalf("create --unverified: %s", r.Status)
	}
	id := r.ID
	if code, _, errs := c.run("request", "run", id); code != 3 || !strings.Contains(errs, "unverified") {
		t.Errorf("run an unverified request: exit %d %s", code, errs)
	}
	parse(c.ok("request", "verify", id))
	if r.Status != "verified" {
		t.Fatalf("verify: %s", r.Status)
	}
	parse(c.ok("request", "extend", id, "--reason", "many datastores"))
	if r.ExtendedAt == nil {
		t.Errorf("extend did not record the extension")
	}
	if code, _, _ := c.run("request", "extend", id); code != 2 {
		t.Errorf("extend without --reason: exit %d, want 2", code)
	}
	parse(c.ok("request", "run", id))
	if r.Status != "completed" || r.Attempts != 1 {
		t.Fatalf("run: %s after %d attempts", r.Status, r.Attempts)
	}
	zipPath := filepath.Join(t.TempDir(), "export.zip")
	c.ok("request", "export", id, "-O", zipPath)
	if b, err := os.ReadFile(zipPath); err != nil || !bytes.HasPrefix(b, []byte("PK")) {
		t.Errorf("export package: %v", err)
	}
	if code, _, errs := c.run("request", "retry", id); code != 3 || !strings.Contains(errs, "completed") {
		t.Errorf("retry a completed request: exit %d %s", code, errs)
	}
	parse(c.ok("request", "create", "--type", "erasure", "--email", email, "--unverified"))
	parse(c.ok("request", "reject", r.ID, "--reason", "identity could not be verified"))
	if r.Status != "rejected" || r.Reason != "identity could not be verified" {
		t.Errorf("reject: %+v", r)
	}
	parse(c.ok("request", "create", "--type", "erasure", "--email", email))
	parse(c.ok("request", "cancel", r.ID, "--reason", "withdrawn"))
	if r.Status != "cancelled" {
		t.Errorf("cancel: %+v", r)
	}
	if code, _, errs := c.run("request", "verify", "req_nope"); code != 3 || strings.Count(strings.TrimSpace(errs), "\n") != 0 {
		t.Errorf("verify unknown: exit %d %q, want 3 and one line", code, errs)
	}
	// The person was told: received, extended and completed for the first,
	// received and rejected for the second.
	out := c.ok("outbox", "list")
	for _, tmpl := range []string{"request_received", "request_extended", "request_completed", "request_rejected"} {
		if !strings.Contains(out, tmpl) {
			t.Errorf("outbox has no %s:\n%s", tmpl, out)
		}
	}
	if strings.Contains(out, email) {
		t.Errorf("the outbox listing shows the e-mail address")
	}
}
