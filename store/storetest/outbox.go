package storetest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/lethe-privacy/lethe"
)

// RunOutbox runs the OutboxStore cases; only h.New is used.
func RunOutbox(t *testing.T, h Harness) {
	t.Run("OutboxEnqueueAudited", func(t *testing.T) { testOutboxEnqueue(t, h) })
	t.Run("OutboxClaimLease", func(t *testing.T) { testOutboxClaimLease(t, h) })
	t.Run("OutboxMarkAndList", func(t *testing.T) { testOutboxMarkAndList(t, h) })
	t.Run("OutboxConcurrentClaims", func(t *testing.T) { testOutboxConcurrentClaims(t, h) })
}

var outboxT0 = time.Date(2026, 12, 2, 10, 0, 0, 123456000, time.UTC)

func outboxMessage(id string, due time.Time) lethe.OutboxMessage {
	return lethe.OutboxMessage{ID: id, SubjectRef: lethe.SubjectRef{7, 7}, Template: "verification_code",
		Sealed: []byte{0xca, 0xfe, byte(len(id))}, CreatedAt: due, NextAttemptAt: due}
}

func outboxEnqueue(t *testing.T, s lethe.Store, m lethe.OutboxMessage) {
	t.Helper()
	if err := s.OutboxEnqueue(context.Background(), m, lethe.AuditRecord{Actor: "system", Action: "mail.queued", SubjectRef: m.SubjectRef, Object: m.ID}); err != nil {
		t.Fatalf("enqueue %s: %v", m.ID, err)
	}
}

func testOutboxEnqueue(t *testing.T, h Harness) {
	s := h.New(t)
	ctx := context.Background()
	m := outboxMessage("mail_1", outboxT0)
	outboxEnqueue(t, s, m)
	head, err := s.AuditHead(ctx)
	if err != nil || head.Size != 1 {
		t.Fatalf("the message's audit entry: head %+v, %v", head, err)
	}
	var entry lethe.AuditEntry
	if err := s.AuditEntries(ctx, 0, 1, func(e lethe.AuditEntry) error { entry = e; return nil }); err != nil {
		t.Fatal(err)
	}
	if entry.Action != "mail.queued" || entry.Object != "mail_1" || entry.SubjectRef != m.SubjectRef {
		t.Errorf("audit entry %+v, want mail.queued of mail_1", entry.AuditRecord)
	}
	if err := s.OutboxEnqueue(ctx, m, lethe.AuditRecord{Actor: "system", Action: "mail.queued"}); lethe.ErrorCode(err) != lethe.ECONFLICT {
		t.Errorf("duplicate id: %v, want ECONFLICT", err)
	}
	if head, _ := s.AuditHead(ctx); head.Size != 1 {
		t.Errorf("a refused enqueue appended its audit record: size %d", head.Size)
	}
	list, err := s.OutboxList(ctx, true, 0)
	if err != nil || len(list) != 1 {
		t.Fatalf("list: %v, %v; want the one message", list, err)
	}
	got := list[0]
	if got.ID != m.ID || got.SubjectRef != m.SubjectRef || got.Template != m.Template || string(got.Sealed) != string(m.Sealed) ||
		got.Status != lethe.OutboxPending || !got.CreatedAt.Equal(outboxT0) || !got.NextAttemptAt.Equal(outboxT0) || got.Attempts != 0 || got.SentAt != nil {
		t.Errorf("read back %+v, want %+v pending", got, m)
	}
}

func testOutboxClaimLease(t *testing.T, h Harness) {
	s := h.New(t)
	ctx := context.Background()
	outboxEnqueue(t, s, outboxMessage("mail_a", outboxT0))
	outboxEnqueue(t, s, outboxMessage("mail_b", outboxT0.Add(time.Second)))
	outboxEnqueue(t, s, outboxMessage("mail_later", outboxT0.Add(time.Hour)))

	now := outboxT0.Add(time.Minute)
	got, err := s.OutboxClaim(ctx, now, 5*time.Minute, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].ID != "mail_a" || got[1].ID != "mail_b" {
		t.Fatalf("first claim: %v; want mail_a and mail_b (mail_later is not due)", outboxIDs(got))
	}
	if again, err := s.OutboxClaim(ctx, now.Add(4*time.Minute), 5*time.Minute, 10); err != nil || len(again) != 0 {
		t.Errorf("claim within the lease: %v, %v; want nothing", outboxIDs(again), err)
	}
	expired, err := s.OutboxClaim(ctx, now.Add(5*time.Minute), 5*time.Minute, 1)
	if err != nil || len(expired) != 1 || expired[0].ID != "mail_a" {
		t.Errorf("claim after the lease, limit 1: %v, %v; want mail_a", outboxIDs(expired), err)
	}
	if none, err := s.OutboxClaim(ctx, now, time.Minute, 0); err != nil || len(none) != 0 {
		t.Errorf("limit 0: %v, %v; want nothing", outboxIDs(none), err)
	}
}

