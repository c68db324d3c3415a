package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/lethe-privacy/lethe"
)

// RunEvents runs the EventStore cases; only h.New is used.
func RunEvents(t *testing.T, h Harness) {
	t.Run("EventRecordAudited", func(t *testing.T) { testEventRecord(t, h) })
	t.Run("EventPurgeIdentities", func(t *testing.T) { testEventPurge(t, h) })
	t.Run("EventSubscriptions", func(t *testing.T) { testEventSubscriptions(t, h) })
}

var eventT0 = time.Date(2026, 12, 2, 10, 0, 0, 123456000, time.UTC)

func recordEvents(t *testing.T, s lethe.Store, evs ...lethe.Event) {
	t.Helper()
	recs := make([]lethe.AuditRecord, len(evs))
	for i, e := range evs {
		recs[i] = lethe.AuditRecord{Actor: "system", Action: "event.recorded", SubjectRef: e.SubjectRef, Object: e.ID,
			Details: map[string]string{"type": string(e.Type)}}
	}
	if err := s.EventRecord(context.Background(), evs, recs); err != nil {
		t.Fatalf("record events: %v", err)
	}
}

func testEventRecord(t *testing.T, h Harness) {
	s := h.New(t)
	ctx := context.Background()
	// Something in the log first, so that sequence numbers do not start at 0.
	if _, err := s.AuditAppend(ctx, []lethe.AuditRecord{{Actor: "system", Action: "test.appended"}}); err != nil {
		t.Fatal(err)
	}
	a := lethe.Event{ID: "req_1:request.completed", Type: lethe.EventRequestCompleted, SubjectRef: subject("a"), CreatedAt: eventT0,
		Data: []byte(`{"request_id":"req_1"}`), Identities: []byte{1, 2, 3}}
	b := lethe.Event{ID: "req_1:recipient.notice:x", Type: lethe.EventRecipientNotice, Recipient: "Mailer Inc", CreatedAt: eventT0, Data: []byte(`{}`)}
	recordEvents(t, s, a, b)

	got, err := s.EventGet(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Seq != 1 || got.Type != a.Type || got.SubjectRef != a.SubjectRef || string(got.Data) != string(a.Data) ||
		string(got.Identities) != string(a.Identities) || !got.CreatedAt.Equal(eventT0) || got.Recipient != "" {
		t.Errorf("read back %+v, want %+v at seq 1", got, a)
	}
	got, err = s.EventGet(ctx, b.ID)
	if err != nil || got.Seq != 2 || got.Recipient != "Mailer Inc" || got.Identities != nil || !got.SubjectRef.IsZero() {
		t.Errorf("read back %+v, %v; want the notice at seq 2 without identities", got, err)
	}
	var objects []string
	if err := s.AuditEntries(ctx, 1, 3, func(e lethe.AuditEntry) error {
		if e.Action != "event.recorded" {
			t.Errorf("entry %d is %s, want event.recorded", e.Seq, e.Action)
		}
		objects = append(objects, e.Object)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(objects) != 2 || objects[0] != a.ID || objects[1] != b.ID {
		t.Errorf("audit entries name %v, want the two events in order", objects)
	}

	// Recording again is refused whole: no event, no audit entry.
	c := lethe.Event{ID: "req_2:request.completed", Type: lethe.EventRequestCompleted, CreatedAt: eventT0, Data: []byte(`{}`)}
	err = s.EventRecord(ctx, []lethe.Event{c, a}, []lethe.AuditRecord{{Actor: "system", Action: "event.recorded", Object: c.ID}, {Actor: "system", Action: "event.recorded", Object: a.ID}})
	wantCode(t, err, lethe.ECONFLICT)
	if _, err := s.EventGet(ctx, c.ID); lethe.ErrorCode(err) != lethe.ENOTFOUND {
		t.Errorf("an event of a refused batch was stored: %v", err)
	}
	if h := head(t, s); h.Size != 3 {
		t.Errorf("a refused batch appended to the audit log: size %d", h.Size)
	}
	if _, err := s.EventGet(ctx, "nope"); lethe.ErrorCode(err) != lethe.ENOTFOUND {
		t.Errorf("unknown id: %v, want ENOTFOUND", err)
	}
	if err := s.EventRecord(ctx, []lethe.Event{c}, nil); lethe.ErrorCode(err) != lethe.EINVALID {
		t.Errorf("an event without its audit record: %v, want EINVALID", err)
	}
}

func testEventPurge(t *testing.T, h Harness) {
	s := h.New(t)
	ctx := context.Background()
	ev := func(id string, at time.Time) lethe.Event {
		return lethe.Event{ID: id, Type: lethe.EventSubjectErased, CreatedAt: at, Data: []byte(`{}`), Identities: []byte("sealed " + id)}
	}
	recordEvents(t, s, ev("e0", eventT0), ev("e1", eventT0.Add(time.Hour)), ev("e2", eventT0.Add(2*time.Hour)))
	// Delivered to everyone up to seq 1 (e0); e1 is older than the limit.
	n, err := s.EventPurgeIdentities(ctx, 1, eventT0.Add(90*time.Minute))
	if err != nil || n != 2 {
		t.Fatalf("purge: %d, %v; want 2", n, err)
	}
	for id, want := range map[string]bool{"e0": false, "e1": false, "e2": true} {
		e, err := s.EventGet(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if (e.Identities != nil) != want {
			t.Errorf("%s identities %q, want kept = %v", id, e.Identities, want)
		}
		if string(e.Data) != "{}" {
			t.Errorf("%s lost its data", id)
		}
	}
	if n, err := s.EventPurgeIdentities(ctx, 1, eventT0); err != nil || n != 0 {
		t.Errorf("purge again: %d, %v; want 0", n, err)
	}
}

func testEventSubscriptions(t *testing.T, h Harness) {
	s := h.New(t)
	ctx := context.Background()
	if err := s.EventSubscriptionEnsure(ctx, []string{"nats", "webhook:crm"}, 5, eventT0); err != nil {
		t.Fatal(err)
	}
	// Ensuring again leaves existing ones where they are.
	if err := s.EventSubscriptionEnsure(ctx, []string{"nats", "recipient:Mailer Inc"}, 9, eventT0); err != nil {
		t.Fatal(err)
	}
	list, err := s.EventSubscriptionList(ctx)
	if err != nil || len(list) != 3 {
		t.Fatalf("list: %+v, %v; want three", list, err)
	}
	if list[0].Name != "nats" || list[0].Cursor != 5 || list[1].Name != "recipient:Mailer Inc" || list[1].Cursor != 9 ||
		list[0].Status != lethe.EventSubscriptionActive || !list[0].NextAttemptAt.Equal(eventT0) {
		t.Errorf("list %+v", list)
	}

	now := eventT0.Add(time.Minute)
	sub, ok, err := s.EventSubscriptionClaim(ctx, "nats", now, time.Minute)
	if err != nil || !ok || sub.Cursor != 5 {
		t.Fatalf("claim: %+v, %v, %v", sub, ok, err)
	}
	if _, ok, err := s.EventSubscriptionClaim(ctx, "nats", now.Add(30*time.Second), time.Minute); err != nil || ok {
		t.Errorf("claimed while leased: %v, %v", ok, err)
	}
	if _, ok, _ := s.EventSubscriptionClaim(ctx, "nats", now.Add(2*time.Minute), time.Minute); !ok {
		t.Errorf("a lease that ran out was not claimed again")
	}
	if _, ok, err := s.EventSubscriptionClaim(ctx, "unknown", now, time.Minute); err != nil || ok {
		t.Errorf("claimed an unknown subscription: %v, %v", ok, err)
	}

	// A failed attempt: not due until its next attempt, the lease ends.
	sub.Attempts, sub.NextAttemptAt, sub.LastError, sub.UpdatedAt = 1, now.Add(time.Hour), "HTTP 500", now
	if err := s.EventSubscriptionUpdate(ctx, sub, nil); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := s.EventSubscriptionClaim(ctx, "nats", now.Add(time.Minute), time.Minute); ok {
		t.Errorf("claimed before its next attempt")
	}
	delivered := now.Add(2 * time.Hour)
	sub, ok, err = s.EventSubscriptionClaim(ctx, "nats", delivered, time.Minute)
	if err != nil || !ok || sub.Attempts != 1 || sub.LastError != "HTTP 500" {
		t.Fatalf("claim after the backoff: %+v, %v, %v", sub, ok, err)
	}
	// Delivered, with an audit record in the same transaction.
	sub.Cursor, sub.Attempts, sub.LastError, sub.Delivered, sub.LastDeliveredAt, sub.UpdatedAt = 8, 0, "", 3, &delivered, delivered
	before := head(t, s)
	if err := s.EventSubscriptionUpdate(ctx, sub, []lethe.AuditRecord{{Actor: "system", Action: "recipient.notified", Object: "e1"}}); err != nil {
		t.Fatal(err)
	}
	if after := head(t, s); after.Size != before.Size+1 {
		t.Errorf("audit size %d after the update, want %d", after.Size, before.Size+1)
	}
	list, _ = s.EventSubscriptionList(ctx)
	if got := list[0]; got.Cursor != 8 || got.Delivered != 3 || got.LastDeliveredAt == nil || !got.LastDeliveredAt.Equal(delivered) || got.Attempts != 0 {
		t.Errorf("after delivery %+v", got)
	}
	// Given up: never claimed again until someone sets it active.
	sub.Status = lethe.EventSubscriptionFailed
	if err := s.EventSubscriptionUpdate(ctx, sub, nil); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := s.EventSubscriptionClaim(ctx, "nats", delivered.Add(time.Hour), time.Minute); ok {
		t.Errorf("a failed subscription was claimed")
	}
	wantCode(t, s.EventSubscriptionUpdate(ctx, lethe.EventSubscription{Name: "unknown", Status: lethe.EventSubscriptionActive}, nil), lethe.ENOTFOUND)
}
