package storetest

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lethe-privacy/lethe"
)

// RunRequests runs the RequestStore cases; only h.New is used.
func RunRequests(t *testing.T, h Harness) {
	t.Run("RequestRoundTrip", func(t *testing.T) { testRequestRoundTrip(t, h) })
	t.Run("RequestMissingAndDuplicate", func(t *testing.T) { testRequestMissingAndDuplicate(t, h) })
	t.Run("RequestTransition", func(t *testing.T) { testRequestTransition(t, h) })
	t.Run("RequestClaimLease", func(t *testing.T) { testRequestClaimLease(t, h) })
	t.Run("RequestPurge", func(t *testing.T) { testRequestPurge(t, h) })
	t.Run("RequestCounts", func(t *testing.T) { testRequestCounts(t, h) })
	t.Run("RequestExtend", func(t *testing.T) { testRequestExtend(t, h) })
}

func newRequest(id string, status lethe.RequestStatus, at time.Time) lethe.Request {
	return lethe.Request{ID: id, Type: lethe.RequestErasure, Status: status, SubjectRef: lethe.SubjectRef{9}, Actor: "cli",
		Channel: lethe.ChannelWeb, CreatedAt: at, UpdatedAt: at, DueAt: at.AddDate(0, 1, 0), ExtendedDueAt: at.AddDate(0, 3, 0)}
}

func testRequestTransition(t *testing.T, h Harness) {
	s := h.New(t)
	ctx := context.Background()
	at := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	r := newRequest("req_t", lethe.RequestUnverified, at)
	r.Values = []byte("sealed values")
	if err := s.RequestCreate(ctx, r, lethe.AuditRecord{Actor: "cli", Action: "request.created"}); err != nil {
		t.Fatal(err)
	}
	got, err := s.RequestGet(ctx, "req_t")
	if err != nil || got.Channel != lethe.ChannelWeb || string(got.Values) != "sealed values" || got.VerifiedAt != nil || got.Lease != "" {
		t.Fatalf("created: %+v, %v", got, err)
	}

	// A transition from the wrong status changes nothing and audits nothing.
	r.Status, r.UpdatedAt = lethe.RequestRunning, at.Add(time.Second)
	err = s.RequestTransition(ctx, r, []lethe.RequestStatus{lethe.RequestVerified}, &lethe.AuditRecord{Actor: "cli", Action: "request.started"})
	if lethe.ErrorCode(err) != lethe.ECONFLICT {
		t.Fatalf("running from verified while unverified: %v, want ECONFLICT", err)
	}
	if head, _ := s.AuditHead(ctx); head.Size != 1 {
		t.Errorf("a refused transition appended its audit record: size %d", head.Size)
	}
	if got, _ := s.RequestGet(ctx, "req_t"); got.Status != lethe.RequestUnverified {
		t.Errorf("a refused transition changed the status to %s", got.Status)
	}

	verified := at.Add(time.Minute)
	r.Status, r.UpdatedAt, r.VerifiedAt = lethe.RequestVerified, verified, &verified
	if err := s.RequestTransition(ctx, r, []lethe.RequestStatus{lethe.RequestUnverified}, &lethe.AuditRecord{Actor: "web", Action: "request.verified"}); err != nil {
		t.Fatal(err)
	}
	if head, _ := s.AuditHead(ctx); head.Size != 2 {
		t.Errorf("the transition's audit record: size %d, want 2", head.Size)
	}

	// A worker's lease keeps other workers' transitions out until it runs out.
	leaseUntil := verified.Add(30 * time.Second)
	mine := r
	mine.Status, mine.Lease, mine.LeaseUntil, mine.Attempts, mine.Progress = lethe.RequestRunning, "tok-a", &leaseUntil, 1, "resolved"
	if err := s.RequestTransition(ctx, mine, []lethe.RequestStatus{lethe.RequestVerified}, nil); err != nil {
		t.Fatal(err)
	}
	got, _ = s.RequestGet(ctx, "req_t")
	if got.Status != lethe.RequestRunning || got.Lease != "tok-a" || got.LeaseUntil == nil || !got.LeaseUntil.Equal(leaseUntil) || got.Attempts != 1 || got.Progress != "resolved" {
		t.Fatalf("after start: %+v", got)
	}
	other := mine
	other.Lease, other.UpdatedAt = "tok-b", verified.Add(10*time.Second)
	other.Status, other.LeaseUntil = lethe.RequestCompleted, nil
	err = s.RequestTransition(ctx, other, []lethe.RequestStatus{lethe.RequestRunning}, nil)
	if lethe.ErrorCode(err) != lethe.ECONFLICT || !strings.Contains(err.Error(), "another worker") {
		t.Fatalf("another worker's transition under a live lease: %v, want ECONFLICT naming the worker", err)
	}
	// Once the lease ran out, the other worker may go on.
	other.UpdatedAt = leaseUntil.Add(time.Second)
	done := other.UpdatedAt
	other.CompletedAt, other.Result, other.Values = &done, []byte(`{"status":"completed"}`), nil
	if err := s.RequestTransition(ctx, other, []lethe.RequestStatus{lethe.RequestRunning}, &lethe.AuditRecord{Actor: "system", Action: "request.completed"}); err != nil {
		t.Fatalf("after the lease ran out: %v", err)
	}
	got, _ = s.RequestGet(ctx, "req_t")
	if got.Status != lethe.RequestCompleted || got.Lease != "" || got.LeaseUntil != nil || got.Values != nil || got.CompletedAt == nil || !got.VerifiedAt.Equal(verified) {
		t.Errorf("completed: %+v (lease released, values cleared, verification kept)", got)
	}
	if err := s.RequestTransition(ctx, lethe.Request{ID: "nope", Status: lethe.RequestCancelled, UpdatedAt: at}, []lethe.RequestStatus{lethe.RequestUnverified}, nil); lethe.ErrorCode(err) != lethe.ENOTFOUND {
		t.Errorf("unknown id: %v, want ENOTFOUND", err)
	}
}

