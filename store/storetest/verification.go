package storetest

import (
	"context"
	"crypto/sha256"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/lethe-privacy/lethe"
)

// RunVerification runs the VerificationStore and RateLimitStore cases;
// only h.New is used.
func RunVerification(t *testing.T, h Harness) {
	t.Run("VerificationIssueAudited", func(t *testing.T) { testVerificationIssue(t, h) })
	t.Run("VerificationIssueSequence", func(t *testing.T) { testVerificationIssueSequence(t, h) })
	t.Run("VerificationSingleUse", func(t *testing.T) { testVerificationSingleUse(t, h) })
	t.Run("VerificationExpiry", func(t *testing.T) { testVerificationExpiry(t, h) })
	t.Run("VerificationAttemptLimit", func(t *testing.T) { testVerificationAttemptLimit(t, h) })
	t.Run("VerificationConcurrentAttempts", func(t *testing.T) { testVerificationConcurrentAttempts(t, h) })
	t.Run("VerificationPurge", func(t *testing.T) { testVerificationPurge(t, h) })
	t.Run("RateLimitWindows", func(t *testing.T) { testRateLimitWindows(t, h) })
	t.Run("RateLimitConcurrentHits", func(t *testing.T) { testRateLimitConcurrent(t, h) })
}

var verifyT0 = time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)

func verificationCode(req string, issue int, at time.Time) lethe.VerificationCode {
	h := sha256.Sum256(fmt.Appendf(nil, "%s/%d", req, issue))
	return lethe.VerificationCode{RequestID: req, SubjectRef: subject("requester@" + req), Issue: issue, Hash: h[:],
		CreatedAt: at, ExpiresAt: at.Add(30 * time.Minute), MaxAttempts: 5}
}

func issueCode(t *testing.T, s lethe.Store, c lethe.VerificationCode) {
	t.Helper()
	if err := s.VerificationIssue(context.Background(), c, lethe.AuditRecord{Actor: "system", Action: "request.code_sent", SubjectRef: c.SubjectRef, Object: c.RequestID}); err != nil {
		t.Fatalf("issue %s #%d: %v", c.RequestID, c.Issue, err)
	}
}

func attempt(s lethe.Store, req string, issue int, matched bool, now time.Time) (lethe.VerificationCode, error) {
	return s.VerificationAttempt(context.Background(), req, issue, matched, now, lethe.AuditRecord{Actor: "requester", Action: "request.code_tried", Object: req})
}