func testOutboxMarkAndList(t *testing.T, h Harness) {
	s := h.New(t)
	ctx := context.Background()
	outboxEnqueue(t, s, outboxMessage("mail_1", outboxT0))
	outboxEnqueue(t, s, outboxMessage("mail_2", outboxT0.Add(time.Second)))
	outboxEnqueue(t, s, outboxMessage("mail_3", outboxT0.Add(2*time.Second)))
	now := outboxT0.Add(time.Minute)
	if got, err := s.OutboxClaim(ctx, now, time.Hour, 10); err != nil || len(got) != 3 {
		t.Fatalf("claim: %v, %v", outboxIDs(got), err)
	}

	sentAt := now.Add(time.Second)
	if err := s.OutboxMarkSent(ctx, "mail_1", sentAt); err != nil {
		t.Fatal(err)
	}
	retryAt := now.Add(5 * time.Minute)
	if err := s.OutboxMarkFailed(ctx, "mail_2", 1, retryAt, "the SMTP server refused the message for now (421)"); err != nil {
		t.Fatal(err)
	}
	if err := s.OutboxMarkFailed(ctx, "mail_3", 8, time.Time{}, "the subject was erased"); err != nil {
		t.Fatal(err)
	}
	if err := s.OutboxMarkSent(ctx, "nope", sentAt); lethe.ErrorCode(err) != lethe.ENOTFOUND {
		t.Errorf("mark sent unknown: %v, want ENOTFOUND", err)
	}
	if err := s.OutboxMarkFailed(ctx, "nope", 1, retryAt, "x"); lethe.ErrorCode(err) != lethe.ENOTFOUND {
		t.Errorf("mark failed unknown: %v, want ENOTFOUND", err)
	}

	// Marking ends the lease: the retry is claimed at its new time, not
	// when the hour-long lease would have run out; sent and given-up
	// messages are never claimed again.
	if got, err := s.OutboxClaim(ctx, retryAt.Add(-time.Second), time.Minute, 10); err != nil || len(got) != 0 {
		t.Errorf("claim before the retry time: %v, %v; want nothing", outboxIDs(got), err)
	}
	got, err := s.OutboxClaim(ctx, retryAt, time.Minute, 10)
	if err != nil || len(got) != 1 || got[0].ID != "mail_2" {
		t.Fatalf("claim at the retry time: %v, %v; want mail_2", outboxIDs(got), err)
	}
	if got[0].Attempts != 1 || !got[0].NextAttemptAt.Equal(retryAt) || got[0].LastError == "" {
		t.Errorf("retried message %+v: want 1 attempt, next at %v, the error kept", got[0], retryAt)
	}

	all, err := s.OutboxList(ctx, false, 0)
	if err != nil || len(all) != 3 {
		t.Fatalf("list all: %v, %v", outboxIDs(all), err)
	}
	if all[0].ID != "mail_3" || all[2].ID != "mail_1" {
		t.Errorf("list newest first: %v", outboxIDs(all))
	}
	byID := map[string]lethe.OutboxMessage{}
	for _, m := range all {
		byID[m.ID] = m
	}
	if m := byID["mail_1"]; m.Status != lethe.OutboxSent || m.SentAt == nil || !m.SentAt.Equal(sentAt) || m.Attempts != 1 {
		t.Errorf("sent message %+v: want sent at %v after 1 attempt", m, sentAt)
	}
	if m := byID["mail_3"]; m.Status != lethe.OutboxFailed || m.Attempts != 8 || m.LastError != "the subject was erased" || m.SentAt != nil {
		t.Errorf("given-up message %+v: want failed after 8 attempts with its error", m)
	}
	pending, err := s.OutboxList(ctx, true, 0)
	if err != nil || len(pending) != 1 || pending[0].ID != "mail_2" {
		t.Errorf("list pending: %v, %v; want mail_2", outboxIDs(pending), err)
	}
	if two, err := s.OutboxList(ctx, false, 2); err != nil || len(two) != 2 {
		t.Errorf("list limit 2: %v, %v", outboxIDs(two), err)
	}
}

func outboxIDs(ms []lethe.OutboxMessage) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.ID
	}
	return out
}

// testOutboxConcurrentClaims has several workers claim at once: every
// message is claimed exactly once.
func testOutboxConcurrentClaims(t *testing.T, h Harness) {
	s := h.New(t)
	ctx := context.Background()
	const messages, workers = 40, 4
	for i := range messages {
		outboxEnqueue(t, s, outboxMessage(fmt.Sprintf("mail_%02d", i), outboxT0))
	}
	now := outboxT0.Add(time.Minute)
	var (
		mu      sync.Mutex
		claimed = map[string]int{}
		wg      sync.WaitGroup
		errs    = make(chan error, workers)
	)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				got, err := s.OutboxClaim(ctx, now, time.Hour, 3)
				if err != nil {
					errs <- err
					return
				}
				if len(got) == 0 {
					return
				}
				mu.Lock()
				for _, m := range got {
					claimed[m.ID]++
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if len(claimed) != messages {
		t.Errorf("%d of %d messages claimed", len(claimed), messages)
	}
	for id, n := range claimed {
		if n != 1 {
			t.Errorf("%s claimed %d times", id, n)
		}
	}
}
