package storetest

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/lethe-privacy/lethe"
)

// RunRequests runs the RequestStore cases; only h.New is used.
func RunRequests(t *testing.T, h Harness) {
	t.Run("RequestRoundTrip", func(t *testing.T) { testRequestRoundTrip(t, h) })
	t.Run("RequestMissingAndDuplicate", func(t *testing.T) { testRequestMissingAndDuplicate(t, h) })
}

func testRequestRoundTrip(t *testing.T, h Harness) {
	s := h.New(t)
	ctx := context.Background()
	created := time.Date(2026, 12, 2, 10, 0, 0, 123456000, time.UTC)
	r := lethe.Request{
		ID: "req_1", Type: lethe.RequestErasure, Status: lethe.RequestRunning, SubjectRef: lethe.SubjectRef{1, 2, 3},
		Identities: []byte{0xde, 0xad}, Actor: "api:crm", CreatedAt: created, UpdatedAt: created,
		Jurisdiction: lethe.CCPA, DueAt: created.AddDate(0, 0, 45), ExtendedDueAt: created.AddDate(0, 0, 90),
	}
	if err := s.RequestCreate(ctx, r, lethe.AuditRecord{Actor: "api:crm", Action: "request.created", Object: r.ID}); err != nil {
		t.Fatal(err)
	}
	head, err := s.AuditHead(ctx)
	if err != nil || head.Size != 1 {
		t.Fatalf("the request's audit entry: head %+v, %v", head, err)
	}
	done := created.Add(time.Minute)
	r.Status, r.UpdatedAt, r.CompletedAt = lethe.RequestCompleted, done, &done
	r.Result = []byte(`{"status": "completed", "steps": [{"rows": 3}]}`)
	r.Export = "exports/req_1.zip"
	if err := s.RequestUpdate(ctx, r); err != nil {
		t.Fatal(err)
	}
	got, err := s.RequestGet(ctx, "req_1")
	if err != nil {
		t.Fatal(err)
	}
	var res map[string]any
	if err := json.Unmarshal(got.Result, &res); err != nil || res["status"] != "completed" {
		t.Errorf("result %s does not read back as JSON: %v", got.Result, err)
	}
	if got.Type != r.Type || got.Status != r.Status || got.SubjectRef != r.SubjectRef || string(got.Identities) != string(r.Identities) ||
		got.Actor != r.Actor || !got.CreatedAt.Equal(created) || got.CompletedAt == nil || !got.CompletedAt.Equal(done) || got.Export != r.Export ||
		got.Jurisdiction != lethe.CCPA || !got.DueAt.Equal(r.DueAt) || !got.ExtendedDueAt.Equal(r.ExtendedDueAt) {
		t.Errorf("read back %+v, want %+v", got, r)
	}
	for i := 2; i <= 4; i++ {
		at := created.Add(time.Duration(i) * time.Second)
		if err := s.RequestCreate(ctx, lethe.Request{ID: fmt.Sprint("req_", i), Type: lethe.RequestAccess, Status: lethe.RequestRunning, Actor: "cli", CreatedAt: at, UpdatedAt: at},
			lethe.AuditRecord{Actor: "cli", Action: "request.created"}); err != nil {
			t.Fatal(err)
		}
	}
	mine, err := s.RequestListBySubject(ctx, lethe.SubjectRef{1, 2, 3})
	if err != nil || len(mine) != 1 || mine[0].ID != "req_1" {
		t.Errorf("by subject: %v, %v; want req_1 only", mine, err)
	}
	list, err := s.RequestList(ctx, 3)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 3 || list[0].ID != "req_4" || list[2].ID != "req_2" {
		t.Errorf("list newest first, 3 of 4: got %d, first %v", len(list), list)
	}
}

func testRequestMissingAndDuplicate(t *testing.T, h Harness) {
	s := h.New(t)
	ctx := context.Background()
	if _, err := s.RequestGet(ctx, "nope"); lethe.ErrorCode(err) != lethe.ENOTFOUND {
		t.Errorf("get unknown: %v, want ENOTFOUND", err)
	}
	if err := s.RequestUpdate(ctx, lethe.Request{ID: "nope", Status: lethe.RequestFailed, UpdatedAt: time.Now()}); lethe.ErrorCode(err) != lethe.ENOTFOUND {
		t.Errorf("update unknown: %v, want ENOTFOUND", err)
	}
	r := lethe.Request{ID: "req_d", Type: lethe.RequestAccess, Status: lethe.RequestRunning, Actor: "cli", CreatedAt: time.Now(), UpdatedAt: time.Now()}
	rec := lethe.AuditRecord{Actor: "cli", Action: "request.created"}
	if err := s.RequestCreate(ctx, r, rec); err != nil {
		t.Fatal(err)
	}
	if err := s.RequestCreate(ctx, r, rec); lethe.ErrorCode(err) != lethe.ECONFLICT {
		t.Errorf("duplicate id: %v, want ECONFLICT", err)
	}
	if head, _ := s.AuditHead(ctx); head.Size != 1 {
		t.Errorf("a refused create appended its audit record: size %d", head.Size)
	}
}