func auditSize(t *testing.T, s lethe.Store) uint64 {
	t.Helper()
	head, err := s.AuditHead(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return head.Size
}

func testVerificationIssue(t *testing.T, h Harness) {
	s := h.New(t)
	ctx := context.Background()
	if _, err := s.VerificationGet(ctx, "req_none"); lethe.ErrorCode(err) != lethe.ENOTFOUND {
		t.Errorf("get without a code: %v, want ENOTFOUND", err)
	}
	if _, err := attempt(s, "req_none", 1, true, verifyT0); lethe.ErrorCode(err) != lethe.ENOTFOUND {
		t.Errorf("attempt without a code: %v, want ENOTFOUND", err)
	}
	c := verificationCode("req_1", 1, verifyT0)
	issueCode(t, s, c)
	if n := auditSize(t, s); n != 1 {
		t.Errorf("audit size %d after one issue, want 1", n)
	}
	got, err := s.VerificationGet(ctx, "req_1")
	if err != nil {
		t.Fatal(err)
	}
	if got.RequestID != c.RequestID || got.SubjectRef != c.SubjectRef || got.Issue != 1 || string(got.Hash) != string(c.Hash) ||
		!got.CreatedAt.Equal(c.CreatedAt) || !got.ExpiresAt.Equal(c.ExpiresAt) || got.Attempts != 0 || got.MaxAttempts != 5 || got.UsedAt != nil {
		t.Errorf("read back %+v, want %+v", got, c)
	}
	if st := got.State(verifyT0); st != lethe.VerificationActive {
		t.Errorf("state %s, want active", st)
	}
	bad := c
	bad.Hash = []byte("short")
	if err := s.VerificationIssue(ctx, bad, lethe.AuditRecord{Actor: "system", Action: "x"}); lethe.ErrorCode(err) != lethe.EINVALID {
		t.Errorf("a code with a short hash: %v, want EINVALID", err)
	}
}

func testVerificationIssueSequence(t *testing.T, h Harness) {
	s := h.New(t)
	ctx := context.Background()
	issueCode(t, s, verificationCode("req_1", 1, verifyT0))
	if _, err := attempt(s, "req_1", 1, false, verifyT0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	for _, issue := range []int{1, 3} {
		err := s.VerificationIssue(ctx, verificationCode("req_1", issue, verifyT0), lethe.AuditRecord{Actor: "system", Action: "request.code_sent"})
		if lethe.ErrorCode(err) != lethe.ECONFLICT {
			t.Errorf("issue %d after issue 1: %v, want ECONFLICT", issue, err)
		}
	}
	if n := auditSize(t, s); n != 2 {
		t.Errorf("audit size %d, want 2 (a refused issue appends nothing)", n)
	}
	second := verificationCode("req_1", 2, verifyT0.Add(2*time.Minute))
	issueCode(t, s, second)
	got, err := s.VerificationGet(ctx, "req_1")
	if err != nil || got.Issue != 2 || got.Attempts != 0 || string(got.Hash) != string(second.Hash) || !got.ExpiresAt.Equal(second.ExpiresAt) {
		t.Fatalf("after issue 2: %+v, %v; want the new code with no attempts", got, err)
	}
	if _, err := attempt(s, "req_1", 1, true, verifyT0.Add(3*time.Minute)); lethe.ErrorCode(err) != lethe.ECONFLICT {
		t.Errorf("attempt at the replaced issue 1: %v, want ECONFLICT", err)
	}
	if got, _ := s.VerificationGet(ctx, "req_1"); got.Attempts != 0 || got.UsedAt != nil {
		t.Errorf("the refused attempt counted: %+v", got)
	}
}

func testVerificationSingleUse(t *testing.T, h Harness) {
	s := h.New(t)
	ctx := context.Background()
	issueCode(t, s, verificationCode("req_1", 1, verifyT0))
	c, err := attempt(s, "req_1", 1, false, verifyT0.Add(time.Minute))
	if err != nil || c.Attempts != 1 || c.UsedAt != nil || c.AttemptsLeft() != 4 {
		t.Fatalf("wrong attempt: %+v, %v; want 1 attempt, 4 left, unused", c, err)
	}
	at := verifyT0.Add(2 * time.Minute)
	c, err = attempt(s, "req_1", 1, true, at)
	if err != nil || c.Attempts != 2 || c.UsedAt == nil || !c.UsedAt.Equal(at) {
		t.Fatalf("right attempt: %+v, %v; want used at %v", c, err, at)
	}
	size := auditSize(t, s)
	for _, matched := range []bool{true, false} {
		if _, err := attempt(s, "req_1", 1, matched, at.Add(time.Second)); lethe.ErrorCode(err) != lethe.ECONFLICT {
			t.Errorf("replay (matched %v): %v, want ECONFLICT", matched, err)
		}
	}
	if n := auditSize(t, s); n != size {
		t.Errorf("refused replays appended %d audit entries", n-size)
	}
	got, _ := s.VerificationGet(ctx, "req_1")
	if got.State(at.Add(time.Hour)) != lethe.VerificationUsed || got.Attempts != 2 {
		t.Errorf("after replays: %+v; want used, 2 attempts", got)
	}
	err = s.VerificationIssue(ctx, verificationCode("req_1", 2, at), lethe.AuditRecord{Actor: "system", Action: "request.code_sent"})
	if lethe.ErrorCode(err) != lethe.ECONFLICT {
		t.Errorf("a new code after use: %v, want ECONFLICT", err)
	}
}

func testVerificationExpiry(t *testing.T, h Harness) {
	s := h.New(t)
	ctx := context.Background()
	c := verificationCode("req_1", 1, verifyT0)
	issueCode(t, s, c)
	if _, err := attempt(s, "req_1", 1, false, c.ExpiresAt.Add(-time.Microsecond)); err != nil {
		t.Errorf("attempt just before expiry: %v", err)
	}
	for _, at := range []time.Time{c.ExpiresAt, c.ExpiresAt.Add(time.Hour)} {
		_, err := attempt(s, "req_1", 1, true, at)
		if lethe.ErrorCode(err) != lethe.ECONFLICT {
			t.Errorf("attempt at %v (expires %v): %v, want ECONFLICT", at, c.ExpiresAt, err)
		}
	}
	got, _ := s.VerificationGet(ctx, "req_1")
	if got.Attempts != 1 || got.UsedAt != nil || got.State(c.ExpiresAt) != lethe.VerificationExpired {
		t.Errorf("after expiry: %+v; want 1 attempt, unused, expired", got)
	}
	// A new issue after expiry is allowed and works.
	issueCode(t, s, verificationCode("req_1", 2, c.ExpiresAt))
	if got, err := attempt(s, "req_1", 2, true, c.ExpiresAt.Add(time.Minute)); err != nil || got.UsedAt == nil {
		t.Errorf("the new code: %+v, %v", got, err)
	}
}

func testVerificationAttemptLimit(t *testing.T, h Harness) {
	s := h.New(t)
	ctx := context.Background()
	c := verificationCode("req_1", 1, verifyT0)
	c.MaxAttempts = 3
	issueCode(t, s, c)
	for i := range 3 {
		got, err := attempt(s, "req_1", 1, false, verifyT0.Add(time.Second))
		if err != nil || got.Attempts != i+1 {
			t.Fatalf("attempt %d: %+v, %v", i+1, got, err)
		}
	}
	if _, err := attempt(s, "req_1", 1, true, verifyT0.Add(time.Second)); lethe.ErrorCode(err) != lethe.ECONFLICT {
		t.Errorf("the right code after the limit: %v, want ECONFLICT", err)
	}
	got, _ := s.VerificationGet(ctx, "req_1")
	if got.Attempts != 3 || got.UsedAt != nil || got.State(verifyT0) != lethe.VerificationLocked {
		t.Errorf("after the limit: %+v; want locked at 3 attempts, unused", got)
	}
	// A new issue unlocks with a fresh count.
	next := verificationCode("req_1", 2, verifyT0.Add(time.Minute))
	issueCode(t, s, next)
	if got, err := attempt(s, "req_1", 2, true, verifyT0.Add(2*time.Minute)); err != nil || got.Attempts != 1 || got.UsedAt == nil {
		t.Errorf("the new code: %+v, %v", got, err)
	}
}

func testVerificationConcurrentAttempts(t *testing.T, h Harness) {
	s := h.New(t)
	ctx := context.Background()
	issueCode(t, s, verificationCode("req_wrong", 1, verifyT0))
	issueCode(t, s, verificationCode("req_right", 1, verifyT0))
	const n = 24
	var (
		wg                       sync.WaitGroup
		mu                       sync.Mutex
		wrongOK, rightOK, others int
	)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, matched := "req_wrong", false
			if i%2 == 1 {
				req, matched = "req_right", true
			}
			_, err := attempt(s, req, 1, matched, verifyT0.Add(time.Second))
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil && matched:
				rightOK++
			case err == nil:
				wrongOK++
			case lethe.ErrorCode(err) != lethe.ECONFLICT:
				t.Errorf("attempt: %v, want ECONFLICT when refused", err)
			default:
				others++
			}
		}()
	}
	wg.Wait()
	if wrongOK != 5 || rightOK != 1 || others != n-6 {
		t.Errorf("concurrent attempts: %d wrong counted (want 5, the limit), %d right accepted (want 1), %d refused (want %d)", wrongOK, rightOK, others, n-6)
	}
	if got, _ := s.VerificationGet(ctx, "req_wrong"); got.Attempts != 5 {
		t.Errorf("attempts stored %d, want 5", got.Attempts)
	}
	if got, _ := s.VerificationGet(ctx, "req_right"); got.Attempts != 1 || got.UsedAt == nil {
		t.Errorf("the right code: %+v; want used after one counted attempt", got)
	}
}

