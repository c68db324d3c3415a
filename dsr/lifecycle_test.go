package dsr_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lethe-privacy/lethe"
	"github.com/lethe-privacy/lethe/audit"
	"github.com/lethe-privacy/lethe/dsr"
	"github.com/lethe-privacy/lethe/keyring"
	"github.com/lethe-privacy/lethe/store/sqlite"
)

// notices records what Requests queues for the person, refusing an id
// queued before as the outbox does.
type notices struct {
	mu   sync.Mutex
	sent map[string]string // id -> template
	to   map[string]string
}

func (n *notices) EnqueueID(_ context.Context, id string, _ lethe.SubjectRef, to, template string, data map[string]any) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if _, ok := n.sent[id]; ok {
		return lethe.Errorf(lethe.ECONFLICT, "queued already")
	}
	if data["request_id"] == nil || data["request_type"] == nil {
		return lethe.Errorf(lethe.EINVALID, "missing template data")
	}
	n.sent[id], n.to[id] = template, to
	return nil
}

func (n *notices) templates() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []string
	for _, t := range n.sent {
		out = append(out, t)
	}
	slices.Sort(out)
	return out
}

type lifecycle struct {
	e       *estate
	store   *sqlite.Store
	reqs    *dsr.Requests
	notices *notices
	clock   *time.Time
	mu      *sync.Mutex
	shreds  *[]lethe.Identity
	// keyShreds counts the request keys Purge shredded.
	keyShreds int
	keys      *keyring.Keyring
}

func (l *lifecycle) now() time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	return *l.clock
}

func (l *lifecycle) advance(d time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	*l.clock = l.clock.Add(d)
}