func testRequestClaimLease(t *testing.T, h Harness) {
	s := h.New(t)
	ctx := context.Background()
	at := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	later := at.Add(time.Hour)
	for i, st := range []lethe.RequestStatus{lethe.RequestVerified, lethe.RequestUnverified, lethe.RequestVerified, lethe.RequestCompleted, lethe.RequestVerified} {
		r := newRequest(fmt.Sprint("req_", i), st, at.Add(time.Duration(i)*time.Second))
		if i == 4 {
			r.NextAttemptAt = &later // waits for a retry
		}
		if err := s.RequestCreate(ctx, r, lethe.AuditRecord{Actor: "cli", Action: "request.created"}); err != nil {
			t.Fatal(err)
		}
	}
	now := at.Add(time.Minute)
	got, err := s.RequestClaim(ctx, now, now.Add(30*time.Second), 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].ID != "req_0" || got[1].ID != "req_2" || got[0].Lease == "" || got[0].LeaseUntil == nil {
		t.Fatalf("claim: %v; want req_0 and req_2, leased", ids(got))
	}
	again, err := s.RequestClaim(ctx, now.Add(time.Second), now.Add(time.Minute), 10)
	if err != nil || len(again) != 0 {
		t.Fatalf("a second claim under live leases got %v, %v", ids(again), err)
	}
	// Renewing keeps the lease past its first end; a wrong token cannot.
	if err := s.RequestRenew(ctx, "req_0", got[0].Lease, now.Add(2*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := s.RequestRenew(ctx, "req_0", "not-mine", now.Add(3*time.Minute)); lethe.ErrorCode(err) != lethe.ECONFLICT {
		t.Errorf("renew with a wrong token: %v, want ECONFLICT", err)
	}
	third, err := s.RequestClaim(ctx, now.Add(time.Minute), now.Add(90*time.Second), 10)
	if err != nil || len(third) != 1 || third[0].ID != "req_2" || third[0].Lease == got[0].Lease {
		t.Fatalf("after req_2's lease ran out: %v, %v; want req_2 alone with a new token", ids(third), err)
	}
	// The old holder of req_2 lost it: its renewal is refused.
	if err := s.RequestRenew(ctx, "req_2", got[1].Lease, now.Add(5*time.Minute)); lethe.ErrorCode(err) != lethe.ECONFLICT {
		t.Errorf("renew a lost lease: %v, want ECONFLICT", err)
	}
	// The retry becomes claimable when due; limit is honoured.
	due, err := s.RequestClaim(ctx, later.Add(time.Minute), later.Add(2*time.Minute), 1)
	if err != nil || len(due) != 1 || due[0].ID != "req_0" {
		t.Fatalf("claim limit 1 after every lease ran out: %v, %v", ids(due), err)
	}
	rest, err := s.RequestClaim(ctx, later.Add(time.Minute), later.Add(2*time.Minute), 10)
	if err != nil || len(rest) != 2 || rest[0].ID != "req_2" || rest[1].ID != "req_4" {
		t.Fatalf("the rest, with the due retry: %v, %v", ids(rest), err)
	}

	// Concurrent claims never hand out the same request twice.
	s2 := h.New(t)
	for i := range 40 {
		if err := s2.RequestCreate(ctx, newRequest(fmt.Sprint("req_c", i), lethe.RequestVerified, at.Add(time.Duration(i)*time.Millisecond)), lethe.AuditRecord{Actor: "cli", Action: "request.created"}); err != nil {
			t.Fatal(err)
		}
	}
	var (
		mu   sync.Mutex
		seen = map[string]int{}
		wg   sync.WaitGroup
	)
	for range 4 {
		wg.Go(func() {
			for {
				batch, err := s2.RequestClaim(ctx, now, now.Add(time.Hour), 3)
				if err != nil {
					t.Error(err)
					return
				}
				if len(batch) == 0 {
					return
				}
				mu.Lock()
				for _, r := range batch {
					seen[r.ID]++
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(seen) != 40 {
		t.Errorf("concurrent claims took %d of 40 requests", len(seen))
	}
	for id, n := range seen {
		if n != 1 {
			t.Errorf("%s claimed %d times", id, n)
		}
	}
}

func testRequestPurge(t *testing.T, h Harness) {
	s := h.New(t)
	ctx := context.Background()
	old := time.Date(2024, 1, 2, 10, 0, 0, 0, time.UTC)
	recent := time.Date(2026, 11, 2, 10, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		id     string
		status lethe.RequestStatus
		at     time.Time
	}{
		{"req_old_done", lethe.RequestCompleted, old},
		{"req_old_rejected", lethe.RequestRejected, old},
		{"req_old_running", lethe.RequestRunning, old},
		{"req_old_unverified", lethe.RequestUnverified, old},
		{"req_new_done", lethe.RequestCompleted, recent},
		{"req_new_unverified", lethe.RequestUnverified, recent},
	} {
		r := newRequest(c.id, c.status, c.at)
		if c.status.Finished() {
			r.CompletedAt = &c.at
		}
		if err := s.RequestCreate(ctx, r, lethe.AuditRecord{Actor: "cli", Action: "request.created"}); err != nil {
			t.Fatal(err)
		}
	}
	before, _ := s.AuditHead(ctx)
	cut := time.Date(2024, 12, 2, 0, 0, 0, 0, time.UTC)
	gone, err := s.RequestPurge(ctx, cut, time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), lethe.AuditRecord{Actor: "system", Action: "request.records_purged"})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(gone)
	if want := []string{"req_old_done", "req_old_rejected", "req_old_unverified"}; !slices.Equal(gone, want) {
		t.Errorf("purged %v, want %v", gone, want)
	}
	for _, id := range []string{"req_old_running", "req_new_done", "req_new_unverified"} {
		if _, err := s.RequestGet(ctx, id); err != nil {
			t.Errorf("%s: %v; it must stay", id, err)
		}
	}
	if head, _ := s.AuditHead(ctx); head.Size != before.Size+1 {
		t.Errorf("purge audit: size %d -> %d, want one entry", before.Size, head.Size)
	}
	again, err := s.RequestPurge(ctx, cut, cut, lethe.AuditRecord{Actor: "system", Action: "request.records_purged"})
	if err != nil || len(again) != 0 {
		t.Errorf("second purge: %v, %v", again, err)
	}
	if head, _ := s.AuditHead(ctx); head.Size != before.Size+1 {
		t.Errorf("a purge that deleted nothing appended an audit entry")
	}
}

func ids(rs []lethe.Request) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.ID
	}
	return out
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
	if err := s.RequestTransition(ctx, r, []lethe.RequestStatus{lethe.RequestRunning}, nil); err != nil {
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
	if err := s.RequestClearExport(ctx, "req_1", done.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.RequestGet(ctx, "req_1"); got.Export != "" || got.Status != lethe.RequestCompleted || string(got.Result) == "" || !got.UpdatedAt.Equal(done.Add(time.Hour)) {
		t.Errorf("after clearing the export: %+v; only export and updated_at change", got)
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
	if err := s.RequestClearExport(ctx, "nope", time.Now()); lethe.ErrorCode(err) != lethe.ENOTFOUND {
		t.Errorf("clear the export of an unknown request: %v, want ENOTFOUND", err)
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

func testRequestCounts(t *testing.T, h Harness) {
	s := h.New(t)
	ctx := context.Background()
	at := time.Date(2026, 10, 1, 10, 0, 0, 0, time.UTC)
	now := time.Date(2026, 11, 15, 0, 0, 0, 0, time.UTC) // past every DueAt (a month), before every ExtendedDueAt
	for i, st := range []lethe.RequestStatus{lethe.RequestUnverified, lethe.RequestVerified, lethe.RequestRunning, lethe.RequestRunning, lethe.RequestCompleted} {
		r := newRequest(fmt.Sprint("req_", i), st, at)
		if st.Finished() {
			r.CompletedAt = &at
		}
		if i == 3 {
			r.ExtendedAt = &at // extended: the three-month deadline is in force
		}
		if err := s.RequestCreate(ctx, r, lethe.AuditRecord{Actor: "cli", Action: "request.created"}); err != nil {
			t.Fatal(err)
		}
	}
	c, err := s.RequestCounts(ctx, now)
	if err != nil {
		t.Fatal(err)
	}
	if c.Open[lethe.RequestUnverified] != 1 || c.Open[lethe.RequestVerified] != 1 || c.Open[lethe.RequestRunning] != 2 || len(c.Open) != 3 {
		t.Errorf("open %v", c.Open)
	}
	if c.Overdue != 3 {
		t.Errorf("overdue %d, want 3 (the extended and the completed ones are not)", c.Overdue)
	}
}

func testRequestExtend(t *testing.T, h Harness) {
	s := h.New(t)
	ctx := context.Background()
	at := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	r := newRequest("req_x", lethe.RequestRunning, at)
	until := at.Add(time.Hour)
	r.Lease, r.LeaseUntil, r.Progress, r.Identities = "worker", &until, "resolved", []byte("sealed")
	if err := s.RequestCreate(ctx, r, lethe.AuditRecord{Actor: "cli", Action: "request.created"}); err != nil {
		t.Fatal(err)
	}
	rec := lethe.AuditRecord{Actor: "cli", Action: "request.extended", Object: "req_x"}
	due := at.AddDate(0, 3, 0)
	// A worker holds it: the extension goes through and leaves the run alone.
	if err := s.RequestExtend(ctx, "req_x", at.Add(time.Minute), "complex", due, rec); err != nil {
		t.Fatal(err)
	}
	got, _ := s.RequestGet(ctx, "req_x")
	if got.ExtendedAt == nil || got.ExtensionReason != "complex" || !got.ExtendedDueAt.Equal(due) || got.Lease != "worker" ||
		got.Progress != "resolved" || string(got.Identities) != "sealed" || got.Status != lethe.RequestRunning {
		t.Errorf("after the extension: %+v", got)
	}
	if err := s.RequestExtend(ctx, "req_x", at.Add(2*time.Minute), "again", due, rec); lethe.ErrorCode(err) != lethe.ECONFLICT {
		t.Errorf("extend twice: %v, want ECONFLICT", err)
	}
	if err := s.RequestExtend(ctx, "nope", at, "x", due, rec); lethe.ErrorCode(err) != lethe.ENOTFOUND {
		t.Errorf("extend unknown: %v, want ENOTFOUND", err)
	}
	done := newRequest("req_done", lethe.RequestCompleted, at)
	done.CompletedAt = &at
	if err := s.RequestCreate(ctx, done, lethe.AuditRecord{Actor: "cli", Action: "request.created"}); err != nil {
		t.Fatal(err)
	}
	if err := s.RequestExtend(ctx, "req_done", at, "late", due, rec); lethe.ErrorCode(err) != lethe.ECONFLICT {
		t.Errorf("extend a completed request: %v, want ECONFLICT", err)
	}
	if head, _ := s.AuditHead(ctx); head.Size != 3 {
		t.Errorf("audit size %d, want 3 (two creates, one extension)", head.Size)
	}
}