func testVerificationPurge(t *testing.T, h Harness) {
	s := h.New(t)
	ctx := context.Background()
	issueCode(t, s, verificationCode("req_old", 1, verifyT0))
	issueCode(t, s, verificationCode("req_used", 1, verifyT0.Add(10*time.Minute)))
	if _, err := attempt(s, "req_used", 1, true, verifyT0.Add(11*time.Minute)); err != nil {
		t.Fatal(err)
	}
	issueCode(t, s, verificationCode("req_new", 1, verifyT0.Add(time.Hour)))
	n, err := s.VerificationPurge(ctx, verifyT0.Add(time.Hour))
	if err != nil || n != 2 {
		t.Fatalf("purge: %d, %v; want 2 (the expired and the used one, both past expiry)", n, err)
	}
	for _, gone := range []string{"req_old", "req_used"} {
		if _, err := s.VerificationGet(ctx, gone); lethe.ErrorCode(err) != lethe.ENOTFOUND {
			t.Errorf("%s after purge: %v, want ENOTFOUND", gone, err)
		}
	}
	if _, err := s.VerificationGet(ctx, "req_new"); err != nil {
		t.Errorf("the live code was purged: %v", err)
	}
	if n, err := s.VerificationPurge(ctx, verifyT0.Add(time.Hour)); err != nil || n != 0 {
		t.Errorf("second purge: %d, %v; want 0", n, err)
	}
}