func newLifecycle(t testing.TB, opts dsr.RequestsOptions) *lifecycle {
	t.Helper()
	ctx := context.Background()
	e := newEstate(t)
	now := e.now
	l := &lifecycle{e: e, clock: &now, mu: &sync.Mutex{}, notices: &notices{sent: map[string]string{}, to: map[string]string{}}, shreds: &[]lethe.Identity{}}
	clock := lethe.ClockFunc(l.now)
	s, err := sqlite.Open(ctx, sqlite.Options{Path: filepath.Join(t.TempDir(), "lethe.db"), Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	l.store = s
	secrets, err := keyring.GenerateSecrets()
	if err != nil {
		t.Fatal(err)
	}
	kr := keyring.New(s, secrets, keyring.Options{Clock: clock})
	l.keys = kr
	log := audit.New(s, secrets.Signer(), audit.Options{Clock: clock})
	var smu sync.Mutex
	eng := e.engine(t, dsr.Options{Audit: log, SubjectRef: kr.SubjectRef, Tombstones: s,
		Shred: func(ctx context.Context, ids []lethe.Identity) (int, error) {
			smu.Lock()
			defer smu.Unlock()
			*l.shreds = append(*l.shreds, ids...)
			n := 0
			for _, id := range ids {
				ref, err := kr.SubjectRef(id)
				if err != nil {
					return n, err
				}
				k, err := kr.Shred(ctx, ref, "system")
				if err != nil {
					return n, err
				}
				n += k
			}
			return n, nil
		}})
	opts.Engine, opts.Store, opts.Sealer, opts.Notices, opts.Clock = eng, s, kr, l.notices, clock
	opts.ShredKey = func(ctx context.Context, ref lethe.SubjectRef) error {
		smu.Lock()
		l.keyShreds++
		smu.Unlock()
		_, err := kr.Shred(ctx, ref, "system")
		return err
	}
	opts.ExportDir = t.TempDir()
	l.reqs = dsr.NewRequests(opts)
	t.Cleanup(func() { l.reqs.Close(context.Background()) })
	return l
}

func (l *lifecycle) actions(t *testing.T, id string) []string {
	t.Helper()
	var out []string
	head, err := l.store.AuditHead(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	err = l.store.AuditEntries(context.Background(), 0, head.Size, func(e lethe.AuditEntry) error {
		if e.Object == id && strings.HasPrefix(e.Action, "request.") {
			out = append(out, e.Action)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

var maxEmail = []lethe.Identity{{Type: lethe.IdentityEmail, Value: "max@example.org"}}

func TestRequestLifecycleFromIntakeToCompletion(t *testing.T) {
	l := newLifecycle(t, dsr.RequestsOptions{})
	ctx := context.Background()
	req, err := l.reqs.Create(ctx, dsr.CreateParams{Type: lethe.RequestErasure, Identities: maxEmail, Channel: lethe.ChannelWeb, Actor: "web"})
	if err != nil {
		t.Fatal(err)
	}
	if req.Status != lethe.RequestUnverified || req.VerifiedAt != nil {
		t.Fatalf("a request without a trusted key: %s", req.Status)
	}
	// An unverified request is not run by anyone.
	if _, err := l.reqs.RunOne(ctx, req.ID); lethe.ErrorCode(err) != lethe.ECONFLICT {
		t.Fatalf("RunOne of an unverified request: %v, want ECONFLICT", err)
	}
	if claimed, _ := l.store.RequestClaim(ctx, l.now(), l.now().Add(time.Minute), 10); len(claimed) != 0 {
		t.Fatalf("a worker claimed an unverified request")
	}
	if len(l.notices.templates()) != 0 {
		t.Errorf("notices before the verification: %v; the person gets the code only", l.notices.templates())
	}
	if _, err := l.reqs.Verify(ctx, req.ID, "web"); err != nil {
		t.Fatal(err)
	}
	if _, err := l.reqs.Verify(ctx, req.ID, "web"); lethe.ErrorCode(err) != lethe.ECONFLICT {
		t.Errorf("verify twice: %v, want ECONFLICT", err)
	}
	// The worker picks it up.
	wctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); l.reqs.Run(wctx) }()
	var got lethe.Request
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if got, err = l.reqs.Get(ctx, req.ID); err != nil || got.Status.Finished() {
			break
		}
	}
	stop()
	<-done
	if got.Status != lethe.RequestCompleted || got.CompletedAt == nil || got.Attempts != 1 || got.Lease != "" || got.Identities != nil {
		t.Fatalf("after the worker: %s attempts %d lease %q identities kept %v (%s)", got.Status, got.Attempts, got.Lease, got.Identities != nil, got.Error)
	}
	var cert dsr.Certificate
	if err := json.Unmarshal(got.Result, &cert); err != nil || cert.Status != dsr.StatusCompleted || cert.Verification == nil || !cert.Verification.Passed {
		t.Fatalf("certificate %s: %v", got.Result, err)
	}
	if n := len(rows(t, l.e.shop, `SELECT 1 FROM users WHERE email = 'max@example.org'`)); n != 0 {
		t.Errorf("the account is still there")
	}
	if !slices.Contains(*l.shreds, lethe.Identity{Type: lethe.IdentityUserID, Value: "2"}) {
		t.Errorf("the account found by e-mail was not shredded: %v", *l.shreds)
	}
	want := []string{"request.created", "request.verified", "request.started", "request.erased", "request.tombstoned", "request.completed"}
	if got := l.actions(t, req.ID); !slices.Equal(got, want) {
		t.Errorf("audit trail %v, want %v", got, want)
	}
	if got := l.notices.templates(); !slices.Equal(got, []string{"request_completed", "request_received"}) {
		t.Errorf("notices %v, want received and completed once each", got)
	}
	if to := l.notices.to[dsr.NoticeID(req.ID, "completed")]; to != "max@example.org" {
		t.Errorf("completion notice to %q", to)
	}
	// The request's own key, which sealed the notice past the subject's
	// shred, goes once the notice had its days to go out, and only once.
	if res, err := l.reqs.Purge(ctx); err != nil || res.NoticeKeys != 0 {
		t.Errorf("purge right after completion: %+v, %v; the notice key must wait", res, err)
	}
	l.advance(4 * 24 * time.Hour)
	if res, err := l.reqs.Purge(ctx); err != nil || res.NoticeKeys != 1 || l.keyShreds != 1 {
		t.Errorf("purge after 4 days: %+v, %v, %d shreds; want the notice key shredded", res, err, l.keyShreds)
	}
	if res, err := l.reqs.Purge(ctx); err != nil || res.NoticeKeys != 0 || l.keyShreds != 1 {
		t.Errorf("second purge: %+v, %v; the notice key was shredded already", res, err)
	}
	if got, _ := l.reqs.Get(ctx, req.ID); got.Progress != dsr.ProgressClosed || got.Status != lethe.RequestCompleted {
		t.Errorf("after the notice key went: %s %s", got.Status, got.Progress)
	}
}

func TestRequestRejectCancelExtend(t *testing.T) {
	l := newLifecycle(t, dsr.RequestsOptions{})
	ctx := context.Background()
	mk := func(verified bool) lethe.Request {
		r, err := l.reqs.Create(ctx, dsr.CreateParams{Type: lethe.RequestAccess, Identities: maxEmail, Verified: verified})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	r1 := mk(false)
	if _, err := l.reqs.Reject(ctx, r1.ID, "  ", "cli"); lethe.ErrorCode(err) != lethe.EINVALID {
		t.Errorf("reject without a reason: %v", err)
	}
	rej, err := l.reqs.Reject(ctx, r1.ID, "manifestly excessive: the same request was answered last week", "cli")
	if err != nil || rej.Status != lethe.RequestRejected || rej.CompletedAt == nil {
		t.Fatalf("reject: %+v, %v", rej, err)
	}
	if l.notices.sent[dsr.NoticeID(r1.ID, "rejected")] != "request_rejected" {
		t.Errorf("the person was not told of the rejection: %v", l.notices.sent)
	}
	if _, err := l.reqs.Cancel(ctx, r1.ID, "", "cli"); lethe.ErrorCode(err) != lethe.ECONFLICT {
		t.Errorf("cancel a rejected request: %v, want ECONFLICT", err)
	}

	r2 := mk(true)
	// GDPR: extend within the first month only, once, with a reason.
	if _, err := l.reqs.Extend(ctx, r2.ID, "", "cli"); lethe.ErrorCode(err) != lethe.EINVALID {
		t.Errorf("extend without a reason: %v", err)
	}
	ext, err := l.reqs.Extend(ctx, r2.ID, "complex: twelve datastores", "cli")
	if err != nil || ext.ExtendedAt == nil || !ext.Due().Equal(r2.ExtendedDueAt) || ext.Due().Sub(r2.DueAt) < 55*24*time.Hour {
		t.Fatalf("extend: due %v (was %v), %v", ext.Due(), r2.DueAt, err)
	}
	if _, err := l.reqs.Extend(ctx, r2.ID, "again", "cli"); lethe.ErrorCode(err) != lethe.ECONFLICT {
		t.Errorf("extend twice: %v", err)
	}
	if l.notices.sent[dsr.NoticeID(r2.ID, "extended")] != "request_extended" {
		t.Errorf("the person was not told of the extension")
	}
	cancelled, err := l.reqs.Cancel(ctx, r2.ID, "withdrawn by the person", "cli")
	if err != nil || cancelled.Status != lethe.RequestCancelled || cancelled.Reason != "withdrawn by the person" {
		t.Fatalf("cancel: %+v, %v", cancelled, err)
	}

	r3 := mk(true)
	l.advance(40 * 24 * time.Hour)
	if _, err := l.reqs.Extend(ctx, r3.ID, "complex", "cli"); lethe.ErrorCode(err) != lethe.ECONFLICT {
		t.Errorf("extend after the first month: %v, want ECONFLICT", err)
	}
	lgpd, err := l.reqs.Create(ctx, dsr.CreateParams{Type: lethe.RequestAccess, Identities: maxEmail, Verified: true, Jurisdiction: lethe.LGPD})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.reqs.Extend(ctx, lgpd.ID, "complex", "cli"); lethe.ErrorCode(err) != lethe.ECONFLICT {
		t.Errorf("extend an LGPD request: %v, want ECONFLICT", err)
	}
}

func TestRequestRetriesAFailedDatastoreWithBackoffThenStops(t *testing.T) {
	l := newLifecycle(t, dsr.RequestsOptions{MaxAttempts: 2, Backoff: []time.Duration{time.Minute}})
	dsn := l.e.cfg.Datastores["analytics"].DSN
	l.e.cfg.Datastores["analytics"].DSN = "root@tcp(127.0.0.1:1)/nowhere?timeout=1s"
	ctx := context.Background()
	req, err := l.reqs.Create(ctx, dsr.CreateParams{Type: lethe.RequestErasure, Identities: []lethe.Identity{{Type: lethe.IdentityUserID, Value: "1"}}, Verified: true})
	if err != nil {
		t.Fatal(err)
	}
	first, err := l.reqs.RunOne(ctx, req.ID)
	if err != nil {
		t.Fatal(err)
	}
	// The old order was anonymised (past its hold) in the first run; no
	// later run may mask it again.
	masked := checksum(rows(t, l.e.shop, `SELECT id, shipping_name, shipping_address FROM orders WHERE user_id = 1 ORDER BY id`))
	if first.Status != lethe.RequestRunning || first.NextAttemptAt == nil || !first.NextAttemptAt.Equal(l.now().Add(time.Minute)) || first.Lease != "" && first.LeaseUntil != nil {
		t.Fatalf("after a datastore failed: %s next %v", first.Status, first.NextAttemptAt)
	}
	if claimed, _ := l.store.RequestClaim(ctx, l.now(), l.now().Add(time.Minute), 10); len(claimed) != 0 {
		t.Fatalf("claimed before the retry is due")
	}
	l.advance(2 * time.Minute)
	claimed, err := l.store.RequestClaim(ctx, l.now(), l.now().Add(time.Minute), 10)
	if err != nil || len(claimed) != 1 {
		t.Fatalf("the due retry: %v, %v", len(claimed), err)
	}
	// A worker that claimed it died: once the lease runs out, RunOne (or
	// another worker) resumes it.
	l.advance(2 * time.Minute)
	second, err := l.reqs.RunOne(ctx, req.ID)
	if err != nil {
		t.Fatal(err)
	}
	if second.Status != lethe.RequestPartiallyCompleted || second.Attempts != 2 || second.CompletedAt == nil {
		t.Fatalf("after the last attempt: %s attempts %d", second.Status, second.Attempts)
	}
	if len(*l.shreds) != 0 {
		t.Errorf("keys shredded although a datastore still holds the subject")
	}
	want := []string{"request.created", "request.started", "request.erased", "request.tombstoned", "request.retry_scheduled",
		"request.resumed", "request.erased", "request.tombstoned", "request.partially_completed"}
	if got := l.actions(t, req.ID); !slices.Equal(got, want) {
		t.Errorf("audit trail %v, want %v", got, want)
	}
	// The operator fixes the datastore and retries.
	l.e.cfg.Datastores["analytics"].DSN = dsn
	if _, err := l.reqs.Retry(ctx, "req_nope", "cli"); lethe.ErrorCode(err) != lethe.ENOTFOUND {
		t.Errorf("retry unknown: %v", err)
	}
	retried, err := l.reqs.Retry(ctx, req.ID, "cli")
	if err != nil || retried.Status != lethe.RequestVerified || retried.Attempts != 0 {
		t.Fatalf("retry: %+v, %v", retried, err)
	}
	if _, err := l.reqs.Retry(ctx, req.ID, "cli"); lethe.ErrorCode(err) != lethe.ECONFLICT {
		t.Errorf("retry a verified request: %v, want ECONFLICT", err)
	}
	final, err := l.reqs.RunOne(ctx, req.ID)
	if err != nil {
		t.Fatal(err)
	}
	if final.Status != lethe.RequestCompleted {
		t.Fatalf("after the retry: %s (%s)", final.Status, final.Error)
	}
	var cert dsr.Certificate
	if err := json.Unmarshal(final.Result, &cert); err != nil || !cert.Verification.Passed {
		t.Fatalf("certificate %s: %v", final.Result, err)
	}
	for _, st := range cert.Steps {
		switch {
		case st.Datastore == "analytics" && (st.EarlierRun || st.Status != dsr.StepDone || st.Rows == 0):
			t.Errorf("the failed datastore's step %s: %+v; want applied by the retry", st.Collection, st)
		case st.Datastore == "support" && (st.EarlierRun || st.Status != dsr.StepDone || st.Rows != 1):
			t.Errorf("support tickets: %+v; want deleted again (a delete is re-applied), with the earlier run's row", st)
		case st.Datastore == "shop" && st.Collection == "orders" && !st.EarlierRun:
			t.Errorf("orders: %+v; want anonymised by an earlier run, not again", st)
		}
	}
	if got := checksum(rows(t, l.e.shop, `SELECT id, shipping_name, shipping_address FROM orders WHERE user_id = 1 ORDER BY id`)); got != masked {
		t.Errorf("a retry masked the anonymised orders again")
	}
	if n := len(rows(t, l.e.analytics, `SELECT 1 FROM events WHERE user_id = 1`)); n != 0 {
		t.Errorf("%d analytics events of the subject remain", n)
	}
	if len(*l.shreds) == 0 {
		t.Errorf("the completed erasure shredded no key")
	}
}

func TestRequestPurgeKeepsRecordsTwoYears(t *testing.T) {
	l := newLifecycle(t, dsr.RequestsOptions{})
	ctx := context.Background()
	done, err := l.reqs.Create(ctx, dsr.CreateParams{Type: lethe.RequestAccess, Identities: maxEmail, Verified: true, Wait: true})
	if err != nil || done.Status != lethe.RequestCompleted || done.Export == "" {
		t.Fatalf("access: %+v, %v", done, err)
	}
	waiting, err := l.reqs.Create(ctx, dsr.CreateParams{Type: lethe.RequestAccess, Identities: maxEmail})
	if err != nil {
		t.Fatal(err)
	}
	l.advance(23 * 30 * 24 * time.Hour)
	res, err := l.reqs.Purge(ctx)
	if err != nil || res.Records != 1 {
		t.Fatalf("purge after 23 months: %+v, %v; want the unverified request only", res, err)
	}
	if _, err := l.reqs.Get(ctx, waiting.ID); lethe.ErrorCode(err) != lethe.ENOTFOUND {
		t.Errorf("the unverified request is still there: %v", err)
	}
	if _, err := l.reqs.Get(ctx, done.ID); err != nil {
		t.Errorf("the finished request's record went before 24 months: %v", err)
	}
	l.advance(60 * 24 * time.Hour)
	res, err = l.reqs.Purge(ctx)
	if err != nil || res.Records != 1 {
		t.Fatalf("purge after 25 months: %+v, %v", res, err)
	}
	if _, err := l.reqs.Get(ctx, done.ID); lethe.ErrorCode(err) != lethe.ENOTFOUND {
		t.Errorf("the record outlived its retention: %v", err)
	}
}

// BenchmarkRequestLifecycle compares an access request run through the
// lifecycle (recorded, sealed, leased, run, its outcome stored, the notice
// queued, the package written) with the engine's Access alone, on the
// three-engine test estate.
func BenchmarkRequestLifecycle(b *testing.B) {
	l := newLifecycle(b, dsr.RequestsOptions{})
	ctx := context.Background()
	b.Run("engine", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			if _, err := l.reqs.Engine().Access(ctx, dsr.AccessParams{RequestID: fmt.Sprint("req_b", i), Identities: maxEmail}, io.Discard); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("lifecycle", func(b *testing.B) {
		for b.Loop() {
			r, err := l.reqs.Create(ctx, dsr.CreateParams{Type: lethe.RequestAccess, Identities: maxEmail, Verified: true, Wait: true})
			if err != nil || r.Status != lethe.RequestCompleted {
				b.Fatal(r.Status, err)
			}
		}
	})
}

// Two erasure requests for the same person (the privacy center twice, or
// the form and an e-mail): the first erases and shreds the subject's key,
// which also sealed the second's identities. The second then completes,
// saying the subject was erased already, rather than failing.
func TestSecondErasureOfTheSameSubjectCompletes(t *testing.T) {
	l := newLifecycle(t, dsr.RequestsOptions{})
	ctx := context.Background()
	var ids []string
	for range 2 {
		req, err := l.reqs.Create(ctx, dsr.CreateParams{Type: lethe.RequestErasure, Identities: maxEmail, Channel: lethe.ChannelWeb, Actor: "web"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := l.reqs.Verify(ctx, req.ID, "web"); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, req.ID)
	}
	first, err := l.reqs.RunOne(ctx, ids[0])
	if err != nil || first.Status != lethe.RequestCompleted {
		t.Fatalf("first erasure: %s %s, %v", first.Status, first.Error, err)
	}
	second, err := l.reqs.RunOne(ctx, ids[1])
	if err != nil {
		t.Fatal(err)
	}
	if second.Status != lethe.RequestCompleted || second.Error != "" || second.Identities != nil {
		t.Fatalf("second erasure: %s (%s), want completed", second.Status, second.Error)
	}
	var cert dsr.Certificate
	if err := json.Unmarshal(second.Result, &cert); err != nil || cert.Status != dsr.StatusCompleted || len(cert.Warnings) != 1 ||
		!strings.Contains(cert.Warnings[0], "erased already, by request "+ids[0]) || cert.KeysShredded != 0 {
		t.Fatalf("second erasure's certificate %s: %v", second.Result, err)
	}
	want := []string{"request.created", "request.verified", "request.started", "request.completed"}
	if got := l.actions(t, ids[1]); !slices.Equal(got, want) {
		t.Errorf("audit trail %v, want %v", got, want)
	}
	if got, _ := l.reqs.Get(ctx, ids[0]); got.Status != lethe.RequestCompleted {
		t.Errorf("the first request after the second ran: %s", got.Status)
	}
}

// A subject whose key was shredded without an erasure (lethe subject
// shred) still has its rows in the datastores: an erasure request that
// can no longer read its identities fails, visibly, rather than claim
// the subject erased.
func TestErasureAfterAShredAloneFails(t *testing.T) {
	l := newLifecycle(t, dsr.RequestsOptions{})
	ctx := context.Background()
	req, err := l.reqs.Create(ctx, dsr.CreateParams{Type: lethe.RequestErasure, Identities: maxEmail, Channel: lethe.ChannelWeb, Actor: "web"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.reqs.Verify(ctx, req.ID, "web"); err != nil {
		t.Fatal(err)
	}
	if _, err := l.keys.Shred(ctx, req.SubjectRef, "cli"); err != nil {
		t.Fatal(err)
	}
	got, err := l.reqs.RunOne(ctx, req.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != lethe.RequestFailed || !strings.Contains(got.Error, "shredded") {
		t.Fatalf("erasure after a shred alone: %s (%s), want failed", got.Status, got.Error)
	}
	if n := len(rows(t, l.e.shop, `SELECT 1 FROM users WHERE email = 'max@example.org'`)); n != 1 {
		t.Fatalf("the account: %d rows, want it untouched", n)
	}
}

// The same two requests run at once: the second loses its subject's key
// while the first is still under way, waits for it (a retry), and then
// completes like the sequential case.
func TestOverlappingErasuresOfTheSameSubject(t *testing.T) {
	l := newLifecycle(t, dsr.RequestsOptions{})
	ctx := context.Background()
	var reqs []lethe.Request
	for range 2 {
		req, err := l.reqs.Create(ctx, dsr.CreateParams{Type: lethe.RequestErasure, Identities: maxEmail, Channel: lethe.ChannelWeb, Actor: "web"})
		if err != nil {
			t.Fatal(err)
		}
		if req, err = l.reqs.Verify(ctx, req.ID, "web"); err != nil {
			t.Fatal(err)
		}
		reqs = append(reqs, req)
	}
	// The first is running and has just shredded the subject's key.
	first := reqs[0]
	first.Status, first.UpdatedAt = lethe.RequestRunning, l.now()
	if err := l.store.RequestTransition(ctx, first, []lethe.RequestStatus{lethe.RequestVerified}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := l.keys.Shred(ctx, first.SubjectRef, "system"); err != nil {
		t.Fatal(err)
	}
	second, err := l.reqs.RunOne(ctx, reqs[1].ID)
	if err != nil {
		t.Fatal(err)
	}
	if second.Status != lethe.RequestRunning || second.NextAttemptAt == nil {
		t.Fatalf("second while the first runs: %s, next attempt %v (%s); want a retry scheduled", second.Status, second.NextAttemptAt, second.Error)
	}
	// The first completes.
	now := l.now()
	first.Status, first.CompletedAt, first.UpdatedAt = lethe.RequestCompleted, &now, now
	if err := l.store.RequestTransition(ctx, first, []lethe.RequestStatus{lethe.RequestRunning}, nil); err != nil {
		t.Fatal(err)
	}
	l.advance(2 * time.Minute)
	if second, err = l.reqs.RunOne(ctx, reqs[1].ID); err != nil {
		t.Fatal(err)
	}
	var cert dsr.Certificate
	if second.Status != lethe.RequestCompleted || json.Unmarshal(second.Result, &cert) != nil || len(cert.Warnings) != 1 ||
		!strings.Contains(cert.Warnings[0], "erased already, by request "+first.ID) {
		t.Fatalf("second after the first completed: %s (%s) %s", second.Status, second.Error, second.Result)
	}
}
