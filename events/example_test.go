package events_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"time"

	"github.com/lethe-privacy/lethe"
	"github.com/lethe-privacy/lethe/connector/webhook"
	"github.com/lethe-privacy/lethe/events"
	"github.com/lethe-privacy/lethe/store/sqlite"
)

// A processor subscribes with a signed webhook; an erasure request that
// finishes is delivered to it with the identities it needs to act.
func Example() {
	ctx := context.Background()
	secret := []byte("a-secret-of-at-least-16-bytes")
	done := make(chan struct{}, 10)
	processor := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if webhook.Verify(secret, r.Header.Get(webhook.SignatureHeader), body, time.Now(), 0) != nil {
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		var m events.Message
		_ = json.Unmarshal(body, &m)
		fmt.Println(m.Type, m.ID, len(m.Identities), "identities")
		done <- struct{}{}
	}))
	defer processor.Close()

	dir, _ := os.MkdirTemp("", "lethe-events-example")
	defer os.RemoveAll(dir)
	store, err := sqlite.Open(ctx, sqlite.Options{Path: filepath.Join(dir, "lethe.db")})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer store.Close()
	cfg := &lethe.Config{
		Controller: lethe.Controller{Name: "Shop"},
		Purposes:   []lethe.Purpose{{ID: "orders", LawfulBasis: lethe.BasisContract}},
		Events: &lethe.Events{Webhooks: []lethe.EventWebhook{
			{Name: "erasure-worker", URL: processor.URL, Secret: string(secret), Events: []lethe.EventType{lethe.EventSubjectErased}, Identities: true},
		}},
	}
	key, _ := events.KeyFromSecret([]byte("the installation's master key..."))
	bus, err := events.New(events.Options{Config: cfg, Store: store, Key: key})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer bus.Close()
	if err := bus.Ensure(ctx); err != nil {
		fmt.Println(err)
		return
	}

	now := time.Now()
	req := lethe.Request{ID: "req_1", Type: lethe.RequestErasure, Status: lethe.RequestCompleted, SubjectRef: lethe.SubjectRef{1}, CompletedAt: &now}
	if err := bus.RequestFinished(ctx, req, []lethe.Identity{{Type: lethe.IdentityEmail, Value: "jane@example.com"}}, nil); err != nil {
		fmt.Println(err)
		return
	}
	res, err := bus.DeliverDue(ctx) // bus.Run(ctx) does this in a loop
	<-done
	fmt.Println(res.Delivered, err)
	// Output:
	// subject.erased req_1:subject.erased 1 identities
	// 1 <nil>
}