func testRateLimitWindows(t *testing.T, h Harness) {
	s := h.New(t)
	ctx := context.Background()
	w0, w1, w2 := verifyT0, verifyT0.Add(time.Hour), verifyT0.Add(2*time.Hour)
	for i := 1; i <= 3; i++ {
		n, err := s.RateLimitHit(ctx, "identity:aa", w0, w1)
		if err != nil || n != i {
			t.Fatalf("hit %d: %d, %v", i, n, err)
		}
	}
	if n, err := s.RateLimitHit(ctx, "client:bb", w0, w1); err != nil || n != 1 {
		t.Errorf("another key: %d, %v; want its own count 1", n, err)
	}
	if n, err := s.RateLimitHit(ctx, "identity:aa", w1, w2); err != nil || n != 1 {
		t.Errorf("the next window: %d, %v; want a fresh count 1", n, err)
	}
	if _, err := s.RateLimitHit(ctx, "", w0, w1); lethe.ErrorCode(err) != lethe.EINVALID {
		t.Errorf("an empty key: %v, want EINVALID", err)
	}
	if _, err := s.RateLimitHit(ctx, "k", w1, w0); lethe.ErrorCode(err) != lethe.EINVALID {
		t.Errorf("a window ending before it starts: %v, want EINVALID", err)
	}
	n, err := s.RateLimitPurge(ctx, w1)
	if err != nil || n != 2 {
		t.Fatalf("purge the windows ended by %v: %d, %v; want 2", w1, n, err)
	}
	if n, err := s.RateLimitHit(ctx, "identity:aa", w1, w2); err != nil || n != 2 {
		t.Errorf("the live window after purge: %d, %v; want 2 (kept)", n, err)
	}
	if n, err := s.RateLimitHit(ctx, "identity:aa", w0, w1); err != nil || n != 1 {
		t.Errorf("the purged window: %d, %v; want counting from 1 again", n, err)
	}
}

func testRateLimitConcurrent(t *testing.T, h Harness) {
	s := h.New(t)
	ctx := context.Background()
	const n = 40
	var wg sync.WaitGroup
	seen := make([]bool, n+1)
	var mu sync.Mutex
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := s.RateLimitHit(ctx, "client:cc", verifyT0, verifyT0.Add(time.Minute))
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			defer mu.Unlock()
			if c < 1 || c > n || seen[c] {
				t.Errorf("count %d returned twice or out of range", c)
				return
			}
			seen[c] = true
		}()
	}
	wg.Wait()
	if c, err := s.RateLimitHit(ctx, "client:cc", verifyT0, verifyT0.Add(time.Minute)); err != nil || c != n+1 {
		t.Errorf("after %d concurrent hits: %d, %v; want %d", n, c, err, n+1)
	}
}
