package http_test

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"github.com/lethe-privacy/lethe"
	"github.com/lethe-privacy/lethe/app"
	api "github.com/lethe-privacy/lethe/http"
	"github.com/lethe-privacy/lethe/internal/demo"
)

func TestRetentionStatus(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	t.Setenv("LETHE_DATA_DIR", dir)
	if _, err := demo.Seed(ctx, demo.Options{Subjects: 200, SQLitePath: filepath.Join(dir, "demo", "shop.db")}); err != nil {
		t.Fatal(err)
	}
	a, err := app.Open(ctx, app.Options{ConfigPath: "../examples/lethe.yaml", DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	sched, err := a.RetentionScheduler()
	if err != nil || sched == nil {
		t.Fatalf("the example declares retention rules: %v, %v", sched, err)
	}
	_, key, err := a.APIKeys.Create(ctx, "dpo", []lethe.Scope{lethe.ScopeRetentionRead}, "test")
	if err != nil {
		t.Fatal(err)
	}
	_, other, err := a.APIKeys.Create(ctx, "crm", []lethe.Scope{lethe.ScopeRequestsRead}, "test")
	if err != nil {
		t.Fatal(err)
	}
	serve := func(o api.Options) *requestsEnv {
		srv, err := api.NewServer(o)
		if err != nil {
			t.Fatal(err)
		}
		hs := httptest.NewServer(srv.Handler())
		t.Cleanup(hs.Close)
		return &requestsEnv{t: t, url: hs.URL}
	}
	base := api.Options{Ledger: a.Consent, Audit: a.Audit, APIKeys: a.APIKeys, Store: a.Store}
	if code, _ := serve(base).do("GET", "/v1/retention", key, ""); code != 503 {
		t.Errorf("without a scheduler: %d, want 503", code)
	}
	withSched := base
	withSched.Retention = sched
	e := serve(withSched)
	if code, _ := e.do("GET", "/v1/retention", other, ""); code != 403 {
		t.Errorf("a key without retention:read: %d, want 403", code)
	}
	code, b := e.do("GET", "/v1/retention", key, "")
	var before struct {
		Schedule *struct {
			LastCompletedAt string `json:"last_completed_at"`
		}
		Node struct {
			Running bool
			LastRun *struct {
				Done        int64
				Collections []struct{ Collection string }
			} `json:"last_run"`
		}
	}
	if err := json.Unmarshal(b, &before); code != 200 || err != nil || before.Node.Running || before.Node.LastRun != nil {
		t.Fatalf("before any run: %d %s", code, b)
	}
	ran, err := sched.Tick(ctx)
	if err != nil || !ran {
		t.Fatalf("the first tick runs retention: %v, %v", ran, err)
	}
	code, b = e.do("GET", "/v1/retention", key, "")
	after := before
	after.Node.LastRun = nil
	if err := json.Unmarshal(b, &after); code != 200 || err != nil || after.Schedule == nil || after.Schedule.LastCompletedAt == "" ||
		after.Node.LastRun == nil || len(after.Node.LastRun.Collections) == 0 {
		t.Fatalf("after a run: %d %s", code, b)
	}
	t.Logf("retention run: %d rows over %d collections", after.Node.LastRun.Done, len(after.Node.LastRun.Collections))
}
